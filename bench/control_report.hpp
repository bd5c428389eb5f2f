// control_report.hpp: the figures of `tandem bench control`
// (bench_control.hpp): per run, the control-plane messages counted from the
// sim samplers' counters, the ideal time of the simulated work and the cost
// per message; over the runs (--rounds), their median and range. The method
// is in bench_control.cpp's header comment.
//
// Thread safety: pure functions and printing; one thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bench/control_sim.hpp"

namespace tandem {

/// One run of the head: its outcome, wall time and counters.
struct head_run {
  bool ok = false;
  std::string summary; // the controller's finished summary (JSON)
  double wall = 0;
  sim_totals totals;
  int64_t max_staleness = -1;
  // --console 1: GET /api/actors reply times (ms), its size, the open
  // page's stream bytes and scrapes, failed requests.
  std::vector<double> actors_ms;
  size_t actors_bytes = 0;
  uint64_t stream_bytes = 0, scrapes = 0, console_failures = 0;
};

/// Integer `key` of a one-line JSON object, or -1.
int64_t json_int(const std::string& json, const std::string& key);

/// Largest "staleness_max" among metrics records (JSON lines), or -1.
int64_t max_staleness_of(const std::vector<std::string>& records);

/// Ideal duration and which bound set it.
std::pair<double, const char*> ideal_seconds(const control_options& o, const sim_totals& t);

/// One line per run, as it finishes.
void print_round(const control_options& o, size_t index, const head_run& r);

/// The report over all runs: counts of the median run (by wall time), time
/// figures as median [min..max].
void print_report(const control_options& o, const std::vector<head_run>& runs);

} // namespace tandem
