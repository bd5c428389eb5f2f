// bench_broadcast.hpp: `tandem bench broadcast` -- tandem's NCCL weight
// broadcast (send_version: bucketed, pipelined) against a raw ncclBroadcast
// of the same bytes on the same communicator, in one run on one host. See
// broadcast_ranks.hpp for the method.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench broadcast [--bytes 8G] [--gpus 2] [--bucket-mb 512]
///   [--versions 5] [--depth 8]
/// (ranks 1..N-1 are the same command with --rank R --comm-id HEX added)
int bench_broadcast_command(const std::vector<std::string>& a);

} // namespace tandem
