// prometheus_text.hpp: the run and every actor in the Prometheus text
// exposition format (version 0.0.4), for GET /metrics. Names are
// `tandem_`-prefixed and documented in docs/console.md; the output passes
// `promtool check metrics`. One scrape of the head covers the run: workers'
// actors are in the head's registry.
//
// Thread safety: run_histograms is a plain value (one owner); the functions
// are pure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "actors/internal/actor_registry.hpp"

namespace tandem {

/// The run's figures (from the controller's status and the last metrics
/// record) at the time of the scrape.
struct run_totals {
  std::string status = "starting"; // starting | training | finished | failed | interrupted
  std::string cause;               // the watchdog's cause kind; "" = training
  uint32_t incarnation = 1;        // head starts (1 + restarts)
  int64_t step = 0;
  int64_t steps = 0; // the run's target
  int64_t version = 0;
  double elapsed_s = 0;
  double reward_mean = 0;
  double accuracy = 0;
  double kl = 0;
  double entropy = 0;
  double tokens_per_s = 0;
  uint64_t groups_consumed = 0;
  uint64_t groups_requeued = 0;
  uint64_t groups_dropped = 0;
  uint64_t groups_filtered = 0; // dynamic sampling: settled untrained, no signal
  uint64_t groups_stale_refused = 0;
  // Scoring outcomes (only ok becomes a reward).
  uint64_t reward_ok = 0;
  uint64_t reward_invalid = 0;
  uint64_t reward_timeout = 0;
  uint64_t reward_error = 0;
};

/// Histograms of step phases (seconds) and of token staleness (versions),
/// fed one metrics record at a time.
class run_histograms {
public:
  /// Phase durations: generate, score, train, wall (step_wall_s).
  static constexpr std::array<double, 12> seconds_buckets{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  /// Staleness in policy versions: a bucket per small value, then doubling.
  static constexpr std::array<double, 8> staleness_buckets{0, 1, 2, 3, 4, 8, 16, 32};

  void observe_phase(const std::string& phase, double seconds); // unknown phase: ignored
  /// `counts[s]` tokens had staleness s (a metrics record's staleness_hist).
  void observe_staleness(const std::vector<int64_t>& counts);

  struct histogram {
    std::vector<uint64_t> buckets; // cumulative counts, one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  const histogram& phase(const std::string& name) const; // empty histogram if unknown
  const histogram& staleness() const { return staleness_; }

private:
  histogram generate_, score_, train_, wall_, staleness_, none_;
};

/// The whole /metrics body.
std::string prometheus_text(const run_totals& run, const std::vector<actor_health>& actors,
                            const run_histograms& hist, registry_time now);

/// Escapes a label value (backslash, double quote, newline).
std::string prometheus_label(const std::string& value);

} // namespace tandem
