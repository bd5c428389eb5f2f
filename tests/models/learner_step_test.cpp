// learner_step_test.cpp: the device-side pieces of a learner step on CPU
// (models/internal/learner_step.hpp, transformer.hpp): gradient accumulation
// over micro-batches equals the whole-batch gradient, checkpointed layers give
// the same gradients, plain causal attention equals the explicit mask on real
// tokens, and micro-batch plans respect their budget.

#include "models/internal/learner_step.hpp"

#include <set>

#include <gtest/gtest.h>

#include "models/internal/transformer.hpp"
#include "tests/support/tiny_model.hpp"

using namespace tandem;
using namespace tandem::internal;

namespace {

using test::tiny_model;

transformer make_model(uint64_t seed) {
  torch::set_num_threads(1);
  transformer m(tiny_model());
  m->init_weights(seed);
  return m;
}

// n rows of varied prompt/completion lengths, behaviour log-probs near the
// model's (about -ln 25) and advantages of both signs.
std::vector<train_sequence> make_batch(size_t n) {
  std::vector<train_sequence> batch(n);
  for (size_t i = 0; i < n; ++i) {
    auto& s = batch[i];
    for (size_t j = 0; j < 1 + i % 5; ++j)
      s.prompt.push_back(static_cast<int32_t>((5 * i + 3 * j + 2) % 25));
    for (size_t j = 0; j < 1 + (i * 7) % 6; ++j) {
      s.completion.push_back(static_cast<int32_t>((11 * i + 13 * j + 1) % 25));
      s.behav_logprobs.push_back(static_cast<float>(-3.2 + 0.05 * ((i + j) % 7)));
      s.versions.push_back(0);
    }
    s.advantage = (i % 3 == 0) ? 1.0 : -0.5;
  }
  return batch;
}

std::vector<torch::Tensor> gradients(transformer& m) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m->parameters())
    out.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return out;
}

double max_abs_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i)
    d = std::max(d, (a[i] - b[i]).abs().max().item<double>());
  return d;
}

double max_abs(const std::vector<torch::Tensor>& a) {
  double d = 0;
  for (const auto& t : a)
    d = std::max(d, t.abs().max().item<double>());
  return d;
}

struct step_out {
  std::vector<torch::Tensor> grads;
  grpo_loss_stats stats;
};

step_out run_step(transformer& m, transformer* ref, const std::vector<train_sequence>& batch,
                  int64_t max_tokens, const grpo_config& g) {
  step_numerics n;
  std::vector<micro_batch> parts;
  for (const auto& rows : plan_micro_batches(batch, 0, batch.size(), max_tokens))
    parts.push_back(prepare_micro_batch(m, ref, batch, rows, 0, n));
  m->zero_grad();
  auto acc = accumulate_gradients(m, parts, g, /*normalizer_length=*/6, n);
  EXPECT_TRUE(acc.finite);
  return {gradients(m), acc.loss};
}

void expect_same_step(const step_out& whole, const step_out& split, double tol) {
  EXPECT_LT(max_abs_diff(whole.grads, split.grads), tol);
  const auto& a = whole.stats;
  const auto& b = split.stats;
  EXPECT_NEAR(a.loss, b.loss, tol);
  EXPECT_NEAR(a.pg_loss, b.pg_loss, tol);
  EXPECT_NEAR(a.kl, b.kl, tol);
  EXPECT_NEAR(a.entropy, b.entropy, tol);
  EXPECT_NEAR(a.ratio_mean, b.ratio_mean, tol);
  EXPECT_NEAR(a.ratio_min, b.ratio_min, tol);
  EXPECT_NEAR(a.ratio_max, b.ratio_max, tol);
  EXPECT_NEAR(a.behav_weight_mean, b.behav_weight_mean, tol);
  EXPECT_NEAR(a.behav_approx_kl, b.behav_approx_kl, tol);
  EXPECT_NEAR(a.behav_weight_masked, b.behav_weight_masked, tol);
  EXPECT_NEAR(a.clip_dual, b.clip_dual, tol);
  EXPECT_NEAR(a.clip_sequence, b.clip_sequence, tol);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.sequences, b.sequences);
}

} // namespace

TEST(LearnerStep, MicroBatchPlanCoversEveryRowOnceWithinTheBudget) {
  auto batch = make_batch(13);
  auto plan = plan_micro_batches(batch, 2, 13, 24);
  EXPECT_GT(plan.size(), 2u);
  std::set<size_t> seen;
  for (const auto& mb : plan) {
    size_t longest = 0;
    for (size_t i : mb) {
      EXPECT_TRUE(seen.insert(i).second) << "row " << i << " twice";
      longest = std::max(longest, batch[i].prompt.size() + batch[i].completion.size());
    }
    EXPECT_LE(mb.size() * longest, 24u);
  }
  EXPECT_EQ(seen.size(), 11u);
  EXPECT_EQ(*seen.begin(), 2u);
  EXPECT_EQ(plan_micro_batches(batch, 0, 13, 0).size(), 1u);
}

// The accumulated gradient equals the single-batch one for every loss
// aggregation, with the entropy bonus and the reference KL in the loss too.
TEST(LearnerStep, AccumulatedGradientEqualsTheWholeBatchGradient) {
  auto batch = make_batch(12);
  for (auto agg : {loss_aggregation::token_mean, loss_aggregation::sequence_mean,
                   loss_aggregation::constant_normalizer}) {
    for (bool extras : {false, true}) {
      SCOPED_TRACE(std::string(to_string(agg)) + (extras ? " + entropy + kl" : ""));
      grpo_config g;
      g.aggregation = agg;
      auto m = make_model(3);
      auto ref = make_model(5);
      transformer* r = nullptr;
      if (extras) {
        g.entropy_coef = 0.05;
        g.kl_beta = 0.1;
        r = &ref;
      }
      auto whole = run_step(m, r, batch, 0, g);
      auto split = run_step(m, r, batch, 20, g);
      ASSERT_GT(plan_micro_batches(batch, 0, batch.size(), 20).size(), 3u);
      expect_same_step(whole, split, 1e-5);
      EXPECT_GT(max_abs(whole.grads), 1e-4); // the comparison is not between zeros
    }
  }
}

// GSPO's per-row ratio, the masked behaviour weight and the dual clip keep
// the accumulation exact: a row never spans two micro-batches, and a masked
// token keeps its place in every denominator.
TEST(LearnerStep, AccumulationStaysExactForTheObjectiveVariants) {
  auto batch = make_batch(12);
  grpo_config g;
  g.aggregation = loss_aggregation::sequence_mean;
  g.ratio_level = importance_level::sequence;
  g.behav_weight_mode = weight_bound_mode::mask;
  g.behav_weight_cap = 1.05;
  g.behav_weight_lower = 0.95;
  g.dual_clip = 3.0;
  g.kl_beta = 0.1;
  auto m = make_model(3);
  auto ref = make_model(5);
  auto whole = run_step(m, &ref, batch, 0, g);
  auto split = run_step(m, &ref, batch, 20, g);
  ASSERT_GT(plan_micro_batches(batch, 0, batch.size(), 20).size(), 3u);
  expect_same_step(whole, split, 1e-5);
  EXPECT_GT(whole.stats.behav_weight_masked, 0.0); // the mask is exercised
  EXPECT_LT(whole.stats.behav_weight_masked, 1.0);
  EXPECT_EQ(whole.stats.sequences, 12.0);
  EXPECT_GT(max_abs(whole.grads), 1e-4);
}

// Graph nodes whose name contains `part`, reachable from `t`.
int count_nodes(const torch::Tensor& t, const std::string& part) {
  std::vector<torch::autograd::Node*> todo{t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  int n = 0;
  while (!todo.empty()) {
    auto* node = todo.back();
    todo.pop_back();
    if (node == nullptr || !seen.insert(node).second)
      continue;
    n += node->name().find(part) != std::string::npos;
    for (const auto& e : node->next_edges())
      todo.push_back(e.function.get());
  }
  return n;
}

TEST(LearnerStep, CheckpointingPutsOneRecomputingNodePerLayerInTheGraph) {
  auto batch = make_batch(3);
  std::vector<sequence_ref> rows;
  for (const auto& s : batch)
    rows.push_back({&s.prompt, &s.completion});
  auto packed = pack(rows);
  auto m = make_model(3);
  EXPECT_EQ(count_nodes(score_completions(m, packed, 1.0).logp, "layer_checkpoint"), 0);
  m->set_activation_checkpointing(true);
  EXPECT_EQ(count_nodes(score_completions(m, packed, 1.0).logp, "layer_checkpoint"),
            tiny_model().num_layers);
}

TEST(LearnerStep, CheckpointedLayersGiveTheSameGradients) {
  auto batch = make_batch(9);
  grpo_config g;
  g.entropy_coef = 0.05;
  auto m = make_model(3);
  auto plain = run_step(m, nullptr, batch, 0, g);
  m->set_activation_checkpointing(true);
  auto checkpointed = run_step(m, nullptr, batch, 0, g);
  expect_same_step(plain, checkpointed, 1e-6);
  // Micro-batches and checkpointing together.
  auto both = run_step(m, nullptr, batch, 20, g);
  expect_same_step(plain, both, 1e-5);
}

TEST(LearnerStep, PlainCausalAttentionEqualsTheMaskOnRealTokens) {
  auto batch = make_batch(7);
  std::vector<sequence_ref> rows;
  for (const auto& s : batch)
    rows.push_back({&s.prompt, &s.completion});
  auto m = make_model(3);
  torch::NoGradGuard no_grad;
  auto packed = pack(rows);
  auto with_mask = score_completions(m, packed, 0.8).logp;
  packed.mask = torch::Tensor();
  auto causal = score_completions(m, packed, 0.8).logp;
  auto diff = ((with_mask - causal).abs() * packed.loss_mask).max().item<double>();
  EXPECT_LT(diff, 1e-5);
}

TEST(LearnerStep, ScoringProjectsOnlyThePredictingRowsWithTheSameResult) {
  auto batch = make_batch(5);
  std::vector<sequence_ref> rows;
  for (const auto& s : batch)
    rows.push_back({&s.prompt, &s.completion});
  auto m = make_model(3);
  torch::NoGradGuard no_grad;
  auto packed = pack(rows);
  auto logits = m->forward(packed.tokens, packed.positions, packed.mask); // [B,S,V]
  auto idx = packed.predict_at.unsqueeze(-1).expand(
    {packed.predict_at.size(0), packed.predict_at.size(1), logits.size(-1)});
  auto expected = torch::log_softmax(logits.gather(1, idx), -1)
                    .gather(-1, packed.targets.unsqueeze(-1))
                    .squeeze(-1);
  auto got = score_completions(m, packed, 1.0).logp;
  EXPECT_LT(((expected - got).abs() * packed.loss_mask).max().item<double>(), 1e-6);
}
