// weight_publisher.hpp: the learner's end of the NCCL weight broadcast (rank 0
// of every communicator epoch): an epoch_planner, one collective and the
// bucket loop, driven at each version boundary by the learner's weight roster
// (actors/internal/weight_roster.hpp), which adds the samplers' routes and
// the membership rules; the learner actor only carries the messages. This
// class holds the epoch and transfer decisions, tested on fakes without an
// actor system:
//   boundary()  -> broadcast: announce() the version to the roster, then
//                  send() it; form: invite the members (CAF), record their
//                  accept()s, then seal() and tell each its rank, then
//                  init(); skip: nobody is served by NCCL.
// Each step tears down the previous communicator the way the planner says
// (close when healthy, abort when a member is gone) before returning.
//
// Layout: one version is `bytes` of contiguous memory (the learner's flat
// weights, models/flat_weights.hpp), planned as a single tensor split into
// buckets of `bucket_bytes`, so the flat layout is the buffer itself.
//
// Errors: any failed init or send is reported to the planner (the epoch is
// over; the next boundary opens a new one without the dead member) and
// returned, annotated with epoch, version and bucket. Nothing here waits past
// its deadline: init_timeout for an init, the bucket budgets for a send.
//
// Thread safety: one thread at a time (the learner actor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/nccl/bucket_plan.hpp"
#include "runtime/nccl/clock_source.hpp"
#include "runtime/nccl/collective.hpp"
#include "runtime/nccl/epoch_planner.hpp"
#include "runtime/nccl/weight_transfer.hpp"
#include "runtime/version_header.hpp"

namespace tandem::nccl {

struct endpoint_options {
  transfer_options transfer;
  /// One NCCL init: bootstrap over TCP plus transport setup takes 0.1-3 s on
  /// one host; the members start theirs one control-plane hop after the
  /// learner. 30 s bounds a member that accepted and then died.
  duration init_timeout = std::chrono::seconds(30);
  /// Graceful close of a healthy communicator (flushes nothing in flight).
  duration close_timeout = std::chrono::seconds(5);
};

class weight_publisher {
public:
  /// `bucket_bytes` must be a positive multiple of 256 (the plan's alignment,
  /// which keeps the flat layout gap-free).
  weight_publisher(member_id self, std::unique_ptr<collective> comm, clock_source& clock,
                   size_t bucket_bytes, endpoint_options options = {});

  epoch_planner& planner() { return planner_; }
  const epoch_planner& planner() const { return planner_; }
  size_t bucket_bytes() const { return bucket_bytes_; }

  /// At a version boundary: what to do, with the old communicator already
  /// closed or aborted.
  boundary_step boundary();

  /// True while an invite round or an init is under way (a boundary then
  /// would abandon it; the caller serves that version another way).
  bool busy() const;

  /// Seals `epoch` with a fresh communicator id. Tell every member its rank
  /// (roster.rank_of) before calling init().
  caf::expected<epoch_roster> seal(uint64_t epoch);

  /// Rank 0's init of the sealed epoch, bounded by init_timeout.
  caf::error init(const epoch_roster& roster);

  /// The header of `version` (`bytes` long) on the active epoch;
  /// errc::not_ready without one, errc::invalid_argument for a bad size.
  caf::expected<version_header> announce(int64_t version, size_t bytes);

  /// Broadcasts `h` (from announce) out of `data`, which holds h.total_bytes.
  caf::expected<transfer_report> send(const version_header& h, void* data);

  /// The active epoch holds every member that wants weights.
  bool serves_all() const;

  uint64_t versions_sent() const { return sent_; }

private:
  caf::expected<const bucket_plan*> plan_for(size_t bytes);
  void tear_down(const boundary_step& step);

  epoch_planner planner_;
  std::unique_ptr<collective> comm_;
  clock_source& clock_;
  size_t bucket_bytes_;
  endpoint_options options_;
  std::optional<bucket_plan> plan_; // cached for the weights' size
  uint64_t sent_ = 0;
};

} // namespace tandem::nccl
