// grpo_stats.hpp: statistics of one GRPO loss evaluation (torch-free, so the
// learner's interface does not pull LibTorch headers into its users).
#pragma once

namespace tandem {

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

} // namespace tandem
