// grpo_config.hpp: settings of the GRPO objective (torch-free).
#pragma once

#include <cstdint>
#include <string>

namespace tandem {

/// How group-relative advantages are scaled (docs/grpo.md §1).
enum class std_scaling : uint8_t {
  group, // (r - mean_g) / (std_g + eps), Bessel std over the group
  batch, // (r - mean_g) / (std_batch + eps), std of the raw rewards of the batch
  none,  // r - mean_g (Dr. GRPO)
  // (r - mean_g) / (std_res + eps), std_res = Bessel std of the centred
  // rewards r_i - mean_i over the batch (AReaL mean_level group, std_level
  // batch); added last so that the values above keep their numbers
  batch_residual,
};

/// What a completion's reward is compared with (docs/grpo.md §1; AReaL's
/// mean_level).
enum class advantage_baseline : uint8_t {
  group, // the mean reward of its own group (GRPO)
  batch, // the mean reward of the whole batch: a group whose completions all
         // scored the same still learns whether it did better or worse than
         // the batch, instead of carrying no gradient
  fixed, // a constant b (grpo_config::baseline_value): A = r - b. With b near
         // the best reward, wrong answers are pushed down hard and right ones
         // up gently (W-REINFORCE, Zhu et al. 2025: b = 1 / (1 + lambda)); an
         // all-wrong group still pushes its answers down
};

/// How per-token losses become one scalar (docs/grpo.md §4).
enum class loss_aggregation : uint8_t {
  sequence_mean,        // mean over tokens of each sequence, then over sequences
  token_mean,           // sum over all tokens / number of tokens (DAPO)
  constant_normalizer,  // sum over all tokens / (B * L) (Dr. GRPO)
};

/// Where the importance ratio is taken (docs/grpo.md §2.1).
enum class importance_level : uint8_t {
  token,    // u = pi_theta / pi_anchor per token (PPO, GRPO)
  sequence, // s_i = exp(mean_t log(pi_theta / pi_anchor)) per completion (GSPO)
};

/// What happens to a behaviour weight outside its bounds (docs/grpo.md §5.1).
enum class weight_bound_mode : uint8_t {
  truncate, // w > cap counts as cap (truncated importance sampling)
  mask,     // w > cap or w < lower: weight 0, the token leaves the loss
};

struct grpo_config {
  std_scaling scaling = std_scaling::group;
  advantage_baseline baseline = advantage_baseline::group; // batch, fixed: scaling batch|none
  double baseline_value = 0.0; // b of baseline fixed (unused otherwise)
  double advantage_eps = 1e-6;
  double eps_low = 0.2;   // ratio clip 1 - eps_low for A < 0
  double eps_high = 0.28; // ratio clip 1 + eps_high for A > 0 (DAPO clip-higher)
  double kl_beta = 0.0;   // k3 KL to the frozen reference; 0 = no reference model
  loss_aggregation aggregation = loss_aggregation::token_mean;
  int32_t constant_normalizer = 0; // L for constant_normalizer; 0 = max_new_tokens
  // Decoupled objective (AReaL / Hilton et al.): trust region centred on the
  // proximal policy (learner weights before this update), each token weighted
  // by w = min(pi_prox / pi_behav, behav_weight_cap). Off = coupled PPO whose
  // ratio is taken against the behaviour log-probs directly.
  bool decoupled = true;
  double behav_weight_cap = 5.0; // truncation cap C of w (> 0)
  weight_bound_mode behav_weight_mode = weight_bound_mode::truncate;
  double behav_weight_lower = 0.0; // mask: w below it gets weight 0; 0 = no lower bound
  // GSPO: one ratio per completion, the geometric mean of its token ratios.
  importance_level ratio_level = importance_level::token;
  // Dual clip (docs/grpo.md §2.2): for A < 0 the per-token loss is at most
  // -c * A, so a ratio far above 1 cannot make one token's loss unbounded.
  // 0 = off; else c > 1.
  double dual_clip = 0.0;
  // Entropy bonus: the learner minimises loss - entropy_coef * mean token
  // entropy (token mean over the batch). Counters the collapse of a small
  // policy onto one answer before it has learned to read the prompt.
  double entropy_coef = 0.0;
  // Steering (models/entropy_control.hpp): with entropy_target > 0 the
  // coefficient starts at entropy_coef and moves by entropy_coef_step per
  // optimizer step, within [0, entropy_coef_max], toward keeping the token-
  // mean entropy at the target. 0 = a fixed entropy_coef.
  double entropy_target = 0.0;
  double entropy_coef_step = 0.005; // Skywork-OR1's step
  double entropy_coef_max = 0.1;    // a bonus far above the policy-gradient
                                    // term would only teach uniform guessing
};

const char* to_string(std_scaling x);
const char* to_string(loss_aggregation x);
const char* to_string(advantage_baseline x);
const char* to_string(importance_level x);
const char* to_string(weight_bound_mode x);

} // namespace tandem
