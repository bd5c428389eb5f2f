// learner_core_test.cpp: GRPO optimizer steps through the torch-free
// learner_core interface (versions, advantages, kl, clipping, the learning
// rate schedule, the entropy bonus, device options, micro-batches, the
// sampler mismatch and the objective variants); log-probs are checked with
// a `policy` that imports the learner's exported weights. Saved state and
// resuming: learner_core_resume_test.cpp.

#include "models/learner_core.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>

#include <gtest/gtest.h>

#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "tests/support/tiny_model.hpp"

using namespace tandem;
using namespace tandem::test;

TEST(LearnerCore, VersionIncrementsOncePerMiniBatch) {
  auto s = tiny_learner_settings();
  s.mini_batches = 2;
  auto l = make_learner(s);
  EXPECT_EQ(l->version(), 0);
  auto stats = l->train(on_policy_batch(*l, s.model, 8));
  ASSERT_TRUE(stats) << describe(stats.error());
  ASSERT_EQ(stats->size(), 2u);
  EXPECT_EQ((*stats)[0].version, 1);
  EXPECT_EQ((*stats)[1].version, 2);
  EXPECT_EQ(l->version(), 2);
  EXPECT_GT((*stats)[0].tokens, 0);
  EXPECT_GT((*stats)[0].grad_norm, 0);
}

TEST(LearnerCore, PositiveAdvantageRaisesThatSequencesLogProb) {
  auto s = tiny_learner_settings();
  auto l = make_learner(s);
  auto batch = on_policy_batch(*l, s.model, 4);
  for (auto& seq : batch)
    seq.advantage = -1.0 / 3;
  batch[0].advantage = 1.0;
  const double before = total_logp(*policy_of(*l, s.model), batch[0]);
  for (int step = 0; step < 5; ++step) {
    auto fresh = on_policy_batch(*l, s.model, 4); // same sequences, current logps
    for (size_t i = 0; i < batch.size(); ++i)
      fresh[i].advantage = batch[i].advantage;
    ASSERT_TRUE(l->train(fresh));
  }
  const double after = total_logp(*policy_of(*l, s.model), batch[0]);
  EXPECT_GT(after, before + 0.1) << "before " << before << " after " << after;
}

TEST(LearnerCore, InvalidBatchIsRejectedWithoutAStep) {
  auto s = tiny_learner_settings();
  auto l = make_learner(s);
  const auto weights = l->export_weights();
  auto batch = on_policy_batch(*l, s.model, 4);
  batch[2].behav_logprobs.pop_back();
  auto r = l->train(batch);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::invalid_argument));
  EXPECT_NE(describe(r.error()).find("sequence 2"), std::string::npos) << describe(r.error());
  EXPECT_EQ(l->version(), 0);
  EXPECT_EQ(l->export_weights(), weights);

  batch = on_policy_batch(*l, s.model, 4);
  batch[1].completion[0] = 25; // outside the vocabulary
  EXPECT_FALSE(l->train(batch));
  batch = on_policy_batch(*l, s.model, 4);
  batch[0].versions.clear();
  EXPECT_FALSE(l->train(batch));
  EXPECT_FALSE(l->train({}));
  EXPECT_EQ(l->version(), 0);
}

TEST(LearnerCore, NonFiniteLossSkipsTheStepAndKeepsWeights) {
  auto s = tiny_learner_settings();
  auto l = make_learner(s);
  const auto weights = l->export_weights();
  auto batch = on_policy_batch(*l, s.model, 4);
  batch[1].advantage = 1e300; // finite as a double, inf once in float32
  auto r = l->train(batch);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::numeric_failure)) << describe(r.error());
  EXPECT_EQ(l->version(), 0);
  EXPECT_EQ(l->export_weights(), weights);
  // The learner is still usable afterwards.
  EXPECT_TRUE(l->train(on_policy_batch(*l, s.model, 4)));
  EXPECT_EQ(l->version(), 1);
}

TEST(LearnerCore, KlToReferenceIsZeroFirstThenPositive) {
  auto s = tiny_learner_settings();
  s.grpo.kl_beta = 0.1;
  auto l = make_learner(s);
  auto first = l->train(on_policy_batch(*l, s.model, 8));
  ASSERT_TRUE(first) << describe(first.error());
  EXPECT_NEAR((*first)[0].loss.kl, 0.0, 1e-6);
  double kl = 0;
  for (int i = 0; i < 3; ++i) {
    auto st = l->train(on_policy_batch(*l, s.model, 8));
    ASSERT_TRUE(st);
    kl = (*st)[0].loss.kl;
  }
  EXPECT_GT(kl, 1e-6);
}

TEST(LearnerCore, NoReferenceMeansZeroKl) {
  auto s = tiny_learner_settings();
  auto l = make_learner(s);
  for (int i = 0; i < 2; ++i) {
    auto st = l->train(on_policy_batch(*l, s.model, 4));
    ASSERT_TRUE(st);
    EXPECT_EQ((*st)[0].loss.kl, 0.0);
  }
}

TEST(LearnerCore, ProxLogProbsAreComputedOnceBeforeAnyUpdate) {
  auto s = tiny_learner_settings();
  s.mini_batches = 2;
  s.temperature = 0.7;
  auto l = make_learner(s);
  auto stats = l->train(on_policy_batch(*l, s.model, 8, 0.7));
  ASSERT_TRUE(stats);
  ASSERT_EQ(stats->size(), 2u);
  // The second mini-batch is scored with the weights from before step 1, so
  // behaviour (== initial learner) and prox agree there too.
  EXPECT_LT((*stats)[0].sampler_logp_abs_diff, 1e-5);
  EXPECT_LT((*stats)[1].sampler_logp_abs_diff, 1e-5);
  // A second batch with the stale behaviour log-probs now disagrees.
  auto stale = on_policy_batch(*l, s.model, 8, 0.7);
  auto old = make_learner(s);
  auto old_batch = on_policy_batch(*old, s.model, 8, 0.7);
  for (size_t i = 0; i < stale.size(); ++i)
    stale[i].behav_logprobs = old_batch[i].behav_logprobs;
  auto again = l->train(stale);
  ASSERT_TRUE(again);
  EXPECT_GT((*again)[0].sampler_logp_abs_diff, 1e-4);
}

// grad_clip scales each step's gradient down to the clip norm before AdamW.
// AdamW ignores one constant scale of every gradient, but not a different
// scale per step: a second step whose advantages are 10x larger (so is its
// gradient: the loss is linear in them) must move the weights exactly as the
// x1 step does when both are clipped, and differently when nothing clips.
TEST(LearnerCore, GradientClippingNormalisesEveryStepsGradient) {
  struct outcome {
    std::vector<char> weights;
    double norms[2];
  };
  auto two_steps = [](double grad_clip, double scale) {
    auto s = tiny_learner_settings();
    s.optimizer.grad_clip = grad_clip;
    auto l = make_learner(s);
    outcome out;
    for (int step = 0; step < 2; ++step) {
      auto batch = on_policy_batch(*l, s.model, 8);
      for (auto& seq : batch)
        seq.advantage *= step == 1 ? scale : 1.0;
      auto r = l->train(batch);
      EXPECT_TRUE(r) << describe(r.error());
      out.norms[step] = (*r)[0].grad_norm;
    }
    out.weights = l->export_weights();
    return out;
  };
  const double clip = 1e-3;
  auto clipped1 = two_steps(clip, 1), clipped10 = two_steps(clip, 10);
  auto free1 = two_steps(0, 1), free10 = two_steps(0, 10);
  // The reported norm is the one before clipping, above the clip norm.
  EXPECT_GT(clipped1.norms[0], 10 * clip);
  EXPECT_GT(clipped1.norms[1], 10 * clip);
  EXPECT_NEAR(clipped10.norms[1], 10 * clipped1.norms[1], 1e-4 * clipped10.norms[1]);
  EXPECT_DOUBLE_EQ(free1.norms[0], clipped1.norms[0]);
  EXPECT_LT(max_abs_diff(clipped1.weights, clipped10.weights), 1e-6)
    << "clipped steps still depend on the gradient's scale";
  EXPECT_GT(max_abs_diff(free1.weights, free10.weights), 1e-4)
    << "without clipping the scale must matter (else this test shows nothing)";
}

// learner.lr_schedule: each optimizer step uses lr_at(its 0-based index),
// reports it, and a scheduled step equals a constant-rate step at that rate.
TEST(LearnerCore, TheScheduleSetsEveryStepsLearningRate) {
  auto s = tiny_learner_settings();
  s.mini_batches = 2;
  s.optimizer.schedule.kind = lr_schedule_kind::linear;
  s.optimizer.schedule.warmup_steps = 2;
  s.optimizer.schedule.total_steps = 4;
  auto l = make_learner(s);
  std::vector<double> lrs;
  for (int call = 0; call < 2; ++call) {
    auto stats = l->train(on_policy_batch(*l, s.model, 8));
    ASSERT_TRUE(stats) << describe(stats.error());
    for (auto& st : *stats)
      lrs.push_back(st.lr);
  }
  EXPECT_EQ(lrs, (std::vector<double>{5e-3, 1e-2, 1e-2, 5e-3}));

  auto warm = tiny_learner_settings();
  warm.optimizer.schedule = s.optimizer.schedule; // first step: lr / 2
  auto flat = tiny_learner_settings();
  flat.optimizer.lr = 5e-3;
  auto a = make_learner(warm);
  auto b = make_learner(flat);
  ASSERT_TRUE(a->train(on_policy_batch(*a, warm.model, 8)));
  ASSERT_TRUE(b->train(on_policy_batch(*b, flat.model, 8)));
  EXPECT_EQ(a->export_weights(), b->export_weights());

  auto bad = tiny_learner_settings();
  bad.optimizer.schedule.kind = lr_schedule_kind::cosine; // no total_steps
  EXPECT_TRUE(is(learner_core::validate(bad), errc::invalid_argument));
}

TEST(LearnerCore, ImportSetsWeightsAndVersion) {
  auto s = tiny_learner_settings();
  auto a = make_learner(s);
  s.seed = 4;
  auto b = make_learner(s);
  auto blob = a->export_weights();
  ASSERT_FALSE(b->import_weights(blob.data(), blob.size(), 17));
  EXPECT_EQ(b->version(), 17);
  EXPECT_EQ(b->export_weights(), blob);
  EXPECT_TRUE(b->import_weights(blob.data(), blob.size() - 1, 18));
  EXPECT_EQ(b->version(), 17);
}

TEST(LearnerCore, SpeedOfOneStepOnBatch128OnOneThread) {
  auto s = tiny_learner_settings();
  auto l = make_learner(s);
  auto batch = on_policy_batch(*l, s.model, 128);
  ASSERT_TRUE(l->train(batch)); // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  const int reps = 3;
  for (int r = 0; r < reps; ++r)
    ASSERT_TRUE(l->train(batch));
  const auto ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - t0).count() / reps;
  std::printf("learner step batch 128: %.2f ms\n", ms);
  EXPECT_LT(ms, 5000.0); // catches pathological slow paths, not a benchmark
}

// With zero advantages only the entropy bonus moves the weights: the policy's
// entropy must rise, and stay put when the bonus is off.
TEST(LearnerCore, EntropyBonusRaisesEntropyWhenAdvantagesAreZero) {
  auto measure = [](double coef) {
    auto s = tiny_learner_settings();
    s.optimizer.lr = 3e-3;
    s.grpo.entropy_coef = coef;
    auto l = make_learner(s);
    auto batch = on_policy_batch(*l, s.model, 8);
    for (auto& b : batch)
      b.advantage = 0;
    double first = 0, last = 0;
    for (int i = 0; i < 15; ++i) {
      auto st = l->train(batch);
      EXPECT_TRUE(st);
      if (i == 0)
        first = st->back().loss.entropy;
      last = st->back().loss.entropy;
    }
    return last - first;
  };
  EXPECT_GT(measure(1.0), 0.01);
  EXPECT_NEAR(measure(0.0), 0.0, 1e-6);
}

// --- devices, micro-batches, checkpointing, mismatch ---------------------------

TEST(LearnerCore, DeviceAndPrecisionOptionsAreValidated) {
  auto expect_refused = [](learner_settings s, const std::string& words) {
    auto l = learner_core::make(s);
    ASSERT_FALSE(l) << words;
    EXPECT_TRUE(is(l.error(), errc::invalid_argument));
    EXPECT_NE(describe(l.error()).find(words), std::string::npos) << describe(l.error());
  };
  auto s = tiny_learner_settings();
  s.device = "tpu";
  expect_refused(s, "learner.device 'tpu': expected cpu, cuda or cuda:N");
  s.device = "cuda:x";
  expect_refused(s, "expected cpu, cuda or cuda:N");
#ifndef TANDEM_WITH_CUDA
  s.device = "cuda";
  expect_refused(s, "learner.device 'cuda': this build has no CUDA");
  s.device = "cuda:1";
  expect_refused(s, "this build has no CUDA");
#endif
  s = tiny_learner_settings();
  s.precision = "fp16";
  expect_refused(s, "learner.precision 'fp16': expected float32 or bf16_autocast");
  s.precision = "bf16_autocast";
  expect_refused(s, "bf16_autocast needs a cuda device");
  s = tiny_learner_settings();
  s.micro_batch_tokens = -1;
  expect_refused(s, "micro_batch_tokens must be >= 0");
  s.micro_batch_tokens = 31; // below max_seq_len 32: a sequence could not fit
  expect_refused(s, "below max_seq_len 32");
  s.micro_batch_tokens = 32;
  s.activation_checkpointing = true;
  EXPECT_TRUE(learner_core::make(s));
}

// The public face of learner_step_test's gradient equality: same loss
// statistics and gradient norm, whatever the micro-batch budget.
TEST(LearnerCore, MicroBatchesAndCheckpointingGiveTheSameStep) {
  auto s = tiny_learner_settings();
  s.mini_batches = 2;
  s.grpo.entropy_coef = 0.01;
  auto base = make_learner(s);
  auto batch = on_policy_batch(*base, s.model, 16);
  for (size_t i = 0; i < batch.size(); ++i)
    for (auto& lp : batch[i].behav_logprobs)
      lp += 0.05f * static_cast<float>(i % 3); // ratio weights != 1
  auto expected = base->train(batch);
  ASSERT_TRUE(expected) << describe(expected.error());
  for (int64_t budget : {0, 32, 48}) {
    for (bool checkpointing : {false, true}) {
      SCOPED_TRACE("budget " + std::to_string(budget) + (checkpointing ? " checkpointed" : ""));
      auto t = s;
      t.micro_batch_tokens = budget;
      t.activation_checkpointing = checkpointing;
      auto l = make_learner(t);
      auto got = l->train(batch);
      ASSERT_TRUE(got) << describe(got.error());
      ASSERT_EQ(got->size(), expected->size());
      for (size_t k = 0; k < got->size(); ++k) {
        const auto& a = (*expected)[k];
        const auto& b = (*got)[k];
        EXPECT_NEAR(a.loss.loss, b.loss.loss, 1e-5);
        EXPECT_NEAR(a.loss.entropy, b.loss.entropy, 1e-5);
        EXPECT_NEAR(a.loss.behav_weight_mean, b.loss.behav_weight_mean, 1e-5);
        EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-5 * a.grad_norm);
        EXPECT_NEAR(a.sampler_logp_abs_diff, b.sampler_logp_abs_diff, 1e-6);
        EXPECT_EQ(a.tokens, b.tokens);
      }
    }
  }
}

TEST(LearnerCore, MismatchIsZeroWhenSamplerAndLearnerShareWeights) {
  auto s = tiny_learner_settings();
  auto l = make_learner(s);
  auto st = l->train(on_policy_batch(*l, s.model, 8));
  ASSERT_TRUE(st);
  const auto& m = (*st)[0];
  EXPECT_LT(m.mismatch_logp_abs, 1e-5);
  EXPECT_LT(m.mismatch_k3, 1e-5);
  EXPECT_EQ(m.mismatch_tokens, m.tokens);
}

// behav = learner log-prob - delta, so d = log pi_learner - log pi_behav =
// delta (up to the ~1e-7 of two float32 forwards of the same weights).
TEST(LearnerCore, MismatchEqualsTheHandComputedFigureForPerturbedLogProbs) {
  auto s = tiny_learner_settings();
  auto l = make_learner(s);
  auto batch = on_policy_batch(*l, s.model, 8);
  const double deltas[] = {0.1, -0.2, 0.05, 0.3, -0.4};
  double abs_sum = 0, k3_sum = 0, abs_all = 0;
  int64_t n = 0, all = 0, k = 0;
  for (size_t i = 0; i < batch.size(); ++i)
    for (size_t t = 0; t < batch[i].completion.size(); ++t, ++k) {
      const double d = deltas[k % 5];
      batch[i].behav_logprobs[t] -= static_cast<float>(d);
      abs_all += std::abs(d);
      ++all;
      if (i == 3) { // sampled one version earlier: left out of the mismatch
        batch[i].versions[t] = -1;
        continue;
      }
      abs_sum += std::abs(d);
      k3_sum += std::exp(d) - d - 1;
      ++n;
    }
  auto st = l->train(batch);
  ASSERT_TRUE(st);
  const auto& m = (*st)[0];
  EXPECT_EQ(m.mismatch_tokens, n);
  EXPECT_NEAR(m.mismatch_logp_abs, abs_sum / n, 1e-5);
  EXPECT_NEAR(m.mismatch_k3, k3_sum / n, 1e-5);
  EXPECT_NEAR(m.sampler_logp_abs_diff, abs_all / all, 1e-5);
}

// The objective variants pass from learner_settings to the loss: with
// behav = learner log-prob - delta, w = exp(delta) per token, so the masked
// share under [0.8, 1.2] is that of the deltas 0.3 and -0.4 (w = 1.35, 0.67).
// On the first step every ratio is 1: nothing is clipped, every row counts.
TEST(LearnerCore, ObjectiveVariantsReachTheStepStatistics) {
  auto s = tiny_learner_settings();
  s.grpo.ratio_level = importance_level::sequence;
  s.grpo.aggregation = loss_aggregation::sequence_mean;
  s.grpo.behav_weight_mode = weight_bound_mode::mask;
  s.grpo.behav_weight_cap = 1.2;
  s.grpo.behav_weight_lower = 0.8;
  s.grpo.dual_clip = 3.0;
  auto l = make_learner(s);
  auto batch = on_policy_batch(*l, s.model, 8);
  const double deltas[] = {0.1, -0.2, 0.05, 0.3, -0.4};
  int64_t masked = 0, all = 0;
  for (auto& seq : batch)
    for (auto& lp : seq.behav_logprobs) {
      const int k = static_cast<int>(all++ % 5);
      lp -= static_cast<float>(deltas[k]);
      masked += k >= 3;
    }
  auto st = l->train(batch);
  ASSERT_TRUE(st) << describe(st.error());
  const auto& loss = (*st)[0].loss;
  EXPECT_NEAR(loss.behav_weight_masked, double(masked) / double(all), 1e-9);
  EXPECT_EQ(loss.behav_weight_truncated, 0.0);
  EXPECT_EQ(loss.sequences, 8.0);
  EXPECT_EQ(loss.clip_sequence, 0.0);
  EXPECT_EQ(loss.clip_dual, 0.0);
  EXPECT_NEAR(loss.ratio_mean, 1.0, 1e-5);
}
