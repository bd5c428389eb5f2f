// weight_transfer.cpp: the pipelined bucket loop shared by sender and
// receivers (design in the header).
#include "runtime/nccl/weight_transfer.hpp"

#include <algorithm>
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

/// The pipelined bucket loop (design in the header). While waiting for
/// bucket i it keeps buckets [i, next_post_) posted, at most o.depth of
/// them; after any error nothing stays in flight.
class bucket_walk {
public:
  bucket_walk(collective& comm, clock_source& clock, const version_header& h,
              const bucket_plan& plan, bucket_memory& memory,
              const transfer_options& o)
    : comm_(comm), clock_(clock), h_(h), plan_(plan), memory_(memory), o_(o),
      tickets_(plan.buckets.size()), posted_at_(plan.buckets.size()) {}

  caf::expected<transfer_report> run(const arrival_fn& arrived) {
    transfer_report report{h_.version, h_.epoch, 0, 0, {}};
    auto start = clock_.now();
    auto last_done = start;
    const size_t n = plan_.buckets.size();
    for (size_t i = 0; i < n; ++i) {
      for (; next_post_ < n && next_post_ < i + o_.depth; ++next_post_)
        if (auto err = post(next_post_))
          return err;
      auto until = std::max(posted_at_[i], last_done) + budget(i);
      if (auto err = comm_.wait(tickets_[i], until))
        return fail(err, i);
      last_done = clock_.now();
      if (auto err = arrived(i, plan_.buckets[i].payload))
        return fail(err, i);
      ++report.buckets;
      report.bytes += plan_.buckets[i].payload;
    }
    report.elapsed = clock_.now() - start;
    return report;
  }

private:
  duration budget(size_t i) const { return bucket_budget(plan_, i, o_.timeouts); }

  caf::error post(size_t i) {
    posted_at_[i] = clock_.now();
    auto t = comm_.post(memory_.spans(plan_, i), root_rank, posted_at_[i] + budget(i));
    if (!t)
      return fail(t.error(), i);
    tickets_[i] = *t;
    return {};
  }

  // The collective closes itself on its own errors; a refusal or an error of
  // the caller's (the intake's) leaves it ready with buckets in flight, which
  // the peers would go on waiting for: abort it.
  caf::error fail(const caf::error& err, size_t i) {
    if (comm_.ready())
      comm_.abort();
    return annotate(err, where(h_, i, plan_));
  }

  collective& comm_;
  clock_source& clock_;
  const version_header& h_;
  const bucket_plan& plan_;
  bucket_memory& memory_;
  const transfer_options& o_;
  std::vector<ticket> tickets_;
  std::vector<time_point> posted_at_;
  size_t next_post_ = 0;
};

caf::error check_depth(const transfer_options& o, const char* who) {
  if (o.depth >= 1 && o.depth <= collective::max_in_flight)
    return {};
  return make_error(errc::invalid_argument,
                    std::string{who} + ": depth must be 1.."
                      + std::to_string(collective::max_in_flight) + ", got "
                      + std::to_string(o.depth));
}

} // namespace

caf::expected<transfer_report> send_version(collective& comm, clock_source& clock,
                                            const version_header& h,
                                            const bucket_plan& plan,
                                            bucket_memory& memory,
                                            const transfer_options& o) {
  if (h.layout_digest != plan.layout_digest || h.buckets != plan.buckets.size()
      || h.total_bytes != plan.total_bytes)
    return make_error(errc::invalid_argument,
                      "send_version: header of version " + std::to_string(h.version)
                        + " does not describe the plan");
  if (auto err = check_depth(o, "send_version"))
    return err;
  return bucket_walk{comm, clock, h, plan, memory, o}.run(
    [](size_t, size_t) { return caf::error{}; });
}

caf::expected<transfer_report> receive_version(collective& comm, clock_source& clock,
                                               const version_header& h,
                                               const bucket_plan& plan,
                                               bucket_memory& memory,
                                               version_intake& intake,
                                               bool in_place,
                                               const transfer_options& o) {
  if (auto err = check_depth(o, "receive_version"))
    return err;
  if (auto err = intake.begin(h, plan, in_place))
    return err;
  auto report = bucket_walk{comm, clock, h, plan, memory, o}.run(
    [&](size_t i, size_t payload) { return intake.arrived(i, payload); });
  if (!report) {
    intake.fail();
    return report;
  }
  if (auto done = intake.finish(); !done)
    return done.error();
  return report;
}

} // namespace tandem::nccl
