// broadcast_ranks.hpp: the ranks of `tandem bench broadcast`
// (bench_broadcast.hpp): rank 0 spawns the others, sends the versions and
// prints; ranks 1..N-1 receive and check. broadcast_ranks.cpp is built only
// with NCCL (tandem_nccl); without it bench_broadcast.cpp says so instead.
//
// Processes. Rank 0 on GPU 0 is the command itself; ranks 1..N-1 on GPUs
// 1..N-1 are this binary again (posix_spawn of /proc/self/exe: a fork after
// CUDA init is undefined), started with the same flags plus the hidden
// --rank R --comm-id HEX (the communicator's id as hex). Every rank derives
// the same weight set and bucket plan from the flags. NCCL_NVLS_ENABLE=0 is
// set before any NCCL call unless already set, and the children inherit it.
//
// Method, all on one communicator:
//   weight set  tensors shaped like an 8B-class transformer in bf16
//               (embedding, per-layer attention with GQA and biases, MLP,
//               norms), cut to exactly --bytes, in one flat device buffer in
//               the plan's layout (packed_memory: one span per bucket).
//   version 1   untimed warm-up (NCCL connects lazily on its first op).
//   versions 2..V+1, timed: barrier, send_version, barrier. "send" is
//               send_version's elapsed time on rank 0; "wall" runs from the
//               first barrier to the second, i.e. until every rank has the
//               whole version.
//   raw         after a barrier, one ncclBroadcast of the whole buffer, V
//               times back to back: the NCCL bus bandwidth (for a broadcast
//               busbw equals algbw); then the same bytes as bucket-sized ops.
//   content     receivers zero their buffer before the last version and
//               check every tensor byte of it afterwards.
// GB/s are 1e9 bytes per second: payload bytes for send_version (--bytes),
// buffer bytes for raw (payload plus < 256 bytes of padding per bucket).
// Send and wall times are printed as mean and median [min..max] over the
// timed versions. The goals (ratio >= 0.8 to raw one-op; 8 GB in <= 50 ms)
// are reported, not enforced.
//
// Deadlines: every NCCL wait, barrier and child exit is bounded (constants in
// broadcast_ranks.cpp); a missed one is a typed error. Exit: 0 measured, 1 a
// typed error on any rank (message names the rank), 2 bad usage.
#pragma once

#include <cstddef>
#include <string>

#include "runtime/nccl/bucket_plan.hpp"

namespace tandem {

struct broadcast_options {
  size_t bytes = size_t{8} << 30;
  int gpus = 2;
  size_t bucket_mb = 0;
  int versions = 5;
  size_t depth = 0;
  int rank = 0;         // hidden: set for the spawned ranks
  std::string comm_hex; // hidden: the communicator id of the spawned ranks
};

/// Rank 0 (spawns ranks 1..N-1 and prints) or a spawned rank, by o.rank;
/// answers the exit code.
int run_broadcast_rank(const broadcast_options& o, nccl::bucket_plan plan);

} // namespace tandem
