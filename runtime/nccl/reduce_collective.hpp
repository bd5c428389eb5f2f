// reduce_collective.hpp: the boundary between the data-parallel learner and
// NCCL's reductions: one rank's handle on a communicator of `ranks()` ranks,
// float32 sums in place, a deadline on every call.
//
// Implementations: nccl_collective.hpp (real: ncclAllReduce,
// ncclReduceScatter, ncclAllGather on the communicator it already manages for
// broadcasts) and thread_group_collective.hpp (N ranks as threads of one
// process, host memory, deterministic sums, a rank that can die).
//
// Why an interface of its own beside collective.hpp: the learner needs sums
// and gathers, never broadcasts, and the weight path needs the opposite; the
// fakes differ too (the broadcast fake runs every rank on one test thread,
// which cannot rendezvous a sum). The real NCCL object implements both, so a
// learner rank can reduce gradients and broadcast weights on one
// communicator, in one stream order.
//
// Every operation is in place on one buffer of float32 elements:
//   all_reduce      data[i] = sum over ranks of data[i]
//   reduce_scatter  data.count = ranks() * shard; afterwards this rank's
//                   shard, data[rank * shard, (rank + 1) * shard), holds the
//                   sum over ranks of that shard; the rest is unspecified.
//   all_gather      data.count = ranks() * shard; this rank's shard is its
//                   input; afterwards data holds every rank's shard in rank
//                   order.
// Equal shards only: a caller with a count that is not a multiple of ranks()
// pads it to padded_count() with zeros (zeros add nothing to a sum and the
// padding is never read as a value). Every rank must post the same sequence
// of operations with the same counts. Sums are identical on every rank (the
// thread group adds in rank order; NCCL's collectives give every rank the
// same result), which keeps replicated optimizer steps bit-identical.
//
// Pipelining, states and errors are those of collective.hpp: post_*() queues
// an operation behind the ones posted before and returns a ticket; wait(t)
// returns once operation t (and every earlier one) is complete on this rank.
// Errors: errc::collective_timeout at the deadline (a dead or stalled peer),
// errc::peer_down when a peer is known to be gone, errc::backend_failure for
// other failures; the text names the rank that is missing when known. Any of
// them leaves the collective closed (NCCL: communicator aborted); the
// refusals (errc::not_ready, errc::invalid_argument,
// errc::capacity_exceeded) change nothing.
//
// Memory: the buffer of a posted operation must stay valid and untouched
// until its ticket completed or the collective closed.
//
// Thread safety: one thread at a time per object.
#pragma once

#include <cstddef>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/nccl/clock_source.hpp"
#include "runtime/nccl/collective.hpp"

namespace tandem::nccl {

/// float32 elements in device memory (host memory for the thread group).
struct float_span {
  float* data = nullptr;
  size_t count = 0;
};

/// Elements per rank when `count` is split into `ranks` equal shards.
constexpr size_t shard_count(size_t count, int ranks) {
  return ranks <= 0 ? 0 : (count + static_cast<size_t>(ranks) - 1) / static_cast<size_t>(ranks);
}

/// `count` rounded up to a multiple of `ranks` (the padded length that
/// reduce_scatter and all_gather take).
constexpr size_t padded_count(size_t count, int ranks) {
  return shard_count(count, ranks) * static_cast<size_t>(ranks > 0 ? ranks : 0);
}

enum class reduce_op { all_reduce, reduce_scatter, all_gather };

/// "all_reduce", "reduce_scatter", "all_gather".
inline const char* to_string(reduce_op op) {
  switch (op) {
    case reduce_op::all_reduce: return "all_reduce";
    case reduce_op::reduce_scatter: return "reduce_scatter";
    case reduce_op::all_gather: return "all_gather";
  }
  return "?";
}

class reduce_collective {
public:
  virtual ~reduce_collective() = default;

  /// This rank and the communicator's size (-1 and 0 before it is ready).
  virtual int rank() const = 0;
  virtual int ranks() const = 0;

  virtual bool ready() const = 0;

  /// Whether buffers are device memory (NCCL: CUDA pointers) or host memory
  /// (the thread group); a learner checks it against its device.
  virtual bool device_memory() const = 0;

  /// True when post() orders its operation after the work already queued on
  /// the device's default stream (LibTorch's), so a caller that wrote the
  /// buffer there need not synchronise the device first. False for host
  /// memory and for a collective on its own unordered stream.
  virtual bool device_ordered() const { return false; }

  /// Queues `op` on `data` (see the file comment). errc::invalid_argument
  /// when reduce_scatter or all_gather get a count that is not a multiple of
  /// ranks(); errc::not_ready when closed. `until` bounds the launch (NCCL
  /// connects to its peers on a communicator's first operation).
  virtual caf::expected<ticket> post(reduce_op op, float_span data, time_point until) = 0;

  /// Returns once operation `t` (and every earlier one) is complete on this
  /// rank; errors as in the file comment.
  virtual caf::error wait(ticket t, time_point until) = 0;

  /// One operation, start to finish: post() then wait(), both by `until`.
  caf::error run(reduce_op op, float_span data, time_point until) {
    auto t = post(op, data, until);
    if (!t)
      return t.error();
    return wait(*t, until);
  }

  caf::error all_reduce_sum(float_span data, time_point until) {
    return run(reduce_op::all_reduce, data, until);
  }
  caf::error reduce_scatter_sum(float_span data, time_point until) {
    return run(reduce_op::reduce_scatter, data, until);
  }
  caf::error all_gather(float_span data, time_point until) {
    return run(reduce_op::all_gather, data, until);
  }
};

} // namespace tandem::nccl
