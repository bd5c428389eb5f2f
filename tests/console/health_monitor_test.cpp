// The head's health monitor, deterministic (CAF's test coordinator: time
// moves only when the test advances it): a process's reporter beats every
// actor of its board in; the console's snapshot lists them; an actor that
// dies turns dead (its down message, no waiting for silence) with an event;
// a silent process turns stalled within 2 s; the controller's progress feeds
// the watchdog, whose cause reaches /api/run and the event log; metrics
// records reach the curves.
#include <gtest/gtest.h>

#include "actors/health_reporter.hpp"
#include "console/health_monitor.hpp"
#include "runtime/json_reader.hpp"
#include "../actors/actor_test_fixture.hpp"

namespace tandem {
namespace {

using namespace std::chrono_literals;

// Answers status_atom like the controller, with a version that the test sets.
struct fake_controller_state {
  int64_t version = 3;
};

caf::behavior fake_controller(caf::stateful_actor<fake_controller_state>* self) {
  return {[=](status_atom) {
    auto v = std::to_string(self->state.version);
    return "{\"version\":" + v + ",\"step\":" + v
           + ",\"queued\":2,\"in_flight\":1,\"scoring\":0,\"scored\":0,\"training\":0,"
             "\"admit_capacity\":1,\"max_staleness\":1,\"reward_ok\":5}";
  }};
}

class HealthMonitorTest : public testing::ActorTest {
protected:
  std::shared_ptr<console_state> console = std::make_shared<console_state>();
  std::vector<std::string> log;
  caf::actor monitor;

  void SetUp() override {
    health_monitor_settings s;
    s.run_dir = "/runs/x";
    s.steps = 100;
    health_monitor_deps d;
    d.console = console;
    d.log = [this](const std::string& l) { log.push_back(l); };
    monitor = spawn(health_monitor_actor, s, d);
    sched.run();
  }

  /// One beat interval: timers fire, every message is handled.
  void step(caf::timespan d = 500ms) {
    sched.advance_time(d);
    sched.run();
  }

  json_value actor_entry(const std::string& name) {
    auto j = parse_json(console->snapshot()->actors_json);
    EXPECT_TRUE(j) << console->snapshot()->actors_json;
    for (auto& a : *j->find("actors")->as_array())
      if (*a.find("name")->as_string() == name)
        return a;
    ADD_FAILURE() << name << " not listed: " << console->snapshot()->actors_json;
    return {};
  }

  std::string state_of(const std::string& name) {
    auto a = actor_entry(name);
    auto s = a.find("state");
    return s && s->as_string() ? *s->as_string() : "";
  }

  bool event_logged(const std::string& kind, const std::string& name) {
    for (auto& e : console->events_after(0, 1000))
      if (e.json.find("\"kind\":\"" + kind + "\"") != std::string::npos
          && (name.empty() || e.json.find("\"name\":\"" + name + "\"") != std::string::npos))
        return true;
    return false;
  }
};

TEST_F(HealthMonitorTest, lists_reported_actors_and_marks_a_dead_one_at_once) {
  auto board = std::make_shared<health_board>("node0", 4242);
  auto a = spawn_probe();
  auto b = spawn_probe();
  auto ca = board->enlist("sampler", "s0", a);
  auto cb = board->enlist("reward", "r0", b);
  ca->set_state(actor_state::busy);
  ca->set_version(7);
  cb->set_state(actor_state::ready);
  spawn(health_reporter_actor, board, monitor, caf::timespan{500ms});
  sched.run();
  step();
  EXPECT_EQ(state_of("s0"), "busy");
  EXPECT_EQ(*actor_entry("s0").find("version")->as_integer(), 7);
  EXPECT_EQ(*actor_entry("r0").find("pid")->as_integer(), 4242);
  EXPECT_TRUE(event_logged("joined", "s0"));

  caf::anon_send_exit(b, caf::exit_reason::kill);
  sched.run();
  step();
  EXPECT_EQ(state_of("r0"), "dead");
  EXPECT_EQ(state_of("s0"), "busy");
  EXPECT_TRUE(event_logged("dead", "r0"));
}

TEST_F(HealthMonitorTest, a_silent_process_turns_stalled_within_two_seconds) {
  auto board = std::make_shared<health_board>("node0", 1);
  auto a = spawn_probe();
  auto ca = board->enlist("sampler", "s0", a);
  ca->set_state(actor_state::ready);
  auto reporter = spawn(health_reporter_actor, board, monitor, caf::timespan{500ms});
  sched.run();
  step();
  ASSERT_EQ(state_of("s0"), "ready");
  // The process stops beating (a SIGSTOPped worker): no more beats arrive.
  caf::anon_send(reporter, health_sink_atom::value, caf::actor{});
  sched.run();
  for (int i = 0; i < 4; ++i) // 2 s
    step();
  EXPECT_EQ(state_of("s0"), "stalled");
  EXPECT_TRUE(event_logged("stalled", "s0"));
}

TEST_F(HealthMonitorTest, watchdog_cause_reaches_the_run_and_the_log) {
  auto ctl = spawn(fake_controller);
  caf::anon_send(monitor, watch_atom::value, ctl);
  sched.run();
  step(); // asks the controller
  step(); // publishes its answer
  auto run = parse_json(console->snapshot()->run_json);
  ASSERT_TRUE(run) << console->snapshot()->run_json;
  EXPECT_EQ(*run->find("status")->as_string(), "training");
  EXPECT_TRUE(run->find("cause")->is_null());
  EXPECT_EQ(*run->find("reward_outcomes")->find("ok")->as_integer(), 5);
  for (int i = 0; i < 22; ++i) // 11 s without a new version
    step();
  run = parse_json(console->snapshot()->run_json);
  ASSERT_TRUE(run);
  auto cause = run->find("cause");
  ASSERT_TRUE(cause && cause->as_object()) << console->snapshot()->run_json;
  EXPECT_EQ(*cause->find("kind")->as_string(), "no_sampler_alive");
  EXPECT_TRUE(event_logged("watchdog", ""));
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log.back().find("no_sampler_alive"), std::string::npos) << log.back();
  // Progress again: the cause clears.
  state<fake_controller_state>(ctl).version = 4;
  step();
  step();
  run = parse_json(console->snapshot()->run_json);
  EXPECT_TRUE(run->find("cause")->is_null());
}

TEST_F(HealthMonitorTest, metrics_records_reach_the_curves_and_prometheus) {
  console_metrics_sink sink(monitor);
  json_record rec;
  rec.add("step", int64_t{1}).add("reward_mean", 0.25).add("train_s", 0.2)
    .add_array("staleness_hist", {10, 5});
  ASSERT_FALSE(sink.write(rec));
  sched.run();
  step();
  auto m = console->metrics_after(0, 10);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].step, 1);
  auto text = console->snapshot()->prometheus_text;
  EXPECT_NE(text.find("tandem_run_reward_mean 0.25"), std::string::npos) << text;
  EXPECT_NE(text.find("tandem_token_staleness_count 15"), std::string::npos) << text;
}

} // namespace
} // namespace tandem
