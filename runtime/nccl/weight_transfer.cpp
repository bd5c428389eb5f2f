// weight_transfer.cpp: the bucket loop shared by sender and receivers.
#include "runtime/nccl/weight_transfer.hpp"

#include <functional>
#include <string>

#include "runtime/error.hpp"
#include "runtime/nccl/internal/annotate.hpp"

namespace tandem::nccl {

duration bucket_budget(const bucket_plan& plan, size_t index,
                       const transfer_timeouts& t) {
  auto bytes = static_cast<double>(plan.buckets[index].bytes);
  auto wire = std::chrono::duration<double>(bytes / t.min_bytes_per_s);
  auto budget = t.bucket_base + std::chrono::duration_cast<duration>(wire);
  return index == 0 ? budget + t.first_bucket_grace : budget;
}

std::vector<device_span> tensor_memory::spans(const bucket_plan& plan,
                                              size_t index) {
  std::vector<device_span> out;
  for (auto& s : plan.buckets[index].segments)
    out.push_back({static_cast<char*>(tensors_[s.tensor]) + s.tensor_offset, s.bytes});
  return out;
}

std::vector<device_span> packed_memory::spans(const bucket_plan& plan,
                                              size_t index) {
  auto& b = plan.buckets[index];
  return {{base_ + b.flat_offset, b.bytes}};
}

namespace {

using internal::annotate;

std::string where(const version_header& h, size_t index, const bucket_plan& plan) {
  return "epoch " + std::to_string(h.epoch) + ", version " + std::to_string(h.version)
         + ", bucket " + std::to_string(index + 1) + "/"
         + std::to_string(plan.buckets.size()) + " ("
         + std::to_string(plan.buckets[index].bytes) + " bytes): ";
}

using arrival_fn = std::function<caf::error(size_t index, size_t payload)>;

caf::expected<transfer_report> walk_buckets(collective& comm, clock_source& clock,
                                            const version_header& h,
                                            const bucket_plan& plan,
                                            bucket_memory& memory,
                                            const transfer_timeouts& t,
                                            const arrival_fn& arrived) {
  transfer_report report{h.version, h.epoch, 0, 0, {}};
  auto start = clock.now();
  for (size_t i = 0; i < plan.buckets.size(); ++i) {
    auto until = clock.now() + bucket_budget(plan, i, t);
    if (auto err = comm.broadcast(memory.spans(plan, i), root_rank, until))
      return annotate(err, where(h, i, plan));
    if (auto err = arrived(i, plan.buckets[i].payload))
      return annotate(err, where(h, i, plan));
    ++report.buckets;
    report.bytes += plan.buckets[i].payload;
  }
  report.elapsed = clock.now() - start;
  return report;
}

} // namespace

caf::expected<transfer_report> send_version(collective& comm, clock_source& clock,
                                            const version_header& h,
                                            const bucket_plan& plan,
                                            bucket_memory& memory,
                                            const transfer_timeouts& t) {
  if (h.layout_digest != plan.layout_digest || h.buckets != plan.buckets.size()
      || h.total_bytes != plan.total_bytes)
    return make_error(errc::invalid_argument,
                      "send_version: header of version " + std::to_string(h.version)
                        + " does not describe the plan");
  return walk_buckets(comm, clock, h, plan, memory, t,
                      [](size_t, size_t) { return caf::error{}; });
}

caf::expected<transfer_report> receive_version(collective& comm, clock_source& clock,
                                               const version_header& h,
                                               const bucket_plan& plan,
                                               bucket_memory& memory,
                                               version_intake& intake,
                                               bool in_place,
                                               const transfer_timeouts& t) {
  if (auto err = intake.begin(h, plan, in_place))
    return err;
  auto report = walk_buckets(comm, clock, h, plan, memory, t,
                             [&](size_t i, size_t payload) {
                               return intake.arrived(i, payload);
                             });
  if (!report) {
    intake.fail();
    return report;
  }
  if (auto done = intake.finish(); !done)
    return done.error();
  return report;
}

} // namespace tandem::nccl
