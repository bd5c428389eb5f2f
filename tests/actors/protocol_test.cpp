// Actor protocol tests: the real controller, sampler, reward, learner and
// weight broadcaster actors with fake LibTorch backends, stepped message by
// message on CAF's test coordinator (virtual time, no sleeps).
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "actor_test_fixture.hpp"
#include "graph_test_fixture.hpp"
#include "fakes.hpp"

#include "actors/controller.hpp"
#include "actors/learner.hpp"
#include "actors/reward.hpp"
#include "actors/sampler.hpp"
#include "wiring/head.hpp"
#include "actors/weight_broadcaster.hpp"
#include "runtime/weights_blob.hpp"
#include "tasks/arithmetic_task.hpp"

namespace tandem::testing {
namespace {

using namespace std::chrono_literals;

// True if `m` holds exactly these element types (empty messages are replies
// to plain sends and match nothing).
template <class... Ts>
bool holds(const caf::message& m) {
  return m.size() == sizeof...(Ts) && m.match_elements<Ts...>();
}

// The integer field `key` of a one-line JSON object (summary or metrics);
// -1 when absent.
int64_t json_int(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::stoll(json.substr(at + key.size() + 3));
}

bool same_sequences(const std::vector<train_sequence>& a, const std::vector<train_sequence>& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].prompt != b[i].prompt || a[i].completion != b[i].completion
        || a[i].behav_logprobs != b[i].behav_logprobs || a[i].versions != b[i].versions
        || a[i].advantage != b[i].advantage)
      return false;
  return true;
}

// A sampler that accepts requests and never answers (a hung process).
struct stalled_state {
  std::vector<caf::response_promise> held;
  std::vector<uint64_t> group_ids; // of every request it was given
};
caf::behavior stalled_sampler(caf::stateful_actor<stalled_state>* self) {
  return {
    [=](generate_request& r) -> caf::result<generate_result> {
      for (auto& g : r.groups)
        self->state.group_ids.push_back(g.group_id);
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<generate_result>{};
    },
    [=](const weights_chunk&) {},
  };
}

// A reward actor that never answers its first request (hung), then scores
// like reward_actor.
struct hung_reward_state {
  std::optional<uint64_t> held_id;
  std::vector<caf::response_promise> held;
};
caf::behavior reward_hung_once(caf::stateful_actor<hung_reward_state>* self) {
  return {[=](const rollout_group& g) -> caf::result<scored_group> {
    if (!self->state.held_id) {
      self->state.held_id = g.group_id;
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<scored_group>{};
    }
    auto s = score_group(g, char_tokenizer{}, reward_weights{});
    if (!s)
      return s.error();
    return std::move(*s);
  }};
}

// In front of the real learner: holds the first train_batch forever (a hung
// learner), passes every later one on.
struct hung_learner_state {
  std::vector<uint64_t> held_ids; // group ids of the held batch
  std::vector<caf::response_promise> held;
};
caf::behavior learner_hung_once(caf::stateful_actor<hung_learner_state>* self, caf::actor real) {
  // Everything else (samplers joining, weights) goes on to the real learner.
  self->set_default_handler(
    [real](caf::scheduled_actor* me, caf::message_view& x) -> caf::result<caf::message> {
      caf::send_as(caf::actor_cast<caf::actor>(me), real, x.move_content_to_message());
      return caf::message{};
    });
  return {[=](train_batch& b) -> caf::result<train_report> {
    if (self->state.held.empty()) {
      for (auto& g : b.groups)
        self->state.held_ids.push_back(g.rollout.group_id);
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<train_report>{};
    }
    auto rp = self->make_response_promise<train_report>();
    self->request(real, caf::infinite, std::move(b))
      .then([rp](train_report& r) mutable { rp.deliver(std::move(r)); },
            [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
    return rp;
  }};
}

// Records every down_msg of the actors it was asked to watch.
struct watcher_state {
  std::vector<caf::down_msg> downs;
};
caf::behavior watcher(caf::stateful_actor<watcher_state>* self, std::vector<caf::actor> xs) {
  for (auto& x : xs)
    self->monitor(x);
  self->set_down_handler([=](caf::down_msg& dm) { self->state.downs.push_back(dm); });
  return {[](int) {}};
}

// Sends scale requests (with a timeout) to the controller; keeps the answers.
struct asker_state {
  std::vector<std::string> replies;
  std::vector<caf::error> errors;
};
caf::behavior asker(caf::stateful_actor<asker_state>* self, caf::actor target) {
  return {[=](scale_atom, const std::string& role, int32_t n) {
    self->request(target, std::chrono::seconds{10}, scale_atom::value, role, n)
      .then([=](std::string& s) { self->state.replies.push_back(s); },
            [=](caf::error& e) { self->state.errors.push_back(e); });
  }};
}

struct Pipeline : GraphTest {
  controller_settings cs;
  std::shared_ptr<fake_training_backend> trainer = std::make_shared<fake_training_backend>();
  std::vector<std::shared_ptr<fake_generation_backend>> gens;
  std::shared_ptr<memory_sink> metrics = std::make_shared<memory_sink>();
  std::vector<uint64_t> consumed;
  caf::actor observer, broadcaster, learner, reward, controller, scaler;
  std::vector<caf::actor> samplers;
  arithmetic_config task;
  // Set before start(): puts an actor in front of the learner (gets the real one).
  std::function<caf::actor(caf::actor)> learner_front;

  Pipeline() {
    cs.steps = 6;
    cs.groups_per_step = 4;
    cs.group_size = 2;
    cs.max_staleness = 1;
    cs.generate_timeout = 10s;
  }

  /// The graph as `tandem run` builds it (wiring/head.hpp), with fakes; the
  /// samplers join after it, as remote ones would.
  void start(int n_samplers) {
    observer = spawn_probe();
    auto hs = graph_settings(cs);
    hs.rewards = reward ? 0 : 1; // a test may have spawned its own
    auto parts = graph_parts(trainer, metrics, observer, task);
    parts.scaler = scaler;
    caf::actor front;
    if (learner_front)
      parts.learner_front = [&](const caf::actor& real) { return front = learner_front(real); };
    if (reward)
      parts.rewards = {reward};
    parts.on_consumed = [this](const std::vector<uint64_t>& ids) {
      consumed.insert(consumed.end(), ids.begin(), ids.end());
    };
    auto g = spawn_graph(hs, parts);
    broadcaster = g.broadcaster;
    learner = front ? front : g.learner; // what the controller talks to
    reward = g.rewards.at(0);
    controller = g.controller;
    for (int i = 0; i < n_samplers; ++i)
      add_sampler("s" + std::to_string(i));
  }

  caf::actor add_sampler(const std::string& name) {
    gens.push_back(std::make_shared<fake_generation_backend>());
    auto s = spawn(sampler_actor, sampler_settings{name, 2}, gens.back());
    samplers.push_back(s);
    caf::anon_send(controller, sampler_hello{name, s, 2});
    return s;
  }

  // The (ok, summary) the controller sent to the observer, if any.
  std::optional<std::pair<bool, std::string>> finished() {
    for (auto& m : inbox(observer))
      if (holds<finished_atom, bool, std::string>(m))
        return std::make_pair(m.get_as<bool>(1), m.get_as<std::string>(2));
    return std::nullopt;
  }

  void expect_each_group_consumed_once() {
    std::set<uint64_t> unique(consumed.begin(), consumed.end());
    EXPECT_EQ(unique.size(), consumed.size()) << "a group was consumed twice";
    EXPECT_EQ(consumed.size(), size_t(cs.steps) * cs.groups_per_step);
  }

  int64_t max_logged_staleness() {
    int64_t worst = -1;
    for (auto& line : metrics->lines) {
      auto pos = line.find("\"staleness_max\":");
      worst = std::max<int64_t>(worst, std::stoll(line.substr(pos + 16)));
    }
    return worst;
  }
};

TEST_F(Pipeline, TrainsAllStepsConsumingEveryGroupExactlyOnce) {
  start(2);
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  EXPECT_EQ(trainer->version(), 6);
  EXPECT_EQ(metrics->lines.size(), 6u);
  expect_each_group_consumed_once();
  EXPECT_NE(f->second.find("\"staleness_violations\":0"), std::string::npos);
}

TEST_F(Pipeline, SynchronousModeTrainsOnlyOnSamplesOfTheNewestVersion) {
  cs.max_staleness = 0;
  start(2);
  run();
  ASSERT_TRUE(finished() && finished()->first);
  EXPECT_EQ(max_logged_staleness(), 0);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, AsyncModeNeverExceedsTheStalenessBound) {
  cs.max_staleness = 2;
  cs.steps = 10;
  start(3);
  run();
  ASSERT_TRUE(finished() && finished()->first);
  auto worst = max_logged_staleness();
  EXPECT_LE(worst, 2);
  EXPECT_GE(worst, 1) << "the async run never overlapped generation and training";
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, KilledSamplerHandsBackItsGroupsAndTrainingContinues) {
  start(2);
  auto victim = samplers[0];
  // Step until the victim is decoding a batch, then kill it.
  while (!state<sampler_state>(victim).active)
    ASSERT_TRUE(sched.try_run_once());
  caf::anon_send_exit(victim, caf::exit_reason::kill);
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  EXPECT_EQ(f->second.find("\"groups_requeued\":0,"), std::string::npos)
    << "the dead sampler's groups were not requeued: " << f->second;
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, HungSamplerTimesOutAndItsGroupsGoToAnotherSampler) {
  start(0);
  auto hung = spawn(stalled_sampler);
  caf::anon_send(controller, sampler_hello{"hung", hung, 2});
  run();
  EXPECT_FALSE(finished()); // all work is parked at the hung sampler
  EXPECT_EQ(state<stalled_state>(hung).held.size(), 2u);
  const auto parked = state<stalled_state>(hung).group_ids;
  ASSERT_EQ(parked.size(), 4u);
  add_sampler("healthy");
  run();
  auto& work = *state<controller_state>(controller).work;
  EXPECT_EQ(advance_time(9s), 0u) << "nothing is due before the 10 s timeout";
  for (auto id : parked)
    EXPECT_EQ(work.state_of(id), group_state::in_flight) << "group " << id;
  advance_time(1s); // the hung requests time out; their groups are requeued
  EXPECT_GE(work.counters().requeued, parked.size());
  for (int i = 0; i < 20 && !finished(); ++i)
    advance_time(10s); // later requests to the hung sampler time out too
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  expect_each_group_consumed_once();
  // Requeued, not dropped: the parked groups were trained (once each).
  for (auto id : parked)
    EXPECT_EQ(std::count(consumed.begin(), consumed.end(), id), 1) << "group " << id;
  EXPECT_GE(json_int(f->second, "groups_requeued"), int64_t(parked.size()));
  EXPECT_EQ(json_int(f->second, "groups_dropped"), 0);
}

TEST_F(Pipeline, RunFailsWhenNoSamplerIsLeftForTheConnectTimeout) {
  cs.connect_timeout = 30s;
  start(1);
  caf::anon_send_exit(samplers[0], caf::exit_reason::kill);
  run();
  EXPECT_FALSE(finished());
  advance_time(29s);
  EXPECT_FALSE(finished());
  advance_time(1s);
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->first);
  EXPECT_NE(f->second.find("no sampler"), std::string::npos) << f->second;
}

TEST_F(Pipeline, DispatchWaitsForTheExpectedSamplersOrTheConnectTimeout) {
  cs.expected_samplers = 3;
  cs.connect_timeout = 30s;
  start(2);
  run();
  EXPECT_EQ(gens[0]->batches + gens[1]->batches, 0) << "dispatched before all joined";
  add_sampler("late");
  run();
  EXPECT_GT(gens[0]->batches + gens[1]->batches + gens[2]->batches, 0);
  ASSERT_TRUE(finished() && finished()->first);
}

TEST_F(Pipeline, DispatchStartsWithWhoeverJoinedWhenTheConnectTimeoutPasses) {
  cs.expected_samplers = 3;
  cs.connect_timeout = 30s;
  start(1);
  run();
  EXPECT_EQ(gens[0]->batches, 0);
  advance_time(30s);
  EXPECT_GT(gens[0]->batches, 0);
  ASSERT_TRUE(finished() && finished()->first);
}

TEST_F(Pipeline, ScaleDownRetiresTheNewestSamplersAfterTheirWork) {
  cs.steps = 12;
  start(3);
  auto w = spawn(watcher, samplers);
  auto ask = spawn(asker, controller);
  caf::anon_send(ask, scale_atom::value, std::string{"sampler"}, int32_t{1});
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  auto& downs = state<watcher_state>(w).downs;
  ASSERT_EQ(downs.size(), 2u);
  for (auto& d : downs) {
    EXPECT_EQ(d.reason, caf::exit_reason::user_shutdown);
    EXPECT_NE(d.source, samplers[0].address()) << "the oldest sampler must stay";
  }
  auto& replies = state<asker_state>(ask).replies;
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].find("retiring 2 sampler(s)"), 0u) << replies[0];
  expect_each_group_consumed_once();
}

// A scaler stand-in that "starts" samplers in-process.
struct fake_scaler_state {
  int32_t asked = 0;
};

TEST_F(Pipeline, ScaleUpAsksTheScalerAndNewSamplersGetWeightsBeforeWork) {
  cs.steps = 12;
  scaler = spawn([this](caf::stateful_actor<fake_scaler_state>* self) -> caf::behavior {
    return {[=](scale_atom, const std::string&, int32_t k) -> std::string {
      self->state.asked += k;
      for (int32_t i = 0; i < k; ++i)
        add_sampler("scaled-" + std::to_string(i));
      return "started";
    }};
  });
  start(1);
  auto ask = spawn(asker, controller);
  caf::anon_send(ask, scale_atom::value, std::string{"sampler"}, int32_t{3});
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(state<fake_scaler_state>(scaler).asked, 2);
  ASSERT_EQ(gens.size(), 3u);
  for (auto& g : gens) {
    EXPECT_GT(g->batches, 0) << "loads " << g->loads;
    EXPECT_GE(g->loads, 1); // a sampler decodes only after it holds a version
  }
  EXPECT_LE(max_logged_staleness(), cs.max_staleness);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, RewardActorsScaleUpAndDownWithoutLosingGroups) {
  std::vector<caf::actor> extra;
  scaler = spawn([this, &extra](caf::event_based_actor*) -> caf::behavior {
    return {[this, &extra](scale_atom, const std::string& role, int32_t k) -> std::string {
      EXPECT_EQ(role, "reward");
      for (int32_t i = 0; i < k; ++i) {
        extra.push_back(spawn(reward_actor, reward_weights{}));
        caf::anon_send(controller, join_atom::value, extra.back());
      }
      return "started";
    }};
  });
  cs.steps = 40;
  start(2);
  auto ask = spawn(asker, controller);
  auto& replies = state<asker_state>(ask).replies;
  caf::anon_send(ask, scale_atom::value, std::string{"reward"}, int32_t{3});
  while (replies.empty())
    ASSERT_TRUE(sched.try_run_once()); // the run is still going
  ASSERT_EQ(extra.size(), 2u);
  auto w = spawn(watcher, extra);
  caf::anon_send(ask, scale_atom::value, std::string{"reward"}, int32_t{1});
  while (replies.size() < 2)
    ASSERT_TRUE(sched.try_run_once());
  EXPECT_TRUE(state<watcher_state>(w).downs.empty()) << "retired before score_timeout";
  advance_time(cs.score_timeout); // retire timers fire, then the run completes
  auto& downs = state<watcher_state>(w).downs;
  EXPECT_EQ(downs.size(), 2u);
  for (auto& d : downs)
    EXPECT_EQ(d.reason, caf::exit_reason::user_shutdown);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1], "retiring 2 reward actor(s)");
  ASSERT_TRUE(finished() && finished()->first);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, ScaleRequestsOutOfRangeOrForOtherRolesAreRefused) {
  start(1);
  auto ask = spawn(asker, controller);
  caf::anon_send(ask, scale_atom::value, std::string{"learner"}, int32_t{2});
  caf::anon_send(ask, scale_atom::value, std::string{"sampler"}, int32_t{0});
  caf::anon_send(ask, scale_atom::value, std::string{"sampler"}, int32_t{4}); // no scaler
  run();
  EXPECT_EQ(state<asker_state>(ask).errors.size(), 3u);
  ASSERT_TRUE(finished() && finished()->first); // the run is unharmed
}

TEST_F(Pipeline, AsyncScaleMessageWithBadArgumentsDoesNotHarmTheRun) {
  start(1);
  auto w = spawn(watcher, std::vector<caf::actor>{controller});
  caf::anon_send(controller, scale_atom::value, std::string{"learner"}, int32_t{2});
  run();
  EXPECT_TRUE(state<watcher_state>(w).downs.empty() || finished());
  ASSERT_TRUE(finished() && finished()->first);
}

// Rollouts over the data plane: groups arrive apart from the sampler's reply.
// A lost frame is requeued after payload_timeout, a duplicated frame is
// rejected, a refused send fails the request: every group is consumed once.
TEST_F(Pipeline, DataPlaneRolloutsSurviveLostDuplicatedAndRefusedFrames) {
  cs.payload_timeout = 2s;
  start(0);
  auto outbox = std::make_shared<fake_outbox>();
  outbox->controller = controller;
  outbox->plan = [](size_t n) {
    using f = fake_outbox::fate;
    return n == 1 ? f::lose : n == 2 ? f::duplicate : n == 4 ? f::refuse : f::deliver;
  };
  for (auto name : {"z0", "z1"}) {
    gens.push_back(std::make_shared<fake_generation_backend>());
    sampler_settings ss{name, 2, outbox};
    samplers.push_back(spawn(sampler_actor, ss, gens.back()));
    caf::anon_send(controller, sampler_hello{name, samplers.back(), 2});
  }
  run();
  for (int i = 0; i < 20 && !finished(); ++i)
    advance_time(2s); // the lost batch's groups come back after payload_timeout
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  expect_each_group_consumed_once();
  EXPECT_GT(outbox->sent, 5u);
  EXPECT_EQ(f->second.find("\"groups_requeued\":0,"), std::string::npos)
    << "the lost and the refused batches were not requeued: " << f->second;
  EXPECT_EQ(f->second.find("\"data_plane_late\":0"), std::string::npos)
    << "the duplicated batch was not rejected: " << f->second;
}

TEST_F(Pipeline, DataPlaneSamplersAreNotSubscribedToTheBroadcaster) {
  start(1);
  auto s = spawn(stalled_sampler);
  caf::anon_send(controller, sampler_hello{"zmq-fed", s, 2, true});
  run();
  auto& subs = state<broadcaster_state>(broadcaster).subscribers;
  ASSERT_EQ(subs.size(), 1u) << "only the CAF-fed sampler s0 subscribes";
  EXPECT_EQ(subs.begin()->second.handle, samplers[0]);
}

// The fake trainer keeps every batch it was given. After a failed step the
// learner must get the very same scored groups again (rollback): not
// regenerated ones (a requeue: same prompts, but new seeds give other
// log-probs, and the sampler decodes more), nor others (drop and replace).
TEST_F(Pipeline, LearnerFailureRollsTheBatchBackAndRetries) {
  trainer->failing_calls = {0};
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(trainer->version(), 6);
  ASSERT_EQ(trainer->received.size(), 7u); // the failure + 6 steps
  EXPECT_TRUE(same_sequences(trainer->received[1], trainer->received[0]))
    << "the retry did not train on the failed batch's groups";
  EXPECT_EQ(gens[0]->sequences, cs.steps * cs.groups_per_step * cs.group_size)
    << "groups were generated again";
  EXPECT_EQ(json_int(f->second, "groups_requeued"), 0);
  EXPECT_EQ(json_int(f->second, "groups_dropped"), 0);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, LearnerFailingMaxTrainFailuresTimesInARowIsRetriedEachTime) {
  ASSERT_EQ(cs.max_train_failures, 3u);
  trainer->failing_calls = {0, 1, 2};
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  ASSERT_EQ(trainer->received.size(), 9u);
  for (size_t i = 1; i <= 3; ++i)
    EXPECT_TRUE(same_sequences(trainer->received[i], trainer->received[0])) << "call " << i;
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, LearnerFailingOnceMoreThanMaxTrainFailuresInARowEndsTheRun) {
  trainer->failing_calls = {0, 1, 2, 3};
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->first);
  EXPECT_NE(f->second.find("learner failed 4 times in a row"), std::string::npos) << f->second;
  ASSERT_EQ(trainer->received.size(), 4u) << "the controller kept retrying";
  for (size_t i = 1; i < 4; ++i)
    EXPECT_TRUE(same_sequences(trainer->received[i], trainer->received[0])) << "call " << i;
  EXPECT_EQ(trainer->version(), 0);
  EXPECT_TRUE(consumed.empty());
  EXPECT_TRUE(metrics->lines.empty());
}

TEST_F(Pipeline, ASuccessfulStepResetsTheLearnerFailureCount) {
  trainer->failing_calls = {0, 1, 2, 4, 5, 6}; // 3 failures, a step, 3 failures
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(trainer->version(), 6);
  EXPECT_EQ(trainer->received.size(), 12u);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, HungLearnerTimesOutAndItsBatchIsRolledBackAndRetried) {
  cs.train_timeout = 20s;
  learner_front = [this](caf::actor real) { return spawn(learner_hung_once, real); };
  start(1);
  run();
  auto& front = state<hung_learner_state>(learner);
  ASSERT_EQ(front.held_ids.size(), size_t(cs.groups_per_step));
  advance_time(19s);
  EXPECT_FALSE(finished());
  EXPECT_TRUE(trainer->received.empty()) << "trained while the learner hung";
  auto& work = *state<controller_state>(controller).work;
  for (auto id : front.held_ids)
    EXPECT_EQ(work.state_of(id), group_state::training) << "group " << id;
  advance_time(1s); // the train request times out: rollback and retry
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(trainer->version(), 6);
  // The retry carried the held batch's groups, trained first.
  ASSERT_GE(consumed.size(), front.held_ids.size());
  EXPECT_EQ(std::vector<uint64_t>(consumed.begin(), consumed.begin() + cs.groups_per_step),
            front.held_ids);
  EXPECT_EQ(gens[0]->sequences, cs.steps * cs.groups_per_step * cs.group_size);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, HungRewardTimesOutAndItsGroupIsRequeuedAndRegenerated) {
  cs.score_timeout = 20s;
  reward = spawn(reward_hung_once);
  start(1);
  run();
  auto& hung = state<hung_reward_state>(reward);
  ASSERT_TRUE(hung.held_id);
  const auto id = *hung.held_id;
  advance_time(19s);
  EXPECT_FALSE(finished()) << "the held group is needed by the last step";
  auto& work = *state<controller_state>(controller).work;
  EXPECT_EQ(work.state_of(id), group_state::scoring);
  EXPECT_EQ(work.counters().requeued, 0u);
  advance_time(1s); // the score request times out: the group is requeued
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(json_int(f->second, "groups_requeued"), 1);
  EXPECT_EQ(std::count(consumed.begin(), consumed.end(), id), 1);
  EXPECT_EQ(gens[0]->sequences, (cs.steps * cs.groups_per_step + 1) * cs.group_size)
    << "the held group was not generated again";
  expect_each_group_consumed_once();
}

// A sampler's completions with a token outside the vocabulary: the reward
// actor refuses to score them (malformed_message), the controller requeues
// the groups, they are generated again and trained; the bad tokens never
// reach the learner.
TEST_F(Pipeline, OutOfVocabularyTokensAreRejectedByTheRewardAndTheGroupsRequeued) {
  start(1);
  gens[0]->oov_batches = 1; // the first batch: 2 groups
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(json_int(f->second, "groups_requeued"), 2);
  EXPECT_EQ(json_int(f->second, "groups_dropped"), 0);
  EXPECT_EQ(json_int(f->second, "groups_admitted"), json_int(f->second, "groups_consumed"));
  for (auto& batch : trainer->received)
    for (auto& seq : batch)
      EXPECT_EQ(std::count(seq.completion.begin(), seq.completion.end(),
                           fake_generation_backend::oov_token), 0);
  expect_each_group_consumed_once();
}

TEST(Reward, OutOfVocabularyTokensAreRejectedNotScored) {
  rollout_group g;
  g.group_id = 5;
  g.answer = "7";
  char_tokenizer tok;
  auto ok = *tok.encode("7</answer>");
  for (int32_t bad : {-1, tok.vocab_size(), fake_generation_backend::oov_token}) {
    auto tokens = ok;
    tokens.insert(tokens.begin(), bad);
    g.completions = {completion_record{ok, std::vector<float>(ok.size(), -1.f),
                                       std::vector<int64_t>(ok.size(), 0), true},
                     completion_record{tokens, std::vector<float>(tokens.size(), -1.f),
                                       std::vector<int64_t>(tokens.size(), 0), true}};
    auto s = score_group(g, tok, reward_weights{});
    ASSERT_FALSE(s) << "token " << bad << " was scored";
    EXPECT_TRUE(is(s.error(), errc::malformed_message)) << describe(s.error());
    EXPECT_NE(describe(s.error()).find("out of vocabulary"), std::string::npos);
  }
  g.completions.resize(1); // the well-formed one alone scores 1
  auto s = score_group(g, tok, reward_weights{});
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->rewards[0], 1.0);
}

// run.target_reward: the run ends once the mean reward of the last
// reward_window (10) steps reaches it, not before the window is full.
TEST_F(Pipeline, TargetRewardEndsTheRunOnceTheWindowMeanReachesIt) {
  cs.steps = 40;
  cs.target_reward = 0.95;
  task.min_operand = task.max_operand = 3; // every prompt is 3+3=
  start(1);
  gens[0]->answer = "6"; // always right: reward 1
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_NE(f->second.find("\"reason\":\"target reward reached\""), std::string::npos)
    << f->second;
  EXPECT_EQ(trainer->version(), 10);
  EXPECT_EQ(metrics->lines.size(), 10u);
}

TEST_F(Pipeline, TargetRewardNotReachedTrainsAllSteps) {
  cs.steps = 15;
  cs.target_reward = 0.95;
  task.min_operand = task.max_operand = 3;
  start(1);
  gens[0]->answer = "5"; // well formed, wrong: reward 0.1
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_NE(f->second.find("\"reason\":\"trained all steps\""), std::string::npos)
    << f->second;
  EXPECT_EQ(trainer->version(), 15);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, SamplerJoiningLateReceivesCurrentWeightsBeforeGenerating) {
  start(1);
  run();
  ASSERT_TRUE(finished());
  // The first sampler got version 0 before its first batch and newer ones after.
  EXPECT_GE(gens[0]->loads, 2);
  EXPECT_GT(gens[0]->batches, 0);
}

// -- the sampler on its own ----------------------------------------------------

struct SamplerTest : ActorTest {
  std::shared_ptr<fake_generation_backend> gen = std::make_shared<fake_generation_backend>(4);
  caf::actor probe = spawn_probe();
  caf::actor sampler = spawn(sampler_actor, sampler_settings{"s", 2}, gen);
  caf::actor cli = spawn(client, sampler);

  void deliver(int64_t version) {
    for (auto& c : split_weights(version, std::vector<char>(64, char(version)), 16))
      caf::send_as(probe, sampler, c);
  }
  void ask(int64_t min_version) {
    group_task t;
    t.group_id = 1;
    t.prompt = {1, 8, 3};
    t.answer = "7";
    t.group_size = 2;
    t.min_version = min_version;
    caf::anon_send(cli, generate_request{{t}});
  }
  client_state& replies() { return state<client_state>(cli); }
  std::optional<generate_result> result() {
    if (replies().results.empty())
      return std::nullopt;
    return replies().results.front();
  }
};

TEST_F(SamplerTest, WaitsForTheRequiredVersionBeforeDecoding) {
  deliver(0);
  run();
  gen->answer = "123"; // 4 tokens: 1 2 3 </answer>
  ask(1);
  run();
  EXPECT_EQ(gen->batches, 0);
  deliver(1);
  run();
  EXPECT_EQ(gen->batches, 1);
  ASSERT_TRUE(result());
}

TEST_F(SamplerTest, SwitchesWeightsBetweenDecodeStepsAndTagsEveryToken) {
  gen->answer = "123";
  deliver(0);
  run();
  ask(0);
  ASSERT_TRUE(sched.try_run_once()); // the client sends the request
  ASSERT_TRUE(sched.try_run_once()); // the sampler starts the batch
  ASSERT_TRUE(sched.try_run_once()); // decode step 1 (v0)
  deliver(1);                        // v1 chunks queue behind the next decode
  run();
  auto r = result();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->groups.size(), 1u);
  auto& versions = r->groups[0].completions[0].versions;
  EXPECT_EQ(versions, (std::vector<int64_t>{0, 0, 1, 1}));
  // The sampler acknowledged both versions to the sender of the chunks.
  int acks = 0;
  for (auto& m : inbox(probe))
    acks += holds<weights_ack_atom, int64_t>(m) ? 1 : 0;
  EXPECT_EQ(acks, 2);
}

TEST_F(SamplerTest, CorruptWeightChunkIsRejectedAndOldWeightsStay) {
  deliver(0);
  run();
  auto cs = split_weights(1, std::vector<char>(64, 1), 16);
  cs[2].bytes[0] ^= 1;
  for (auto& c : cs)
    caf::send_as(probe, sampler, c);
  run();
  EXPECT_EQ(state<sampler_state>(sampler).version, 0);
  EXPECT_EQ(state<sampler_state>(sampler).bad_chunks, 1u);
  ask(0);
  run();
  EXPECT_TRUE(result()); // still serving
}

TEST_F(SamplerTest, RefusesRequestsBeyondItsQueueBound) {
  // No weights yet: requests queue up to the bound of 2, the third is refused.
  for (int i = 0; i < 3; ++i)
    ask(0);
  run();
  ASSERT_EQ(replies().errors.size(), 1u);
  EXPECT_TRUE(is(replies().errors[0], errc::capacity_exceeded))
    << describe(replies().errors[0]);
}

TEST_F(SamplerTest, BackendFailureIsReportedAndTheNextBatchStillRuns) {
  deliver(0);
  run();
  gen->fail_next_start = true;
  ask(0);
  ask(0);
  run();
  EXPECT_EQ(replies().errors.size(), 1u);
  EXPECT_EQ(replies().results.size(), 1u);
}

// -- the weight broadcaster ----------------------------------------------------------

TEST_F(ActorTest, BroadcasterSendsOnlyTheNewestVersionToASlowSampler) {
  auto b = spawn(weight_broadcaster_actor, broadcaster_settings{16, 5s});
  auto slow = spawn_probe(); // never acknowledges
  caf::anon_send(b, publish_atom::value, int64_t{0}, std::vector<char>(40, 0));
  caf::anon_send(b, subscribe_atom::value, slow);
  run();
  auto chunks = [&] {
    size_t n = 0;
    for (auto& m : inbox(slow))
      n += holds<weights_chunk>(m) ? 1 : 0;
    return n;
  };
  EXPECT_EQ(chunks(), 3u); // v0 in 3 chunks
  caf::anon_send(b, publish_atom::value, int64_t{1}, std::vector<char>(40, 1));
  caf::anon_send(b, publish_atom::value, int64_t{2}, std::vector<char>(40, 2));
  run();
  EXPECT_EQ(chunks(), 3u); // nothing more until v0 is acknowledged
  caf::send_as(slow, b, weights_ack_atom::value, int64_t{0});
  run();
  ASSERT_EQ(chunks(), 6u); // then v2 directly, v1 skipped
  EXPECT_EQ(inbox(slow).back().get_as<weights_chunk>(0).version, 2);
  advance_time(5s); // no ack for v2 within the deadline: resent
  EXPECT_EQ(chunks(), 9u);
}

// -- the learner's weight routes ---------------------------------------------------

TEST_F(ActorTest, LearnerSendsVersionZeroToBroadcasterAndMirrorAndSubscribesCafFedSamplers) {
  auto b = spawn_probe();
  auto mirror = spawn_probe();
  auto l = spawn(learner_actor, grpo_config{}, std::make_shared<fake_training_backend>(),
                 weight_routes{b, mirror}, learner_nccl{});
  auto caf_fed = spawn_probe();
  auto zmq_fed = spawn_probe();
  caf::anon_send(l, sampler_hello{"caf-fed", caf_fed, 2});
  caf::anon_send(l, sampler_hello{"zmq-fed", zmq_fed, 2, true});
  run();
  auto v0 = [](const caf::message& m) {
    return holds<publish_atom, int64_t, std::vector<char>>(m) && m.get_as<int64_t>(1) == 0;
  };
  ASSERT_EQ(inbox(b).size(), 2u);
  EXPECT_TRUE(v0(inbox(b)[0]));
  ASSERT_TRUE((holds<subscribe_atom, caf::actor>(inbox(b)[1])));
  EXPECT_EQ(inbox(b)[1].get_as<caf::actor>(1), caf_fed) << "the data-plane sampler is not subscribed";
  ASSERT_EQ(inbox(mirror).size(), 1u);
  EXPECT_TRUE(v0(inbox(mirror)[0]));
}

// -- messages cross process boundaries ---------------------------------------------

template <class T>
T round_trip(caf::actor_system& sys, const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto copy = x;
  EXPECT_FALSE(sink(copy));
  T y;
  caf::binary_deserializer source{sys, buf};
  EXPECT_FALSE(source(y));
  return y;
}

TEST_F(ActorTest, EveryMessageTypeSerializesLosslessly) {
  rollout_group g;
  g.group_id = 9;
  g.prompt = {1, 2};
  g.answer = "3";
  g.completions = {completion_record{{5, 4}, {-0.25f, -1.5f}, {3, 4}, true}};
  g.sampler = "s";
  auto g2 = round_trip(sys, g);
  EXPECT_EQ(caf::deep_to_string(g2), caf::deep_to_string(g));
  scored_group s{g, {1.0}, {1.0}, {0.0}};
  EXPECT_EQ(caf::deep_to_string(round_trip(sys, s)), caf::deep_to_string(s));
  auto chunk = split_weights(3, std::vector<char>(10, 'x'), 4)[1];
  EXPECT_EQ(round_trip(sys, chunk).bytes, chunk.bytes);
  train_report rep{{step_metrics{}}};
  rep.steps[0].loss = 0.5;
  rep.steps[0].mismatch_logp_abs = 0.25;
  rep.steps[0].mismatch_k3 = 0.125;
  rep.steps[0].mismatch_tokens = 7;
  auto rep2 = round_trip(sys, rep);
  EXPECT_EQ(rep2.steps[0].loss, 0.5);
  EXPECT_EQ(rep2.steps[0].mismatch_logp_abs, 0.25);
  EXPECT_EQ(rep2.steps[0].mismatch_k3, 0.125);
  EXPECT_EQ(rep2.steps[0].mismatch_tokens, 7);
  // Every type is registered by name (required to cross a process boundary).
  for (auto name : {"tandem.group_task", "tandem.generate_request", "tandem.rollout_group",
                    "tandem.generate_result", "tandem.scored_group", "tandem.train_batch",
                    "tandem.train_report", "tandem.weights_chunk", "tandem.sampler_hello"})
    EXPECT_NE(sys.types().make_value(name), nullptr) << name;
}

} // namespace
} // namespace tandem::testing
