// collective.hpp: the boundary between tandem and NCCL: one rank's handle on
// one communicator, with a deadline on every call.
//
// Implementations: nccl_collective.hpp (real, non-blocking NCCL on one GPU)
// and fake_collective.hpp (deterministic, host memory, scripted failures).
//
// States: closed --init ok--> ready --close/abort/any error--> closed.
// Invariant: any error from init() or broadcast() leaves the collective
// closed, with its communicator aborted; no call waits past its deadline,
// and the caller never has to clean up. To continue, init() again with a new
// comm_id (a new epoch, see epoch_planner.hpp).
//
// Thread safety: one thread at a time per object.
#pragma once

#include <cstddef>
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

class collective {
public:
  virtual ~collective() = default;

  /// A fresh communicator id; only the rank that creates an epoch calls it.
  virtual caf::expected<comm_id> make_id() = 0;

  /// Joins communicator `id` as `rank` of `nranks`. errc::collective_timeout
  /// when the others have not all joined by `until`; errc::invalid_argument
  /// when still ready (close first) or rank/nranks are out of range.
  virtual caf::error init(int rank, int nranks, const comm_id& id,
                          time_point until) = 0;

  /// Broadcasts every span from `root` into the same spans on the other
  /// ranks, fused into one NCCL group, and returns once this rank's part is
  /// complete. errc::collective_timeout at `until`; errc::peer_down when NCCL
  /// reports a remote failure; errc::backend_failure for other NCCL/CUDA
  /// errors; errc::not_ready when not initialised.
  virtual caf::error broadcast(const std::vector<device_span>& spans, int root,
                               time_point until) = 0;

  /// Graceful teardown (flush, then free); aborts instead at `until`.
  virtual void close(time_point until) = 0;

  /// Immediate teardown: cancels in-flight operations, never waits on peers.
  virtual void abort() = 0;

  virtual bool ready() const = 0;
};

/// One buffer: the shape of the broadcast(buf, bytes, root, deadline).
inline caf::error broadcast(collective& c, void* data, size_t bytes, int root,
                            time_point until) {
  return c.broadcast({device_span{data, bytes}}, root, until);
}

} // namespace tandem::nccl
