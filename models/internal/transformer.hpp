// transformer.hpp: the decoder-only policy network (Llama layout) and the
// packing helpers shared by the sampler (policy.cpp) and the learner
// (learner_core.cpp). Private to models/: only policy.cpp, learner_core.cpp
// and transformer.cpp include it, so nothing else pays for LibTorch headers.
//
// Layout: embed_tokens -> N x [input_layernorm -> GQA self_attn (per-head
// q/k RMSNorm when cfg.qk_norm (Qwen3), then RoPE with models/rope.hpp's
// frequencies, HF rotate_half; head_dim_of(cfg) wide heads) -> residual -> post_attention_layernorm -> SwiGLU mlp ->
// residual] -> norm -> lm_head (or the embedding when tied). Linear layers
// have no bias except q/k/v when cfg.attention_bias (Qwen2). Parameter names
// follow Hugging Face without the "model." prefix.
//
// Numerics: float32 on CPU. Attention is written out (matmul, mask, softmax)
// so that LibTorch 1.13 and 2.x compute the same thing. Padding never leaks
// into real tokens: a masked key gets probability exactly 0, and every query
// may attend to itself, so pad rows stay finite (no all -inf softmax row).
// Without a mask (undefined tensor) attention is plain causal, through
// scaled_dot_product_attention on LibTorch 2 (the learner's GPU path): for
// right-padded rows that is exact for every real token, whose keys all lie to
// its left, and pad rows stay finite because each query sees itself.
//
// Devices: parameters follow Module::to(); the rotary frequencies follow the
// positions' device. Activation checkpointing (off by default) recomputes
// each decoder layer in backward instead of keeping its activations; it
// applies only when grad mode is on and no KV cache is used.
//
// Thread safety: a transformer is used by one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <torch/torch.h>

#include "models/model_config.hpp"

namespace tandem::internal {

/// Per-layer key/value cache, each [B, kv_heads, capacity, head_dim].
struct kv_cache {
  std::vector<torch::Tensor> k;
  std::vector<torch::Tensor> v;
};

class rms_norm_impl : public torch::nn::Module {
public:
  rms_norm_impl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);

private:
  torch::Tensor weight_;
  double eps_;
};
TORCH_MODULE_IMPL(rms_norm, rms_norm_impl);

/// Rotary tables for one forward call, [B, 1, S, head_dim] each.
struct rotary {
  torch::Tensor cos;
  torch::Tensor sin;
};

class attention_impl : public torch::nn::Module {
public:
  explicit attention_impl(const model_config& cfg);
  /// `blocked` is bool [B, 1, 1, S, Sk], true where a query must not see a
  /// key; undefined means causal (query i sees slots up to Sk - S + i). With
  /// a cache, the new keys/values are written at slots [start, start + S)
  /// and the query attends over slots [0, start + S).
  torch::Tensor forward(const torch::Tensor& x, const rotary& rope,
                        const torch::Tensor& blocked, torch::Tensor* k_cache,
                        torch::Tensor* v_cache, int64_t start);

private:
  int64_t heads_, kv_heads_, head_dim_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr},
    o_proj_{nullptr};
  rms_norm q_norm_{nullptr}, k_norm_{nullptr}; // [head_dim] gains; null unless cfg.qk_norm
};
TORCH_MODULE_IMPL(attention, attention_impl);

class mlp_impl : public torch::nn::Module {
public:
  explicit mlp_impl(const model_config& cfg);
  torch::Tensor forward(const torch::Tensor& x);

private:
  torch::nn::Linear gate_proj_{nullptr}, up_proj_{nullptr}, down_proj_{nullptr};
};
TORCH_MODULE_IMPL(mlp, mlp_impl);

class decoder_layer_impl : public torch::nn::Module {
public:
  explicit decoder_layer_impl(const model_config& cfg);
  torch::Tensor forward(const torch::Tensor& x, const rotary& rope,
                        const torch::Tensor& blocked, torch::Tensor* k_cache,
                        torch::Tensor* v_cache, int64_t start);

private:
  rms_norm input_layernorm_{nullptr}, post_attention_layernorm_{nullptr};
  attention self_attn_{nullptr};
  mlp mlp_{nullptr};
};
TORCH_MODULE_IMPL(decoder_layer, decoder_layer_impl);

class transformer_impl : public torch::nn::Module {
public:
  explicit transformer_impl(const model_config& cfg);

  /// normal(0, 0.02) for matrices, ones for norms, zeros for biases, from
  /// torch::manual_seed.
  void init_weights(uint64_t seed);

  /// tokens/positions int64 [B, S]; mask bool [B, S, Sk] (undefined: plain
  /// causal, see the file comment). Returns logits [B, S, vocab]. With
  /// `cache`, see attention_impl::forward.
  torch::Tensor forward(const torch::Tensor& tokens,
                        const torch::Tensor& positions,
                        const torch::Tensor& mask, kv_cache* cache = nullptr,
                        int64_t start = 0);

  /// The final hidden states [B, S, hidden] (after the last norm), without a
  /// cache; forward() == project(hidden()).
  torch::Tensor hidden(const torch::Tensor& tokens, const torch::Tensor& positions,
                       const torch::Tensor& mask);
  /// Logits of hidden states: the lm_head (or the tied embedding).
  torch::Tensor project(const torch::Tensor& h);

  /// Recompute each decoder layer in backward (see the file comment).
  void set_activation_checkpointing(bool on) { checkpointing_ = on; }

  /// Zeroed cache for `batch` rows and `capacity` slots.
  kv_cache make_cache(int64_t batch, int64_t capacity) const;

  const model_config& config() const { return cfg_; }

private:
  rotary make_rotary(const torch::Tensor& positions);
  torch::Tensor run_layers(const torch::Tensor& tokens, const torch::Tensor& positions,
                           const torch::Tensor& mask, kv_cache* cache, int64_t start);

  model_config cfg_;
  torch::Tensor inv_freq_; // buffer-free constant, [head_dim / 2], on the CPU (models/rope.hpp)
  torch::Tensor inv_freq_on_device_; // copy on the device of the last positions
  bool checkpointing_ = false;
  torch::nn::Embedding embed_tokens_{nullptr};
  torch::nn::ModuleList layers_{nullptr};
  rms_norm norm_{nullptr};
  torch::nn::Linear lm_head_{nullptr}; // null when tied
};
TORCH_MODULE_IMPL(transformer, transformer_impl);

/// Checks shape constraints (divisibility, positive sizes, even head_dim),
/// the family's fields (attention_bias, qk_norm) and the rope scaling.
caf::error validate(const model_config& cfg);

/// Parameters in export order: registration order of named_parameters().
std::vector<torch::Tensor> ordered_parameters(const transformer& model);
int64_t count_parameters(const transformer& model);
std::vector<char> export_weights(const transformer& model);
/// All-or-nothing: validates size and finiteness before touching a weight.
caf::error import_weights(transformer& model, const char* data, size_t size);

/// Replaces every parameter with the Hugging Face checkpoint in `dir`
/// (models/hf_checkpoint.hpp). Nothing is written until every tensor has
/// been found and checked, but a read or conversion failure after that can
/// leave a partly loaded model: callers load into a fresh one.
caf::error load_hf(transformer& model, const std::string& dir);

/// Writes config.json and the weights of `model` to `dir`.
caf::error save_hf(const transformer& model, const std::string& dir,
                   uint64_t max_shard_bytes);

/// One row of a learner-side batch: prompt then completion.
struct sequence_ref {
  const std::vector<int32_t>* prompt;
  const std::vector<int32_t>* completion;
};

/// Right-padded [prompt + completion] rows with per-row positions from 0 and
/// a causal mask over real tokens; plus where each completion token is
/// predicted. T = longest completion (at least 1).
struct packed_batch {
  torch::Tensor tokens;    // int64 [B, S]
  torch::Tensor positions; // int64 [B, S]
  torch::Tensor mask;      // bool  [B, S, S]; undefined = plain causal
  torch::Tensor predict_at; // int64 [B, T]: logit row that predicts token t
  torch::Tensor targets;   // int64 [B, T]
  torch::Tensor loss_mask; // float [B, T]: 1 for real completion tokens
  std::vector<int64_t> completion_len;
};

packed_batch pack(const std::vector<sequence_ref>& rows);

/// `p` with every tensor copied to `device` (undefined ones stay undefined).
packed_batch to_device(const packed_batch& p, const torch::Device& device);

/// Causal + key-validity mask; every query also sees itself. valid: bool
/// [B, S]. Returns bool [B, S, S].
torch::Tensor causal_mask(const torch::Tensor& valid);

struct completion_logits {
  torch::Tensor log_probs; // [B, T, V] log_softmax(logits / temperature)
  torch::Tensor logp;      // [B, T] log-prob of the target tokens
};

/// Forward on a packed batch; logp keeps the graph if grad mode is on. The
/// vocabulary projection runs only at the T predicting rows, not all S.
completion_logits score_completions(transformer& model, const packed_batch& p,
                                    double temperature);

/// Validates tokens of one learner-side row: non-empty prompt, tokens in
/// range, prompt + completion <= max_seq_len.
caf::error validate_row(const model_config& cfg, const sequence_ref& row,
                        size_t index);

} // namespace tandem::internal
