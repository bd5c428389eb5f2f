// run_report.hpp: what the user sees of a run — one metrics record per step,
// the live progress line and the final summary — computed from plain data.
//
// Thread safety: one thread (the controller actor).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "actors/internal/staleness_gate.hpp"
#include "runtime/messages.hpp"
#include "runtime/metrics_sink.hpp"

namespace tandem {

/// Reward and length statistics of one training batch.
struct batch_rewards {
  double reward_mean = 0, reward_std = 0;
  double accuracy_mean = 0, format_mean = 0;
  double completion_len_mean = 0;
  double truncated_fraction = 0; // completions that hit max_new_tokens
  int64_t completions = 0;
};

batch_rewards summarize_rewards(const std::vector<scored_group>& batch);

/// Time spent per stage since the previous step (seconds).
struct stage_times {
  double generate = 0; // summed over samplers (busy time)
  double score = 0;    // summed over scoring requests
  double train = 0;    // learner step time
  double wall = 0;     // wall time of this step (batch to batch)
};

struct step_record {
  int64_t step = 0;     // 1-based optimizer step
  int64_t version = 0;  // version after the step
  batch_rewards rewards;
  staleness_stats staleness;
  step_metrics learner;
  stage_times times;
  int64_t tokens_generated = 0; // completion tokens generated in this interval
  double elapsed = 0;           // seconds since the run started
  uint64_t consumed = 0, requeued = 0, dropped = 0, stale_refused = 0;
  int64_t samplers = 0;
  // Scorings of this interval by outcome (only ok became a reward).
  uint64_t reward_ok = 0, reward_invalid = 0, reward_timeout = 0, reward_error = 0;
  // Dynamic sampling in this interval: groups filtered out (all rewards
  // equal) and uninformative groups trained on past the per-step bound.
  uint64_t filtered = 0, filter_passed = 0;
  uint64_t trained_groups = 0; // groups in the batch this step trained on
  // Prompts over the prompt-token limit dropped in this interval / in all.
  uint64_t prompts_dropped_long = 0, prompts_dropped_long_total = 0;
};

json_record to_json(const step_record& r);

/// "step 12/600 v12 | reward 0.43 acc 0.40 | stale 0.60 max 1 | 2400 tok/s | 2 samplers |
///  41s elapsed, eta 3m12s"
std::string progress_line(const step_record& r, int64_t total_steps);

/// Rolling mean of the last `window` step rewards (for early stop and summary).
class reward_window {
public:
  explicit reward_window(size_t window) : window_(window) {}
  void add(double x);
  double mean() const;
  bool full() const { return xs_.size() >= window_; }
  /// Oldest first (a checkpoint keeps them, so early stop resumes exactly).
  std::vector<double> values() const { return {xs_.begin(), xs_.end()}; }

private:
  size_t window_;
  std::deque<double> xs_; // bounded by window_
};

std::string format_duration(double seconds);

} // namespace tandem
