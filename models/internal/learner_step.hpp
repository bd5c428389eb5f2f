// learner_step.hpp: the device-side parts of one GRPO optimizer step, under
// learner_core: micro-batch planning, the no-grad forwards that fix the prox
// (and reference) log-probs before any update, gradient accumulation over
// micro-batches, and the sampler/learner log-prob mismatch.
//
// Gradient accumulation is exact: each micro-batch's loss is scaled by the
// share it has in the whole step's loss (tokens for token_mean, rows for
// sequence_mean and constant_normalizer, tokens for the entropy bonus), so
// the summed gradient is the gradient of the loss of the whole step, up to
// float summation order. The merged statistics are those of the whole step.
//
// Thread safety: one thread at a time (the learner's). Private to models/.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "models/grpo_config.hpp"
#include "models/grpo_stats.hpp"
#include "models/internal/transformer.hpp"
#include "models/learner_core.hpp"

namespace tandem::internal {

/// Rows [lo, hi) of `batch` grouped into micro-batches whose padded size,
/// rows x longest (prompt + completion), is at most `max_tokens`; rows are
/// taken longest first so that similar lengths share a micro-batch. A row
/// longer than `max_tokens` gets a micro-batch of its own. max_tokens = 0:
/// one micro-batch holding the rows in order.
std::vector<std::vector<size_t>> plan_micro_batches(const std::vector<train_sequence>& batch,
                                                    size_t lo, size_t hi, int64_t max_tokens);

/// Where and how a step computes.
struct step_numerics {
  torch::Device device{torch::kCPU};
  bool autocast = false;    // CUDA bf16 autocast around every forward
  bool causal_only = false; // no explicit mask: fused causal attention
  double temperature = 1.0;
};

/// Constants of one micro-batch, on the device, fixed before any update.
struct micro_batch {
  packed_batch packed;
  torch::Tensor prox;         // [b, T] log pi_prox (the weights the batch arrived at)
  torch::Tensor ref;          // [b, T], undefined without a reference model
  torch::Tensor behav;        // [b, T] log pi_behav as sampled, 0 at padding
  torch::Tensor same_version; // [b, T] bool: sampled with the prox weights' version
  torch::Tensor advantages;   // [b]
  double rows = 0;            // b
  double tokens = 0;          // real completion tokens
};

/// Packs `rows` of `batch`, moves them to the device and computes prox (and
/// ref when `reference` is not null) with no grad. `version` is the policy
/// version of the model's current weights.
micro_batch prepare_micro_batch(transformer& model, transformer* reference,
                                const std::vector<train_sequence>& batch,
                                const std::vector<size_t>& rows, int64_t version,
                                const step_numerics& n);

/// Rows and real completion tokens of a whole optimizer step: the base of
/// each part's share of the loss. With data parallelism a rank holds only
/// some of the step's parts but knows the step's totals (every rank has the
/// whole batch), so its shares add up to 1 over all ranks.
struct step_totals {
  double rows = 0;
  double tokens = 0;
};

step_totals totals_of(const std::vector<micro_batch>& parts);

/// Per-part loss statistics summed into those of a step, also across ranks:
/// loss and pg_loss weighted by the part's loss share, token means by
/// tokens, clip_sequence by sequences (a row never spans two parts), the
/// ratio extremes as min/max.
class loss_stats_sum {
public:
  static constexpr size_t width = 20; // doubles in to_vector()

  void add(const grpo_loss_stats& s, double loss_weight);
  void merge(const loss_stats_sum& other);
  grpo_loss_stats result() const;

  /// The raw sums, for an exchange between ranks, and back.
  std::vector<double> to_vector() const;
  static loss_stats_sum from_vector(const double* v);

private:
  grpo_loss_stats sum_;
  bool any_ = false;
};

struct accumulated_step {
  grpo_loss_stats loss; // as if computed on all parts at once
  loss_stats_sum sums;  // the sums `loss` was made from
  bool finite = true;   // false: a part's loss was not finite; gradients are partial
  double bad_loss = 0;  // that loss
};

/// Adds the gradient of the step's loss over `parts` to the model's .grad
/// (the caller zeroes them first). `whole`: the step's totals when `parts`
/// are only this rank's share of it (default: totals_of(parts)).
accumulated_step accumulate_gradients(transformer& model, const std::vector<micro_batch>& parts,
                                      const grpo_config& g, int64_t normalizer_length,
                                      const step_numerics& n);
/// `before_last_backward`, when set, runs just before the last part's
/// backward (the data-parallel rank arms its gradient hooks there).
accumulated_step accumulate_gradients(transformer& model, const std::vector<micro_batch>& parts,
                                      const grpo_config& g, int64_t normalizer_length,
                                      const step_numerics& n, const step_totals& whole,
                                      const std::function<void()>& before_last_backward = {});

/// Learner (prox) vs sampler (behav) log-probs of the same tokens.
struct mismatch_stats {
  double all_abs = 0; // mean |d| over every real completion token
  double abs = 0;     // mean |d| over tokens sampled at the prox version
  double k3 = 0;      // mean exp(d) - d - 1 over those (KL(sampler || learner))
  int64_t tokens = 0; // how many those are
};

/// d = log pi_prox - log pi_behav. The k3 term clamps d to [-20, 20] inside
/// exp (as the loss does), so a garbage log-prob cannot make it infinite.
mismatch_stats measure_mismatch(const std::vector<micro_batch>& parts);

/// The sums behind measure_mismatch: [sum |d|, tokens, sum |d| at the prox
/// version, sum k3 there, tokens there] (to add across ranks), and the
/// means they give.
std::vector<double> mismatch_sums(const std::vector<micro_batch>& parts);
mismatch_stats mismatch_of(const double* sums);

} // namespace tandem::internal
