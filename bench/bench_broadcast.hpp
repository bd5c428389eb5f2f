// bench_broadcast.hpp: `tandem bench broadcast` -- tandem's NCCL weight
// broadcast (send_version: bucketed, pipelined) against a raw ncclBroadcast
// of the same bytes on the same communicator, in one run on one host. See
// bench_broadcast.cpp for the method.
#pragma once

#include "app/commands.hpp"

namespace tandem {

/// tandem bench broadcast [--bytes 8G] [--gpus 2] [--bucket-mb 512]
///   [--versions 5] [--depth 8]
/// (ranks 1..N-1 are the same command with --rank R --comm-id HEX added)
int bench_broadcast_command(const args& a);

} // namespace tandem
