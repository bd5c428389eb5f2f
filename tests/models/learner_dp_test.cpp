// learner_dp_test.cpp: data-parallel learner_core ranks on threads with the
// thread-group collective: N = 2 and 4, ZeRO stages 0, 1, 2, give the
// single-rank step (weights within float32 tolerance, every rank identical,
// the same statistics); a rank that dies mid-step gives the others a typed
// error naming it and leaves their weights as they were; saved state moves
// between stages and rank counts.

#include "models/learner_core.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "models/learner_core_memory.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/thread_group_collective.hpp"
#include "tests/support/tiny_model.hpp"

using namespace tandem;

namespace {

// Several mini-batches and micro-batches per call, a reference (kl), a
// small clip so that clipping is active, small buckets (from
// data_parallel_settings) so that a step has several.
learner_settings dp_settings() {
  auto s = test::data_parallel_settings();
  s.optimizer.grad_clip = 0.5;
  s.grpo.kl_beta = 0.05;
  s.mini_batches = 2;
  s.micro_batch_tokens = 40;
  return s;
}

// Fixed batches of 13 rows (not a multiple of 2 or 4), varied lengths,
// behaviour log-probs near the model's, advantages of both signs.
std::vector<std::vector<train_sequence>> make_batches(size_t count) {
  std::vector<std::vector<train_sequence>> out;
  for (size_t k = 0; k < count; ++k) {
    test::row_pattern p;
    p.rows = 13;
    p.batch = k;
    p.behav_wobble = 0.05;
    out.push_back(test::patterned_rows(p));
  }
  return out;
}

using test::max_abs_diff;

struct rank_run {
  std::vector<std::unique_ptr<learner_core>> learners;
  std::vector<std::vector<train_step_stats>> stats; // by rank
  std::vector<caf::error> errors;                   // by rank: the first error
};

// N learners (built in turn: the seeded init draws from the global
// generator), then one thread per rank for `body`.
rank_run make_ranks(learner_settings s, int n, int zero,
                    const std::shared_ptr<nccl::thread_group>& group) {
  policy::set_threads(1);
  rank_run run;
  run.stats.resize(n);
  run.errors.resize(n);
  for (int r = 0; r < n; ++r) {
    auto rs = s;
    rs.ranks = n;
    rs.rank = r;
    rs.zero_stage = zero;
    if (n > 1)
      rs.collective = nccl::thread_group::share(group, r);
    auto l = learner_core::make(rs);
    EXPECT_TRUE(l) << describe(l.error());
    run.learners.push_back(std::move(*l));
  }
  return run;
}

void on_every_rank(int n, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&body, r] {
      policy::set_threads(1); // per thread: OpenMP keeps the count per thread
      body(r);
    });
  for (auto& t : threads)
    t.join();
}

void train_batches(rank_run& run, const std::vector<std::vector<train_sequence>>& batches) {
  const int n = static_cast<int>(run.learners.size());
  on_every_rank(n, [&](int r) {
    for (const auto& b : batches) {
      auto st = run.learners[r]->train(b);
      if (!st) {
        run.errors[r] = st.error();
        return;
      }
      run.stats[r].insert(run.stats[r].end(), st->begin(), st->end());
    }
  });
}

void expect_stats_near(const train_step_stats& a, const train_step_stats& b, double tol) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.mismatch_tokens, b.mismatch_tokens);
  auto near = [tol](double x, double y, const char* what) {
    EXPECT_NEAR(x, y, tol * std::max(1.0, std::abs(y))) << what;
  };
  near(a.loss.loss, b.loss.loss, "loss");
  near(a.loss.pg_loss, b.loss.pg_loss, "pg_loss");
  near(a.loss.kl, b.loss.kl, "kl");
  near(a.loss.entropy, b.loss.entropy, "entropy");
  near(a.loss.clip_low, b.loss.clip_low, "clip_low");
  near(a.loss.clip_high, b.loss.clip_high, "clip_high");
  near(a.loss.ratio_mean, b.loss.ratio_mean, "ratio_mean");
  near(a.loss.ratio_min, b.loss.ratio_min, "ratio_min");
  near(a.loss.ratio_max, b.loss.ratio_max, "ratio_max");
  near(a.loss.behav_weight_mean, b.loss.behav_weight_mean, "behav_weight_mean");
  near(a.grad_norm, b.grad_norm, "grad_norm");
  near(a.sampler_logp_abs_diff, b.sampler_logp_abs_diff, "sampler_logp_abs_diff");
  near(a.mismatch_logp_abs, b.mismatch_logp_abs, "mismatch_logp_abs");
  near(a.mismatch_k3, b.mismatch_k3, "mismatch_k3");
  near(a.lr, b.lr, "lr");
}

// Float32 tolerance for weights after 6 AdamW steps at lr 3e-3: the ranks
// add the same terms in another order, and Adam's normalised update turns a
// rounding-level gradient difference into at most a few ulps of lr per step.
constexpr double weight_tol = 2e-5;
constexpr double stats_tol = 1e-5;

} // namespace

TEST(LearnerDataParallel, EveryRankCountAndStageGivesTheSingleRankStep) {
  const auto s = dp_settings();
  const auto batches = make_batches(3);
  auto single = make_ranks(s, 1, 0, nullptr);
  train_batches(single, batches);
  ASSERT_FALSE(single.errors[0]) << describe(single.errors[0]);
  ASSERT_EQ(single.stats[0].size(), 6u);
  EXPECT_TRUE(std::any_of(single.stats[0].begin(), single.stats[0].end(),
                          [&](const auto& st) { return st.grad_norm > s.optimizer.grad_clip; }))
    << "no step clipped: lower grad_clip";
  const auto want = single.learners[0]->export_weights();
  for (int n : {2, 4})
    for (int zero : {0, 1, 2}) {
      SCOPED_TRACE("ranks " + std::to_string(n) + ", zero " + std::to_string(zero));
      auto group = std::make_shared<nccl::thread_group>(n);
      auto rs = s;
      // Recomputed layers run a backward inside the backward: the hooks
      // that start the bucket reductions must still see each gradient once.
      rs.activation_checkpointing = zero == 1;
      auto run = make_ranks(rs, n, zero, group);
      train_batches(run, batches);
      const auto first = run.learners[0]->export_weights();
      for (int r = 0; r < n; ++r) {
        ASSERT_FALSE(run.errors[r]) << describe(run.errors[r]);
        EXPECT_EQ(run.learners[r]->version(), 6);
        EXPECT_EQ(run.learners[r]->export_weights(), first) << "rank " << r << " differs";
        ASSERT_EQ(run.stats[r].size(), 6u);
        for (size_t k = 0; k < 6; ++k)
          expect_stats_near(run.stats[r][k], single.stats[0][k], stats_tol);
      }
      const double diff = max_abs_diff(first, want);
      std::printf("ranks %d zero %d: max |weight - single-rank weight| = %.3g\n", n, zero, diff);
      EXPECT_LE(diff, weight_tol);
    }
}

// docs/data-parallel.md's memory table, measured: after a step with
// gradient accumulation, the distinct storages a rank keeps (weights,
// .grad, flat gradient, weight shard, moments) come to 16 bytes per
// parameter at stage 0 (the .grad tensors are the flat gradient) and
// 8 + 12/N at stages 1 and 2, within 1 % (the buckets' padding); one rank
// keeps 16. A .grad beside the flat buffer instead of inside it would add
// 4 and fail every row.
TEST(LearnerDataParallel, EveryRankKeepsTheMemoryTablesBytesPerParameter) {
  auto s = test::data_parallel_settings();
  s.mini_batches = 1;
  s.micro_batch_tokens = 40; // several micro-batches: gradients accumulate
  const auto batch = make_batches(1)[0];
  auto single = make_ranks(s, 1, 0, nullptr);
  train_batches(single, {batch});
  ASSERT_FALSE(single.errors[0]) << describe(single.errors[0]);
  auto flat = single.learners[0]->refresh_flat_weights();
  ASSERT_TRUE(flat);
  const double params = static_cast<double>(flat->bytes / sizeof(float));
  EXPECT_DOUBLE_EQ(state_bytes_per_param(1, 0), 16.0);
  EXPECT_DOUBLE_EQ(single.learners[0]->training_state_bytes() / params, 16.0);
  for (int n : {2, 4, 8})
    for (int zero : {0, 1, 2}) {
      SCOPED_TRACE("ranks " + std::to_string(n) + ", zero " + std::to_string(zero));
      auto group = std::make_shared<nccl::thread_group>(n);
      auto run = make_ranks(s, n, zero, group);
      train_batches(run, {batch});
      const double table = state_bytes_per_param(n, zero); // what plan and the bench print
      EXPECT_DOUBLE_EQ(table, zero == 0 ? 16.0 : 8.0 + 12.0 / n);
      for (int r = 0; r < n; ++r) {
        ASSERT_FALSE(run.errors[r]) << describe(run.errors[r]);
        const double per_param = run.learners[r]->training_state_bytes() / params;
        if (r == 0)
          std::printf("ranks %d zero %d: %.4f bytes per parameter kept (table %.4f)\n", n, zero,
                      per_param, table);
        EXPECT_NEAR(per_param, table, 0.01 * table) << "rank " << r;
      }
    }
}

// Three rows on four ranks: one rank has no rows yet takes part in every
// collective with a zero gradient, and the step is still the single-rank one.
TEST(LearnerDataParallel, ARankWithoutRowsStillTakesPart) {
  auto s = dp_settings();
  s.mini_batches = 1;
  auto batch = make_batches(1)[0];
  batch.resize(3);
  auto single = make_ranks(s, 1, 0, nullptr);
  train_batches(single, {batch, batch});
  ASSERT_FALSE(single.errors[0]) << describe(single.errors[0]);
  for (int zero : {0, 1}) {
    auto group = std::make_shared<nccl::thread_group>(4);
    auto run = make_ranks(s, 4, zero, group);
    train_batches(run, {batch, batch});
    for (int r = 0; r < 4; ++r)
      ASSERT_FALSE(run.errors[r]) << describe(run.errors[r]);
    EXPECT_LE(max_abs_diff(run.learners[3]->export_weights(),
                           single.learners[0]->export_weights()),
              weight_tol);
    for (size_t k = 0; k < 2; ++k)
      expect_stats_near(run.stats[0][k], single.stats[0][k], stats_tol);
  }
}

namespace {

// Rank 1 of 2 dies at its `k`-th collective post of the second train() call
// (counted from that call's first post); rank 0 must fail with `code`
// naming rank 1, its weights and version those after the first call.
void expect_death_is_reported(int zero, nccl::death_mode mode, uint64_t k, errc code) {
  auto s = dp_settings();
  s.mini_batches = 1;
  s.collective_timeout_ms = 300;
  const auto batches = make_batches(2);
  auto group = std::make_shared<nccl::thread_group>(2, mode);
  auto run = make_ranks(s, 2, zero, group);
  train_batches(run, {batches[0]});
  ASSERT_FALSE(run.errors[0]) << describe(run.errors[0]);
  const auto before = run.learners[0]->export_weights();
  group->die_at(1, group->completed_posts() + k);
  const auto start = std::chrono::steady_clock::now();
  train_batches(run, {batches[1]});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(run.errors[0]) << "rank 0 did not notice";
  EXPECT_TRUE(is(run.errors[0], code)) << describe(run.errors[0]);
  EXPECT_NE(describe(run.errors[0]).find("rank 1"), std::string::npos)
    << describe(run.errors[0]);
  EXPECT_LT(took, std::chrono::seconds(10)); // bounded by the 300 ms deadline
  EXPECT_EQ(run.learners[0]->version(), 1);
  EXPECT_EQ(run.learners[0]->export_weights(), before);
}

} // namespace

// Buckets of 16 KiB: the tiny model's gradient is several, so post 1 is in
// the middle of the gradient reduction.
TEST(LearnerDataParallel, ARankDeadInTheGradientReductionIsPeerDownNamingIt) {
  expect_death_is_reported(0, nccl::death_mode::remote_error, 1, errc::peer_down);
}

TEST(LearnerDataParallel, AHangingRankTimesOutAtTheDeadlineNamingIt) {
  expect_death_is_reported(2, nccl::death_mode::hang, 1, errc::collective_timeout);
}

// ZeRO-1: posts are the gradient buckets, one statistics gather, then the
// parameter buckets; dying at the first parameter bucket fails the step
// after this rank's shard was updated, yet the model is untouched.
TEST(LearnerDataParallel, ARankDeadInTheParameterGatherLeavesTheWeightsUnchanged) {
  auto s = dp_settings();
  s.mini_batches = 1;
  auto group = std::make_shared<nccl::thread_group>(2);
  auto run = make_ranks(s, 2, 1, group);
  train_batches(run, {make_batches(1)[0]}); // one step: B + 1 + B posts
  ASSERT_FALSE(run.errors[0]) << describe(run.errors[0]);
  const uint64_t buckets = (group->completed_posts() - 1) / 2;
  ASSERT_GE(buckets, 2u);
  expect_death_is_reported(1, nccl::death_mode::remote_error, buckets + 1, errc::peer_down);
}

// Rank 1's rows hold a loss that is inf in float32: rank 0's loss is finite,
// yet every rank skips the step (numeric_failure, weights and version kept),
// and all of them go on training together afterwards.
TEST(LearnerDataParallel, ANonFiniteLossOnOneRankSkipsTheStepOnEveryRank) {
  for (int zero : {0, 2}) {
    SCOPED_TRACE("zero " + std::to_string(zero));
    auto s = dp_settings();
    s.mini_batches = 1;
    auto batches = make_batches(2);
    auto bad = batches[0];
    bad.back().advantage = 1e300; // the last row: rank 1's slice
    auto group = std::make_shared<nccl::thread_group>(2);
    auto run = make_ranks(s, 2, zero, group);
    const auto before = run.learners[0]->export_weights();
    train_batches(run, {bad});
    for (int r = 0; r < 2; ++r) {
      EXPECT_TRUE(is(run.errors[r], errc::numeric_failure)) << describe(run.errors[r]);
      EXPECT_EQ(run.learners[r]->version(), 0);
      EXPECT_EQ(run.learners[r]->export_weights(), before);
      run.errors[r] = caf::error{};
    }
    train_batches(run, {batches[1]});
    for (int r = 0; r < 2; ++r) {
      EXPECT_FALSE(run.errors[r]) << describe(run.errors[r]);
      EXPECT_EQ(run.learners[r]->version(), 1);
    }
    EXPECT_EQ(run.learners[0]->export_weights(), run.learners[1]->export_weights());
  }
}

TEST(LearnerDataParallel, SavedStateMovesBetweenStagesAndRankCounts) {
  const auto s = dp_settings();
  const auto batches = make_batches(3);
  auto group = std::make_shared<nccl::thread_group>(2);
  auto zero1 = make_ranks(s, 2, 1, group);
  train_batches(zero1, {batches[0], batches[1]});
  ASSERT_FALSE(zero1.errors[0]) << describe(zero1.errors[0]);
  std::vector<std::vector<char>> states(2);
  on_every_rank(2, [&](int r) { states[r] = zero1.learners[r]->export_state(); });
  ASSERT_FALSE(states[0].empty());
  EXPECT_EQ(states[0], states[1]);
  const auto weights = zero1.learners[0]->export_weights();
  // The same state in a single-rank learner and in ZeRO-2 ranks.
  auto single = make_ranks(s, 1, 0, nullptr);
  auto group2 = std::make_shared<nccl::thread_group>(2);
  auto zero2 = make_ranks(s, 2, 2, group2);
  for (auto* run : {&single, &zero2})
    for (auto& l : run->learners) {
      ASSERT_FALSE(l->import_weights(weights.data(), weights.size(), zero1.learners[0]->version()));
      ASSERT_FALSE(l->import_state(states[0].data(), states[0].size()));
    }
  // A single-rank export of the imported state is the same blob.
  EXPECT_EQ(single.learners[0]->export_state(), states[0]);
  train_batches(single, {batches[2]});
  train_batches(zero2, {batches[2]});
  train_batches(zero1, {batches[2]});
  ASSERT_FALSE(single.errors[0] || zero2.errors[0] || zero1.errors[0]);
  const auto want = single.learners[0]->export_weights();
  EXPECT_LE(max_abs_diff(zero2.learners[0]->export_weights(), want), weight_tol);
  EXPECT_LE(max_abs_diff(zero1.learners[0]->export_weights(), want), weight_tol);
}

TEST(LearnerDataParallel, RankSettingsAreValidated) {
  auto expect_refused = [](learner_settings s, const std::string& words) {
    auto l = learner_core::make(s);
    ASSERT_FALSE(l);
    EXPECT_TRUE(is(l.error(), errc::invalid_argument)) << describe(l.error());
    EXPECT_NE(describe(l.error()).find(words), std::string::npos) << describe(l.error());
  };
  auto s = dp_settings();
  s.zero_stage = 1;
  expect_refused(s, "needs learner.ranks > 1");
  s = dp_settings();
  s.ranks = 2;
  expect_refused(s, "needs a ready collective");
  s.rank = 2;
  expect_refused(s, "rank 2 is outside");
  auto group = std::make_shared<nccl::thread_group>(2);
  s = dp_settings();
  s.ranks = 2;
  s.rank = 0;
  s.collective = nccl::thread_group::share(group, 1);
  expect_refused(s, "the collective is rank 1 of 2");
  s = dp_settings();
  s.collective = nccl::thread_group::share(group, 0);
  expect_refused(s, "would do nothing");
  s = dp_settings();
  s.zero_stage = 3;
  expect_refused(s, "zero_stage must be 0, 1 or 2");
}
