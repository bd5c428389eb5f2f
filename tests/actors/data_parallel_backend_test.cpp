// data_parallel_backend_test.cpp: learner ranks on worker threads behind one
// training_backend. Real ranks (LibTorch learner_cores on a thread group):
// two ranks give the single learner's weights after three steps, with ZeRO
// stages 0 and 1, and resume from their exported state. Fake ranks: a
// failing, throwing or late rank gives a typed error naming it and closes
// the backend; a step that every rank skips leaves it open; the destructor
// joins a late worker.

#include "actors/data_parallel_backend.hpp"

#include <atomic>
#include <future>
#include <stdexcept>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/nccl/thread_group_collective.hpp"
#include "tests/support/tiny_model.hpp"

using namespace tandem;

namespace {

// 11 rows (odd: the ranks' slices differ in size), varied lengths.
std::vector<train_sequence> make_batch(size_t k) {
  test::row_pattern p;
  p.rows = 11;
  p.batch = k;
  p.prompt_lengths = 4;
  p.completion_lengths = 5;
  p.version = static_cast<int64_t>(k);
  return test::patterned_rows(p);
}

using test::max_abs_diff;

struct parallel {
  std::vector<std::shared_ptr<training_backend>> ranks;
  std::unique_ptr<data_parallel_backend> backend;
};

parallel make_parallel(int n, int zero) {
  auto group = std::make_shared<nccl::thread_group>(n);
  parallel p;
  for (int r = 0; r < n; ++r) {
    auto s = test::data_parallel_settings();
    s.ranks = n;
    s.rank = r;
    s.zero_stage = zero;
    s.collective = nccl::thread_group::share(group, r);
    auto be = make_torch_training_backend(s, 1);
    EXPECT_TRUE(be) << describe(be.error());
    p.ranks.push_back(*be);
  }
  data_parallel_options o;
  o.collective_export_state = zero > 0;
  auto dp = data_parallel_backend::make(p.ranks, o);
  EXPECT_TRUE(dp) << describe(dp.error());
  p.backend = std::move(*dp);
  return p;
}

void two_ranks_match_one_learner(int zero) {
  auto one = make_torch_training_backend(test::data_parallel_settings(), 1);
  ASSERT_TRUE(one);
  auto two = make_parallel(2, zero);
  for (size_t k = 0; k < 3; ++k) {
    auto a = (*one)->train(make_batch(k));
    auto b = two.backend->train(make_batch(k));
    ASSERT_TRUE(a) << describe(a.error());
    ASSERT_TRUE(b) << describe(b.error());
    ASSERT_EQ(a->size(), b->size());
    EXPECT_EQ(a->back().version, b->back().version);
    EXPECT_EQ(a->back().tokens, b->back().tokens);
    EXPECT_NEAR(a->back().loss.loss, b->back().loss.loss, 1e-5);
  }
  EXPECT_EQ(two.backend->version(), 3);
  EXPECT_LT(max_abs_diff((*one)->export_weights(), two.backend->export_weights()), 2e-5);
  EXPECT_EQ(two.ranks[0]->export_weights(), two.ranks[1]->export_weights());
  auto state = two.backend->export_state();
  EXPECT_EQ(state.size(), (*one)->export_state().size());

  // A fresh pair resumed from the saved weights and state takes the same
  // next step as the pair that goes on.
  auto resumed = make_parallel(2, zero);
  ASSERT_FALSE(resumed.backend->import_weights(two.backend->export_weights(), 3));
  ASSERT_FALSE(resumed.backend->import_state(state));
  ASSERT_TRUE(two.backend->train(make_batch(3)));
  ASSERT_TRUE(resumed.backend->train(make_batch(3)));
  EXPECT_EQ(resumed.backend->export_weights(), two.backend->export_weights());
}

TEST(DataParallelBackend, TwoRanksMatchOneLearnerAfterThreeSteps) {
  two_ranks_match_one_learner(0);
}

TEST(DataParallelBackend, TwoRanksWithShardedOptimizerMatchOneLearner) {
  two_ranks_match_one_learner(1);
}

// A rank that answers as told; `gate` (when set) holds train() until the
// test releases it.
class fake_rank : public training_backend {
public:
  enum class mode { ok, fail, numeric, throws, late };
  explicit fake_rank(mode m) : mode_(m) {}

  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) override {
    switch (mode_) {
      case mode::fail: return make_error(errc::peer_down, "rank 3 is gone");
      case mode::numeric: return make_error(errc::numeric_failure, "loss is nan");
      case mode::throws: throw std::runtime_error("boom");
      case mode::late: release.get_future().wait(); break;
      case mode::ok: break;
    }
    ++version_;
    train_step_stats s;
    s.version = version_;
    s.tokens = static_cast<int64_t>(batch.size());
    finished = true;
    return std::vector<train_step_stats>{s};
  }
  std::vector<char> export_weights() const override { return {'w'}; }
  int64_t version() const override { return version_; }
  std::vector<char> export_state() const override { return {'s'}; }
  caf::error import_weights(const std::vector<char>&, int64_t v) override {
    version_ = v;
    return caf::none;
  }
  caf::error import_state(const std::vector<char>&) override { return caf::none; }

  std::promise<void> release;
  std::atomic<bool> finished{false};

private:
  mode mode_;
  int64_t version_ = 0;
};

std::unique_ptr<data_parallel_backend>
fake_parallel(std::vector<std::shared_ptr<fake_rank>> ranks, std::chrono::milliseconds join) {
  data_parallel_options o;
  o.join_timeout = join;
  auto dp = data_parallel_backend::make({ranks.begin(), ranks.end()}, o);
  EXPECT_TRUE(dp);
  return std::move(*dp);
}

std::vector<train_sequence> one_row() {
  return {train_sequence{}};
}

using mode = fake_rank::mode;

TEST(DataParallelBackend, ReturnsRankZerosStatistics) {
  auto dp = fake_parallel({std::make_shared<fake_rank>(mode::ok),
                           std::make_shared<fake_rank>(mode::ok),
                           std::make_shared<fake_rank>(mode::ok)},
                          std::chrono::seconds(30));
  for (int k = 1; k <= 3; ++k) {
    auto st = dp->train(one_row());
    ASSERT_TRUE(st);
    EXPECT_EQ(st->at(0).version, k);
  }
  EXPECT_EQ(dp->version(), 3);
  EXPECT_FALSE(dp->closed_by());
}

TEST(DataParallelBackend, FailingRankNamesItselfAndClosesTheBackend) {
  auto dp = fake_parallel({std::make_shared<fake_rank>(mode::ok),
                           std::make_shared<fake_rank>(mode::fail)},
                          std::chrono::seconds(30));
  auto st = dp->train(one_row());
  ASSERT_FALSE(st);
  EXPECT_TRUE(is(st.error(), errc::peer_down));
  EXPECT_NE(describe(st.error()).find("learner rank 1: rank 3 is gone"), std::string::npos)
    << describe(st.error());
  auto again = dp->train(one_row());
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), errc::not_ready)) << describe(again.error());
  EXPECT_NE(describe(again.error()).find("learner rank 1"), std::string::npos);
  EXPECT_TRUE(is(dp->import_state({'s'}), errc::not_ready));
  EXPECT_TRUE(dp->export_state().empty());
  EXPECT_EQ(dp->version(), 1); // rank 0 is still readable
}

TEST(DataParallelBackend, StepSkippedOnEveryRankKeepsTheBackendOpen) {
  auto dp = fake_parallel({std::make_shared<fake_rank>(mode::numeric),
                           std::make_shared<fake_rank>(mode::numeric)},
                          std::chrono::seconds(30));
  auto st = dp->train(one_row());
  ASSERT_FALSE(st);
  EXPECT_TRUE(is(st.error(), errc::numeric_failure));
  EXPECT_FALSE(dp->closed_by());
  EXPECT_FALSE(dp->import_weights({'w'}, 4));
  EXPECT_EQ(dp->version(), 4);
}

TEST(DataParallelBackend, ThrowingRankBecomesABackendFailure) {
  auto dp = fake_parallel({std::make_shared<fake_rank>(mode::ok),
                           std::make_shared<fake_rank>(mode::throws)},
                          std::chrono::seconds(30));
  auto st = dp->train(one_row());
  ASSERT_FALSE(st);
  EXPECT_TRUE(is(st.error(), errc::backend_failure));
  EXPECT_NE(describe(st.error()).find("learner rank 1: threw: boom"), std::string::npos)
    << describe(st.error());
  EXPECT_TRUE(dp->closed_by());
}

TEST(DataParallelBackend, LateRankTimesOutAndTheDestructorJoinsIt) {
  auto late = std::make_shared<fake_rank>(mode::late);
  auto dp = fake_parallel({std::make_shared<fake_rank>(mode::ok), late},
                          std::chrono::milliseconds(20));
  auto st = dp->train(one_row());
  ASSERT_FALSE(st);
  EXPECT_TRUE(is(st.error(), errc::collective_timeout));
  EXPECT_NE(describe(st.error()).find("learner rank 1: train still running"), std::string::npos)
    << describe(st.error());
  EXPECT_TRUE(is(dp->train(one_row()).error(), errc::not_ready));
  EXPECT_FALSE(late->finished);
  late->release.set_value();
  dp.reset(); // joins the worker, which finishes its step first
  EXPECT_TRUE(late->finished);
}

TEST(DataParallelBackend, RefusesFewerThanTwoRanks) {
  auto dp = data_parallel_backend::make({std::make_shared<fake_rank>(mode::ok)}, {});
  ASSERT_FALSE(dp);
  EXPECT_TRUE(is(dp.error(), errc::invalid_argument));
}

} // namespace
