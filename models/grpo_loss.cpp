// grpo_loss.cpp: the GRPO / decoupled-PPO per-token loss and its statistics.
//
// Formulas (docs/grpo.md §2-§5), m = mask, all per token:
//   anchor  = prox_logp (decoupled) | behav_logp (coupled)
//   w       = exp(prox - behav), then min(w, cap) (truncate) or
//             0 outside [lower, cap] (mask); 1 (coupled); no grad
//   k       = m, less the tokens that mask mode gives w = 0
//   u       = exp(logp - anchor)                         ratio_level token
//           = exp(sum_t k (logp - anchor) / max(sum_t k, 1))  ratio_level
//             sequence (GSPO): one ratio s_i per row, on every token of it,
//             its gradient flowing through the mean to every kept token
//   l_pg    = max(-A u, -A clip(u, 1 - eps_low, 1 + eps_high))
//   l_pg    = min(l_pg, -c A) where A < 0              only if dual_clip c > 0
//   D       = exp(d) - d - 1,  d = ref_logp - logp       k3, only if beta > 0
//   l       = l_pg * w + beta * D                        (w before the KL, TRL)
//   sequence_mean       (1/B) sum_i [sum_t m l / max(sum_t m, 1)]
//   token_mean          sum m l / max(sum m, 1)
//   constant_normalizer sum m l / (B * L)
//
// Choices among alternatives (docs/grpo.md says why):
// - Every log-ratio (logp - anchor, prox - behav, ref - logp) is clamped to
//   [-20, 20] before exp, as verl does: one garbage log-prob cannot produce
//   inf/NaN. Beyond the clamp the token's gradient is 0. The k3 value itself
//   is not clamped (TRL), so it stays exact for |d| <= 20. The sequence ratio
//   averages the clamped token log-ratios.
// - The behaviour weight is truncated (TIS "clamp") unless behav_weight_mode
//   is mask; a masked token keeps its place in every denominator (AReaL), so
//   micro-batch shares and the aggregation are those of the unmasked batch.
// - Statistics are token means over mask; pg_loss uses the loss aggregation;
//   clip_sequence is a mean over rows with at least one token.
//   behav_approx_kl is the mean of the unclamped prox - behav. In coupled mode
//   prox_logp is ignored: behav_weight_mean = 1, truncated = masked = 0,
//   approx_kl = 0.
//
// Errors: grpo_loss throws std::invalid_argument, and only on programmer error
// (a missing tensor, a shape mismatch, a config outside its range); the
// learner validates batches and config before calling. The exception is of
// the same family as the c10::Error any ATen op may throw, so the one caller
// (the learner's LibTorch adapter) catches std::exception around the whole
// step and turns it into errc::backend_failure; nothing crosses an actor.
//
// Masked positions may hold anything (padding, NaN): log-ratios are replaced
// by 0 there before exp, so neither the loss nor the gradient can be poisoned.
//
// dtype: follows logp (float32 in training, float64 in tests); the other
// inputs are converted to it. Thread safety: pure function of its inputs.

#include "models/grpo_loss.hpp"

#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace tandem {

namespace {

constexpr double max_log_ratio = 20.0;

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument("grpo_loss: " + what);
}

void check_like_logp(const at::Tensor& t, const at::Tensor& logp,
                     const char* name) {
  if (!t.defined())
    fail(std::string(name) + " is undefined");
  if (!t.sizes().equals(logp.sizes())) {
    std::ostringstream os;
    os << name << " has shape " << t.sizes() << ", logp has " << logp.sizes();
    fail(os.str());
  }
}

void validate_tensors(const grpo_loss_inputs& in, const grpo_config& cfg) {
  if (!in.logp.defined() || in.logp.dim() != 2 || in.logp.numel() == 0
      || !at::isFloatingType(in.logp.scalar_type()))
    fail("logp must be a non-empty floating [B, T] tensor");
  check_like_logp(in.behav_logp, in.logp, "behav_logp");
  check_like_logp(in.mask, in.logp, "mask");
  if (cfg.decoupled)
    check_like_logp(in.prox_logp, in.logp, "prox_logp (decoupled)");
  if (cfg.kl_beta > 0)
    check_like_logp(in.ref_logp, in.logp, "ref_logp (kl_beta > 0)");
  if (in.entropy.defined())
    check_like_logp(in.entropy, in.logp, "entropy");
  if (!in.advantages.defined() || in.advantages.dim() != 1
      || in.advantages.size(0) != in.logp.size(0))
    fail("advantages must be a [B] tensor with B = logp.size(0)");
}

void validate_config(const grpo_config& cfg, int64_t normalizer_length) {
  if (!(cfg.eps_low >= 0 && cfg.eps_low < 1) || !(cfg.eps_high >= 0))
    fail("need 0 <= eps_low < 1 and eps_high >= 0");
  if (!(cfg.kl_beta >= 0))
    fail("kl_beta must be >= 0");
  if (cfg.decoupled && !(cfg.behav_weight_cap > 0))
    fail("behav_weight_cap must be > 0");
  if (!(cfg.behav_weight_lower >= 0)
      || (cfg.decoupled && !(cfg.behav_weight_lower < cfg.behav_weight_cap)))
    fail("need 0 <= behav_weight_lower < behav_weight_cap");
  if (!(cfg.dual_clip == 0 || cfg.dual_clip > 1))
    fail("dual_clip must be 0 (off) or > 1");
  if (cfg.aggregation == loss_aggregation::constant_normalizer
      && normalizer_length <= 0)
    fail("constant_normalizer needs normalizer_length > 0");
}

// a - b on masked tokens, clamped so that exp() stays finite; 0 elsewhere.
at::Tensor masked_log_ratio(const at::Tensor& a, const at::Tensor& b,
                            const at::Tensor& m) {
  return at::where(m, at::clamp(a - b, -max_log_ratio, max_log_ratio),
                   at::zeros_like(a));
}

at::Tensor aggregate(const at::Tensor& per_token, const at::Tensor& mf,
                     loss_aggregation how, int64_t normalizer_length) {
  const at::Tensor masked = per_token * mf;
  switch (how) {
    case loss_aggregation::sequence_mean:
      return (masked.sum(1) / mf.sum(1).clamp_min(1.0)).mean();
    case loss_aggregation::token_mean:
      return masked.sum() / mf.sum().clamp_min(1.0);
    case loss_aggregation::constant_normalizer:
      return masked.sum()
             / static_cast<double>(per_token.size(0) * normalizer_length);
  }
  fail("unknown loss_aggregation");
}

// The tensors of one call, converted to logp's dtype, constants detached.
struct prepared {
  at::Tensor m;      // bool mask
  at::Tensor mf;     // mask as 0/1 in logp's dtype
  at::Tensor adv;    // [B, 1]
  at::Tensor u;      // ratio against the anchor (carries grad); [B, T]
  at::Tensor w_raw;  // behaviour weight before its bounds (undefined: coupled)
  at::Tensor w;      // truncated or masked behaviour weight (undefined: coupled)
  at::Tensor kept;   // m minus the tokens a mask-mode weight drops
  at::Tensor kl;     // k3 per token (undefined: beta == 0)
};

// The positions of `m` that the behaviour weight keeps: all but those a
// mask-mode weight drops (w outside [lower, cap]).
at::Tensor kept_positions(const at::Tensor& m, const at::Tensor& w_raw,
                          const grpo_config& cfg) {
  if (cfg.behav_weight_mode != weight_bound_mode::mask)
    return m;
  return m.logical_and(w_raw <= cfg.behav_weight_cap)
    .logical_and(w_raw >= cfg.behav_weight_lower);
}

// u at every position: the token's own ratio, or GSPO's s_i = exp(mean of
// the log-ratios over the row's kept tokens), its gradient flowing through
// the mean to each of them (a dropped token neither moves s_i nor gets any).
at::Tensor ratio(const at::Tensor& logp, const at::Tensor& anchor, const prepared& p,
                 const grpo_config& cfg) {
  if (cfg.ratio_level == importance_level::token)
    return at::exp(masked_log_ratio(logp, anchor, p.m));
  const at::Tensor log_u = masked_log_ratio(logp, anchor, p.kept);
  const at::Tensor n = p.kept.to(log_u.scalar_type()).sum(1, true).clamp_min(1.0);
  return at::exp(log_u.sum(1, true) / n).expand_as(log_u);
}

prepared prepare(const grpo_loss_inputs& in, const grpo_config& cfg) {
  const auto dtype = in.logp.scalar_type();
  auto constant = [dtype](const at::Tensor& t) { return t.detach().to(dtype); };
  prepared p;
  p.m = in.mask.detach() != 0;
  p.mf = p.m.to(dtype);
  p.adv = constant(in.advantages).unsqueeze(1);
  p.kept = p.m;
  if (cfg.decoupled) {
    p.w_raw = at::exp(masked_log_ratio(constant(in.prox_logp),
                                       constant(in.behav_logp), p.m));
    p.kept = kept_positions(p.m, p.w_raw, cfg);
    p.w = cfg.behav_weight_mode == weight_bound_mode::truncate
            ? p.w_raw.clamp_max(cfg.behav_weight_cap)
            : at::where(p.kept, p.w_raw, at::zeros_like(p.w_raw));
  }
  const at::Tensor anchor = constant(cfg.decoupled ? in.prox_logp
                                                   : in.behav_logp);
  p.u = ratio(in.logp, anchor, p, cfg);
  if (cfg.kl_beta > 0) {
    const at::Tensor d = masked_log_ratio(constant(in.ref_logp), in.logp, p.m);
    p.kl = at::exp(d) - d - 1.0;
  }
  return p;
}

at::Tensor policy_gradient_loss(const prepared& p, const grpo_config& cfg) {
  const at::Tensor clipped
    = at::clamp(p.u, 1.0 - cfg.eps_low, 1.0 + cfg.eps_high);
  at::Tensor pg = at::maximum(-p.adv * p.u, -p.adv * clipped);
  if (cfg.dual_clip > 0)
    pg = at::where(p.adv < 0, at::minimum(pg, -cfg.dual_clip * p.adv), pg);
  return p.w.defined() ? pg * p.w : pg;
}

// Mean over masked tokens; 0 when there are none.
double token_mean(const at::Tensor& t, const prepared& p, double tokens) {
  if (tokens <= 0)
    return 0.0;
  return (t * p.mf).sum().item<double>() / tokens;
}

void ratio_stats(const prepared& p, const grpo_config& cfg, double tokens,
                 grpo_loss_stats& s) {
  const at::Tensor u = p.u.detach();
  const at::Tensor low = (p.adv < 0).logical_and(u < 1.0 - cfg.eps_low);
  const at::Tensor high = (p.adv > 0).logical_and(u > 1.0 + cfg.eps_high);
  s.clip_low = token_mean(low.to(u.scalar_type()), p, tokens);
  s.clip_high = token_mean(high.to(u.scalar_type()), p, tokens);
  s.clip_region = s.clip_low + s.clip_high;
  if (cfg.dual_clip > 0) {
    const at::Tensor dual = (p.adv < 0).logical_and(u > cfg.dual_clip);
    s.clip_dual = token_mean(dual.to(u.scalar_type()), p, tokens);
  }
  const at::Tensor rows = p.m.any(1);
  s.sequences = rows.sum().item<double>();
  if (cfg.ratio_level == importance_level::sequence && s.sequences > 0) {
    // Every position of a row holds its s_i: column 0 speaks for the row.
    const at::Tensor clipped = low.logical_or(high).select(1, 0).logical_and(rows);
    s.clip_sequence = clipped.sum().item<double>() / s.sequences;
  }
  s.ratio_mean = token_mean(u, p, tokens);
  if (tokens > 0) {
    const double inf = std::numeric_limits<double>::infinity();
    s.ratio_min = at::where(p.m, u, at::full_like(u, inf)).min().item<double>();
    s.ratio_max = at::where(p.m, u, at::full_like(u, -inf)).max().item<double>();
  }
}

void behaviour_stats(const grpo_loss_inputs& in, const prepared& p,
                     const grpo_config& cfg, double tokens,
                     grpo_loss_stats& s) {
  if (!p.w_raw.defined()) {
    s.behav_weight_mean = 1.0;
    return;
  }
  const auto dtype = p.u.scalar_type();
  s.behav_weight_mean = token_mean(p.w_raw, p, tokens);
  if (cfg.behav_weight_mode == weight_bound_mode::truncate)
    s.behav_weight_truncated
      = token_mean((p.w_raw > cfg.behav_weight_cap).to(dtype), p, tokens);
  else
    s.behav_weight_masked = token_mean(p.kept.logical_not().to(dtype), p, tokens);
  const at::Tensor diff
    = in.prox_logp.detach().to(dtype) - in.behav_logp.detach().to(dtype);
  s.behav_approx_kl
    = token_mean(at::where(p.m, diff, at::zeros_like(diff)), p, tokens);
}

} // namespace

grpo_loss_output grpo_loss(const grpo_loss_inputs& in, const grpo_config& cfg,
                           int64_t normalizer_length) {
  validate_config(cfg, normalizer_length);
  validate_tensors(in, cfg);
  const prepared p = prepare(in, cfg);
  const at::Tensor pg = policy_gradient_loss(p, cfg);
  const at::Tensor per_token
    = p.kl.defined() ? pg + cfg.kl_beta * p.kl : pg;
  grpo_loss_output out;
  out.loss = aggregate(per_token, p.mf, cfg.aggregation, normalizer_length);

  at::NoGradGuard no_grad;
  grpo_loss_stats& s = out.stats;
  s.tokens = p.mf.sum().item<double>();
  s.loss = out.loss.item<double>();
  s.pg_loss = aggregate(pg.detach(), p.mf, cfg.aggregation, normalizer_length)
                .item<double>();
  if (p.kl.defined())
    s.kl = token_mean(p.kl.detach(), p, s.tokens);
  if (in.entropy.defined()) {
    const at::Tensor e = in.entropy.detach().to(p.u.scalar_type());
    s.entropy = token_mean(at::where(p.m, e, at::zeros_like(e)), p, s.tokens);
  }
  ratio_stats(p, cfg, s.tokens, s);
  behaviour_stats(in, p, cfg, s.tokens, s);
  return out;
}

} // namespace tandem
