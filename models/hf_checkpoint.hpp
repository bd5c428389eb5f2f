// hf_checkpoint.hpp: Hugging Face checkpoints of the Llama (3.1 / 3.2 llama3
// rope scaling too), Qwen2, Qwen3 and Mistral families (config.json + model.safetensors, or shards listed by
// model.safetensors.index.json), torch-free.
//
// The policy and the learner load and save through these functions
// (policy::load_hf / save_hf, learner_core::make_from_hf / save_hf); the
// tensor-level functions work on float32 buffers so that this file and its
// tests need no LibTorch.
//
// Names: HF "model.X" is tandem's parameter "X"; "lm_head.weight" is the same
// in both. With tie_word_embeddings the output layer reuses
// embed_tokens.weight and the checkpoint holds no lm_head.weight.
//
// Errors: config.json problems (unsupported model_type, a rope scaling other
// than llama3, activation, a sliding window tandem would not reach in full,
// quantization, a missing or mistyped field) are
// errc::invalid_config naming the file and field; weights that do not fit
// the config (missing, unexpected or wrong-shaped tensor, a dtype that is not
// float) and broken safetensors/index files are errc::malformed_message
// naming the file and tensor; filesystem failures are errc::io_failure.
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "models/model_config.hpp"

namespace tandem {

/// How a checkpoint becomes a model_config.
struct hf_load_options {
  /// Sequence length the policy is built for (KV cache, learner rows); 0
  /// keeps max_position_embeddings. Larger than max_position_embeddings is
  /// an error: RoPE positions past the trained range.
  int32_t max_seq_len = 0;
};

/// transformers' own default shard bound (5 GB, decimal as in its "5GB").
constexpr uint64_t default_max_shard_bytes = 5'000'000'000;

/// Reads `path` (a checkpoint directory or its config.json) into a
/// model_config: max_seq_len = max_position_embeddings unless capped by
/// `opts`; rope theta from rope_theta or rope_parameters.rope_theta; a
/// llama3 rope scaling from rope_scaling or rope_parameters; head_dim when
/// set; Mistral's sliding_window must be null or >= max_seq_len.
caf::expected<model_config> read_hf_config(const std::string& path,
                                           const hf_load_options& opts = {});

/// Writes DIR/config.json for `cfg` (model_type, architectures, the shape
/// fields with head_dim, rope theta and a llama3 scaling in both spellings,
/// the family's own fields, dtype float32).
caf::error write_hf_config(const std::string& dir, const model_config& cfg);

/// "layers.0.mlp.up_proj.weight" -> "model.layers.0.mlp.up_proj.weight";
/// "lm_head.weight" unchanged.
std::string to_hf_name(const std::string& tandem_name);

/// A parameter the model expects, under its tandem name.
struct hf_tensor_spec {
  std::string name;
  std::vector<int64_t> shape;
};

/// Receives spec `index`'s values as float32, row-major.
using hf_tensor_sink = std::function<caf::error(size_t index, const std::vector<float>& values)>;

/// Reads the weights in `dir` (model.safetensors if present, as transformers
/// prefers it, else the index and its shards). Before the first call of
/// `sink`, checks that the checkpoint holds exactly the tensors of `specs`
/// (rotary_emb.inv_freq buffers of old checkpoints are skipped), each with
/// its shape and a float dtype; then converts each (F16/BF16/F64 -> F32),
/// refuses non-finite values, and hands it to `sink` in spec order.
caf::error read_hf_weights(const std::string& dir, const std::vector<hf_tensor_spec>& specs,
                           const hf_tensor_sink& sink);

/// What read_hf_weights checks before it reads any tensor data, without
/// reading it: every safetensors header of `dir` (JSON, dtypes, shapes, each
/// tensor's byte extent inside its file, so a truncated file is caught), the
/// index, and that the checkpoint holds exactly `specs` with float dtypes.
/// One error per broken file, naming it (and the tensor); the whole
/// checkpoint is checked against `specs` only when every file reads.
std::vector<caf::error> check_hf_weights(const std::string& dir,
                                         const std::vector<hf_tensor_spec>& specs);

/// A float32 tensor to save, under its tandem name.
struct hf_tensor_ref {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
};

/// Writes the tensors (HF names, F32) to `dir`, created if missing: one
/// model.safetensors when their bytes fit in `max_shard_bytes`, else shards
/// model-0000i-of-0000n.safetensors filled in order up to that bound (a
/// larger tensor gets a shard of its own) plus model.safetensors.index.json.
/// Removes a stale model.safetensors or index that would contradict what was
/// written (transformers would read a stale model.safetensors first).
caf::error write_hf_weights(const std::string& dir, const std::vector<hf_tensor_ref>& tensors,
                            uint64_t max_shard_bytes);

} // namespace tandem
