// weight_publisher.cpp: rank 0 of the weight broadcast (design in the header).
#include "runtime/nccl/weight_publisher.hpp"

#include <string>

#include "runtime/error.hpp"
#include "runtime/nccl/internal/annotate.hpp"

namespace tandem::nccl {

weight_publisher::weight_publisher(member_id self, std::unique_ptr<collective> comm,
                                   clock_source& clock, size_t bucket_bytes,
                                   endpoint_options options)
  : planner_(std::move(self)), comm_(std::move(comm)), clock_(clock),
    bucket_bytes_(bucket_bytes), options_(options) {}

void weight_publisher::tear_down(const boundary_step& step) {
  if (step.old == teardown::close)
    comm_->close(clock_.now() + options_.close_timeout);
  else if (step.old == teardown::abort)
    comm_->abort();
}

boundary_step weight_publisher::boundary() {
  auto step = planner_.at_boundary();
  tear_down(step);
  return step;
}

bool weight_publisher::busy() const {
  auto s = planner_.state();
  return s == epoch_state::forming || s == epoch_state::initializing;
}

caf::expected<epoch_roster> weight_publisher::seal(uint64_t epoch) {
  auto id = comm_->make_id();
  if (!id)
    return id.error();
  return planner_.seal(epoch, *id);
}

caf::error weight_publisher::init(const epoch_roster& roster) {
  auto err = comm_->init(root_rank, roster.nranks(), roster.id,
                         clock_.now() + options_.init_timeout);
  if (err) {
    auto typed = internal::annotate(err, "epoch " + std::to_string(roster.epoch) + ": init: ");
    planner_.failed(roster.epoch, typed);
    return typed;
  }
  planner_.ready(roster.epoch);
  return caf::none;
}

caf::expected<const bucket_plan*> weight_publisher::plan_for(size_t bytes) {
  if (plan_ && plan_->total_bytes == bytes)
    return &*plan_;
  if (bucket_bytes_ == 0 || bucket_bytes_ % 256 != 0)
    return make_error(errc::invalid_argument,
                      "bucket size " + std::to_string(bucket_bytes_)
                        + " bytes: must be a positive multiple of 256");
  auto p = plan_buckets({bytes}, bucket_options{bucket_bytes_, 256});
  if (!p)
    return p.error();
  if (p->buckets.empty() || packed_extent(*p) != bytes)
    return make_error(errc::invalid_argument, "flat layout of " + std::to_string(bytes)
                                                + " bytes has gaps");
  plan_ = std::move(*p);
  return &*plan_;
}

caf::expected<version_header> weight_publisher::announce(int64_t version, size_t bytes) {
  if (planner_.state() != epoch_state::active)
    return make_error(errc::not_ready, "no active epoch (state "
                                         + std::string(to_string(planner_.state())) + ")");
  auto plan = plan_for(bytes);
  if (!plan)
    return plan.error();
  return make_header(version, planner_.roster().epoch, **plan);
}

caf::expected<transfer_report> weight_publisher::send(const version_header& h, void* data) {
  auto plan = plan_for(h.total_bytes);
  if (!plan)
    return plan.error();
  packed_memory memory{data};
  auto report = send_version(*comm_, clock_, h, **plan, memory, options_.transfer);
  if (!report) {
    planner_.failed(h.epoch, report.error());
    return report.error();
  }
  ++sent_;
  return report;
}

bool weight_publisher::serves_all() const {
  if (planner_.state() != epoch_state::active)
    return false;
  auto wanted = planner_.members();
  for (auto& m : wanted)
    if (planner_.roster().rank_of(m) < 1)
      return false;
  return true;
}

} // namespace tandem::nccl
