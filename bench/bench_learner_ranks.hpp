// bench_learner_ranks.hpp: `tandem bench learner --ranks 1,2[,4,8] --zero
// 0,1,2`: the data-parallel learner's tokens/s, scaling efficiency and memory
// per rank, every (ranks, zero) cell side by side (docs/data-parallel.md).
//
// Ranks are threads of this process. On the CPU they share one
// thread_group_collective (the figures then measure the mechanics, not a
// speed-up: the ranks share the machine's cores). On CUDA each rank gets
// GPU r and an nccl_collective (a TANDEM_WITH_NCCL build); a rank count
// above the visible GPUs is skipped with a line saying so.
//
// Cells run interleaved: round k runs every cell once, for --repeats rounds,
// so drift (clocks, other load) spreads over all cells. A cell's sample is
// the mean step time of its --steps timed steps after --warmup; the report
// prints the median [min..max] over the rounds.
//
// Thread safety: a command; it starts and joins its rank threads.
#pragma once

#include <string>
#include <vector>

#include "bench/learner_reference.hpp"
#include "models/learner_core.hpp"

namespace tandem {

struct rank_scaling_options {
  std::vector<int> ranks = {1, 2};
  std::vector<int> zero = {0};
  int64_t repeats = 3;
  int64_t grad_bucket_mb = 25;
};

/// "1,2,4" -> {1, 2, 4}; errc::invalid_argument naming `flag` on anything
/// else (empty items, non-numbers, values outside [lo, hi]).
caf::expected<std::vector<int>> parse_int_list(const std::string& text, const std::string& flag,
                                               int lo, int hi);

/// Runs the cells and prints the table; the process exit code.
int run_rank_scaling(const learner_bench_options& o, const rank_scaling_options& r,
                     const learner_settings& base, const std::vector<train_sequence>& batch);

} // namespace tandem
