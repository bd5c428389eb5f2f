// bench_reward.cpp: `tandem bench reward` (bench_reward.hpp).
//
// Workload: --completions completions in groups of --batch (rounded up to
// whole groups), half addition-table groups, half math word problems with a
// few hundred bytes of reasoning each (bench/reward_workload.hpp), fixed by
// --seed.
//
// Modes (bench/reward_modes.hpp): rules, math, http (the HTTP plug-in
// against a trivial batched server in this process, or --url), command (the
// command plug-in running --command, by default configs/reward/my_reward.py
// with python3). --concurrency callers score side by side, one group per
// call, like that many reward actors; the HTTP plug-in gets that many
// connections (reward.concurrency) and every caller of the command mode has
// its own scorer with --instances programs (reward.instances).
//
// Method. After one untimed pass of every mode on a small workload (the
// programs are started before that, also untimed), --rounds rounds each run
// every mode once over the whole workload, in an order rotated by one mode
// per round. A pass's figure is completions / wall time (the first call's
// start to the last reply); the report prints median [min..max] over the
// rounds, and two per-completion costs (medians over the rounds):
//   wall us    1e6 / rate: what one completion takes with C callers
//   CPU us     CPU time of this process (callers, server) and its child
//              processes (the reward programs) over the pass / completions:
//              the scoring's cost in core time, whatever the parallelism
//   CPU bound  hardware threads / CPU us: no pass can score faster (the
//              CPU check below), so a busy machine shows in the gap
// The goal is >= 10,000 completions/s for each mode (median).
//
// Checks (a failure exits 1): every reward of every pass equals the one the
// workload expects for its mode (skipped for a server or program of the
// user's: --url, --command); the in-process server answered exactly one
// request per group of each http pass (no retries, nothing lost); CPU time
// within wall time x hardware threads (+ 0.05 s for /proc's 10 ms ticks).
#include "bench/bench_reward.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "bench/reward_modes.hpp"
#include "bench/sample_stats.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

constexpr double goal_per_s = 10000;
constexpr int modes = 4;

struct options {
  int64_t rounds = 0, completions = 0, batch = 0, concurrency = 0, instances = 0, seed = 0;
  std::vector<std::string> command;
  std::string url;
  bool check_http = true, check_command = true;
};

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

std::string with_commas(double x) {
  auto digits = std::to_string(static_cast<long long>(x + 0.5));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
    digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

struct mode_figures {
  std::vector<double> rate, cpu_us;
};

/// The pass's checks; an empty string when it passed.
std::string check_pass(reward_mode m, const reward_pass& p, const reward_workload& w,
                       const options& o, int64_t server_answered) {
  bool values = m == reward_mode::rules || m == reward_mode::math
                || (m == reward_mode::http && o.check_http)
                || (m == reward_mode::command && o.check_command);
  reward_weights weights;
  for (size_t i = 0; values && i < w.completions(); ++i) {
    auto want = expected_reward(scorer_kind(m), w.variants[i], weights);
    if (p.rewards[i] != want)
      return "completion " + std::to_string(i) + " got " + std::to_string(p.rewards[i])
             + ", expected " + std::to_string(want);
  }
  if (m == reward_mode::http && o.url.empty()
      && server_answered != static_cast<int64_t>(w.groups.size()))
    return "the server answered " + std::to_string(server_answered) + " requests for "
           + std::to_string(w.groups.size()) + " groups";
  double cores = std::max(1u, std::thread::hardware_concurrency());
  if (p.cpu_s > p.wall_s * cores + 0.05)
    return "CPU " + std::to_string(p.cpu_s) + " s over wall " + std::to_string(p.wall_s)
           + " s x " + std::to_string(static_cast<int>(cores)) + " threads: the clock is wrong";
  return {};
}

caf::expected<reward_pass> checked_pass(reward_bench_rig& rig, reward_mode m,
                                        const reward_workload& w, const options& o) {
  auto before = rig.server_requests();
  auto p = rig.pass(m, w);
  if (!p)
    return p.error();
  auto why = check_pass(m, *p, w, o, rig.server_requests() - before);
  if (!why.empty())
    return make_error(errc::malformed_message, std::string(to_string(m)) + ": " + why);
  return p;
}

void print_header(const options& o, const reward_workload& w, const reward_bench_rig& rig) {
  std::string argv;
  for (auto& a : o.command)
    argv += (argv.empty() ? "" : " ") + a;
  std::printf("bench reward: %s completions (%zu groups x %lld), mean prompt %.0f bytes, "
              "mean completion %.0f bytes; %lld caller(s), %lld program(s) per command "
              "scorer; %lld round(s); %u hardware threads\n"
              "  http:    %s%s\n  command: %s\n",
              with_commas(static_cast<double>(w.completions())).c_str(), w.groups.size(),
              static_cast<long long>(o.batch), w.prompt_bytes, w.completion_bytes,
              static_cast<long long>(o.concurrency), static_cast<long long>(o.instances),
              static_cast<long long>(o.rounds), std::thread::hardware_concurrency(),
              rig.url().c_str(), o.url.empty() ? " (trivial batched server, this process)" : "",
              argv.c_str());
  std::fflush(stdout);
}

void print_report(const options& o, const std::map<reward_mode, mode_figures>& figs,
                  size_t completions) {
  std::printf("\n%-8s %-34s %8s %8s %12s   %s\n", "mode", "completions/s, median [min..max]",
              "wall us", "CPU us", "CPU bound/s", "goal >= 10,000/s");
  double threads = std::max(1u, std::thread::hardware_concurrency());
  for (auto m : all_reward_modes) {
    auto& f = figs.at(m);
    auto rate = summarize(f.rate);
    auto cpu = summarize(f.cpu_us);
    auto range = with_commas(rate.median) + " [" + with_commas(rate.min) + ".."
                 + with_commas(rate.max) + "]";
    auto bound = cpu.median > 0 ? with_commas(threads * 1e6 / cpu.median) : std::string("-");
    std::printf("%-8s %-34s %8.2f %8.2f %12s   %s\n", to_string(m), range.c_str(),
                1e6 / rate.median, cpu.median, bound.c_str(),
                rate.median >= goal_per_s ? "PASS" : "FAIL");
  }
  std::printf("wall us = 1e6 / median rate (%lld caller(s)); CPU us = CPU time of this process "
              "and the reward programs per completion; CPU bound = hardware threads / CPU us, "
              "the rate with every thread scoring (medians over the rounds)\n",
              static_cast<long long>(o.concurrency));
  bool all = o.check_http && o.check_command;
  std::printf("sanity: %s; CPU within wall time x hardware threads in every pass\n",
              o.url.empty() ? "the server answered one request per group in every http pass"
                            : "one reply per group (a server of yours)");
  std::printf("rewards check: %s (%zu completions x %d modes x %lld rounds)\n",
              all ? "every mode of every round gave the expected rewards"
                  : "rules and math gave the expected rewards; a server or program of "
                    "yours is checked for counts only",
              completions, modes, static_cast<long long>(o.rounds));
}

caf::expected<options> options_from(const command_line& cl) {
  options o;
  o.rounds = cl.as_int("--rounds");
  o.completions = cl.as_int("--completions");
  o.batch = cl.as_int("--batch");
  o.concurrency = cl.as_int("--concurrency");
  o.instances = cl.as_int("--instances");
  o.seed = cl.as_int("--seed");
  o.url = cl.value("--url");
  o.check_http = o.url.empty();
  o.check_command = !cl.given("--command");
  o.command = words(cl.value("--command"));
  if (o.command.empty())
    return make_error(errc::invalid_argument, "--command is empty");
  if (o.check_command && ::access(o.command.back().c_str(), R_OK) != 0)
    return make_error(errc::invalid_argument,
                      o.command.back() + " not found: run from the repository root or pass "
                                         "--command");
  return o;
}

} // namespace

int bench_reward_command(const std::vector<std::string>& a) {
  command_line cl("tandem bench reward [flags]",
                  "completions/s through the built-in rules, the math grader, the http "
                  "plug-in (a trivial batched server) and the command plug-in, side by side");
  cl.integer("--rounds", "rounds, each running every mode once (median and range printed)", 5,
             1, 1000);
  cl.integer("--completions", "completions per pass (rounded up to whole groups)", 16384, 1,
             100000000);
  cl.integer("--batch", "completions per call: the run's group_size", 16, 1, 65536);
  cl.integer("--concurrency", "callers side by side (reward actors); http: connections", 1, 1,
             256);
  cl.integer("--instances", "command: programs per scorer (reward.instances)", 1, 1, 256);
  cl.integer("--seed", "the workload's seed", 1, 0, INT64_MAX);
  cl.text("--command", "ARGV", "command: the reward program (words split on spaces)",
          "python3 configs/reward/my_reward.py");
  cl.text("--url", "URL", "http: a reward server of yours instead of the in-process one");
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto o = options_from(cl);
  if (!o) {
    std::cerr << "bench reward: " << describe(o.error()) << "\n";
    return 2;
  }
  auto groups = (o->completions + o->batch - 1) / o->batch;
  auto w = make_reward_workload(groups, static_cast<int32_t>(o->batch),
                                static_cast<uint64_t>(o->seed));
  reward_mode_settings s;
  s.concurrency = static_cast<int32_t>(o->concurrency);
  s.instances = static_cast<int32_t>(o->instances);
  s.command = o->command;
  s.url = o->url;
  auto rig = reward_bench_rig::start(s);
  if (!rig) {
    std::cerr << "bench reward: " << describe(rig.error()) << "\n";
    return 1;
  }
  print_header(*o, w, **rig);
  auto warm = make_reward_workload(std::min<int64_t>(groups, 4 * o->concurrency),
                                   static_cast<int32_t>(o->batch),
                                   static_cast<uint64_t>(o->seed) + 1);
  std::map<reward_mode, mode_figures> figs;
  for (int64_t r = -1; r < o->rounds; ++r) {
    if (r >= 0)
      std::printf("round %lld/%lld:", static_cast<long long>(r + 1),
                  static_cast<long long>(o->rounds));
    for (int k = 0; k < modes; ++k) {
      auto m = all_reward_modes[(k + std::max<int64_t>(r, 0)) % modes];
      auto p = checked_pass(**rig, m, r < 0 ? warm : w, *o);
      if (!p) {
        std::cerr << "\nbench reward: " << describe(p.error()) << "\n";
        return 1;
      }
      if (r < 0)
        continue;
      auto n = static_cast<double>(w.completions());
      figs[m].rate.push_back(n / p->wall_s);
      figs[m].cpu_us.push_back(p->cpu_s * 1e6 / n);
      std::printf("  %s %s/s", to_string(m), with_commas(n / p->wall_s).c_str());
    }
    if (r >= 0)
      std::printf("\n");
    std::fflush(stdout);
  }
  print_report(*o, figs, w.completions());
  return 0;
}

} // namespace tandem
