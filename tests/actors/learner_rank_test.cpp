// learner_rank_test: learner ranks in another process. Real ranks: rank 1
// hosted by a learner_rank actor in a second actor system reached over the
// middleman (messages serialized as between processes), its gradients summed
// with rank 0's over a socket_collective; the pair gives the in-process
// pair's weights bit for bit, and the worker's actor system going away gives
// a typed error naming rank 1. Fake ranks: a rank's own error keeps its code,
// a throwing rank gives backend_failure, a dead one peer_down, a hung one
// collective_timeout at the proxy's deadline, one that never joins peer_down
// at the join deadline (the only tests that wait for a deadline to pass:
// 200 ms, 100 ms); imports made before the rank joined reach it first.
#include "actors/learner_rank.hpp"
#include "actors/remote_rank_backend.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <future>
#include <stdexcept>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <gtest/gtest.h>

#include "actors/data_parallel_backend.hpp"
#include "runtime/error.hpp"
#include "runtime/messages.hpp"
#include "runtime/nccl/thread_group_collective.hpp"
#include "runtime/transport/socket_collective.hpp"

using namespace tandem;
using namespace std::chrono_literals;

namespace {

// Rank 1's proxy options with `timeout` (the rest at their defaults).
remote_rank_options rank_options(std::chrono::milliseconds timeout) {
  remote_rank_options o;
  o.rank = 1;
  o.timeout = timeout;
  return o;
}

struct system_config : caf::actor_system_config {
  system_config() {
    register_message_types(*this);
    register_learner_rank_types(*this);
    load<caf::io::middleman>();
  }
};

learner_settings small_settings() {
  learner_settings s;
  s.model.vocab_size = 25;
  s.model.hidden_size = 32;
  s.model.num_layers = 2;
  s.model.num_heads = 4;
  s.model.num_kv_heads = 2;
  s.model.intermediate_size = 48;
  s.model.max_seq_len = 32;
  s.optimizer.lr = 3e-3;
  s.optimizer.weight_decay = 0.01;
  s.max_new_tokens = 6;
  s.grad_bucket_bytes = 16 << 10;
  s.seed = 5;
  s.collective_timeout_ms = 20000;
  return s;
}

// 11 rows (the ranks' slices differ in size), varied lengths.
std::vector<train_sequence> make_batch(size_t k) {
  std::vector<train_sequence> out;
  for (size_t i = 0; i < 11; ++i) {
    train_sequence s;
    for (size_t j = 0; j < 1 + (i + k) % 4; ++j)
      s.prompt.push_back(static_cast<int32_t>((5 * i + 3 * j + 2 + k) % 25));
    for (size_t j = 0; j < 1 + (i * 7 + k) % 5; ++j)
      s.completion.push_back(static_cast<int32_t>((11 * i + 13 * j + 1 + 2 * k) % 25));
    s.behav_logprobs.assign(s.completion.size(), -3.2f);
    s.versions.assign(s.completion.size(), static_cast<int64_t>(k));
    s.advantage = std::sin(double(3 * k + i) + 0.5);
    out.push_back(std::move(s));
  }
  return out;
}

std::shared_ptr<training_backend> rank_backend(int rank, int zero,
                                               std::shared_ptr<nccl::reduce_collective> c) {
  auto s = small_settings();
  s.ranks = 2;
  s.rank = rank;
  s.zero_stage = zero;
  s.collective = std::move(c);
  auto be = make_torch_training_backend(s, 1);
  EXPECT_TRUE(be) << describe(be.error());
  return be ? *be : nullptr;
}

std::unique_ptr<data_parallel_backend> parallel(std::vector<std::shared_ptr<training_backend>> r,
                                                int zero) {
  data_parallel_options o;
  o.join_timeout = 20s;
  o.collective_export_state = zero > 0;
  auto dp = data_parallel_backend::make(std::move(r), o);
  EXPECT_TRUE(dp) << describe(dp.error());
  return dp ? std::move(*dp) : nullptr;
}

// The in-process pair: both ranks on a thread group.
std::vector<char> in_process_weights(int zero, size_t steps) {
  auto group = std::make_shared<nccl::thread_group>(2);
  auto dp = parallel({rank_backend(0, zero, nccl::thread_group::share(group, 0)),
                      rank_backend(1, zero, nccl::thread_group::share(group, 1))},
                     zero);
  for (size_t k = 0; k < steps; ++k)
    EXPECT_TRUE(dp->train(make_batch(k)));
  return dp->export_weights();
}

void remote_pair_matches_in_process_pair(int zero) {
  constexpr char secret[] = "learner rank test secret 012345";
  auto ctx = transport::transport_context::with_secret(secret);
  ASSERT_TRUE(ctx);
  transport::socket_collective_options o;
  o.rank = 0;
  o.ranks = 2;
  o.endpoint = "tcp://127.0.0.1:*";
  o.group = 11;
  auto root = transport::socket_collective::make(*ctx, o);
  ASSERT_TRUE(root) << describe(root.error());
  o.rank = 1;
  o.endpoint = (*root)->endpoint();
  auto member = transport::socket_collective::make(*ctx, o);
  ASSERT_TRUE(member);

  system_config head_cfg;
  caf::actor_system head{head_cfg};
  auto worker_cfg = std::make_unique<system_config>();
  auto worker = std::make_unique<caf::actor_system>(*worker_cfg);
  // Not detached here (production spawns it detached: spawn_learner_rank): a
  // detached actor's thread can outlive a published actor for a while, and
  // this test destroys its actor system right after killing it.
  auto rank1 = worker->spawn(learner_rank_actor, rank_backend(1, zero, std::move(*member)));
  auto port = worker->middleman().publish(rank1, 0, "127.0.0.1");
  ASSERT_TRUE(port) << worker->render(port.error());
  auto remote = head.middleman().remote_actor("127.0.0.1", *port);
  ASSERT_TRUE(remote) << head.render(remote.error());

  auto rank0 = rank_backend(0, zero, std::move(*root));
  auto proxy = std::make_shared<remote_rank_backend>(head, *remote, rank_options(60s));
  auto dp = parallel({rank0, proxy}, zero);
  for (size_t k = 0; k < 3; ++k) {
    auto stats = dp->train(make_batch(k));
    ASSERT_TRUE(stats) << describe(stats.error());
    EXPECT_EQ(stats->back().version, static_cast<int64_t>(k + 1));
  }
  EXPECT_EQ(proxy->version(), 3);
  EXPECT_EQ(dp->export_weights(), in_process_weights(zero, 3)) << "zero " << zero;
  EXPECT_EQ(proxy->export_weights(), rank0->export_weights());
  EXPECT_FALSE(dp->export_state().empty());

  // The worker process ends (its actor system and rank 1 go): rank 0's
  // collective hears rank 1 leave, the step fails naming rank 1 and the
  // backend closes with the weights as they were.
  const auto before = dp->export_weights();
  caf::anon_send_exit(rank1, caf::exit_reason::kill);
  rank1 = nullptr;
  worker.reset();
  const auto start = std::chrono::steady_clock::now();
  auto failed = dp->train(make_batch(3));
  ASSERT_FALSE(failed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  const auto why = describe(failed.error());
  EXPECT_TRUE(is(failed.error(), errc::peer_down)) << why;
  EXPECT_NE(why.find("rank 1"), std::string::npos) << why;
  EXPECT_TRUE(dp->closed_by());
  EXPECT_EQ(dp->version(), 3);
  EXPECT_EQ(dp->export_weights(), before);
}

TEST(LearnerRank, RemoteRankGivesTheInProcessPairsWeightsBitForBit) {
  remote_pair_matches_in_process_pair(0);
}

TEST(LearnerRank, RemoteZeroOneRankGivesTheInProcessPairsWeightsBitForBit) {
  remote_pair_matches_in_process_pair(1);
}

// -- fakes ------------------------------------------------------------------------

struct fake_rank final : training_backend {
  caf::error fail_with;
  bool throws = false;
  std::shared_future<void> hold; // valid: train waits for it
  int64_t v = 0;
  std::vector<char> weights{'w'};

  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) override {
    if (hold.valid())
      hold.wait();
    if (throws)
      throw std::runtime_error("boom");
    if (fail_with)
      return fail_with;
    if (batch.empty())
      return make_error(errc::invalid_argument, "empty batch");
    ++v;
    return std::vector<train_step_stats>(1);
  }
  std::vector<char> export_weights() const override { return weights; }
  int64_t version() const override { return v; }
  std::vector<char> export_state() const override { return {'s', char(v)}; }
  caf::error import_weights(const std::vector<char>& blob, int64_t version) override {
    weights = blob;
    v = version;
    return caf::none;
  }
  caf::error import_state(const std::vector<char>& state) override {
    if (state.size() != 2)
      return make_error(errc::malformed_message, "bad state");
    v = state[1];
    return caf::none;
  }
};

struct LearnerRankFakes : ::testing::Test {
  system_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<fake_rank> fake = std::make_shared<fake_rank>();
  caf::actor rank = spawn_learner_rank(sys, fake);
  remote_rank_backend proxy{sys, rank, rank_options(10s)};

  ~LearnerRankFakes() override { caf::anon_send_exit(rank, caf::exit_reason::kill); }
};

TEST_F(LearnerRankFakes, CarriesEveryJobAndTheVersion) {
  ASSERT_FALSE(proxy.train(make_batch(0)).error());
  EXPECT_EQ(proxy.version(), 1);
  ASSERT_FALSE(proxy.import_weights({'a', 'b'}, 7));
  EXPECT_EQ(proxy.version(), 7);
  EXPECT_EQ(proxy.export_weights(), (std::vector<char>{'a', 'b'}));
  EXPECT_EQ(proxy.export_state(), (std::vector<char>{'s', 7}));
  ASSERT_FALSE(proxy.import_state({'s', 4}));
  EXPECT_EQ(proxy.version(), 4);
}

TEST_F(LearnerRankFakes, TheRanksOwnErrorKeepsItsCodeAndText) {
  fake->fail_with = make_error(errc::numeric_failure, "loss is nan");
  auto res = proxy.train(make_batch(0));
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::numeric_failure));
  EXPECT_NE(describe(res.error()).find("loss is nan"), std::string::npos);
  auto bad = proxy.import_state({'x'});
  EXPECT_TRUE(is(bad, errc::malformed_message)) << describe(bad);
}

TEST_F(LearnerRankFakes, AThrowingRankGivesBackendFailure) {
  fake->throws = true;
  auto res = proxy.train(make_batch(0));
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::backend_failure)) << describe(res.error());
  EXPECT_NE(describe(res.error()).find("boom"), std::string::npos);
}

TEST_F(LearnerRankFakes, ADeadRankGivesPeerDownAndClosesTheLearner) {
  auto rank0 = std::make_shared<fake_rank>();
  std::vector<caf::error> told; // what rank 0's collective would hear
  auto o = rank_options(10s);
  o.on_gone = [&told](const caf::error& e) { told.push_back(e); };
  auto proxy_ptr = std::make_shared<remote_rank_backend>(sys, rank, o);
  auto dp = data_parallel_backend::make({rank0, proxy_ptr}, {});
  ASSERT_TRUE(dp);
  caf::scoped_actor self{sys};
  self->monitor(rank);
  caf::anon_send_exit(rank, caf::exit_reason::kill);
  self->receive([](caf::down_msg&) {});
  auto res = (*dp)->train(make_batch(0));
  ASSERT_FALSE(res);
  const auto why = describe(res.error());
  EXPECT_TRUE(is(res.error(), errc::peer_down)) << why;
  EXPECT_NE(why.find("learner rank 1: train: its process is gone"), std::string::npos) << why;
  EXPECT_TRUE((*dp)->closed_by());
  ASSERT_EQ(told.size(), 1u);
  EXPECT_TRUE(is(told[0], errc::peer_down)) << describe(told[0]);
  EXPECT_TRUE(is((*dp)->import_weights({'a'}, 1), errc::not_ready));
  EXPECT_TRUE(proxy.export_state().empty());
}

TEST_F(LearnerRankFakes, AHungRankGivesCollectiveTimeoutAtTheDeadline) {
  std::promise<void> release;
  fake->hold = release.get_future().share();
  remote_rank_backend impatient{sys, rank, rank_options(200ms)};
  const auto start = std::chrono::steady_clock::now();
  auto res = impatient.train(make_batch(0));
  const auto took = std::chrono::steady_clock::now() - start;
  release.set_value();
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::collective_timeout)) << describe(res.error());
  EXPECT_NE(describe(res.error()).find("no answer to train within 200 ms"), std::string::npos);
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 5s);
}

// In a run the head imports a checkpoint before the rank's worker joined:
// the proxy keeps the imports and replays them to the rank before its first
// job.
TEST_F(LearnerRankFakes, ImportsBeforeTheRankJoinedAreReplayedToIt) {
  auto dir = std::make_shared<rank_directory>();
  auto o = rank_options(10s);
  o.join_timeout = 10s;
  remote_rank_backend late{sys, dir, o};
  ASSERT_FALSE(late.import_weights({'k'}, 5));
  ASSERT_FALSE(late.import_state({'s', 5}));
  EXPECT_EQ(late.version(), 5);
  EXPECT_EQ(fake->weights, (std::vector<char>{'w'})); // nothing reached it yet
  dir->put(1, rank);
  ASSERT_FALSE(late.train(make_batch(0)).error());
  EXPECT_EQ(fake->weights, (std::vector<char>{'k'}));
  EXPECT_EQ(late.version(), 6);
}

TEST_F(LearnerRankFakes, ARankThatNeverJoinsGivesPeerDownAtTheJoinTimeout) {
  auto dir = std::make_shared<rank_directory>();
  auto o = rank_options(10s);
  o.join_timeout = 100ms;
  remote_rank_backend absent{sys, dir, o};
  auto res = absent.train(make_batch(0));
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::peer_down)) << describe(res.error());
  EXPECT_NE(describe(res.error()).find("never joined within 100 ms"), std::string::npos);
}

} // namespace
