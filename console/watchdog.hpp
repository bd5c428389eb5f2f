// watchdog.hpp: says why a run is not training. Fed the controller's
// progress (every monitor tick) and the actor registry's snapshot, it names
// a typed cause once no step has finished for `no_progress_after`:
//
//   no_sampler_alive             every sampler is dead (or none joined)
//   learner_stuck                the learner is in one phase (forward,
//                                backward, optimizer, publishing) past the
//                                deadline, or is stalled / dead
//   reward_failing               scorings end in error / timeout / invalid
//                                and none ended ok since the last step
//   reward_hung                  groups wait in scoring, no scoring ended
//                                since the last step
//   weights_behind               samplers hold versions older than the
//                                learner's by more than the staleness bound
//   samplers_waiting_for_weights every live sampler waits for a version
//   staleness_gate_closed        nothing queued or generating and the gate
//                                admits no new group
//   unknown                      none of the above: the counters are named
//
// The checks run in this order: the first that holds is the cause (a dead
// sampler pool explains waiting rewards, not the other way round).
//
// Deadline: max(min_no_progress, 5 x the longest of the last 8 step
// intervals): a run with 60 s steps is not called stuck after 10 s, a run
// with 60 ms steps is after 10 s.
//
// Thread safety: a plain value owned by the health monitor.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "actors/internal/actor_registry.hpp"

namespace tandem {

enum class stall_cause : uint8_t {
  no_sampler_alive,
  learner_stuck,
  reward_failing,
  reward_hung,
  weights_behind,
  samplers_waiting_for_weights,
  staleness_gate_closed,
  unknown,
};
const char* to_string(stall_cause c);

/// The controller's counters (its status_atom reply), as the watchdog needs.
struct run_progress {
  int64_t version = 0;
  int64_t max_staleness = 0;
  uint64_t queued = 0, in_flight = 0, scoring = 0, scored = 0, training = 0;
  int64_t admit_capacity = 0; // groups the staleness gate would admit now
  bool finished = false;
  // Scoring outcomes so far (only ok becomes a reward).
  uint64_t reward_ok = 0, reward_invalid = 0, reward_timeout = 0, reward_error = 0;
};

struct diagnosis {
  stall_cause cause = stall_cause::unknown;
  std::string text; // one sentence with the numbers behind it
  registry_time since{}; // when the last progress was
};

struct watchdog_config {
  /// The shortest time without a step before a cause is named. 10 s is
  /// longer than any CPU step of the default configs and a GPU step of
  /// models that fit one card, and short enough to answer a user who is
  /// watching.
  registry_clock::duration min_no_progress = std::chrono::seconds(10);
};

class watchdog {
public:
  explicit watchdog(watchdog_config cfg = {}) : cfg_(cfg) {}

  /// The controller's latest counters; a version above the last one seen is
  /// progress (resets the clock and the outcome baseline).
  void observe(const run_progress& p, registry_time now);

  /// The cause, once no step finished for no_progress_after(); none while
  /// training (or before the first observe, or after the run finished).
  std::optional<diagnosis> diagnose(const std::vector<actor_health>& actors,
                                    registry_time now) const;

  registry_clock::duration no_progress_after() const;

private:
  watchdog_config cfg_;
  std::optional<run_progress> last_, at_progress_;
  registry_time progress_at_{};
  std::deque<registry_clock::duration> intervals_; // the last 8 step intervals
};

} // namespace tandem
