// collective.hpp: the boundary between tandem and NCCL: one rank's handle on
// one communicator, with a deadline on every call.
//
// Implementations: nccl_collective.hpp (real, non-blocking NCCL on one GPU)
// and fake_collective.hpp (deterministic, host memory, scripted failures).
//
// Broadcasts are pipelined: post() queues one (fused) broadcast behind the
// ones posted before it and returns a ticket without waiting for the data;
// wait(ticket) returns once that broadcast is complete on this rank. Posted
// broadcasts run one after another in posting order (one CUDA stream), so a
// completed ticket means every earlier ticket completed too. broadcast() is
// post() + wait(). Every rank of a communicator must post the same sequence
// of broadcasts (same sizes, same root).
//
// States: closed --init ok--> ready --close/abort/any error--> closed.
// Invariant: any error from init(), post() or wait() leaves the collective
// closed, with its communicator aborted and nothing in flight -- except the
// refusals (errc::not_ready, errc::invalid_argument, errc::capacity_exceeded),
// which change nothing. No call waits past its deadline, and the caller never
// has to clean up. To continue after an error, init() again with a new
// comm_id (a new epoch, see epoch_planner.hpp).
//
// Memory: the spans of a posted broadcast must stay valid and unwritten until
// its ticket completed or the collective closed.
//
// Thread safety: one thread at a time per object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/nccl/clock_source.hpp"
#include "runtime/nccl/comm_id.hpp"

namespace tandem::nccl {

/// A run of device bytes (host bytes for the fake).
struct device_span {
  void* data = nullptr;
  size_t bytes = 0;
};

/// Names one posted broadcast. Tickets of one collective object only grow;
/// those posted before the last init() are stale.
using ticket = uint64_t;

class collective {
public:
  /// Posted broadcasts not yet seen complete that one rank may hold. 1024:
  /// far above any sane pipeline depth (weight_transfer.hpp keeps 8), yet a
  /// bound on the per-ticket state (one CUDA event each) if a caller forgets
  /// to wait. Posting past it is refused with errc::capacity_exceeded.
  static constexpr size_t max_in_flight = 1024;

  virtual ~collective() = default;

  /// A fresh communicator id; only the rank that creates an epoch calls it.
  virtual caf::expected<comm_id> make_id() = 0;

  /// Joins communicator `id` as `rank` of `nranks`. errc::collective_timeout
  /// when the others have not all joined by `until`; errc::invalid_argument
  /// when still ready (close first) or rank/nranks are out of range.
  virtual caf::error init(int rank, int nranks, const comm_id& id,
                          time_point until) = 0;

  /// Queues the broadcast of every span from `root` into the same spans on
  /// the other ranks, fused into one NCCL group, behind every broadcast posted
  /// before. Returns once it is queued (NCCL: launched; `until` bounds that,
  /// since the first operation of a communicator connects to the peers).
  /// Errors as wait(); errc::not_ready when not initialised.
  virtual caf::expected<ticket> post(const std::vector<device_span>& spans,
                                     int root, time_point until) = 0;

  /// Returns once broadcast `t` (and so every earlier one) is complete on
  /// this rank. errc::collective_timeout at `until`; errc::peer_down when
  /// NCCL reports a remote failure; errc::backend_failure for other NCCL/CUDA
  /// errors; errc::invalid_argument for a ticket never posted or stale.
  virtual caf::error wait(ticket t, time_point until) = 0;

  /// Graceful teardown (flush, then free); aborts instead at `until`.
  virtual void close(time_point until) = 0;

  /// Immediate teardown: cancels in-flight operations, never waits on peers.
  virtual void abort() = 0;

  virtual bool ready() const = 0;

  /// One broadcast, start to finish: post() then wait(), both by `until`.
  caf::error broadcast(const std::vector<device_span>& spans, int root,
                       time_point until) {
    auto t = post(spans, root, until);
    if (!t)
      return t.error();
    return wait(*t, until);
  }
};

/// One buffer: the shape of the broadcast(buf, bytes, root, deadline).
inline caf::error broadcast(collective& c, void* data, size_t bytes, int root,
                            time_point until) {
  return c.broadcast({device_span{data, bytes}}, root, until);
}

} // namespace tandem::nccl
