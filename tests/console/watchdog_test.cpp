// The watchdog names why a run is not training: each cause from the state
// that produces it, the deadline (adaptive to the step pace), the order of
// the checks, and silence while training or after the run ended.
#include <gtest/gtest.h>

#include "console/watchdog.hpp"

namespace tandem {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const registry_time t0 = registry_time{} + std::chrono::hours(1);

actor_health actor(const std::string& role, const std::string& name, actor_state s,
                   int64_t version = 0) {
  actor_health h;
  h.report.role = role;
  h.report.name = name;
  h.report.state = s == actor_state::stalled || s == actor_state::dead ? actor_state::ready : s;
  h.report.version = version;
  h.state = s;
  return h;
}

std::vector<actor_health> healthy(int64_t version = 5) {
  return {actor("sampler", "s0", actor_state::busy, version),
          actor("sampler", "s1", actor_state::ready, version),
          actor("learner", "learner", actor_state::ready, version),
          actor("reward", "reward-0", actor_state::ready)};
}

run_progress progress(int64_t version) {
  run_progress p;
  p.version = version;
  p.max_staleness = 1;
  p.queued = 3;
  p.in_flight = 2;
  p.admit_capacity = 1;
  return p;
}

stall_cause cause_of(const watchdog& w, const std::vector<actor_health>& a, registry_time now) {
  auto d = w.diagnose(a, now);
  EXPECT_TRUE(d.has_value());
  return d ? d->cause : stall_cause::unknown;
}

TEST(watchdog, silent_while_steps_finish_and_before_the_deadline) {
  watchdog w;
  EXPECT_FALSE(w.diagnose(healthy(), t0)); // nothing observed yet
  w.observe(progress(5), t0);
  EXPECT_FALSE(w.diagnose(healthy(), t0 + seconds(9)));
  w.observe(progress(6), t0 + seconds(9));
  // One 9 s step: the deadline is 5 x 9 s from the last progress.
  EXPECT_FALSE(w.diagnose(healthy(), t0 + seconds(9 + 44)));
  auto d = w.diagnose(healthy(), t0 + seconds(9 + 45));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->cause, stall_cause::unknown);
  EXPECT_NE(d->text.find("queued 3"), std::string::npos) << d->text;
  EXPECT_EQ(d->since, t0 + seconds(9));
}

TEST(watchdog, deadline_follows_the_step_pace) {
  watchdog w;
  w.observe(progress(1), t0);
  w.observe(progress(2), t0 + seconds(30)); // one 30 s step
  EXPECT_EQ(w.no_progress_after(), seconds(150));
  EXPECT_FALSE(w.diagnose(healthy(), t0 + seconds(30 + 149)));
  EXPECT_TRUE(w.diagnose(healthy(), t0 + seconds(30 + 150)));
}

TEST(watchdog, no_sampler_alive_comes_first) {
  watchdog w;
  w.observe(progress(5), t0);
  auto a = healthy();
  a[0].state = a[1].state = actor_state::dead;
  a[2].report.phase = learner_phase::backward; // would also be stuck
  a[2].report.phase_age = seconds(60);
  auto d = w.diagnose(a, t0 + seconds(11));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->cause, stall_cause::no_sampler_alive);
  EXPECT_NE(d->text.find("2 dead"), std::string::npos) << d->text;
}

TEST(watchdog, learner_stuck_in_a_phase_names_it) {
  watchdog w;
  w.observe(progress(5), t0);
  auto a = healthy();
  a[2].report.phase = learner_phase::backward;
  a[2].report.phase_age = seconds(12);
  auto d = w.diagnose(a, t0 + seconds(12));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->cause, stall_cause::learner_stuck);
  EXPECT_NE(d->text.find("backward"), std::string::npos) << d->text;
  a[2].report.phase = learner_phase::waiting_for_batch; // waiting is not stuck
  EXPECT_NE(cause_of(w, a, t0 + seconds(12)), stall_cause::learner_stuck);
  a[2].state = actor_state::stalled;
  EXPECT_EQ(cause_of(w, a, t0 + seconds(12)), stall_cause::learner_stuck);
}

TEST(watchdog, reward_failing_and_hung) {
  watchdog w;
  auto p = progress(5);
  p.reward_ok = 100;
  w.observe(p, t0);
  p.reward_error = 3;
  p.reward_timeout = 2;
  w.observe(p, t0 + seconds(5));
  auto d = w.diagnose(healthy(), t0 + seconds(11));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->cause, stall_cause::reward_failing);
  EXPECT_NE(d->text.find("5 scorings failed"), std::string::npos) << d->text;
  EXPECT_NE(d->text.find("timeout 2"), std::string::npos) << d->text;

  watchdog h;
  auto q = progress(5);
  q.scoring = 4;
  h.observe(q, t0);
  h.observe(q, t0 + seconds(5));
  EXPECT_EQ(cause_of(h, healthy(), t0 + seconds(11)), stall_cause::reward_hung);
  q.reward_ok = 1; // a scoring ended ok: not hung
  h.observe(q, t0 + seconds(11));
  EXPECT_NE(cause_of(h, healthy(), t0 + seconds(11)), stall_cause::reward_hung);
}

TEST(watchdog, samplers_waiting_and_weights_behind) {
  watchdog w;
  w.observe(progress(5), t0);
  auto a = healthy(5);
  a[0].state = a[1].state = actor_state::waiting_for_weights;
  EXPECT_EQ(cause_of(w, a, t0 + seconds(11)), stall_cause::samplers_waiting_for_weights);
  a[1].report.version = 2; // 5 - 2 > bound 1
  auto d = w.diagnose(a, t0 + seconds(11));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->cause, stall_cause::weights_behind);
  EXPECT_NE(d->text.find("from v2"), std::string::npos) << d->text;
}

TEST(watchdog, staleness_gate_closed) {
  watchdog w;
  auto p = progress(5);
  p.queued = p.in_flight = 0;
  p.admit_capacity = 0;
  p.scored = 1;
  w.observe(p, t0);
  auto a = healthy();
  a[0].state = actor_state::ready;
  EXPECT_EQ(cause_of(w, a, t0 + seconds(11)), stall_cause::staleness_gate_closed);
}

TEST(watchdog, finished_runs_have_no_cause) {
  watchdog w;
  auto p = progress(5);
  p.finished = true;
  w.observe(p, t0);
  EXPECT_FALSE(w.diagnose({}, t0 + std::chrono::hours(1)));
}

} // namespace
} // namespace tandem
