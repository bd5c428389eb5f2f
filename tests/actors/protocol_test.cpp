// Actor protocol tests: the real controller, sampler, reward, learner and
// weight broadcaster actors with fake LibTorch backends, stepped message by
// message on CAF's test coordinator (virtual time, no sleeps). Full runs,
// staleness, lost and hung samplers, scaling, the data plane, the sampler
// and broadcaster on their own. Failures of the learner and the reward:
// pipeline_failure_test.cpp.
#include <cmath>

#include "pipeline_fixture.hpp"

#include "runtime/weights_blob.hpp"

namespace tandem::testing {
namespace {

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

// The double field `key` of a one-line JSON object.
double json_double(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  EXPECT_NE(at, std::string::npos) << key;
  return at == std::string::npos ? NAN : std::stod(json.substr(at + key.size() + 3));
}

TEST_F(Pipeline, ObjectiveVariantStatisticsReachEveryMetricsRecord) {
  trainer->loss.behav_weight_masked = 0.125;
  trainer->loss.clip_dual = 0.0625;
  trainer->loss.clip_sequence = 0.5;
  start(2);
  run();
  ASSERT_TRUE(finished() && finished()->first);
  ASSERT_EQ(metrics->lines.size(), 6u);
  for (auto& line : metrics->lines) {
    EXPECT_EQ(json_double(line, "behav_weight_masked"), 0.125);
    EXPECT_EQ(json_double(line, "clip_dual"), 0.0625);
    EXPECT_EQ(json_double(line, "clip_sequence"), 0.5);
  }
}

// reward.overlong_buffer: the fake sampler's completions have 2 tokens; with
// L_max = 4 and L_cache = 4 each loses (2 - 0) / 4 * 0.8 = 0.4 of reward,
// applied where the controller receives a scored group, so the step's
// reward_mean is the rules' 0.9 accuracy + 0.1 format minus 0.4.
TEST_F(Pipeline, OverlongPenaltyShapesEveryScoredReward) {
  cs.overlong = {4, 4, 0.8};
  start(2);
  run();
  ASSERT_TRUE(finished() && finished()->first);
  ASSERT_EQ(metrics->lines.size(), 6u);
  for (auto& line : metrics->lines) {
    EXPECT_EQ(json_double(line, "completion_len"), 2.0);
    const double rules = 0.9 * json_double(line, "accuracy") + 0.1 * json_double(line, "format");
    EXPECT_NEAR(json_double(line, "reward_mean"), rules - 0.4, 1e-9) << line;
  }
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
  rep.steps[0].behav_weight_masked = 0.0625;
  rep.steps[0].clip_dual = 0.03125;
  rep.steps[0].clip_sequence = 0.75;
  auto rep2 = round_trip(sys, rep);
  EXPECT_EQ(rep2.steps[0].loss, 0.5);
  EXPECT_EQ(rep2.steps[0].mismatch_logp_abs, 0.25);
  EXPECT_EQ(rep2.steps[0].mismatch_k3, 0.125);
  EXPECT_EQ(rep2.steps[0].mismatch_tokens, 7);
  EXPECT_EQ(rep2.steps[0].behav_weight_masked, 0.0625);
  EXPECT_EQ(rep2.steps[0].clip_dual, 0.03125);
  EXPECT_EQ(rep2.steps[0].clip_sequence, 0.75);
  // Every type is registered by name (required to cross a process boundary).
  for (auto name : {"tandem.group_task", "tandem.generate_request", "tandem.rollout_group",
                    "tandem.generate_result", "tandem.scored_group", "tandem.train_batch",
                    "tandem.train_report", "tandem.weights_chunk", "tandem.sampler_hello"})
    EXPECT_NE(sys.types().make_value(name), nullptr) << name;
}


} // namespace
} // namespace tandem::testing
