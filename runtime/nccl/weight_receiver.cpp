// weight_receiver.cpp: a member rank of the weight broadcast (design in the
// header).
#include "runtime/nccl/weight_receiver.hpp"

#include <string>

#include "runtime/error.hpp"
#include "runtime/nccl/internal/annotate.hpp"

namespace tandem::nccl {

namespace {

/// The flat buffer, with the fault-injection hook before each bucket.
class hooked_memory final : public bucket_memory {
public:
  hooked_memory(void* base, int64_t version, const weight_receiver::bucket_hook& hook)
    : packed_(base), version_(version), hook_(hook) {}

  std::vector<device_span> spans(const bucket_plan& plan, size_t index) override {
    if (hook_)
      hook_(version_, index);
    return packed_.spans(plan, index);
  }

private:
  packed_memory packed_;
  int64_t version_;
  const weight_receiver::bucket_hook& hook_;
};

} // namespace

weight_receiver::weight_receiver(std::unique_ptr<collective> comm, clock_source& clock,
                                 endpoint_options options, bucket_hook hook)
  : comm_(std::move(comm)), clock_(clock), options_(options), hook_(std::move(hook)) {}

void weight_receiver::invite(uint64_t) {
  if (comm_->ready())
    comm_->close(clock_.now() + options_.close_timeout);
  epoch_ = 0;
}

caf::error weight_receiver::open(uint64_t epoch, const comm_id& id, int rank, int nranks,
                                 size_t bucket_bytes) {
  if (comm_->ready())
    comm_->close(clock_.now() + options_.close_timeout);
  epoch_ = 0;
  if (bucket_bytes == 0 || bucket_bytes % 256 != 0)
    return make_error(errc::invalid_argument, "epoch " + std::to_string(epoch)
                                                + ": bucket size must be a positive "
                                                  "multiple of 256");
  if (auto err = comm_->init(rank, nranks, id, clock_.now() + options_.init_timeout))
    return internal::annotate(err, "epoch " + std::to_string(epoch) + ": init: ");
  epoch_ = epoch;
  bucket_bytes_ = bucket_bytes;
  plan_.reset();
  intake_ = version_intake{};
  return caf::none;
}

caf::expected<transfer_report> weight_receiver::receive(const version_header& h, void* data,
                                                        size_t capacity) {
  if (epoch_ == 0 || h.epoch != epoch_) {
    auto err = make_error(errc::version_mismatch,
                          "version " + std::to_string(h.version) + " announced on epoch "
                            + std::to_string(h.epoch) + ", open epoch is "
                            + std::to_string(epoch_));
    if (comm_->ready()) // out of step with the learner: leave, await an invite
      comm_->abort();
    epoch_ = 0;
    return err;
  }
  if (!plan_ || plan_->total_bytes != h.total_bytes) {
    auto p = plan_buckets({static_cast<size_t>(h.total_bytes)},
                          bucket_options{bucket_bytes_, 256});
    if (!p)
      return p.error();
    plan_ = std::move(*p);
  }
  if (capacity < packed_extent(*plan_))
    return make_error(errc::invalid_argument,
                      "receive buffer of " + std::to_string(capacity) + " bytes, version "
                        + std::to_string(h.version) + " needs "
                        + std::to_string(packed_extent(*plan_)));
  hooked_memory memory{data, h.version, hook_};
  auto report = receive_version(*comm_, clock_, h, *plan_, memory, intake_, false,
                                options_.transfer);
  if (!report) {
    if (comm_->ready()) // refused before posting: the learner will time out
      comm_->abort();
    epoch_ = 0;
    return report.error();
  }
  ++received_;
  return report;
}

} // namespace tandem::nccl
