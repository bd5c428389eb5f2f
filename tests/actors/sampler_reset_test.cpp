// sampler_reset tests (actors/sampler_reset.hpp): a worker's samplers after
// their head was lost and a restarted head, at an older version, took over.
// The real sampler (fake backend) and the simulated one, stepped on CAF's
// test coordinator.
#include "actor_test_fixture.hpp"
#include "fakes.hpp"

#include "actors/sampler.hpp"
#include "actors/sampler_reset.hpp"
#include "actors/sim_sampler.hpp"
#include "runtime/error.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem::testing {
namespace {

using namespace std::chrono_literals;

template <class... Ts>
bool holds(const caf::message& m) {
  return m.size() == sizeof...(Ts) && m.match_elements<Ts...>();
}

group_task task(uint64_t id, int64_t min_version = 0) {
  group_task t;
  t.group_id = id;
  t.problem_id = id;
  t.prompt = {1, 8, 3};
  t.answer = "7";
  t.group_size = 2;
  t.min_version = min_version;
  t.seed = id * 31 + 5;
  return t;
}

struct SamplerReset : ActorTest {
  std::shared_ptr<fake_generation_backend> gen = std::make_shared<fake_generation_backend>(4);
  caf::actor probe = spawn_probe();
  caf::actor sampler = spawn(sampler_actor, sampler_settings{"s", 2, nullptr, nullptr}, gen);
  caf::actor cli = spawn(client, sampler);

  void deliver(int64_t version) {
    for (auto& c : split_weights(version, std::vector<char>(64, char(version)), 16))
      caf::send_as(probe, sampler, c);
  }
  void ask(uint64_t id = 1) { caf::anon_send(cli, generate_request{{task(id)}}); }
  sampler_state& st() { return state<sampler_state>(sampler); }
  client_state& replies() { return state<client_state>(cli); }
};

TEST_F(SamplerReset, AcceptsAnOlderVersionOnlyAfterAReset) {
  deliver(5);
  run();
  deliver(3); // a stale version from the same head: ignored
  run();
  EXPECT_EQ(st().version, 5);
  caf::anon_send(sampler, sampler_reset{});
  run();
  EXPECT_EQ(st().version, -1);
  deliver(3); // the restarted head's checkpoint is older than what it held
  run();
  EXPECT_EQ(st().version, 3);
  gen->answer = "123";
  ask();
  run();
  ASSERT_EQ(replies().results.size(), 1u);
  for (auto& c : replies().results[0].groups[0].completions)
    EXPECT_EQ(c.versions, std::vector<int64_t>(4, 3)) << "decoded with the lost head's weights";
}

TEST_F(SamplerReset, DropsTheLostHeadsRequestsAndWaitsForNewWeights) {
  deliver(0);
  run();
  ask(1);
  ask(2);
  while (!st().active || st().queue.empty())
    ASSERT_TRUE(sched.try_run_once()); // one batch decoding, one queued
  caf::anon_send(sampler, sampler_reset{});
  run();
  ASSERT_EQ(replies().errors.size(), 2u);
  for (auto& e : replies().errors)
    EXPECT_TRUE(is(e, errc::peer_down)) << describe(e);
  EXPECT_TRUE(replies().results.empty());
  EXPECT_FALSE(st().active);
  EXPECT_TRUE(st().queue.empty());
  EXPECT_EQ(gen->batches, 1);
  ask(3); // the new controller's request, before its weights arrived
  run();
  EXPECT_EQ(gen->batches, 1) << "decoded with weights it was told to forget";
  deliver(0);
  run();
  ASSERT_EQ(replies().results.size(), 1u);
  EXPECT_EQ(replies().results[0].groups[0].group_id, 3u);
}

TEST_F(SamplerReset, ABatchStartedRightAfterTheResetDecodesInFull) {
  deliver(0);
  run();
  ask(1);
  while (!st().active)
    ASSERT_TRUE(sched.try_run_once());
  // The lost batch's next decode step is still queued when the reset, the
  // new weights and the new request arrive behind it.
  caf::anon_send(sampler, sampler_reset{});
  deliver(0);
  caf::send_as(probe, sampler, generate_request{{task(2)}});
  gen->answer = "123";
  run();
  generate_result r;
  size_t got = 0;
  for (auto& m : inbox(probe))
    if (holds<generate_result>(m)) {
      r = m.get_as<generate_result>(0);
      ++got;
    }
  ASSERT_EQ(got, 1u);
  ASSERT_EQ(r.groups.size(), 1u);
  EXPECT_EQ(r.groups[0].group_id, 2u);
  for (auto& c : r.groups[0].completions)
    EXPECT_EQ(c.tokens.size(), 4u);
}

TEST_F(SamplerReset, TakesTheNewHeadsOutboxWithTheReset) {
  auto outbox = std::make_shared<fake_outbox>();
  outbox->controller = probe;
  caf::anon_send(sampler, sampler_reset{outbox});
  deliver(0);
  run();
  ask();
  run();
  ASSERT_EQ(replies().results.size(), 1u);
  EXPECT_TRUE(replies().results[0].via_data_plane);
  EXPECT_EQ(outbox->sent, 1u);
}

struct SimSamplerReset : ActorTest {
  caf::actor probe = spawn_probe();
  caf::actor sampler;
  caf::actor cli;

  SimSamplerReset() {
    sim_sampler_settings ss;
    ss.per_token = 1ms;
    ss.lengths = {4, 4};
    ss.max_queued = 1;
    sampler = spawn(sim_sampler_actor, ss);
    cli = spawn(client, sampler);
  }
  void deliver(int64_t version) {
    for (auto& c : split_weights(version, std::vector<char>(64, char(version))))
      caf::send_as(probe, sampler, c);
  }
  sim_sampler_state& st() { return state<sim_sampler_state>(sampler); }
  client_state& replies() { return state<client_state>(cli); }
};

TEST_F(SimSamplerReset, DropsItsWorkAndAcceptsAnOlderVersionAfterAReset) {
  deliver(5);
  run();
  deliver(3);
  run();
  EXPECT_EQ(st().version, 5) << "a stale version replaced a newer one";
  caf::anon_send(cli, generate_request{{task(1)}});
  caf::anon_send(cli, generate_request{{task(2)}});
  run();
  ASSERT_TRUE(st().active);
  caf::anon_send(sampler, sampler_reset{});
  run();
  advance_time(1s); // the dropped batch's timer fires and finds nothing
  ASSERT_EQ(replies().errors.size(), 2u);
  for (auto& e : replies().errors)
    EXPECT_TRUE(is(e, errc::peer_down)) << describe(e);
  EXPECT_TRUE(replies().results.empty());
  EXPECT_EQ(st().version, -1);
  caf::anon_send(cli, generate_request{{task(3)}});
  run();
  advance_time(1s);
  EXPECT_TRUE(replies().results.empty()) << "decoded with weights it was told to forget";
  deliver(3);
  run();
  advance_time(4ms);
  ASSERT_EQ(replies().results.size(), 1u);
  for (auto& c : replies().results[0].groups[0].completions)
    EXPECT_EQ(c.versions, std::vector<int64_t>(4, 3));
}

} // namespace
} // namespace tandem::testing
