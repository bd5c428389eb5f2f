// grpo_loss.hpp: the GRPO / decoupled-PPO per-token loss and its statistics.
//
// Includes only <ATen/core/Tensor.h>; the implementation uses ATen ops.
// Formulas: ../shared/reference/grpo.md §2-§5, restated in grpo_loss.cpp.
//
// Thread safety: pure function of its inputs.
#pragma once

#include <ATen/core/Tensor.h>

#include "models/grpo_config.hpp"

namespace tandem {

/// All tensors are float32 [B, T] (completion positions, right-padded) unless
/// noted. `logp` carries the gradient; the others are constants.
struct grpo_loss_inputs {
  at::Tensor logp;        // log pi_theta of the sampled tokens (requires grad)
  at::Tensor prox_logp;   // log pi_prox: learner weights before this update
  at::Tensor behav_logp;  // log pi_behav: what the sampler recorded
  at::Tensor ref_logp;    // log pi_ref (undefined when kl_beta == 0)
  at::Tensor advantages;  // [B]
  at::Tensor mask;        // 1 for completion tokens in the loss, 0 for padding
  at::Tensor entropy;     // optional [B, T] per-token entropy (statistic only)
};

/// Scalars are token means over mask == 1 unless stated.
struct grpo_loss_stats {
  double loss = 0;            // the aggregated scalar that is minimised
  double pg_loss = 0;         // policy-gradient part (same aggregation)
  double kl = 0;              // k3 KL to the reference (0 if no reference)
  double entropy = 0;         // mean policy entropy (0 if not given)
  double clip_low = 0;        // share of tokens with A<0 and u < 1-eps_low
  double clip_high = 0;       // share of tokens with A>0 and u > 1+eps_high
  double clip_region = 0;     // clip_low + clip_high (disjoint)
  double ratio_mean = 0;      // u = pi_theta / pi_anchor
  double ratio_min = 0;
  double ratio_max = 0;
  double behav_weight_mean = 0;      // w before truncation (1 when not decoupled)
  double behav_weight_truncated = 0; // share of tokens with w > cap
  double behav_approx_kl = 0;        // mean (log pi_prox - log pi_behav)
  double tokens = 0;                 // number of tokens in the loss
};

struct grpo_loss_output {
  at::Tensor loss; // scalar, differentiable w.r.t. inputs.logp
  grpo_loss_stats stats;
};

/// `normalizer_length` is L of the constant normaliser (used only with
/// loss_aggregation::constant_normalizer; must be > 0 then).
grpo_loss_output grpo_loss(const grpo_loss_inputs& in, const grpo_config& cfg,
                           int64_t normalizer_length);

} // namespace tandem
