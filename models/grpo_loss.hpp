// grpo_loss.hpp: the GRPO / decoupled-PPO per-token loss and its statistics.
//
// Includes only <ATen/core/Tensor.h>; the implementation uses ATen ops.
// Formulas: docs/grpo.md §2-§5, restated in grpo_loss.cpp.
//
// Thread safety: pure function of its inputs.
#pragma once

#include <ATen/core/Tensor.h>

#include "models/grpo_config.hpp"
#include "models/grpo_stats.hpp"

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

struct grpo_loss_output {
  at::Tensor loss; // scalar, differentiable w.r.t. inputs.logp
  grpo_loss_stats stats;
};

/// `normalizer_length` is L of the constant normaliser (used only with
/// loss_aggregation::constant_normalizer; must be > 0 then).
grpo_loss_output grpo_loss(const grpo_loss_inputs& in, const grpo_config& cfg,
                           int64_t normalizer_length);

} // namespace tandem
