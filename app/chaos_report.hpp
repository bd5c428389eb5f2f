// chaos_report.hpp: the bookkeeping of `tandem chaos` — what was killed,
// when the supervisor noticed (its events.jsonl), when training went on
// (metrics.jsonl), how many trained steps a head kill threw away — and the
// report it prints. Plain data: tested without processes.
//
// Detection: from the SIGKILL to the supervisor's exit record of that pid.
// Recovery: from the SIGKILL to the first step record written after it.
// Steps lost (head kills): the last step trained before the kill minus the
// step the restarted head resumed from (its head_resumed record).
//
// Thread safety: one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tandem {

struct chaos_kill {
  std::string kind; // "head" | "worker"
  int64_t pid = 0;
  double t = 0;            // unix seconds of the SIGKILL
  int64_t step_before = 0; // newest step recorded before it
  std::optional<double> detected;  // seconds after the kill
  std::optional<double> recovered; // seconds after the kill
  std::optional<int64_t> steps_lost;
};

struct spread {
  double median = 0, max = 0;
  size_t n = 0;
};

spread spread_of(std::vector<double> xs);

class chaos_ledger {
public:
  void killed(const std::string& kind, int64_t pid, double t, int64_t step_before);
  /// A supervisor record: head_exit / worker_exit of `pid` at `t`.
  void on_exit(int64_t pid, double t);
  /// A step record first seen at `t`.
  void on_step(int64_t step, double t);
  /// A restarted head resumed from the checkpoint of `step`.
  void on_resume(int64_t step);

  const std::vector<chaos_kill>& kills() const { return kills_; }
  size_t count(const std::string& kind) const;
  /// Over the kills of `kind` ("" = all).
  spread detection(const std::string& kind = "") const;
  spread recovery(const std::string& kind = "") const;
  int64_t steps_lost() const;
  int64_t max_steps_lost() const;

private:
  std::vector<chaos_kill> kills_; // one per kill; a run of minutes holds dozens
};

/// The printed report; `audit` is the journal audit's text.
std::string format_chaos(const chaos_ledger& l, int exit_code, const std::string& summary,
                         const std::string& audit);

} // namespace tandem
