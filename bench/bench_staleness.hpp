// bench_staleness.hpp: `tandem bench staleness CONFIG`: what bounded
// staleness costs in reward and saves in wall time, with and without the
// decoupled objective (docs/grpo.md §5).
//
// Method:
//   1. One cell per (eta, objective, seed): eta from --eta (run.max_staleness),
//      the objective decoupled or coupled (learner.decoupled), seeds 1..--seeds
//      (run.seed; task.seed from it). Each cell's config is CONFIG's effective
//      config rewritten for it (staleness_cells.hpp), its run directory
//      OUT/<cell>; every config is checked before any run starts.
//   2. Each cell is one whole training: a child `tandem run` (stdout and
//      stderr to OUT/<cell>.log) that stops at run.target_reward (or --target)
//      or after run.steps (or --steps). Cells run seed by seed, every mode of
//      a seed before the next seed, the order reversed every second seed, so
//      machine noise spreads over the modes (staleness_cells.hpp). --parallel N
//      runs N at a time, each pinned to its own share of the CPUs with taskset
//      when there is one and enough CPUs (otherwise only concurrent).
//   3. Every child has a deadline (--run-timeout): past it the child is
//      stopped and the cell counted as timed out. A failed child is reported
//      with its exit code; neither stops the bench.
//   4. From each run's metrics.jsonl: steps and wall seconds to the target,
//      final reward, mean staleness; one table of median [min..max] over the
//      seeds, the claim check (decoupled, largest eta vs smallest: the final
//      reward within 2 % and less wall time to the target) and, with --json,
//      the same as JSON (staleness_figures.hpp has the definitions).
//
// Wall times depend on the machine and on --parallel (runs side by side
// share memory bandwidth even when pinned): quote figures with both.
//
// Exit: 0 when every cell completed, 1 when one failed or timed out (the
// table is printed either way), 2 for bad flags or a config a cell would
// refuse.
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench staleness CONFIG [--eta LIST] [--seeds N] [--target R]
///   [--steps N] [--out DIR] [--json FILE] [--run-timeout S] [--parallel N]
int bench_staleness_command(const std::vector<std::string>& a);

} // namespace tandem
