// control_report.cpp: see control_report.hpp.
#include "bench/control_report.hpp"
#include "bench/timing.hpp"

#include <algorithm>
#include <cstdio>

#include "bench/sample_stats.hpp"
#include "runtime/json_reader.hpp"

namespace tandem {

namespace {

double seconds_of(caf::timespan t) {
  return std::chrono::duration<double>(t).count();
}

/// Messages of one run, by kind (see the method).
struct message_counts {
  int64_t generate = 0, score = 0, train = 0, weights = 0;
  int64_t total() const { return generate + score + train + weights; }
};

message_counts count_messages(const control_options& o, const sim_totals& t) {
  message_counts m;
  m.generate = 2 * t.requests;
  m.score = 2 * t.groups;
  m.train = 3 * int64_t{o.steps} + 1; // request + reply + publish, + initial publish
  m.weights = t.chunks + t.acks;
  return m;
}

/// Seconds of control-plane cost per message of one run.
double cost_per_message(const control_options& o, const head_run& r) {
  auto messages = count_messages(o, r.totals).total();
  return messages > 0 ? (r.wall - ideal_seconds(o, r.totals).first) / messages : 0.0;
}

std::string figure(const std::vector<head_run>& runs, double (*f)(const control_options&,
                                                                   const head_run&),
                   const control_options& o, double scale, int decimals) {
  std::vector<double> xs;
  for (auto& r : runs)
    xs.push_back(f(o, r) * scale);
  return format_spread(summarize(std::move(xs)), decimals);
}

void print_counts(const control_options& o, const head_run& r) {
  auto& t = r.totals;
  auto m = count_messages(o, t);
  std::printf("groups dispatched            %10lld\n", static_cast<long long>(t.groups));
  std::printf("groups consumed              %10lld\n",
              static_cast<long long>(json_int(r.summary, "groups_consumed")));
  std::printf("groups requeued / dropped    %10lld / %lld (%lld refused by the staleness gate)\n",
              static_cast<long long>(json_int(r.summary, "groups_requeued")),
              static_cast<long long>(json_int(r.summary, "groups_dropped")),
              static_cast<long long>(json_int(r.summary, "groups_stale_refused")));
  std::printf("staleness max / violations   %10lld / %lld\n",
              static_cast<long long>(r.max_staleness),
              static_cast<long long>(json_int(r.summary, "staleness_violations")));
  std::printf("messages                     %10lld (generate %lld, score %lld, train+publish %lld, "
              "weights chunk+ack %lld)\n",
              static_cast<long long>(m.total()), static_cast<long long>(m.generate),
              static_cast<long long>(m.score), static_cast<long long>(m.train),
              static_cast<long long>(m.weights));
}

} // namespace

int64_t json_int(const std::string& json, const std::string& key) {
  auto doc = parse_json(json);
  const json_value* v = doc ? doc->find(key) : nullptr;
  const int64_t* i = v ? v->as_integer() : nullptr;
  return i ? *i : -1;
}

int64_t max_staleness_of(const std::vector<std::string>& records) {
  int64_t worst = -1;
  for (auto& line : records)
    worst = std::max(worst, json_int(line, "staleness_max"));
  return worst;
}

std::pair<double, const char*> ideal_seconds(const control_options& o, const sim_totals& t) {
  auto learner = static_cast<double>(o.learner_us) * 1e-6;
  double a = seconds_of(t.busy_max);
  double b = o.steps * learner;
  auto per_round = static_cast<int64_t>(o.samplers) * o.groups_per_request;
  auto rounds = (o.groups_per_step + per_round - 1) / per_round;
  double wave = static_cast<double>(rounds) * seconds_of(t.longest);
  std::vector<double> done(static_cast<size_t>(o.steps) + 1, 0.0); // T(k)
  for (int32_t k = 1; k <= o.steps; ++k) {
    auto from = k - 1 - o.eta;
    auto ready = (from > 0 ? done[static_cast<size_t>(from)] : 0.0) + wave;
    done[static_cast<size_t>(k)] = std::max(done[static_cast<size_t>(k) - 1], ready) + learner;
  }
  double c = done.back();
  if (a >= b && a >= c)
    return {a, "busiest sampler's simulated decode time"};
  if (b >= c)
    return {b, "steps x learner step"};
  return {c, "staleness-gated pipeline (decode waves + learner steps)"};
}

void print_round(const control_options& o, size_t index, const head_run& r) {
  std::printf("round %zu: wall %.3f s, %lld groups, %lld messages, %.2f us/message\n", index + 1,
              r.wall, static_cast<long long>(r.totals.groups),
              static_cast<long long>(count_messages(o, r.totals).total()),
              cost_per_message(o, r) * 1e6);
  if (o.console && !r.actors_ms.empty()) {
    auto ms = r.actors_ms;
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) { return ms[static_cast<size_t>(q * (ms.size() - 1))]; };
    std::printf("  console: GET /api/actors (%.0f KB) median %.2f ms, p99 %.2f ms, max %.2f ms "
                "over %zu requests; %llu scrapes of /metrics; page stream %.1f MB; %llu failed\n",
                r.actors_bytes / 1024.0, at(0.5), at(0.99), ms.back(), ms.size(),
                static_cast<unsigned long long>(r.scrapes), r.stream_bytes / 1e6,
                static_cast<unsigned long long>(r.console_failures));
  }
  std::fflush(stdout);
}

void print_report(const control_options& o, const std::vector<head_run>& runs) {
  std::vector<head_run> by_wall = runs;
  std::sort(by_wall.begin(), by_wall.end(),
            [](const head_run& a, const head_run& b) { return a.wall < b.wall; });
  const auto& mid = by_wall[(by_wall.size() - 1) / 2];
  std::printf("samplers                     %10d (%s)\n", o.samplers,
              o.processes == 1 ? "in a second OS process, via the middleman" : "in-process");
  std::printf("steps                        %10d (eta %d, %d groups x %d completions)\n", o.steps,
              o.eta, o.groups_per_step, o.group_size);
  std::printf("counts of the median run (by wall time), %zu run(s):\n", runs.size());
  print_counts(o, mid);
  std::printf("figures as median [min..max] over %zu run(s):\n", runs.size());
  auto wall = [](const control_options&, const head_run& r) { return r.wall; };
  auto groups_s = [](const control_options&, const head_run& r) {
    return r.totals.groups / r.wall;
  };
  auto msgs_s = [](const control_options& o, const head_run& r) {
    return count_messages(o, r.totals).total() / r.wall;
  };
  auto ideal = [](const control_options& o, const head_run& r) {
    return ideal_seconds(o, r.totals).first;
  };
  auto share = [](const control_options& o, const head_run& r) {
    return r.wall > 0 ? 1.0 - ideal_seconds(o, r.totals).first / r.wall : 0.0;
  };
  std::printf("wall time                    %s s\n", figure(runs, wall, o, 1, 3).c_str());
  std::printf("dispatch rate                %s groups/s\n",
              figure(runs, groups_s, o, 1, 0).c_str());
  std::printf("messages handled per second  %s\n", figure(runs, msgs_s, o, 1, 0).c_str());
  std::printf("ideal (simulated work)       %s s (%s)\n", figure(runs, ideal, o, 1, 3).c_str(),
              ideal_seconds(o, mid.totals).second);
  std::printf("overhead share of wall time  %s (1 - ideal/wall)\n",
              figure(runs, share, o, 1, 3).c_str());
  std::printf("control-plane cost/message   %s us ((wall - ideal) / messages)\n",
              figure(runs, cost_per_message, o, 1e6, 2).c_str());
  std::fflush(stdout);
}

} // namespace tandem
