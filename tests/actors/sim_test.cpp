// Simulation-mode tests: the sim sampler on its own (timing, queue bound,
// weights), and the real controller, reward, learner and weight broadcaster
// driving 1,024 sim samplers, all on CAF's test coordinator (virtual time).
#include <set>

#include "graph_test_fixture.hpp"

#include "actors/controller.hpp"
#include "actors/learner.hpp"
#include "actors/reward.hpp"
#include "actors/sim_backends.hpp"
#include "actors/sim_sampler.hpp"
#include "wiring/head.hpp"
#include "actors/weight_broadcaster.hpp"
#include "runtime/error.hpp"
#include "runtime/weights_blob.hpp"
#include "tasks/arithmetic_task.hpp"
#include "tasks/reward_rules.hpp"

namespace tandem::testing {
namespace {

using namespace std::chrono_literals;

template <class... Ts>
bool holds(const caf::message& m) {
  return m.size() == sizeof...(Ts) && m.match_elements<Ts...>();
}

group_task task(uint64_t id, int32_t size, int64_t min_version = 0) {
  group_task t;
  t.group_id = id;
  t.problem_id = id;
  t.prompt = {1, 2, 3};
  t.answer = "7";
  t.group_size = size;
  t.min_version = min_version;
  t.seed = id * 31 + 5;
  return t;
}

struct SimSampler : ActorTest {
  sim_sampler_settings ss;
  caf::actor probe, sampler;

  SimSampler() {
    ss.per_token = 1ms;
    ss.overhead = 2ms;
    ss.lengths = {5, 5};
    ss.accuracy = 1.0;
    ss.max_queued = 1;
  }

  void start() {
    probe = spawn_probe();
    sampler = spawn(sim_sampler_actor, ss);
  }

  void send_weights(int64_t version) {
    for (auto& c : split_weights(version, std::vector<char>(64, char(version))))
      caf::send_as(probe, sampler, c);
  }

  std::vector<generate_result> results() {
    std::vector<generate_result> out;
    for (auto& m : inbox(probe))
      if (holds<generate_result>(m))
        out.push_back(m.get_as<generate_result>(0));
    return out;
  }
};

TEST_F(SimSampler, AnswersAfterExactlyItsSimulatedDecodeTime) {
  start();
  send_weights(0);
  caf::send_as(probe, sampler, generate_request{{task(1, 4)}});
  run();
  EXPECT_TRUE(results().empty());
  advance_time(6ms); // 2 ms overhead + 5 tokens x 1 ms = 7 ms
  EXPECT_TRUE(results().empty()) << "answered before its simulated decode time";
  advance_time(1ms);
  auto r = results();
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].groups.size(), 1u);
  EXPECT_EQ(r[0].tokens, 20);
  EXPECT_DOUBLE_EQ(r[0].seconds, 0.007);
  char_tokenizer tok;
  for (auto& c : r[0].groups[0].completions) {
    ASSERT_EQ(c.tokens.size(), 5u);
    EXPECT_EQ(tok.decode(c.tokens), "0007</answer>");
    EXPECT_TRUE(c.finished);
    EXPECT_EQ(c.logprobs, std::vector<float>(5, -1.0f));
    EXPECT_EQ(score_completion(tok.decode(c.tokens), "7", {}).accuracy, 1.0);
  }
}

TEST_F(SimSampler, WaitsForWeightsAndAcksEachCompleteVersion) {
  start();
  caf::send_as(probe, sampler, generate_request{{task(1, 2, 3)}});
  run();
  advance_time(1s);
  EXPECT_TRUE(results().empty()) << "decoded without weights";
  send_weights(3);
  run();
  ASSERT_FALSE(inbox(probe).empty());
  EXPECT_TRUE((holds<weights_ack_atom, int64_t>(inbox(probe)[0])));
  EXPECT_EQ(inbox(probe)[0].get_as<int64_t>(1), 3);
  advance_time(7ms);
  auto r = results();
  ASSERT_EQ(r.size(), 1u);
  for (auto& c : r[0].groups[0].completions)
    EXPECT_EQ(c.versions, std::vector<int64_t>(5, 3));
}

TEST_F(SimSampler, TagsTokensWithTheVersionHeldWhenEachWasDecoded) {
  ss.overhead = 0ms;
  ss.lengths = {4, 4};
  start();
  send_weights(1);
  caf::send_as(probe, sampler, generate_request{{task(1, 2)}});
  run();
  advance_time(2ms); // tokens 0 and 1 decoded with v1
  send_weights(2);
  run();
  advance_time(2ms);
  auto r = results();
  ASSERT_EQ(r.size(), 1u);
  for (auto& c : r[0].groups[0].completions)
    EXPECT_EQ(c.versions, (std::vector<int64_t>{1, 1, 2, 2}));
}

TEST_F(SimSampler, RefusesRequestsBeyondItsQueueBound) {
  start();
  auto cli = spawn(client, sampler);
  send_weights(0);
  for (uint64_t id = 1; id <= 3; ++id)
    caf::anon_send(cli, generate_request{{task(id, 2)}});
  run(); // one active, one queued (max_queued = 1), one refused
  auto& replies = state<client_state>(cli);
  ASSERT_EQ(replies.errors.size(), 1u);
  EXPECT_EQ(replies.errors[0].code(), make_error(errc::capacity_exceeded).code());
  EXPECT_EQ(replies.errors[0].category(), make_error(errc::capacity_exceeded).category());
  EXPECT_TRUE(replies.results.empty());
  advance_time(7ms);
  EXPECT_EQ(replies.results.size(), 1u);
  advance_time(7ms);
  EXPECT_EQ(replies.results.size(), 2u);
  EXPECT_EQ(state<sim_sampler_state>(sampler).stats.requests, 2);
}

TEST_F(SimSampler, DrawsLengthsFromTheDistributionAndAnswersWrongWithProbabilityOneMinusP) {
  ss.lengths = {3, 6};
  ss.accuracy = 0.5;
  ss.max_queued = 8;
  start();
  send_weights(0);
  caf::send_as(probe, sampler, generate_request{{task(1, 64), task(2, 64)}});
  run();
  advance_time(1s);
  auto r = results();
  ASSERT_EQ(r.size(), 1u);
  char_tokenizer tok;
  std::set<size_t> lengths;
  int correct = 0, total = 0;
  for (auto& g : r[0].groups)
    for (auto& c : g.completions) {
      lengths.insert(c.tokens.size());
      correct += score_completion(tok.decode(c.tokens), "7", {}).accuracy > 0 ? 1 : 0;
      ++total;
    }
  EXPECT_EQ(lengths, (std::set<size_t>{3, 4, 5, 6}));
  EXPECT_GT(correct, total / 4);
  EXPECT_LT(correct, 3 * total / 4);
}

// --- the real control plane with 1,024 sim samplers ----------------------------

struct SimPipeline : GraphTest {
  static constexpr int n_samplers = 1024;
  controller_settings cs;
  std::shared_ptr<sim_training_backend> trainer = std::make_shared<sim_training_backend>();
  std::shared_ptr<memory_sink> metrics = std::make_shared<memory_sink>();
  std::vector<uint64_t> consumed;
  caf::actor observer, broadcaster, learner, reward, controller;
  std::vector<caf::actor> samplers;

  SimPipeline() {
    cs.steps = 6;
    cs.groups_per_step = 128;
    cs.group_size = 4;
    cs.max_staleness = 1;
    cs.expected_samplers = n_samplers;
    cs.generate_timeout = 10s;
  }

  /// The graph as `tandem run` builds it (wiring/head.hpp), with simulated
  /// samplers and learner.
  void start() {
    observer = spawn_probe();
    auto hs = graph_settings(cs);
    hs.sampler_max_groups = 1;
    for (int i = 0; i < n_samplers; ++i)
      hs.samplers.push_back({"sim-" + std::to_string(i), "cpu", 1});
    auto parts = graph_parts(trainer, metrics, observer);
    parts.on_consumed = [this](const std::vector<uint64_t>& ids) {
      consumed.insert(consumed.end(), ids.begin(), ids.end());
    };
    int index = 0;
    parts.spawn_sampler = [this, &index](const placed_instance& inst) -> caf::expected<caf::actor> {
      sim_sampler_settings ss;
      ss.name = inst.name;
      ss.per_token = 1ms;
      ss.overhead = 1ms;
      ss.lengths = {2, 6};
      ss.accuracy = 0.3;
      ss.seed = static_cast<uint64_t>(index++) + 1;
      return caf::actor{sys.spawn(sim_sampler_actor, ss)};
    };
    auto g = spawn_graph(hs, parts);
    broadcaster = g.broadcaster;
    learner = g.learner;
    reward = g.rewards.at(0);
    controller = g.controller;
    samplers = g.samplers;
  }

  std::optional<std::pair<bool, std::string>> finished() {
    for (auto& m : inbox(observer))
      if (holds<finished_atom, bool, std::string>(m))
        return std::make_pair(m.get_as<bool>(1), m.get_as<std::string>(2));
    return std::nullopt;
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

// A resumed simulated learner counts on from the saved version and
// sequence count; a damaged state or mislabelled weights are refused.
TEST(SimTrainingBackend, SavedStateResumesItsCountsAndBadInputIsRefused) {
  sim_training_backend a;
  std::vector<train_sequence> batch(3);
  for (auto& seq : batch)
    seq.completion = {1, 2};
  ASSERT_TRUE(a.train(batch));
  ASSERT_TRUE(a.train(batch));
  const auto weights = a.export_weights();
  const auto state = a.export_state();

  sim_training_backend b;
  EXPECT_FALSE(b.import_weights(weights, 2));
  EXPECT_FALSE(b.import_state(state));
  EXPECT_EQ(b.version(), 2);
  EXPECT_EQ(b.sequences(), 6);
  ASSERT_TRUE(b.train(batch));
  ASSERT_TRUE(a.train(batch));
  EXPECT_EQ(b.export_weights(), a.export_weights());
  EXPECT_EQ(b.export_state(), a.export_state());

  sim_training_backend c;
  auto bad = state;
  bad[10] ^= 1;
  EXPECT_TRUE(is(c.import_state(bad), errc::malformed_message));
  EXPECT_TRUE(is(c.import_state({state.begin(), state.end() - 1}), errc::malformed_message));
  EXPECT_TRUE(is(c.import_weights(weights, 5), errc::version_mismatch));
  EXPECT_TRUE(is(c.import_weights({weights.begin(), weights.end() - 1}, 2),
                 errc::invalid_argument));
  EXPECT_EQ(c.version(), 0);
  EXPECT_EQ(c.sequences(), 0);
}

TEST_F(SimPipeline, RealControllerDrives1024SimSamplersConsumingEveryGroupOnce) {
  start();
  run(2'000'000);
  EXPECT_EQ(trainer->steps(), 0) << "nothing can be trained before any decode time passed";
  // Step virtual time one decode step at a time until the run finishes.
  for (int i = 0; i < 2000 && !finished(); ++i)
    advance_time(1ms);
  auto f = finished();
  ASSERT_TRUE(f) << "no finish within 2 s of virtual time";
  EXPECT_TRUE(f->first) << f->second;
  EXPECT_EQ(trainer->steps(), cs.steps);
  std::set<uint64_t> unique(consumed.begin(), consumed.end());
  EXPECT_EQ(unique.size(), consumed.size()) << "a group was consumed twice";
  EXPECT_EQ(consumed.size(), size_t(cs.steps) * cs.groups_per_step);
  EXPECT_NE(f->second.find("\"staleness_violations\":0"), std::string::npos) << f->second;
  EXPECT_NE(f->second.find("\"groups_dropped\":0"), std::string::npos) << f->second;
  EXPECT_LE(max_logged_staleness(), cs.max_staleness);
  // Every sampler got every version it was sent, and work was spread out.
  int64_t busy = 0, acks = 0;
  for (auto& s : samplers) {
    auto& st = state<sim_sampler_state>(s);
    busy += st.stats.requests > 0 ? 1 : 0;
    acks += st.stats.acks;
    EXPECT_EQ(st.bad_chunks, 0u);
  }
  EXPECT_GE(busy, 2 * cs.groups_per_step) << "dispatch did not spread over the samplers";
  EXPECT_GE(acks, int64_t{n_samplers}) << "not every sampler acknowledged version 0";
}

} // namespace
} // namespace tandem::testing
