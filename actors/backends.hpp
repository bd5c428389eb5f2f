// backends.hpp: the boundaries between actors and LibTorch. The sampler and
// the learner talk to these interfaces; torch_backends.cpp implements them
// with models/ (LibTorch), and tests use fakes that return at once.
//
// Thread safety: an instance is used by one actor (one thread) at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "models/batch_generator.hpp"
#include "models/flat_weights.hpp"
#include "models/learner_core.hpp"
#include "models/model_config.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/health_report.hpp"
#include "runtime/messages.hpp"

namespace tandem {

/// Where a sampler sends finished rollouts instead of its CAF reply when the
/// topology puts rollouts on the ZeroMQ data plane (data_plane.hpp has the
/// ZeroMQ one; tests use a fake). send() blocks at most until its own
/// deadline and returns an error instead of dropping anything.
class rollout_outbox {
public:
  virtual ~rollout_outbox() = default;
  virtual caf::error send(const std::vector<rollout_group>& groups) = 0;
};

/// With an outbox, moves a sampler's finished groups onto the data plane and
/// leaves `res` holding only the figures, marked via_data_plane. Without
/// one, does nothing. On error `res` is unchanged and the caller fails the
/// request (the controller requeues its groups).
inline caf::error divert_to_outbox(rollout_outbox* outbox, generate_result& res) {
  if (outbox == nullptr)
    return caf::none;
  if (auto err = outbox->send(res.groups))
    return err;
  res.groups.clear();
  res.via_data_plane = true;
  return caf::none;
}

/// Batched generation with weights that can change between decode steps.
class generation_backend {
public:
  virtual ~generation_backend() = default;
  /// Replaces the weights (a complete, verified blob).
  virtual caf::error load_weights(const std::vector<char>& blob) = 0;
  /// Starts decoding `prompts` (one entry per completion to generate), each
  /// with its own sampling seed (`seeds`, one per prompt): a completion's
  /// tokens depend on its seed and the weights only, not on the batch.
  virtual caf::error start(std::vector<std::vector<int32_t>> prompts,
                           std::vector<uint64_t> seeds) = 0;
  /// One decode step with the current weights, tagged `version`.
  virtual caf::error step(int64_t version) = 0;
  virtual bool done() const = 0;
  virtual std::vector<generated_sequence> take_results() = 0;

  /// NCCL weights: the buffer a version is received into (same layout as a
  /// load_weights blob; valid until the next call), then installed with
  /// install_received(). Backends that decode on the CPU have none.
  virtual caf::expected<flat_weights> receive_buffer() {
    return make_error(errc::invalid_argument, "this sampler backend cannot receive weights "
                                              "into device memory (needs a GPU sampler)");
  }
  virtual caf::error install_received() {
    return make_error(errc::invalid_argument, "no receive buffer");
  }
};

/// Whole batches with sampling settings per call, on one model: the
/// evaluator's greedy and sampled batches (actors/evaluator.hpp) and
/// `tandem generate` / `tandem eval`. generate() blocks until every
/// sequence ended (a stop token or max_new_tokens), so its time is bounded
/// by the batch's size.
class eval_decoder {
public:
  virtual ~eval_decoder() = default;
  /// Replaces the weights (a complete, verified blob).
  virtual caf::error load_weights(const std::vector<char>& blob) = 0;
  /// Completions of `prompts` (one per prompt, seeded by `seeds`), each
  /// token tagged `version`.
  virtual caf::expected<std::vector<generated_sequence>>
  generate(std::vector<std::vector<int32_t>> prompts, const sampling_params& params,
           std::vector<uint64_t> seeds, int64_t version) = 0;
  /// The model's shape (prompt limits, vocabulary).
  virtual const model_config& config() const = 0;
};

/// One GRPO optimizer step (or several, for mini-batches) per call.
class training_backend {
public:
  virtual ~training_backend() = default;
  virtual caf::expected<std::vector<train_step_stats>>
  train(const std::vector<train_sequence>& batch) = 0;
  virtual std::vector<char> export_weights() const = 0;
  virtual int64_t version() const = 0;
  /// Called on the training thread as train() enters each phase
  /// (learner_core::set_phase_hook); backends without phases ignore it.
  virtual void set_phase_hook(std::function<void(learner_phase)> hook) {}

  /// Saving and resuming a learner. A resumed backend, made with the same
  /// settings, given import_weights(saved weights, saved version) and then
  /// import_state(saved state), trains on exactly as the saved one would
  /// have (learner_core::export_state says what the state holds).
  /// export_state() is empty on failure (an empty state never imports).
  virtual std::vector<char> export_state() const = 0;
  /// Replaces the weights (an export_weights() blob) and sets the version;
  /// all or nothing.
  virtual caf::error import_weights(const std::vector<char>& blob, int64_t version) = 0;
  /// Installs an export_state() blob, all or nothing: errc::malformed_message
  /// for a corrupted or truncated one, errc::invalid_argument for the state
  /// of another model. Sets the version to the saved one.
  virtual caf::error import_state(const std::vector<char>& state) = 0;

  /// NCCL weights: the current version as one flat buffer (export order) on
  /// the learner's device, refreshed by this call and complete when it
  /// returns.
  virtual caf::expected<flat_weights> device_weights() {
    return make_error(errc::invalid_argument, "this learner backend has no flat weights");
  }
};

/// LibTorch implementations. `threads` is applied on the first call from the
/// owning actor's thread (LibTorch's thread pools are per calling thread).
caf::expected<std::shared_ptr<generation_backend>>
make_torch_generation_backend(const model_config& model, const sampling_params& params,
                              int32_t threads, const device_options& device = {});

caf::expected<std::shared_ptr<training_backend>>
make_torch_training_backend(const learner_settings& settings, int32_t threads);

/// An eval_decoder on `model` (its weights as they are): decode_session on
/// the CPU, batch_generator on a device (device.max_rows bounds a batch).
caf::expected<std::shared_ptr<eval_decoder>>
make_torch_eval_decoder(std::unique_ptr<policy> model, int32_t threads,
                        const device_options& device = {});

/// The same, starting from the Hugging Face checkpoint in `hf_dir`
/// (learner_core::make_from_hf: settings.model is not used; the sequence
/// length is capped at `max_seq_len`, 0 = the checkpoint's own).
caf::expected<std::shared_ptr<training_backend>>
make_torch_training_backend_from_hf(const learner_settings& settings, const std::string& hf_dir,
                                    int32_t max_seq_len, int32_t threads);

} // namespace tandem
