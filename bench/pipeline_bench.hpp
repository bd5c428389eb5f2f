// pipeline_bench.hpp: `tandem bench pipeline CONFIG`: generation alone,
// training alone, the synchronous (eta = 0) and the asynchronous pipeline
// (eta = max(1, run.max_staleness)), all in this process on one fixed
// workload, interleaved over several rounds.
//
// Method (pipeline_modes.hpp has the modes, pipeline_figures.hpp the
// figures and bounds):
//   1. An untimed record pass runs the real pipeline once and records every
//      request its controller dispatches: the workload (problems, seeds,
//      request composition) that every later mode processes.
//   2. Each round runs generation alone, training alone, the sync and the
//      async pipeline (and with --weights nccl the async pipeline with NCCL
//      weights), one after the other, each in a fresh actor system; each
//      leaves its first --warmup steps out of its rate. Interleaving puts the
//      modes of one round close in time, so a change of the machine's load
//      moves all of them; every second round runs them in reverse order, so
//      a steady drift favours no mode. Training alone trains on the scored
//      groups of one untimed generation run before the rounds.
//   3. Every mode's generated and trained tokens are checked against the
//      record pass (the same work, to the token); a mismatch is a WARNING.
//   4. Per figure: median [min..max] and IQR over the rounds, with the serial
//      bound 1/(1/gen + 1/train) and the ideal min(gen, train); ratios are
//      taken per round. A median above its physical bound is a WARNING.
// The policy is frozen (lr 1e-12): completions do not shorten as it learns.
//
// Thread budget: each sampler and the learner own one OS thread with their
// configured intra-op threads, as they would own their GPUs; `--samplers N`
// (default 1) so that on a 2-core machine generation and training each have
// one core.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench pipeline CONFIG [--rounds N] [--steps N] [--warmup N]
///   [--samplers N] [--weights caf|nccl] [--console]
int pipeline_bench_command(const std::vector<std::string>& a);

} // namespace tandem
