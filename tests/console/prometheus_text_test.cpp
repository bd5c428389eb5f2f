// prometheus_text_test.cpp: the /metrics body. A realistic snapshot goes
// through `promtool check metrics` (the Prometheus project's own parser and
// linter); exact lines pin the names, labels, one-hot families and the
// cumulative histogram buckets.
#include "console/prometheus_text.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace tandem {
namespace {

using namespace std::chrono_literals;

const registry_time t0 = registry_time{} + 1h;

actor_report report(std::string role, std::string name, std::string node, int64_t pid,
                    actor_state state, uint64_t seq = 1) {
  actor_report r;
  r.role = std::move(role);
  r.name = std::move(name);
  r.node = std::move(node);
  r.pid = pid;
  r.incarnation = 1;
  r.seq = seq;
  r.state = state;
  return r;
}

// Several roles, a learner in its backward pass, a dead sampler, a stalled
// one, a restarted reward actor, and names with `"`, `\` and a newline.
std::vector<actor_health> realistic_actors() {
  actor_registry reg;
  auto learner = report("learner", "learner-0", "gpu-a", 100, actor_state::busy);
  learner.phase = learner_phase::backward;
  learner.version = 41;
  learner.queues = {{"batches", 2, 4}};
  learner.tokens_per_s = 18250.5;
  learner.nccl_epoch = 3;
  EXPECT_FALSE(reg.heartbeat(learner, t0));
  auto s0 = report("sampler", "sampler-0", "gpu-b", 200, actor_state::busy);
  s0.in_flight = 8;
  s0.queues = {{"prompts", 3, 16}, {"weights", 0, 2}};
  s0.tokens_per_s = 5400;
  s0.deadline_breaches = 2;
  EXPECT_FALSE(reg.heartbeat(s0, t0));
  EXPECT_FALSE(reg.heartbeat(report("sampler", "sampler-1", "gpu-b", 201, actor_state::ready),
                             t0));
  EXPECT_FALSE(reg.heartbeat(report("sampler", "sampler-2", "gpu-c", 300, actor_state::busy),
                             t0 - 3s));
  auto odd = report("reward", "rew\"ard\\0\nx", "node \"c\"", 400,
                    actor_state::waiting_for_weights);
  odd.errors = 3;
  odd.last_error = "timeout";
  EXPECT_FALSE(reg.heartbeat(odd, t0));
  auto again = odd;
  again.pid = 401; // restarted in a new process
  again.errors = 0;
  EXPECT_FALSE(reg.heartbeat(again, t0 + 100ms));
  EXPECT_FALSE(reg.actor_down("sampler-1", t0 + 200ms));
  auto now = t0 + 500ms;
  reg.tick(now); // sampler-2 has been silent for 3.5 s: stalled
  return reg.snapshot(now);
}

run_totals realistic_run() {
  run_totals r;
  r.status = "training";
  r.cause = "samplers_waiting_for_weights";
  r.incarnation = 2;
  r.step = 120;
  r.steps = 3000;
  r.version = 119;
  r.elapsed_s = 3723.25;
  r.reward_mean = 0.5125;
  r.accuracy = 0.4375;
  r.kl = 0.0021;
  r.entropy = 1.75;
  r.tokens_per_s = 23650.5;
  r.groups_consumed = 960;
  r.groups_requeued = 12;
  r.groups_dropped = 1;
  r.groups_filtered = 310;
  r.groups_stale_refused = 4;
  r.reward_ok = 7600;
  r.reward_invalid = 40;
  r.reward_timeout = 3;
  r.reward_error = 1;
  return r;
}

run_histograms realistic_histograms() {
  run_histograms h;
  for (double s : {0.75, 1.25, 3.0}) {
    h.observe_phase("generate", s);
    h.observe_phase("score", s / 10);
    h.observe_phase("train", s / 2);
    h.observe_phase("wall", s * 1.1);
  }
  h.observe_staleness({500, 300, 120, 0, 0, 7});
  return h;
}

std::string realistic_text() {
  return prometheus_text(realistic_run(), realistic_actors(), realistic_histograms(),
                         t0 + 500ms);
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l == line)
      return true;
  return false;
}

// Runs `promtool check metrics` on `text`: its exit code and what it said.
std::pair<int, std::string> promtool_check(const std::string& text) {
  char path[] = "/tmp/tandem_prom_XXXXXX";
  int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << text;
  std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  std::string said;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[512];
  while (p && std::fgets(buf, sizeof buf, p))
    said += buf;
  int status = p ? ::pclose(p) : -1;
  ::unlink(path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, said};
}

TEST(PrometheusText, RealisticSnapshotPassesPromtool) {
  if (::access("/usr/bin/promtool", X_OK) != 0 && std::system("command -v promtool >/dev/null") != 0)
    GTEST_SKIP() << "promtool is not installed (Debian package `prometheus`)";
  auto [code, said] = promtool_check(realistic_text());
  EXPECT_EQ(code, 0) << said;
  EXPECT_EQ(said, "");
}

TEST(PrometheusText, PromtoolRejectsABrokenBody) {
  // The check above would pass vacuously if promtool accepted anything.
  if (::access("/usr/bin/promtool", X_OK) != 0 && std::system("command -v promtool >/dev/null") != 0)
    GTEST_SKIP() << "promtool is not installed (Debian package `prometheus`)";
  auto [code, said] = promtool_check("tandem_x{a=\"\\q\"} 1\n");
  EXPECT_NE(code, 0);
}

TEST(PrometheusText, EveryFamilyHasOneHelpAndTypeAndContiguousSamples) {
  auto text = realistic_text();
  std::istringstream in(text);
  std::map<std::string, std::string> types;
  std::set<std::string> closed;
  std::string current;
  for (std::string l; std::getline(in, l);) {
    ASSERT_FALSE(l.empty());
    if (l.rfind("# HELP ", 0) == 0)
      continue;
    if (l.rfind("# TYPE ", 0) == 0) {
      auto rest = l.substr(7);
      auto name = rest.substr(0, rest.find(' '));
      ASSERT_EQ(types.count(name), 0u) << "second TYPE for " << name;
      types[name] = rest.substr(rest.find(' ') + 1);
      EXPECT_EQ(name.rfind("tandem_", 0), 0u) << name;
      if (!current.empty())
        closed.insert(current);
      current = name;
      continue;
    }
    auto name = l.substr(0, l.find_first_of("{ "));
    for (auto suffix : {"_bucket", "_sum", "_count"})
      if (types[current] == "histogram" && name == current + suffix)
        name = current;
    EXPECT_EQ(name, current) << "a sample of " << name << " outside its family";
    EXPECT_EQ(closed.count(name), 0u) << name;
  }
  EXPECT_EQ(types.size(), 34u);
  for (auto& [name, type] : types) {
    bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(total, type == "counter") << name;
  }
}

TEST(PrometheusText, RunFiguresStatusAndCauseAreExact) {
  auto text = realistic_text();
  EXPECT_TRUE(has_line(text, "tandem_run_step 120"));
  EXPECT_TRUE(has_line(text, "tandem_run_steps_target 3000"));
  EXPECT_TRUE(has_line(text, "tandem_run_elapsed_seconds 3723.25"));
  EXPECT_TRUE(has_line(text, "tandem_run_kl 0.0021"));
  EXPECT_TRUE(has_line(text, "tandem_run_incarnation 2"));
  EXPECT_TRUE(has_line(text, "tandem_run_status{status=\"training\"} 1"));
  EXPECT_TRUE(has_line(text, "tandem_run_status{status=\"failed\"} 0"));
  EXPECT_TRUE(has_line(text, "tandem_run_watchdog_cause{cause=\"samplers_waiting_for_weights\"} 1"));
  EXPECT_TRUE(has_line(text, "tandem_run_watchdog_cause{cause=\"reward_hung\"} 0"));
  EXPECT_TRUE(has_line(text, "tandem_groups_stale_refused_total 4"));
  EXPECT_TRUE(has_line(text, "tandem_groups_filtered_total 310"));
  EXPECT_TRUE(has_line(text, "tandem_reward_outcomes_total{outcome=\"invalid\"} 40"));
}

TEST(PrometheusText, NoCauseMeansEveryCauseIsZero) {
  auto run = realistic_run();
  run.cause = "";
  auto text = prometheus_text(run, {}, run_histograms{}, t0);
  std::istringstream in(text);
  int causes = 0;
  for (std::string l; std::getline(in, l);)
    if (l.rfind("tandem_run_watchdog_cause{", 0) == 0) {
      ++causes;
      EXPECT_EQ(l.substr(l.size() - 2), " 0") << l;
    }
  EXPECT_EQ(causes, 7);
}

TEST(PrometheusText, ActorsAreLabelledAndADeadOneIsDown) {
  auto text = realistic_text();
  const std::string learner = "role=\"learner\",node=\"gpu-a\",actor=\"learner-0\"";
  EXPECT_TRUE(has_line(text, "tandem_actor_up{" + learner + "} 1"));
  EXPECT_TRUE(has_line(text, "tandem_actor_up{role=\"sampler\",node=\"gpu-b\",actor=\"sampler-1\"} 0"));
  EXPECT_TRUE(has_line(text,
                       "tandem_actor_state{role=\"sampler\",node=\"gpu-b\",actor=\"sampler-1\","
                       "state=\"dead\"} 1"));
  EXPECT_TRUE(has_line(text,
                       "tandem_actor_state{role=\"sampler\",node=\"gpu-c\",actor=\"sampler-2\","
                       "state=\"stalled\"} 1"));
  EXPECT_TRUE(has_line(text, "tandem_learner_phase{" + learner + ",phase=\"backward\"} 1"));
  EXPECT_TRUE(has_line(text, "tandem_learner_phase{" + learner + ",phase=\"forward\"} 0"));
  EXPECT_EQ(text.find("tandem_learner_phase{role=\"sampler\""), std::string::npos);
  EXPECT_TRUE(has_line(text, "tandem_actor_queue_depth{role=\"sampler\",node=\"gpu-b\","
                             "actor=\"sampler-0\",queue=\"prompts\"} 3"));
  EXPECT_TRUE(has_line(text, "tandem_actor_queue_capacity{role=\"sampler\",node=\"gpu-b\","
                             "actor=\"sampler-0\",queue=\"weights\"} 2"));
  EXPECT_TRUE(has_line(text, "tandem_actor_tokens_per_second{" + learner + "} 18250.5"));
  EXPECT_TRUE(has_line(text, "tandem_actor_heartbeat_age_seconds{" + learner + "} 0.5"));
  EXPECT_TRUE(has_line(text, "tandem_actor_nccl_epoch{" + learner + "} 3"));
  EXPECT_TRUE(has_line(text, "tandem_actor_policy_version{role=\"sampler\",node=\"gpu-b\","
                             "actor=\"sampler-1\"} -1"));
  EXPECT_TRUE(has_line(text, "tandem_actor_deadline_breaches_total{role=\"sampler\","
                             "node=\"gpu-b\",actor=\"sampler-0\"} 2"));
  EXPECT_TRUE(has_line(text, "tandem_role_actors{role=\"sampler\",state=\"dead\"} 1"));
  EXPECT_TRUE(has_line(text, "tandem_role_actors{role=\"sampler\",state=\"busy\"} 1"));
  EXPECT_TRUE(has_line(text, "tandem_role_actors{role=\"reward\",state=\"waiting_for_weights\"} 1"));
}

TEST(PrometheusText, OddLabelCharactersAreEscaped) {
  auto text = realistic_text();
  const std::string odd = "role=\"reward\",node=\"node \\\"c\\\"\",actor=\"rew\\\"ard\\\\0\\nx\"";
  EXPECT_TRUE(has_line(text, "tandem_actor_restarts_total{" + odd + "} 1")) << text;
  EXPECT_TRUE(has_line(text, "tandem_actor_errors_total{" + odd + "} 0"));
  EXPECT_EQ(prometheus_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(prometheus_label("naïve ✓"), "naïve ✓");
  EXPECT_EQ(prometheus_label("bad \xff byte"), "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(prometheus_label("cut \xE2\x9C"), "cut \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(PrometheusText, NanAndInfAreWrittenAsPrometheusReadsThem) {
  auto run = realistic_run();
  run.reward_mean = std::nan("");
  run.kl = INFINITY;
  run.entropy = -INFINITY;
  auto text = prometheus_text(run, {}, run_histograms{}, t0);
  EXPECT_TRUE(has_line(text, "tandem_run_reward_mean NaN"));
  EXPECT_TRUE(has_line(text, "tandem_run_kl +Inf"));
  EXPECT_TRUE(has_line(text, "tandem_run_entropy -Inf"));
  if (std::system("command -v promtool >/dev/null") == 0) {
    auto [code, said] = promtool_check(text);
    EXPECT_EQ(code, 0) << said;
  }
}

TEST(RunHistograms, PhaseBucketsAreCumulative) {
  run_histograms h;
  for (double s : {0.003, 0.3, 0.5, 3.0, 100.0})
    h.observe_phase("train", s);
  h.observe_phase("train", std::nan("")); // a missing figure: not observed
  h.observe_phase("nap", 1.0);            // unknown phase: ignored
  auto& b = h.phase("train");
  // bounds: 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 +Inf
  std::vector<uint64_t> want{1, 1, 1, 1, 1, 1, 3, 3, 3, 4, 4, 4, 5};
  EXPECT_EQ(b.buckets, want);
  EXPECT_EQ(b.count, 5u);
  EXPECT_DOUBLE_EQ(b.sum, 103.803);
  EXPECT_TRUE(h.phase("nap").buckets.empty());
  EXPECT_EQ(h.phase("generate").count, 0u);
}

TEST(RunHistograms, StalenessCountsTokensPerVersion) {
  run_histograms h;
  h.observe_staleness({500, 300, 120, 0, 0, 7});
  h.observe_staleness({10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}); // 40: above 32
  // bounds: 0 1 2 3 4 8 16 32 +Inf
  std::vector<uint64_t> want{510, 810, 930, 930, 930, 937, 937, 937, 939};
  EXPECT_EQ(h.staleness().buckets, want);
  EXPECT_EQ(h.staleness().count, 939u);
  EXPECT_DOUBLE_EQ(h.staleness().sum, 300 + 240 + 35 + 80);
}

TEST(PrometheusText, HistogramsEndWithInfSumAndCount) {
  auto text = realistic_text();
  EXPECT_TRUE(has_line(text, "tandem_step_phase_seconds_bucket{phase=\"generate\",le=\"0.005\"} 0"));
  EXPECT_TRUE(has_line(text, "tandem_step_phase_seconds_bucket{phase=\"generate\",le=\"1\"} 1"));
  EXPECT_TRUE(has_line(text, "tandem_step_phase_seconds_bucket{phase=\"generate\",le=\"2.5\"} 2"));
  EXPECT_TRUE(has_line(text, "tandem_step_phase_seconds_bucket{phase=\"generate\",le=\"+Inf\"} 3"));
  EXPECT_TRUE(has_line(text, "tandem_step_phase_seconds_count{phase=\"generate\"} 3"));
  EXPECT_TRUE(has_line(text, "tandem_step_phase_seconds_sum{phase=\"generate\"} 5"));
  EXPECT_TRUE(has_line(text, "tandem_token_staleness_bucket{le=\"0\"} 500"));
  EXPECT_TRUE(has_line(text, "tandem_token_staleness_bucket{le=\"8\"} 927"));
  EXPECT_TRUE(has_line(text, "tandem_token_staleness_bucket{le=\"+Inf\"} 927"));
  EXPECT_TRUE(has_line(text, "tandem_token_staleness_sum 575"));
  EXPECT_TRUE(has_line(text, "tandem_token_staleness_count 927"));
  // A histogram never observed is all zeros, every bucket present.
  auto empty = prometheus_text(realistic_run(), {}, run_histograms{}, t0);
  EXPECT_TRUE(has_line(empty, "tandem_step_phase_seconds_bucket{phase=\"score\",le=\"30\"} 0"));
  EXPECT_TRUE(has_line(empty, "tandem_token_staleness_bucket{le=\"+Inf\"} 0"));
  EXPECT_TRUE(has_line(empty, "tandem_token_staleness_count 0"));
}

} // namespace
} // namespace tandem
