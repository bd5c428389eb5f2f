// raw_broadcast.hpp: plain ncclBroadcast loops on an nccl_collective's
// communicator -- the yardstick that tandem's bucketed, pipelined path is
// measured against (tests/gpu/nccl_broadcast_gpu_test.cpp and
// `tandem bench broadcast` print the ratio). Every rank makes the same
// calls in the same order, as with any collective.
//
// Every wait is bounded by the caller's deadline; on any error or timeout the
// collective is aborted (as collective.hpp promises for its own calls) and
// the error is typed like nccl_collective's.
//
// Thread safety: as nccl_collective (one thread at a time).
#pragma once

#include <cstddef>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/nccl/nccl_collective.hpp"

namespace tandem::nccl {

/// A one-float all-reduce on the collective's stream: returns once every
/// rank has reached it (and this rank's stream is empty), so a timer started
/// after it does not count a peer that arrived late.
caf::error barrier(nccl_collective& c, time_point until);

/// barrier(), then `iterations` x `ops` back-to-back in-place broadcasts
/// from rank 0 that together cover [buf, buf + bytes) once per iteration
/// (equal parts, the last takes the remainder), queued without waiting on
/// the GPU between them; returns the time from the barrier's end until this
/// rank's stream is empty. errc::invalid_argument for ops == 0 or
/// iterations < 1.
caf::expected<duration> raw_broadcast(nccl_collective& c, void* buf, size_t bytes,
                                      size_t ops, int iterations, time_point until);

/// Bytes per second for `bytes` moved `times` times in `d`.
double bytes_per_s(size_t bytes, int times, duration d);

} // namespace tandem::nccl
