// grpo_loss_test: the GRPO / decoupled-PPO loss (models/grpo_loss.hpp)
// against the independent float64 Python reference
// (tests/reference/grpo_reference.py -> grpo_loss_reference_cases.inc) and
// against properties that hold exactly (on-policy identity, zero gradient in
// the clipped regions, truncation at the cap, masked garbage, GSPO's
// geometric-mean ratio, the masked behaviour weight, the dual clip).
//
// Tolerances, |got - want| <= abs + rel * |want|:
//   float32 run: loss and every statistic abs 1e-5 + rel 1e-5;
//                d loss / d logp abs 1e-5.
//   float64 run: everything abs 1e-10 (the implementation follows logp's
//                dtype, so float64 reproduces the reference almost exactly).
// The reference inputs are float32-representable, so both runs see exactly the
// inputs the reference used.

#include "models/grpo_loss.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

using tandem::grpo_config;
using tandem::grpo_loss;
using tandem::grpo_loss_inputs;
using tandem::grpo_loss_stats;
using tandem::loss_aggregation;

namespace {

struct expected_stats {
  double loss, pg_loss, kl, entropy, clip_low, clip_high, clip_region,
    ratio_mean, ratio_min, ratio_max, behav_weight_mean,
    behav_weight_truncated, behav_approx_kl, tokens, behav_weight_masked,
    clip_dual, clip_sequence, sequences;
};

struct loss_case {
  const char* name;
  bool decoupled;
  double eps_low, eps_high, kl_beta, cap;
  loss_aggregation aggregation;
  int64_t normalizer_length, batch, time;
  tandem::importance_level ratio_level;
  tandem::weight_bound_mode behav_weight_mode;
  double behav_weight_lower, dual_clip;
  std::vector<double> logp, prox_logp, behav_logp, ref_logp, advantages, mask,
    entropy;
  expected_stats expected;
  std::vector<double> grad;
};

const std::vector<loss_case> reference_cases = {
#include "grpo_loss_reference_cases.inc"
};

struct tolerance {
  double abs, rel, grad_abs;
};
constexpr tolerance f32_tol{1e-5, 1e-5, 1e-5};
constexpr tolerance f64_tol{1e-10, 0.0, 1e-10};

// Undefined for an empty vector, as the loss treats optional inputs.
at::Tensor make(const std::vector<double>& v, std::vector<int64_t> shape,
                at::ScalarType dtype) {
  if (v.empty())
    return {};
  return torch::tensor(v, torch::kFloat64).reshape(shape).to(dtype);
}

grpo_config config_of(const loss_case& c) {
  grpo_config cfg;
  cfg.decoupled = c.decoupled;
  cfg.eps_low = c.eps_low;
  cfg.eps_high = c.eps_high;
  cfg.kl_beta = c.kl_beta;
  cfg.behav_weight_cap = c.cap;
  cfg.aggregation = c.aggregation;
  cfg.ratio_level = c.ratio_level;
  cfg.behav_weight_mode = c.behav_weight_mode;
  cfg.behav_weight_lower = c.behav_weight_lower;
  cfg.dual_clip = c.dual_clip;
  return cfg;
}

void expect_close(double got, double want, const tolerance& t, const char* what) {
  EXPECT_LE(std::fabs(got - want), t.abs + t.rel * std::fabs(want))
    << what << ": got " << got << ", want " << want;
}

void expect_stats(const grpo_loss_stats& s, const expected_stats& e,
                  const tolerance& t) {
  expect_close(s.loss, e.loss, t, "loss");
  expect_close(s.pg_loss, e.pg_loss, t, "pg_loss");
  expect_close(s.kl, e.kl, t, "kl");
  expect_close(s.entropy, e.entropy, t, "entropy");
  expect_close(s.clip_low, e.clip_low, t, "clip_low");
  expect_close(s.clip_high, e.clip_high, t, "clip_high");
  expect_close(s.clip_region, e.clip_region, t, "clip_region");
  expect_close(s.ratio_mean, e.ratio_mean, t, "ratio_mean");
  expect_close(s.ratio_min, e.ratio_min, t, "ratio_min");
  expect_close(s.ratio_max, e.ratio_max, t, "ratio_max");
  expect_close(s.behav_weight_mean, e.behav_weight_mean, t, "behav_weight_mean");
  expect_close(s.behav_weight_truncated, e.behav_weight_truncated, t,
               "behav_weight_truncated");
  expect_close(s.behav_approx_kl, e.behav_approx_kl, t, "behav_approx_kl");
  expect_close(s.tokens, e.tokens, t, "tokens");
  expect_close(s.behav_weight_masked, e.behav_weight_masked, t, "behav_weight_masked");
  expect_close(s.clip_dual, e.clip_dual, t, "clip_dual");
  expect_close(s.clip_sequence, e.clip_sequence, t, "clip_sequence");
  expect_close(s.sequences, e.sequences, t, "sequences");
}

void check_reference_case(const loss_case& c, at::ScalarType dtype,
                          const tolerance& t) {
  SCOPED_TRACE(c.name);
  const std::vector<int64_t> bt{c.batch, c.time};
  grpo_loss_inputs in;
  in.logp = make(c.logp, bt, dtype).set_requires_grad(true);
  in.prox_logp = make(c.prox_logp, bt, dtype);
  in.behav_logp = make(c.behav_logp, bt, dtype);
  in.ref_logp = make(c.ref_logp, bt, dtype);
  in.advantages = make(c.advantages, {c.batch}, dtype);
  in.mask = make(c.mask, bt, dtype);
  in.entropy = make(c.entropy, bt, dtype);
  auto out = grpo_loss(in, config_of(c), c.normalizer_length);
  EXPECT_EQ(out.loss.scalar_type(), dtype);
  expect_close(out.loss.item<double>(), c.expected.loss, t, "loss tensor");
  expect_stats(out.stats, c.expected, t);
  out.loss.backward();
  const at::Tensor g = in.logp.grad().to(torch::kFloat64).contiguous();
  ASSERT_EQ(g.numel(), static_cast<int64_t>(c.grad.size()));
  const double* gp = g.data_ptr<double>();
  for (size_t i = 0; i < c.grad.size(); ++i)
    EXPECT_NEAR(gp[i], c.grad[i], t.grad_abs) << "d loss / d logp[" << i << "]";
}

// A small hand-built batch in float64: B rows, T positions, every row full.
struct batch {
  at::Tensor logp, prox, behav, adv, mask;
};

batch uniform_batch(std::vector<double> adv, int64_t t) {
  const auto b = static_cast<int64_t>(adv.size());
  batch x;
  x.logp = torch::full({b, t}, -1.0, torch::kFloat64);
  x.prox = x.logp.clone();
  x.behav = x.logp.clone();
  x.adv = torch::tensor(adv, torch::kFloat64);
  x.mask = torch::ones({b, t}, torch::kFloat64);
  return x;
}

grpo_loss_inputs inputs_of(const batch& x) {
  grpo_loss_inputs in;
  in.logp = x.logp.clone().set_requires_grad(true);
  in.prox_logp = x.prox;
  in.behav_logp = x.behav;
  in.advantages = x.adv;
  in.mask = x.mask;
  return in;
}

} // namespace

TEST(GrpoLoss, MatchesPythonReferenceInFloat32) {
  ASSERT_GE(reference_cases.size(), 14u);
  for (const auto& c : reference_cases)
    check_reference_case(c, torch::kFloat32, f32_tol);
}

TEST(GrpoLoss, MatchesPythonReferenceInFloat64) {
  for (const auto& c : reference_cases)
    check_reference_case(c, torch::kFloat64, f64_tol);
}

TEST(GrpoLoss, OnPolicyTokenMeanIsMinusMeanAdvantageWithGradientMinusAOverN) {
  batch x = uniform_batch({1.5, -0.5, 0.25}, 4);
  x.mask[2][3] = 0; // ragged: N = 11
  x.logp[2][3] = std::numeric_limits<double>::quiet_NaN(); // padding garbage
  auto in = inputs_of(x);
  grpo_config cfg; // decoupled, token_mean
  auto out = grpo_loss(in, cfg, 0);
  const double n = 11;
  EXPECT_NEAR(out.loss.item<double>(), -(1.5 * 4 - 0.5 * 4 + 0.25 * 3) / n, 1e-15);
  EXPECT_EQ(out.stats.ratio_min, 1.0);
  EXPECT_EQ(out.stats.ratio_max, 1.0);
  EXPECT_EQ(out.stats.clip_region, 0.0);
  EXPECT_EQ(out.stats.behav_weight_mean, 1.0);
  out.loss.backward();
  const at::Tensor g = in.logp.grad();
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t t = 0; t < 4; ++t) {
      const double want = (i == 2 && t == 3) ? 0.0 : -x.adv[i].item<double>() / n;
      EXPECT_NEAR(g[i][t].item<double>(), want, 1e-15) << i << "," << t;
    }
}

TEST(GrpoLoss, ClippedRegionsHaveExactlyZeroGradient) {
  // Row 0: A > 0; row 1: A < 0. Positions: u = 1.5, 0.5, 1.1.
  batch x = uniform_batch({2.0, -2.0}, 3);
  for (int64_t i = 0; i < 2; ++i) {
    x.prox[i][0] = -1.0 - std::log(1.5);
    x.prox[i][1] = -1.0 - std::log(0.5);
    x.prox[i][2] = -1.0 - std::log(1.1);
  }
  x.behav = x.prox.clone();
  auto in = inputs_of(x);
  grpo_config cfg; // eps_low 0.2, eps_high 0.28, token_mean
  auto out = grpo_loss(in, cfg, 0);
  EXPECT_NEAR(out.stats.clip_high, 1.0 / 6, 1e-15); // A>0, u=1.5
  EXPECT_NEAR(out.stats.clip_low, 1.0 / 6, 1e-15);  // A<0, u=0.5
  out.loss.backward();
  const at::Tensor g = in.logp.grad();
  EXPECT_EQ(g[0][0].item<double>(), 0.0);
  EXPECT_EQ(g[1][1].item<double>(), 0.0);
  // The other side of each bound keeps the unclipped gradient -A u / N.
  EXPECT_NEAR(g[0][1].item<double>(), -2.0 * 0.5 / 6, 1e-12);
  EXPECT_NEAR(g[1][0].item<double>(), 2.0 * 1.5 / 6, 1e-12);
  EXPECT_NEAR(g[0][2].item<double>(), -2.0 * 1.1 / 6, 1e-12);
  EXPECT_NEAR(g[1][2].item<double>(), 2.0 * 1.1 / 6, 1e-12);
}

TEST(GrpoLoss, BehaviourWeightIsTruncatedAtCapAndCoupledIgnoresIt) {
  // prox - behav = log 10 on position 0 (w = 10 > cap 5), log 2 on position 1.
  batch x = uniform_batch({1.0}, 2);
  x.behav[0][0] = -1.0 - std::log(10.0);
  x.behav[0][1] = -1.0 - std::log(2.0);
  grpo_config cfg;
  cfg.behav_weight_cap = 5.0;
  auto in = inputs_of(x);
  auto out = grpo_loss(in, cfg, 0);
  EXPECT_NEAR(out.loss.item<double>(), -(5.0 + 2.0) / 2, 1e-12);
  EXPECT_NEAR(out.stats.behav_weight_mean, (10.0 + 2.0) / 2, 1e-12);
  EXPECT_EQ(out.stats.behav_weight_truncated, 0.5);
  EXPECT_NEAR(out.stats.behav_approx_kl, (std::log(10.0) + std::log(2.0)) / 2,
              1e-12);
  out.loss.backward();
  EXPECT_NEAR(in.logp.grad()[0][0].item<double>(), -5.0 / 2, 1e-12);
  EXPECT_NEAR(in.logp.grad()[0][1].item<double>(), -2.0 / 2, 1e-12);

  // Coupled: the ratio is against behav (u = 10 and 2, A > 0: both clipped at
  // 1 + eps_high) and there is no weight.
  cfg.decoupled = false;
  auto coupled = grpo_loss(inputs_of(x), cfg, 0);
  EXPECT_NEAR(coupled.loss.item<double>(), -(1.0 + cfg.eps_high), 1e-12);
  EXPECT_EQ(coupled.stats.behav_weight_mean, 1.0);
  EXPECT_EQ(coupled.stats.behav_weight_truncated, 0.0);
  EXPECT_EQ(coupled.stats.clip_high, 1.0);
}

TEST(GrpoLoss, AggregationsWeighRowsAsDocumented) {
  // On policy, per-token loss = -A. Row 0 has 4 tokens, row 1 has 1 token.
  batch x = uniform_batch({1.0, 3.0}, 4);
  x.mask[1][1] = x.mask[1][2] = x.mask[1][3] = 0;
  grpo_config cfg;
  cfg.aggregation = loss_aggregation::sequence_mean;
  EXPECT_NEAR(grpo_loss(inputs_of(x), cfg, 0).stats.loss, -(1.0 + 3.0) / 2, 1e-15);
  cfg.aggregation = loss_aggregation::token_mean;
  EXPECT_NEAR(grpo_loss(inputs_of(x), cfg, 0).stats.loss, -(4.0 + 3.0) / 5, 1e-15);
  cfg.aggregation = loss_aggregation::constant_normalizer;
  EXPECT_NEAR(grpo_loss(inputs_of(x), cfg, 8).stats.loss, -(4.0 + 3.0) / 16, 1e-15);
}

TEST(GrpoLoss, KlTermIsK3OfReferenceMinusPolicy) {
  batch x = uniform_batch({0.0}, 2);
  grpo_config cfg;
  cfg.kl_beta = 0.5;
  auto in = inputs_of(x);
  in.ref_logp = torch::tensor({-1.0 + 0.3, -1.0 - 0.2}, torch::kFloat64)
                  .reshape({1, 2});
  auto out = grpo_loss(in, cfg, 0);
  auto k3 = [](double d) { return std::exp(d) - d - 1; };
  EXPECT_NEAR(out.stats.kl, (k3(0.3) + k3(-0.2)) / 2, 1e-15);
  EXPECT_NEAR(out.stats.loss, 0.5 * out.stats.kl, 1e-15);
  EXPECT_EQ(out.stats.pg_loss, 0.0);
  out.loss.backward();
  EXPECT_NEAR(in.logp.grad()[0][0].item<double>(), 0.5 * (1 - std::exp(0.3)) / 2,
              1e-15);
}

TEST(GrpoLoss, EmptyMaskGivesZeroLossAndZeroStats) {
  batch x = uniform_batch({1.0, -1.0}, 3);
  x.mask.zero_();
  auto out = grpo_loss(inputs_of(x), grpo_config{}, 0);
  EXPECT_EQ(out.stats.loss, 0.0);
  EXPECT_EQ(out.stats.tokens, 0.0);
  EXPECT_EQ(out.stats.ratio_min, 0.0);
  EXPECT_EQ(out.stats.ratio_max, 0.0);
}

TEST(GrpoLoss, ProgrammerErrorsThrowInvalidArgument) {
  batch x = uniform_batch({1.0}, 2);
  grpo_config cfg;
  cfg.kl_beta = 0.1; // but no ref_logp
  EXPECT_THROW(grpo_loss(inputs_of(x), cfg, 0), std::invalid_argument);
  cfg.kl_beta = 0;
  auto no_prox = inputs_of(x);
  no_prox.prox_logp = at::Tensor();
  EXPECT_THROW(grpo_loss(no_prox, cfg, 0), std::invalid_argument);
  auto bad_shape = inputs_of(x);
  bad_shape.mask = torch::ones({1, 3}, torch::kFloat64);
  EXPECT_THROW(grpo_loss(bad_shape, cfg, 0), std::invalid_argument);
  auto bad_adv = inputs_of(x);
  bad_adv.advantages = torch::ones({2}, torch::kFloat64);
  EXPECT_THROW(grpo_loss(bad_adv, cfg, 0), std::invalid_argument);
  cfg.aggregation = loss_aggregation::constant_normalizer;
  EXPECT_THROW(grpo_loss(inputs_of(x), cfg, 0), std::invalid_argument);
  cfg.aggregation = loss_aggregation::token_mean;
  cfg.behav_weight_cap = 0;
  EXPECT_THROW(grpo_loss(inputs_of(x), cfg, 0), std::invalid_argument);
  cfg.behav_weight_cap = 2;
  cfg.behav_weight_lower = 2;
  EXPECT_THROW(grpo_loss(inputs_of(x), cfg, 0), std::invalid_argument);
  cfg.behav_weight_lower = 0;
  cfg.dual_clip = 0.9;
  EXPECT_THROW(grpo_loss(inputs_of(x), cfg, 0), std::invalid_argument);
}

TEST(GrpoLoss, SequenceRatioIsTheGeometricMeanOfTheTokenRatios) {
  // Row 0 (A > 0): token ratios 2 and 1/2, each far outside the clip range,
  // but s = sqrt(2 * 1/2) = 1: nothing is clipped. Row 1 (A < 0): ratios
  // 0.5 and 0.5, s = 0.5 < 1 - eps_low: the whole sequence is clipped.
  batch x = uniform_batch({1.0, -1.0}, 2);
  x.prox[0][0] = -1.0 - std::log(2.0);
  x.prox[0][1] = -1.0 + std::log(2.0);
  x.prox[1][0] = x.prox[1][1] = -1.0 + std::log(2.0);
  x.behav = x.prox.clone();
  grpo_config cfg;
  cfg.ratio_level = tandem::importance_level::sequence;
  cfg.aggregation = loss_aggregation::sequence_mean;
  auto in = inputs_of(x);
  auto out = grpo_loss(in, cfg, 0);
  // (1/B) sum_i l_i: l_0 = -1 * 1, l_1 = -(-1) * clip(0.5) = 0.8.
  EXPECT_NEAR(out.stats.loss, (-1.0 + 0.8) / 2, 1e-12);
  EXPECT_NEAR(out.stats.ratio_min, 0.5, 1e-12);
  EXPECT_NEAR(out.stats.ratio_max, 1.0, 1e-12);
  EXPECT_EQ(out.stats.clip_sequence, 0.5);
  EXPECT_EQ(out.stats.clip_low, 0.5); // both tokens of row 1
  EXPECT_EQ(out.stats.clip_high, 0.0);
  EXPECT_EQ(out.stats.sequences, 2.0);
  out.loss.backward();
  // d/d logp_t of -A s / B with s = exp(mean log u): -A s / (B n) per token.
  const at::Tensor g = in.logp.grad();
  EXPECT_NEAR(g[0][0].item<double>(), -1.0 / 4, 1e-12);
  EXPECT_NEAR(g[0][1].item<double>(), -1.0 / 4, 1e-12);
  EXPECT_EQ(g[1][0].item<double>(), 0.0);
  EXPECT_EQ(g[1][1].item<double>(), 0.0);
}

TEST(GrpoLoss, MaskedBehaviourWeightDropsTokensButKeepsTheDenominator) {
  // w = 10 (> cap 5), 2, 0.25 (< lower 0.5), 1 on four tokens of one row.
  batch x = uniform_batch({1.0}, 4);
  const double w[] = {10.0, 2.0, 0.25, 1.0};
  for (int t = 0; t < 4; ++t)
    x.behav[0][t] = -1.0 - std::log(w[t]);
  grpo_config cfg;
  cfg.behav_weight_mode = tandem::weight_bound_mode::mask;
  cfg.behav_weight_lower = 0.5;
  auto in = inputs_of(x);
  auto out = grpo_loss(in, cfg, 0);
  EXPECT_NEAR(out.stats.loss, -(2.0 + 1.0) / 4, 1e-12); // still over 4 tokens
  EXPECT_EQ(out.stats.behav_weight_masked, 0.5);
  EXPECT_EQ(out.stats.behav_weight_truncated, 0.0);
  EXPECT_EQ(out.stats.tokens, 4.0);
  out.loss.backward();
  const double want[] = {0.0, -2.0 / 4, 0.0, -1.0 / 4};
  for (int t = 0; t < 4; ++t)
    EXPECT_NEAR(in.logp.grad()[0][t].item<double>(), want[t], 1e-12) << t;
}

TEST(GrpoLoss, DualClipBoundsTheLossOfNegativeAdvantages) {
  // A = -2 on u = 5 and u = 2; dual clip c = 3 caps the first at 3 * 2 = 6
  // (gradient 0), the second stays -A u = 4. A > 0 is never dual-clipped.
  batch x = uniform_batch({-2.0, 2.0}, 2);
  for (int64_t i = 0; i < 2; ++i) {
    x.prox[i][0] = -1.0 - std::log(5.0);
    x.prox[i][1] = -1.0 - std::log(2.0);
  }
  x.behav = x.prox.clone();
  grpo_config cfg;
  cfg.dual_clip = 3.0;
  auto in = inputs_of(x);
  auto out = grpo_loss(in, cfg, 0);
  const double hi = 1 + cfg.eps_high; // row 1: clipped from above
  EXPECT_NEAR(out.stats.loss, (6.0 + 4.0 - 2.0 * hi - 2.0 * hi) / 4, 1e-12);
  EXPECT_EQ(out.stats.clip_dual, 0.25);
  out.loss.backward();
  EXPECT_EQ(in.logp.grad()[0][0].item<double>(), 0.0);
  EXPECT_NEAR(in.logp.grad()[0][1].item<double>(), 2.0 * 2.0 / 4, 1e-12);
  cfg.dual_clip = 0; // off: the first token's loss is -A u = 10
  EXPECT_NEAR(grpo_loss(inputs_of(x), cfg, 0).stats.loss,
              (10.0 + 4.0 - 4.0 * hi) / 4, 1e-12);
}
