// batch_generator.hpp: fast batched sampling on a device (GPU) with
// continuous batching, behind a torch-free interface.
//
// Same contract as decode_session (policy.hpp): one call of step() advances
// every running sequence by one token with the weights the generator holds
// now, tags the token with `version`, and records log pi(token) =
// log_softmax(logits / temperature)[token] over the full vocabulary. The
// differences are for speed:
//   - the weights are a copy of the policy's on `device` in `dtype` (bf16 on
//     GPU); sync_weights() refreshes the copy in place between two steps;
//   - at most `max_rows` sequences run at once (the KV cache is preallocated
//     for them); when one finishes, the next waiting prompt is prefilled into
//     its row at the next step, so a long tail does not idle the batch;
//   - on CUDA the decode step is captured once into a CUDA graph and then
//     replayed (cuda_graphs), which removes the per-kernel launch cost;
//   - on CUDA the step's elementwise work, attention over each row's live
//     context and the draw run as fused kernels (fused_kernels;
//     docs/decode-kernels.md);
//   - prompts that enter rows at the same step and carry the same tokens (a
//     GRPO group) are prefilled once and the KV cache is copied into the
//     other rows (shared_prefill; docs/shared-prefill.md).
//
// Sampling draws one uniform per token from the sequence's own mt19937_64
// (seeded with its entry of start()'s seeds, whatever row it runs in and
// whatever shares the batch); with top_p = 1 and top_k off the token is found
// by inverse CDF over the vocabulary in id order, otherwise over the sorted
// distribution cut by top_k, then top_p, as in decode_session.
//
// Thread safety: one thread at a time, like the policy it copies from.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "models/flat_weights.hpp"
#include "models/model_config.hpp"
#include "models/policy.hpp"

namespace tandem {

struct device_options {
  std::string device = "cpu";    // "cpu", "cuda", "cuda:N"
  std::string dtype = "float32"; // float32 | bfloat16 | float16
  // Sequences decoded at once: the KV cache holds max_rows x max_seq_len
  // slots per layer, so this is the memory knob (plan shows the figure).
  int32_t max_rows = 64;
  bool cuda_graphs = true; // capture the decode step (ignored off CUDA)
  // The decode step and the draw through tandem's fused CUDA kernels
  // (docs/decode-kernels.md) rather than LibTorch's elementwise ops; ignored
  // off CUDA. The draw is fused when top_p = 1 and top_k is off.
  bool fused_kernels = true;
  // Prompts entering rows at the same step prefill once per distinct prompt
  // and the other rows copy its KV cache (docs/shared-prefill.md).
  bool shared_prefill = true;
};

/// Whether this build can use `device` (CUDA compiled in and a GPU present).
caf::error check_device(const device_options& opts);

/// The card behind `device` as the driver names it ("NVIDIA H100 80GB
/// HBM3"), "cpu" for the CPU; for benches that relate timings to a card.
std::string device_model_name(const std::string& device);

class batch_generator {
public:
  class impl;

  /// Copies `model`'s weights to the device. The policy must outlive the
  /// generator (sync_weights reads it again).
  static caf::expected<std::unique_ptr<batch_generator>> make(policy& model,
                                                              device_options opts);
  ~batch_generator();

  /// Re-copies the policy's current weights (call after import_weights).
  caf::error sync_weights();

  /// Installs a weight blob (policy.hpp's export format) directly: one upload
  /// to the device, a finiteness check there, then device-side copies into
  /// the decoder. All or nothing: a blob of the wrong size or with a
  /// non-finite value changes nothing. The policy's own weights stay as
  /// they were.
  caf::error load_weights(const std::vector<char>& blob);

  /// A float32 buffer on the device in load_weights' layout, for a transport
  /// (NCCL) to receive a version into; install_received() then installs it
  /// like load_weights. The same buffer every call; any earlier install out
  /// of it is complete when this returns.
  caf::expected<flat_weights> receive_buffer();
  caf::error install_received();

  /// Queues `prompts` (results of an earlier batch are discarded), with one
  /// sampling seed per prompt (as decode_session::start).
  caf::error start(std::vector<std::vector<int32_t>> prompts, sampling_params params,
                   std::vector<uint64_t> seeds);

  caf::error step(int64_t version);
  bool done() const;
  int64_t tokens_generated() const;
  bool graph_enabled() const;
  /// Whether the decode step runs tandem's fused kernels (fused_kernels on
  /// a CUDA device in a CUDA build).
  bool kernels_enabled() const;
  /// Prefill work since make() (shared prefill shows as forward_rows < rows).
  prefill_counts prefill_stats() const;

  /// Completions in prompt order; valid once done().
  std::vector<generated_sequence> take_results();

  /// Reference check of the decoding path: prefills ids[0, prefill) into row
  /// 0, then feeds the remaining ids one decode step at a time (teacher
  /// forcing). Returns float32 logits [ids.size() - prefill + 1, vocab] for
  /// positions prefill-1 .. ids.size()-1, row-major. Discards any batch in
  /// progress.
  caf::expected<std::vector<float>> forced_logits(const std::vector<int32_t>& ids,
                                                  size_t prefill);

private:
  explicit batch_generator(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace tandem
