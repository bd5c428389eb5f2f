// weight_transfer.hpp: one weight version over one communicator epoch,
// bucket by bucket, pipelined, each bucket with its own deadline.
//
// The learner (rank 0, the root) calls send_version; each member calls
// receive_version with the same header (it came over CAF) and the same plan.
//
// Pipelining. Bucket i is one fused NCCL broadcast (collective::post). The
// loop keeps up to `depth` buckets posted ahead of the one it waits for, so
// the GPU stream never runs dry while the host polls: the per-bucket host
// cost (launch, poll, wake-up) overlaps the transfer of the buckets queued
// behind it. Each bucket is its own group with its own completion event, not
// one group for the whole version: a group is a single launch with a single
// completion point, so a hang could not be pinned on a bucket, and NCCL would
// fuse the ops into one kernel that cannot be windowed.
//
// Deadlines. Bucket i occupies the stream from the moment bucket i-1 is done
// (the stream runs them in order), so its deadline is
//   start_i + budget_i,  budget_i = bucket_base + bytes_i / min_bytes_per_s
//                                   (+ first_bucket_grace for i = 0),
//   start_i = max(when bucket i was posted, when bucket i-1 was seen done).
// Hence, time spent posting aside, deadline_i <= t0 + budget_0 + ... +
// budget_i (the cumulative bound),
// a slow but live link is never blamed for time spent on earlier buckets, and
// a dead or stalled peer costs at most the failing bucket's budget (plus the
// real time of the buckets before it) before the communicator is aborted.
// A post is bounded by the budget of its own bucket from when it is made.
// Errors name the epoch, version and bucket:
//   "epoch 4, version 7, bucket 2/4 (268435456 bytes): collective_timeout: ..."
// After any error nothing is left in flight: the collective is closed
// (collective.hpp), or aborted here when the failure was not its own.
// A receiver installs the version (version_intake::finish) only after its
// last bucket completed; any failure leaves the previous version installed.
//
// Thread safety: the functions are reentrant; each collective, clock and
// memory object is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/nccl/bucket_plan.hpp"
#include "runtime/nccl/clock_source.hpp"
#include "runtime/nccl/collective.hpp"
#include "runtime/nccl/version_intake.hpp"
#include "runtime/version_header.hpp"

namespace tandem::nccl {

/// The learner is always rank 0 of an epoch (epoch_planner.hpp).
constexpr int root_rank = 0;

struct transfer_timeouts {
  /// Fixed part of every bucket's budget. 2 s covers NCCL's lazy connection
  /// setup on the first operation of a new communicator (P2P/IPC handles,
  /// ~0.1-1 s) and scheduling noise, yet bounds the stall a dead peer causes.
  duration bucket_base = std::chrono::seconds(2);
  /// Slowest link we accept: 1 GB/s (a congested TCP path between hosts;
  /// NVLink is ~300x faster), i.e. +0.54 s for a 512 MiB bucket.
  double min_bytes_per_s = 1e9;
  /// Extra time for bucket 0 only: the header travels over CAF, so the peers
  /// post their first broadcast up to one control-plane hop apart (5 s is
  /// far above a loaded actor system's message latency).
  duration first_bucket_grace = std::chrono::seconds(5);
};

struct transfer_options {
  transfer_timeouts timeouts;
  /// Buckets posted ahead of the one being waited for, itself included.
  /// 8: with 512 MiB buckets that is ~12 ms of NVLink work queued, so the
  /// host may be descheduled for a scheduler tick (1-4 ms) without the stream
  /// running dry; a few buckets suffice for that, and a bounded window keeps
  /// NCCL's work FIFO from filling (a post then never waits on GPU progress)
  /// and the per-bucket events few. 1 turns pipelining off (post, wait, post).
  size_t depth = 8;
};

/// The deadline budget of bucket `index` of `plan`.
duration bucket_budget(const bucket_plan& plan, size_t index,
                       const transfer_timeouts& t);

/// Where this rank's bytes of each bucket live. spans(plan, i) is asked once,
/// right before bucket i is posted (while up to depth-1 earlier buckets may
/// still be in flight); the spans must stay valid until the call returns.
class bucket_memory {
public:
  virtual ~bucket_memory() = default;
  virtual std::vector<device_span> spans(const bucket_plan& plan,
                                         size_t index) = 0;
};

/// Tensors at their own device addresses: one span per segment.
class tensor_memory final : public bucket_memory {
public:
  explicit tensor_memory(std::vector<void*> tensors)
    : tensors_(std::move(tensors)) {}
  std::vector<device_span> spans(const bucket_plan& plan, size_t index) override;

private:
  std::vector<void*> tensors_;
};

/// One buffer of plan.flat_bytes in the plan's flat layout: one span per
/// bucket (padding included), the fastest way to broadcast.
class packed_memory final : public bucket_memory {
public:
  explicit packed_memory(void* base) : base_(static_cast<char*>(base)) {}
  std::vector<device_span> spans(const bucket_plan& plan, size_t index) override;

private:
  char* base_;
};

struct transfer_report {
  int64_t version = -1;
  uint64_t epoch = 0;
  size_t buckets = 0;
  size_t bytes = 0;  // payload
  duration elapsed{};
};

/// Root side. errc::invalid_argument if `h` does not describe `plan` or
/// o.depth is not in 1..collective::max_in_flight.
caf::expected<transfer_report> send_version(collective& comm, clock_source& clock,
                                            const version_header& h,
                                            const bucket_plan& plan,
                                            bucket_memory& memory,
                                            const transfer_options& o = {});

/// Receiver side: checks `h` against `plan` and o.depth (before posting anything),
/// receives every bucket and installs into `intake` only when all arrived.
caf::expected<transfer_report> receive_version(collective& comm, clock_source& clock,
                                               const version_header& h,
                                               const bucket_plan& plan,
                                               bucket_memory& memory,
                                               version_intake& intake,
                                               bool in_place,
                                               const transfer_options& o = {});

} // namespace tandem::nccl
