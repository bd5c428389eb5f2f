// pipeline_figures.hpp: the figures of `tandem bench pipeline`
// (pipeline_bench.hpp) and their physical bounds.
//
// Per round the bench measures four rates (samples/s) on one fixed workload:
// generation alone (gen), training alone (train), the synchronous pipeline
// (sync, eta = 0) and the asynchronous one (async, eta >= 1). From them, per
// round:
//   serial bound  1 / (1/gen + 1/train): the best a pipeline that never
//                 overlaps the two stages can do; sync cannot beat it.
//   ideal         min(gen, train): the best any pipeline can do; async
//                 cannot beat it.
//   sync / serial bound   <= 1 (bound checked: 1.10, see the .cpp)
//   async / sync          <= ideal / serial = 1 + min/max <= 2 (checked: 2.0)
//   overlap_efficiency = async / ideal  <= 1 (checked: 1.05)
// Every figure is reported as the median over the rounds with its range and
// interquartile range; the ratios are taken per round, then summarised (so a
// slow round moves numerator and denominator together). A median above its
// bound (by the slack above, for noise) is flagged with a WARNING line: the
// modes then did not measure the same work, or the machine changed under
// the bench.
//
// Thread safety: pure functions and printing; one thread.
#pragma once

#include <string>
#include <vector>

#include "bench/sample_stats.hpp"

namespace tandem {

/// Rates of one round, samples/s. async_nccl is 0 when not measured.
struct round_rates {
  double gen = 0, train = 0, sync = 0, async = 0, async_nccl = 0;
  double async_console = 0; // the async pipeline with the console on; 0: not measured
};

/// The figures derived from one round (see the file comment).
struct round_ratios {
  double serial = 0, ideal = 0;
  double sync_vs_serial = 0, async_vs_sync = 0, efficiency = 0;
  double efficiency_nccl = 0, nccl_vs_bytes = 0; // 0 without NCCL
};

round_ratios ratios_of(const round_rates& r);

/// One printed figure: its summary over the rounds and its bound.
struct figure_row {
  std::string name;
  std::string unit;  // "samples/s" or "" for ratios
  spread s;
  double bound = 0;  // 0: none; otherwise the largest physically possible value (+ slack)
  size_t rounds_over = 0; // rounds whose value exceeded `bound`
};

/// Every figure over `rounds`: the rates, the serial bound, the ideal and
/// the ratios (NCCL rows only when measured).
std::vector<figure_row> summarize_rounds(const std::vector<round_rates>& rounds);

/// "WARNING: ..." for every row whose median exceeds its bound.
std::vector<std::string> bound_warnings(const std::vector<figure_row>& rows);

/// One line per round, printed as it finishes.
void print_round(size_t index, const round_rates& r);

/// The table of rows with median, range and IQR, then the warnings.
void print_figures(const std::vector<figure_row>& rows);

} // namespace tandem
