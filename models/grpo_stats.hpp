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
  double ratio_mean = 0;      // u = pi_theta / pi_anchor (s_i on every token of i: GSPO)
  double ratio_min = 0;
  double ratio_max = 0;
  double behav_weight_mean = 0;      // w before truncation (1 when not decoupled)
  double behav_weight_truncated = 0; // share of tokens with w > cap (truncate mode)
  double behav_approx_kl = 0;        // mean (log pi_prox - log pi_behav)
  double tokens = 0;                 // number of tokens in the loss
  // Off-policy / objective variants (docs/grpo.md §2.1, §2.2, §5.1); 0 when off.
  double behav_weight_masked = 0; // share of tokens given weight 0 (behav_weight_mode mask)
  double clip_dual = 0;           // share of tokens with A<0 and ratio > dual_clip
  double clip_sequence = 0;       // share of sequences whose ratio s_i is clipped (GSPO)
  double sequences = 0;           // rows with at least one token (clip_sequence's base)
};

} // namespace tandem
