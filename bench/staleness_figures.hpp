// staleness_figures.hpp: the figures of `tandem bench staleness`
// (bench_staleness.hpp): what one run's metrics.jsonl says, the table over
// seeds, the claim check and the JSON report.
//
// Per run (cell), from its step records:
//   steps to target   the first step at which the mean reward_mean of the
//                     last 10 steps is >= the target, counted only once 10
//                     steps exist (the controller's stop rule,
//                     actors/controller.cpp); none if never
//   wall to target    elapsed_s at that step (seconds since the controller
//                     started: the process start-up is left out)
//   final reward      the mean reward_mean of the last 10 steps (of all, if
//                     fewer)
//   staleness         the mean of staleness_mean over the steps
// Per row (eta, objective), over the seeds whose child exited 0: median
// [min..max] of each figure; steps and wall to target over the seeds that
// reached the target ("reached k/n" says how many). Failed and timed-out
// children are counted and named, never averaged in.
//
// Claim check, on the decoupled rows of the largest and the smallest eta:
// final reward ratio = median final reward (largest) / (smallest), within
// 2 % when >= 0.98 (a higher reward is not a loss); wall time ratio =
// median wall to target (largest) / (smallest), defined only when every
// seed of both rows reached the target, "less" when < 1.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "bench/sample_stats.hpp"
#include "bench/staleness_cells.hpp"

namespace tandem {

/// One step record of metrics.jsonl, the fields the bench reads.
struct step_point {
  int64_t step = 0;
  double reward = 0;    // reward_mean
  double elapsed = 0;   // elapsed_s
  double staleness = 0; // staleness_mean
};

/// The step records of a metrics.jsonl text, one per step in step order. A
/// step recorded again (a restarted head continues from its checkpoint)
/// replaces the records from that step on. A torn last line (a killed run)
/// is left out; any other line that is not a step record is an error naming
/// `source` and the line.
caf::expected<std::vector<step_point>> parse_step_records(const std::string& text,
                                                          const std::string& source);

/// The window of the target rule and of the final reward.
constexpr size_t reward_window = 10;

struct run_figures {
  int64_t steps = 0;                     // recorded
  std::optional<int64_t> steps_to_target; // none: never reached
  std::optional<double> wall_to_target;  // elapsed_s at that step
  double final_reward = 0;               // 0 when no step
  double staleness = 0;                  // mean staleness_mean
};

run_figures figures_of(const std::vector<step_point>& steps, double target);

/// What became of one cell.
struct cell_outcome {
  staleness_cell cell;
  enum class state { ok, failed, timed_out } how = state::ok;
  int exit_code = 0;      // the child's (failed: also 128 + signal)
  std::string error;      // failed: why, when the child did not say with its code
  double child_wall = 0;  // seconds the child ran
  run_figures figures;    // from its metrics.jsonl (what there is, whatever `how`)
};

/// One row of the table: an (eta, objective) over its seeds.
struct staleness_row {
  int32_t eta = 0;
  bool decoupled = true;
  size_t seeds = 0, completed = 0, reached = 0; // cells, ok cells, ok cells at the target
  spread steps_to_target, wall_to_target, final_reward, staleness;
  std::vector<std::string> failures; // "seed 2: exit 1", "seed 3: timed out"
};

/// The rows, eta ascending, decoupled before coupled.
std::vector<staleness_row> summarize_cells(const std::vector<cell_outcome>& cells);

/// The table, one line per row, with a header line.
std::string format_table(const std::vector<staleness_row>& rows);

struct claim_check {
  int32_t eta_high = 0, eta_low = 0;
  std::optional<double> reward_ratio, wall_ratio;
  bool within_2_percent = false, less_wall = false;
  std::string note; // why a ratio is missing, or that a row is incomplete
};

/// The claim check (file comment); none when fewer than two etas.
std::optional<claim_check> check_claim(const std::vector<staleness_row>& rows);

/// "decoupled, η=8 vs η=0: final reward ratio 0.998 (within 2 %: yes), wall
/// time ratio 0.71 (less: yes)" and the note, if any.
std::string format_claim(const claim_check& c);

/// What the JSON report says about the bench itself.
struct staleness_setup {
  std::string config, out_dir;
  double target = 0;
  int32_t steps = 0, seeds = 0, parallel = 1, hardware_threads = 0;
  std::vector<int32_t> etas;
  std::string pinning; // "taskset, 4 CPUs per run" or why not
  double run_timeout_s = 0;
};

/// The report as one JSON document: setup, rows, cells and the claim.
std::string report_json(const staleness_setup& s, const std::vector<staleness_row>& rows,
                        const std::vector<cell_outcome>& cells,
                        const std::optional<claim_check>& claim);

} // namespace tandem
