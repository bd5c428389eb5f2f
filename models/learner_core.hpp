// learner_core.hpp: one GRPO optimizer step on a batch of scored rollouts,
// behind a torch-free interface.
//
// Owns the trained policy, the AdamW state and (when kl_beta > 0) a frozen
// reference copy of the initial weights. The policy version starts at 0 and
// goes up by one per optimizer step.
//
// Thread safety: one thread at a time (the learner's detached actor).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "models/grpo_config.hpp"
#include "models/grpo_stats.hpp"
#include "models/flat_weights.hpp"
#include "models/hf_checkpoint.hpp"
#include "models/lr_schedule.hpp"
#include "models/model_config.hpp"
#include "runtime/health_report.hpp"

namespace tandem::nccl {
class reduce_collective; // runtime/nccl/reduce_collective.hpp
} // namespace tandem::nccl

namespace tandem {

struct optimizer_config {
  double lr = 1e-3;       // peak rate; the schedule sets each step's
  lr_schedule schedule;   // constant by default (models/lr_schedule.hpp)
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double grad_clip = 1.0; // max global grad norm; 0 = no clipping
};

/// One completion in a training batch.
struct train_sequence {
  std::vector<int32_t> prompt;
  std::vector<int32_t> completion;
  std::vector<float> behav_logprobs; // one per completion token
  std::vector<int64_t> versions;     // one per completion token
  double advantage = 0;
};

struct train_step_stats {
  int64_t version = 0;   // version after this step
  grpo_loss_stats loss;
  double grad_norm = 0;  // before clipping
  double sampler_logp_abs_diff = 0; // mean |log pi_prox - log pi_behav|, all tokens
  // Sampler/learner numerical mismatch: d = log pi_learner - log pi_sampler
  // of the same token under the same weights, i.e. over the tokens whose
  // recorded version equals the learner's version when the batch arrived
  // (the prox forward). Stale tokens are left out: their gap is policy drift.
  double mismatch_logp_abs = 0; // mean |d|
  double mismatch_k3 = 0;       // mean exp(d) - d - 1: k3 estimate of KL(sampler || learner)
  int64_t mismatch_tokens = 0;  // tokens in those means (0: none at that version)
  int64_t tokens = 0;
  double lr = 0;         // learning rate this step used (lr_at)
  double entropy_coef = 0; // entropy bonus coefficient this step used (entropy_control)
};

struct learner_settings {
  model_config model;
  grpo_config grpo;
  optimizer_config optimizer;
  double temperature = 1.0;   // same as the samplers' (log-probs must match)
  int32_t max_new_tokens = 8; // default constant normaliser
  int32_t mini_batches = 1;   // optimizer steps per batch (versions bumped each)
  uint64_t seed = 0;
  // Where the model, AdamW state, reference and batches live: "cpu", "cuda",
  // "cuda:N" (CUDA needs a TANDEM_WITH_CUDA build and a visible GPU).
  std::string device = "cpu";
  // "float32", or "bf16_autocast" (CUDA only): float32 weights and AdamW
  // state, forwards under bf16 autocast.
  std::string precision = "float32";
  // Gradient accumulation: each optimizer step's sequences are split into
  // micro-batches of at most this many padded tokens (rows x longest prompt
  // + completion); the gradient equals the unsplit one. 0 = no split;
  // otherwise it must be >= model.max_seq_len (a sequence is never split).
  int64_t micro_batch_tokens = 0;
  // Recompute each decoder layer in backward instead of storing its
  // activations (same gradients, less memory, one more forward).
  bool activation_checkpointing = false;

  // Data parallelism (docs/data-parallel.md). With ranks > 1 this learner is
  // rank `rank` of `ranks` learners that each get the same whole batch in
  // train(), train on their slice of every mini-batch and sum gradients over
  // `collective` (one of `ranks` ranks, ready; null when ranks == 1); the
  // result is the single-rank step up to float summation order, identical
  // on every rank. zero_stage 1 shards the AdamW moments across the ranks,
  // 2 also the reduced gradients (needs ranks > 1). Gradients are reduced in
  // buckets of about grad_bucket_bytes. Every collective call gets
  // collective_timeout_ms; a missed deadline or a dead rank fails train()
  // with errc::collective_timeout / errc::peer_down naming the rank, the
  // weights unchanged.
  int32_t ranks = 1;
  int32_t rank = 0;
  int32_t zero_stage = 0;
  int64_t grad_bucket_bytes = 25 << 20;
  int64_t collective_timeout_ms = 120000;
  std::shared_ptr<nccl::reduce_collective> collective;
};

class learner_core {
public:
  class impl;

  static caf::expected<std::unique_ptr<learner_core>>
  make(const learner_settings& settings);

  /// The checks make() runs on `settings` (device included), without
  /// building anything: errc::invalid_argument naming the field.
  static caf::error validate(const learner_settings& settings);

  /// Starts from the Hugging Face checkpoint in `dir` (Llama, Qwen2, Qwen3 or Mistral, see
  /// models/hf_checkpoint.hpp) instead of seeded weights: the model comes
  /// from the checkpoint's config.json, so settings.model is not used (cap
  /// the sequence length with opts.max_seq_len). The reference policy, when
  /// kl_beta > 0, is the checkpoint.
  static caf::expected<std::unique_ptr<learner_core>>
  make_from_hf(const learner_settings& settings, const std::string& dir,
               const hf_load_options& opts = {});
  ~learner_core();

  /// Runs `mini_batches` optimizer steps on `batch` (split in order). Prox
  /// log-probs are computed once, before the first update. Returns one entry
  /// per optimizer step, once the device has finished the work. A non-finite
  /// loss or gradient skips the step and returns errc::numeric_failure with
  /// the weights unchanged. With ranks > 1 every rank calls train() with the
  /// same batch (a collective call); the statistics are those of the whole
  /// step on every rank.
  caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch);

  /// Called on the training thread as train() enters each phase: forward
  /// (prox and reference log-probs), backward (loss forward + backward per
  /// micro-batch), optimizer (clipping and the update). The monitoring
  /// console shows it. Empty: none.
  void set_phase_hook(std::function<void(learner_phase)> hook);

  int64_t version() const;

  /// Bytes of the distinct tensor storages this learner keeps between steps
  /// to train the policy: the weights, their .grad, the AdamW state (with
  /// ZeRO this rank's shard) and a rank's lasting buffers, each storage once
  /// (a .grad over a rank's flat gradient adds nothing). Not counted: the
  /// reference policy, refresh_flat_weights' buffer, activations. The
  /// figures of docs/data-parallel.md's memory table.
  int64_t training_state_bytes() const;

  std::vector<char> export_weights() const;

  /// The current weights copied into a persistent flat float32 buffer on the
  /// learner's device (export order), complete when this returns: the
  /// source of an NCCL broadcast. The view stays valid until the next call.
  caf::expected<flat_weights> refresh_flat_weights();
  caf::error import_weights(const char* data, size_t size, int64_t version);

  /// Everything beyond the weights that a learner needs to go on exactly as
  /// this one would (models/internal/learner_state.hpp has the byte format):
  /// the policy version and, per parameter, AdamW's step count, exp_avg and
  /// exp_avg_sq; with learner.entropy_target, the entropy control's
  /// coefficient and last entropy (models/entropy_control.hpp). Nothing else carries over between train() calls: the
  /// mini-batch split and the micro-batches are made afresh per batch, and
  /// the learner draws no random numbers (the seed only initialises the
  /// weights). Weights are not included (export_weights()). Neither is the
  /// reference policy (kl_beta > 0): it is the initial weights, which make()
  /// rebuilds bit for bit from the same seed (a fixed-seed draw on the CPU)
  /// and make_from_hf() from the same checkpoint files, so a learner rebuilt
  /// with the same settings has the same reference. Settings (learning rate,
  /// betas, ...) are the caller's to keep equal. Exact on the CPU; on CUDA as
  /// far as the device's kernels are deterministic. Empty on a LibTorch
  /// failure. With zero_stage > 0 the moments are gathered from every rank,
  /// so every rank must call it together (a collective call); the format is
  /// the same, so a state moves between rank counts and stages.
  std::vector<char> export_state() const;

  /// Installs a state from export_state(), all or nothing: a truncated or
  /// corrupted blob (magic, format version, size, checksum) is
  /// errc::malformed_message; a state of another model shape is
  /// errc::invalid_argument naming the first tensor that does not fit. On
  /// success the version and the AdamW state are the saved ones (moved to
  /// this learner's device). Resuming bit for bit: build the learner with
  /// the same settings, import_weights() the saved weights, then this.
  /// With zero_stage > 0 each rank keeps its shard of the moments (no
  /// communication); the state's per-parameter step counts must then be
  /// equal (errc::invalid_argument otherwise).
  caf::error import_state(const char* data, size_t size);

  /// Writes the current weights as a Hugging Face checkpoint (config.json +
  /// safetensors, sharded above `max_shard_bytes`). Optimizer state and the
  /// version are not part of the format and are not saved.
  caf::error save_hf(const std::string& dir,
                     uint64_t max_shard_bytes = default_max_shard_bytes) const;

private:
  explicit learner_core(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace tandem
