// model_config.hpp: shape of the decoder-only policy (Llama / Qwen2 / Qwen3 /
// Mistral layout) and
// sampling settings. Plain structs, torch-free, shared by config, actors, models.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tandem {

/// config.json's rope_scaling / rope_parameters when rope_type is not
/// "default". Only "llama3" is computed (Llama 3.1 / 3.2): frequencies whose
/// wavelength exceeds original_max_position_embeddings / low_freq_factor are
/// divided by factor, those below original / high_freq_factor are kept, and
/// those between are interpolated (rope_inv_freq in models/rope.hpp).
struct rope_scaling_config {
  std::string type;                 // "" = none (default rotary); "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int32_t original_max_position_embeddings = 0;
};

/// Llama-style decoder: RMSNorm, rotary embeddings, SwiGLU MLP,
/// grouped-query attention; Qwen2 adds q/k/v biases, Qwen3 per-head q/k
/// norms. Field names follow Hugging Face's config.json
/// (models/hf_checkpoint.hpp maps checkpoints of the four families onto it).
struct model_config {
  int32_t vocab_size = 0;          // set from the tokenizer, never by hand
  int32_t hidden_size = 64;
  int32_t num_layers = 2;
  int32_t num_heads = 4;
  int32_t num_kv_heads = 2;        // must divide num_heads (GQA)
  int32_t intermediate_size = 176; // SwiGLU inner width
  int32_t max_seq_len = 64;        // prompt + completion; sizes the KV cache
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  bool tie_embeddings = false;
  bool attention_bias = false;     // q/k/v projection biases: true for qwen2, false for llama
  int32_t max_position_embeddings = 0; // HF checkpoint's trained range; 0 = max_seq_len
  std::string model_type = "llama"; // HF family written by save_hf: llama, qwen2, qwen3, mistral
  int32_t head_dim = 0;            // per-head width; 0 = hidden_size / num_heads (Qwen3 sets it)
  bool qk_norm = false;            // RMSNorm over each head's q and k before rotary (Qwen3)
  rope_scaling_config rope_scaling; // type "" = plain rotary
  int32_t sliding_window = 0;      // mistral's window, kept for save_hf; 0 = none. Never
                                   // below max_seq_len, so attention is full (hf_config.cpp)
};

/// The per-head width the model computes with: head_dim when set, else
/// hidden_size / num_heads (0 when num_heads is 0, so callers need no guard).
inline int32_t head_dim_of(const model_config& c) {
  if (c.head_dim > 0)
    return c.head_dim;
  return c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
}

/// How a sampler draws tokens: temperature, then top-k (the k most probable
/// tokens), then top-p on what top-k kept (renormalised), then one draw.
/// The recorded log-probability of a token is
/// log softmax(logits / temperature)[token] over the full vocabulary (before
/// top-k / top-p truncation): the learner recomputes exactly this quantity.
/// With truncation the tokens are drawn from the truncated distribution, so
/// this is not the probability they were drawn with; README "Config reference"
/// (sampler.top_k) says why.
struct sampling_params {
  double temperature = 1.0;        // > 0
  double top_p = 1.0;              // (0, 1]
  int32_t top_k = 0;               // >= 0; 0 = off (no cut)
  int32_t max_new_tokens = 8;
  std::vector<int32_t> stop_tokens; // generation of a sequence ends after one of these
  // Optional: called with a sequence's completion after each new token; true
  // ends it as finished, like a stop token. For stop *texts* that span
  // several tokens (a BPE "</answer>"). Must be cheap: it runs per token.
  std::function<bool(const std::vector<int32_t>&)> stop_after;
};

} // namespace tandem
