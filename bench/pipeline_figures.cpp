// pipeline_figures.cpp: see pipeline_figures.hpp.
#include "bench/pipeline_figures.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace tandem {

namespace {

// Slack on the physical bounds of ratios: run-to-run noise of a few percent
// must not raise a warning, a mismatch of modes must. sync / serial bound
// gets more: it compounds three modes, among them generation alone, the
// shortest and so the noisiest (its median moved by +-0.05 between
// back-to-back benches on a quiet 2-core machine).
constexpr double efficiency_bound = 1.05;
constexpr double speedup_bound = 2.0;
constexpr double sync_bound = 1.10;

figure_row row_of(const std::vector<round_rates>& rounds, std::string name, std::string unit,
                  double bound, const std::function<double(const round_rates&)>& f) {
  figure_row row;
  row.name = std::move(name);
  row.unit = std::move(unit);
  row.bound = bound;
  std::vector<double> xs;
  for (auto& r : rounds) {
    xs.push_back(f(r));
    if (bound > 0 && xs.back() > bound)
      ++row.rounds_over;
  }
  row.s = summarize(std::move(xs));
  return row;
}

} // namespace

round_ratios ratios_of(const round_rates& r) {
  round_ratios x;
  if (r.gen > 0 && r.train > 0) {
    x.serial = 1.0 / (1.0 / r.gen + 1.0 / r.train);
    x.ideal = std::min(r.gen, r.train);
    x.sync_vs_serial = r.sync / x.serial;
    x.efficiency = r.async / x.ideal;
    x.efficiency_nccl = r.async_nccl / x.ideal;
  }
  if (r.sync > 0)
    x.async_vs_sync = r.async / r.sync;
  if (r.async > 0)
    x.nccl_vs_bytes = r.async_nccl / r.async;
  return x;
}

std::vector<figure_row> summarize_rounds(const std::vector<round_rates>& rounds) {
  const std::string rate = "samples/s";
  std::vector<figure_row> rows{
    row_of(rounds, "generation alone", rate, 0, [](auto& r) { return r.gen; }),
    row_of(rounds, "training alone", rate, 0, [](auto& r) { return r.train; }),
    row_of(rounds, "sync pipeline (eta=0)", rate, 0, [](auto& r) { return r.sync; }),
    row_of(rounds, "async pipeline", rate, 0, [](auto& r) { return r.async; }),
    row_of(rounds, "serial bound 1/(1/gen+1/train)", rate, 0,
           [](auto& r) { return ratios_of(r).serial; }),
    row_of(rounds, "ideal min(gen, train)", rate, 0, [](auto& r) { return ratios_of(r).ideal; }),
    row_of(rounds, "sync / serial bound", "", sync_bound,
           [](auto& r) { return ratios_of(r).sync_vs_serial; }),
    row_of(rounds, "async/sync speedup", "", speedup_bound,
           [](auto& r) { return ratios_of(r).async_vs_sync; }),
    row_of(rounds, "overlap_efficiency", "", efficiency_bound,
           [](auto& r) { return ratios_of(r).efficiency; }),
  };
  if (!rounds.empty() && rounds.front().async_nccl > 0) {
    rows.insert(rows.begin() + 4, row_of(rounds, "async pipeline, NCCL weights", rate, 0,
                                         [](auto& r) { return r.async_nccl; }));
    rows.push_back(row_of(rounds, "overlap_efficiency (NCCL)", "", efficiency_bound,
                          [](auto& r) { return ratios_of(r).efficiency_nccl; }));
    rows.push_back(row_of(rounds, "NCCL/bytes async speedup", "", 0,
                          [](auto& r) { return ratios_of(r).nccl_vs_bytes; }));
  }
  if (!rounds.empty() && rounds.front().async_console > 0) {
    rows.push_back(row_of(rounds, "async pipeline, console on", rate, 0,
                          [](auto& r) { return r.async_console; }));
    rows.push_back(row_of(rounds, "console on / off (async)", "", 0,
                          [](auto& r) { return r.async > 0 ? r.async_console / r.async : 0; }));
  }
  return rows;
}

std::vector<std::string> bound_warnings(const std::vector<figure_row>& rows) {
  std::vector<std::string> out;
  char buf[256];
  for (auto& row : rows)
    if (row.bound > 0 && row.s.median > row.bound) {
      std::snprintf(buf, sizeof buf,
                    "WARNING: %s median %.3f exceeds its physical bound %.2f: the modes did not "
                    "measure the same work, or the machine's load changed during the bench",
                    row.name.c_str(), row.s.median, row.bound);
      out.push_back(buf);
    }
  return out;
}

void print_round(size_t index, const round_rates& r) {
  auto x = ratios_of(r);
  std::printf("round %2zu  gen %8.1f  train %8.1f  sync %8.1f  async %8.1f", index + 1, r.gen,
              r.train, r.sync, r.async);
  if (r.async_nccl > 0)
    std::printf("  async-nccl %8.1f", r.async_nccl);
  if (r.async_console > 0)
    std::printf("  async+console %8.1f", r.async_console);
  std::printf("  | serial %8.1f  sync/serial %.2f  async/sync %.2f  efficiency %.2f\n", x.serial,
              x.sync_vs_serial, x.async_vs_sync, x.efficiency);
  std::fflush(stdout);
}

void print_figures(const std::vector<figure_row>& rows) {
  size_t n = rows.empty() ? 0 : rows.front().s.count;
  std::printf("\n%-32s %10s  %-23s %-21s %s\n", "figure (over the rounds)", "median", "[min..max]",
              "IQR", "bound");
  for (auto& row : rows) {
    int d = row.unit.empty() ? 3 : 1;
    char range[64], iqr[64];
    std::snprintf(range, sizeof range, "[%.*f..%.*f]", d, row.s.min, d, row.s.max);
    std::snprintf(iqr, sizeof iqr, "%.*f..%.*f", d, row.s.q1, d, row.s.q3);
    std::printf("%-32s %10.*f  %-23s %-21s", row.name.c_str(), d, row.s.median, range, iqr);
    if (row.bound > 0)
      std::printf(" <= %.2f (%zu of %zu rounds above)", row.bound, row.rounds_over, n);
    else if (!row.unit.empty())
      std::printf(" %s", row.unit.c_str());
    std::printf("\n");
  }
  for (auto& w : bound_warnings(rows))
    std::printf("%s\n", w.c_str());
  std::fflush(stdout);
}

} // namespace tandem
