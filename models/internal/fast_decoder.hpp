// fast_decoder.hpp: the inference-only decoder behind batch_generator (GPU
// sampling): the policy's weights copied to a device and dtype, a
// preallocated per-row KV cache, and a static-shape decode step that can be
// captured into a CUDA graph.
//
// Row layout (continuous batching): the cache has R rows of `capacity` slots.
// Row r holds one sequence whose tokens sit at slots [0, len[r]) with rotary
// positions equal to the slot, so rows are independent: a finished row is
// refilled by prefilling a new prompt into it while the others keep decoding.
// A decode step writes every row's new key/value at slot len[r] (scatter) and
// attends over slots <= len[r]; the shapes never change, which is what a CUDA
// graph needs. Rows without a sequence still compute (their output is
// ignored); len is clamped below capacity so their writes stay in range.
//
// Numerics follow Hugging Face's Llama/Qwen2/Qwen3/Mistral modules (Qwen3's
// per-head q/k RMSNorm before rotary; llama3-scaled rotary frequencies from
// models/rope.hpp): RMSNorm in float32 then cast, rotary tables in float32 cast to the dtype, attention through
// scaled_dot_product_attention on LibTorch >= 2 (written out on 1.13).
// Grouped-query attention folds the query heads of one kv head into the
// query-length dimension, so keys and values are never copied per head.
//
// Fused kernels (CUDA builds, enable_kernels()): the decode step runs the
// layer's elementwise work, rotary with the cache store, and the attention
// over each row's live context as the kernels of decode_kernels.hpp; the
// projections stay cuBLAS GEMMs, with the residual added by the GEMM itself
// (beta = 1). Ten kernels per layer instead of about thirty-five
// (docs/decode-kernels.md). prefill() and the CPU path are unchanged.
//
// Thread safety: one thread at a time. Private to models/.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <memory>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "models/internal/transformer.hpp"

namespace tandem::internal {

// Fused projections: one GEMM for q, k and v (rows [q; k; v]) and one for
// gate and up (rows [gate; up]), so a decode step launches fewer kernels.
struct fast_layer {
  torch::Tensor ln1, ln2;    // RMSNorm gains
  torch::Tensor qkv_w, qkv_b; // [(heads + 2 kv) * head_dim, hidden]; bias undefined when absent
  torch::Tensor o_w;
  torch::Tensor q_norm, k_norm; // [head_dim] per-head RMSNorm gains (Qwen3); undefined when absent
  torch::Tensor gate_up_w;    // [2 * intermediate, hidden]
  torch::Tensor down_w;
};

class fast_decoder {
public:
  fast_decoder(const model_config& cfg, torch::Device device, torch::ScalarType dtype,
               int64_t rows, int64_t capacity);
  ~fast_decoder();

  /// Copies the module's current weights in place (the device tensors keep
  /// their addresses, so a captured CUDA graph stays valid).
  void load(const transformer& model);

  /// The same from named tensors (any device, float32): e.g. views into one
  /// uploaded weight blob. Names as in transformer::named_parameters().
  void load(const std::map<std::string, torch::Tensor>& params);

  /// Prefills `prompts` into `rows` (one prompt per row; rows need not be
  /// contiguous). Returns float32 logits [n, vocab] at each prompt's last token.
  torch::Tensor prefill(const std::vector<int64_t>& rows,
                        const std::vector<std::vector<int32_t>>& prompts);

  /// Shared-prompt prefill: row to[i] takes a copy of row from[i]'s first
  /// `slots` cache slots (every layer, keys and values) and its length, as
  /// if its prompt had been prefilled into it. Sources and targets must be
  /// disjoint. In place: a captured graph stays valid.
  void fork_rows(const std::vector<int64_t>& from, const std::vector<int64_t>& to,
                 int64_t slots);

  /// One token for every row: `tokens` int64 [R] on the device. Returns
  /// float32 logits [R, vocab] (a view of a static buffer, valid until the
  /// next call).
  torch::Tensor decode(const torch::Tensor& tokens);

  /// decode() without the float32 copy: logits [R, vocab] in the decoder's
  /// dtype with fused kernels, float32 without (a view of a static buffer,
  /// valid until the next call).
  torch::Tensor decode_raw(const torch::Tensor& tokens);

  /// Captures decode() into a CUDA graph (CUDA builds and devices only).
  /// Returns false when graphs are unavailable; decode() then runs eagerly.
  bool enable_graph();

  /// Switches the decode step to the fused kernels (decode_kernels.hpp);
  /// call before enable_graph(). Returns false, changing nothing, off CUDA
  /// or for shapes the kernels do not handle.
  bool enable_kernels();
  bool kernels() const { return fused_ != nullptr; }

  /// The fused draw over `logits` (decode_raw()'s, any row count): one
  /// token per row by inverse CDF at `uniforms` (float32 [R] on the device)
  /// under `temperature`, and its log-prob. Returns {tokens int64 [R],
  /// logp float32 [R]} on the device. Requires kernels().
  std::pair<torch::Tensor, torch::Tensor> sample(const torch::Tensor& logits,
                                                 const torch::Tensor& uniforms,
                                                 double temperature);

  int64_t rows() const { return rows_; }
  int64_t capacity() const { return capacity_; }
  torch::Device device() const { return device_; }

private:
  torch::Tensor embed(const torch::Tensor& tokens) const;
  torch::Tensor rms(const torch::Tensor& x, const torch::Tensor& w) const;
  torch::Tensor head(const torch::Tensor& h) const;
  torch::Tensor mlp(const fast_layer& l, const torch::Tensor& x) const;
  /// Rotary embedding of q and k together: qk [B, heads + kv, S, head_dim].
  torch::Tensor rope(const torch::Tensor& qk, const torch::Tensor& cos,
                     const torch::Tensor& sin) const;
  /// q/k RMSNorm per head (qk as for rope); qk itself without q/k norms.
  torch::Tensor norm_qk(const fast_layer& l, const torch::Tensor& qk) const;
  void decode_core();
  void decode_fused();

  model_config cfg_;
  torch::Device device_;
  torch::ScalarType dtype_;
  int64_t rows_, capacity_, head_dim_, rep_;
  torch::Tensor inv_freq_;             // float32 [head_dim / 2]
  torch::Tensor embed_w_, norm_w_, lm_head_w_; // lm_head_w_ undefined when tied
  std::vector<fast_layer> layers_;
  std::vector<torch::Tensor> k_cache_, v_cache_; // [R, kv, capacity, head_dim]
  torch::Tensor len_;                  // int64 [R]: tokens held per row
  torch::Tensor slots_;                // int64 [capacity]
  torch::Tensor in_tokens_;            // int64 [R]: decode input (static)
  torch::Tensor out_logits_;           // float32 [R, vocab]: decode output (static)
  struct graph_state;
  std::unique_ptr<graph_state> graph_;
  struct fused_state; // static buffers of the fused step
  std::unique_ptr<fused_state> fused_;
};

} // namespace tandem::internal
