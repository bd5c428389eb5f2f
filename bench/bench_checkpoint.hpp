// bench_checkpoint.hpp: `tandem bench checkpoint`: what a checkpoint costs a
// run (docs/durable-runs.md). The learner's stall while it copies its
// snapshot (export_weights + export_state), against its GRPO step time and
// amortized over a checkpoint every --every steps; the recorder's disk write
// (checkpoint_store::write, fsync included) and a resume's load (read,
// verify, import) in MB/s; the bytes of one checkpoint. Side by side in one
// process, interleaved over rounds.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench checkpoint [--shape tiny|qwen2-0.5b] [--device cpu|cuda]
///                         [--repeats 5] [--every 50] [--dir /tmp] [...]
int bench_checkpoint_command(const std::vector<std::string>& a);

} // namespace tandem
