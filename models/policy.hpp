// policy.hpp: the LibTorch policy model behind a torch-free interface.
//
// `policy` owns one set of weights of the decoder-only transformer, drawn
// from a seed (make) or read from a Hugging Face checkpoint (load_hf).
// `decode_session` runs batched sampling with a KV cache, one token per call
// of step(), so that the caller (the sampler actor) can swap the policy's
// weights between two decode steps, even in the middle of a sequence, and
// record per token which policy version produced it.
//
// Thread safety: a policy and its sessions are used by one thread at a time
// (the detached actor that owns them). Weight import while a session exists is
// allowed between steps; the KV cache of earlier tokens is kept.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "models/hf_checkpoint.hpp"
#include "models/model_config.hpp"

namespace tandem {

/// One sampled completion.
struct generated_sequence {
  std::vector<int32_t> tokens;   // completion tokens, including the stop token if hit
  std::vector<float> logprobs;   // log pi(token) under the weights that sampled it
  std::vector<int64_t> versions; // policy version that produced each token
  bool finished = false;         // true if a stop token ended it (not max_new_tokens)
};

/// Prompt + completion to be scored by the learner-side forward pass.
struct scored_input {
  std::vector<int32_t> prompt;
  std::vector<int32_t> completion;
};

class policy {
public:
  class impl; // defined in policy.cpp (LibTorch)

  /// Builds a policy with weights initialised deterministically from `seed`.
  static caf::expected<std::unique_ptr<policy>> make(const model_config& cfg,
                                                     uint64_t seed);
  /// Builds a policy from a Hugging Face checkpoint directory (Llama or
  /// Qwen2; see models/hf_checkpoint.hpp), weights converted to float32.
  static caf::expected<std::unique_ptr<policy>> load_hf(const std::string& dir,
                                                        const hf_load_options& opts = {});
  ~policy();
  policy(const policy&) = delete;
  policy& operator=(const policy&) = delete;

  const model_config& config() const;
  int64_t num_parameters() const;

  /// Weights as raw little-endian float32 in a fixed, documented order
  /// (parameter names sorted as registered). Size = 4 * num_parameters().
  std::vector<char> export_weights() const;

  /// Replaces all weights. Rejects a blob of the wrong size or with
  /// non-finite values, leaving the current weights untouched.
  caf::error import_weights(const char* data, size_t size);

  /// Per-token log-probabilities of each completion given its prompt, with
  /// temperature scaling as in sampling. No gradient. Same numerics as the
  /// sampler: used to check sampler/learner agreement.
  caf::expected<std::vector<std::vector<float>>>
  score(const std::vector<scored_input>& batch, double temperature);

  /// Full-vocabulary logits of one sequence (positions from 0, causal),
  /// [ids.size(), vocab_size] row-major. No gradient, no temperature.
  caf::expected<std::vector<float>> logits(const std::vector<int32_t>& ids);

  /// Writes config.json and the weights as a Hugging Face checkpoint to
  /// `dir` (sharded with an index above `max_shard_bytes`).
  caf::error save_hf(const std::string& dir,
                     uint64_t max_shard_bytes = default_max_shard_bytes) const;

  /// Sets the number of intra-op threads LibTorch uses on this thread.
  static void set_threads(int32_t n);

  impl& internals();
  const impl& internals() const;

private:
  explicit policy(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Checks a generation request against the model: prompts non-empty, tokens
/// and stop tokens in the vocabulary, prompt + max_new_tokens within
/// max_seq_len, temperature > 0, top_p in (0, 1]. errc::invalid_argument
/// names the first problem. Used by decode_session and batch_generator.
caf::error validate_generation(const model_config& cfg,
                               const std::vector<std::vector<int32_t>>& prompts,
                               const sampling_params& params);

/// The sampling seed of completion `index` of a group whose seed is
/// `group_seed`. Each completion draws its tokens from its own generator
/// seeded with this, so a group's completions depend only on its seed and
/// the weights, not on which other groups share its batch or its rows.
/// Group seeds are themselves linear in the group id (work_buffer), so the
/// group seed is hashed before the index joins it: an additive mix would
/// give group k's completion i nearly the seed of group k+1's completion
/// i-1.
inline uint64_t completion_seed(uint64_t group_seed, int32_t index) {
  auto splitmix64 = [](uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  return splitmix64(splitmix64(group_seed) ^ static_cast<uint64_t>(static_cast<uint32_t>(index)));
}

/// What the prefill of a generator computed, summed since it was made.
/// With shared-prompt prefill (docs/shared-prefill.md) rows that carry the
/// same prompt run it through the model once: `forward_rows` < `rows`.
struct prefill_counts {
  int64_t rows = 0;         // sequences whose prompt entered the KV cache
  int64_t forward_rows = 0; // prompts the forward pass ran over
  int64_t forward_tokens = 0; // their tokens (padding not counted)
};

/// How a decode_session computes; what it samples is sampling_params.
struct decode_options {
  /// Rows with equal prompts prefill once and copy its KV cache (same
  /// completions and log-probs, to float rounding, as without).
  bool shared_prefill = true;
};

/// Batched generation, one decode step per call. Sequences that hit a stop
/// token or max_new_tokens stop advancing; the batch ends when all have.
class decode_session {
public:
  class impl;

  /// Validates prompts (non-empty, tokens in range, fits max_seq_len).
  /// `seeds` holds one seed per prompt: sequence i draws one uniform per
  /// token from its own mt19937_64 seeded with seeds[i], so its completion
  /// does not depend on the other prompts' seeds or order (the sampler
  /// passes completion_seed(group seed, index)).
  static caf::expected<std::unique_ptr<decode_session>>
  start(policy& model, std::vector<std::vector<int32_t>> prompts,
        sampling_params params, std::vector<uint64_t> seeds, decode_options opts = {});
  ~decode_session();

  /// Prefills on the first call, then appends one token to every unfinished
  /// sequence using the policy's current weights, tagging it with `version`.
  caf::error step(int64_t version);

  bool done() const;
  int32_t steps_taken() const;
  int64_t tokens_generated() const;
  prefill_counts prefill_stats() const;

  /// The completions, in prompt order. Valid once done().
  std::vector<generated_sequence> take_results();

private:
  explicit decode_session(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace tandem
