// decode_kernels.hpp: the fused CUDA kernels of fast_decoder's decode step
// and of the sampler's draw (docs/decode-kernels.md), behind plain pointers
// so that neither side includes the other's headers (this header has no
// CUDA or LibTorch include; decode_kernels.cu has no LibTorch one).
//
// Why: a decode step at batch 64 is a few hundred small operations per
// token; through LibTorch each elementwise one is a kernel of its own (an
// RMSNorm is seven), and the masked attention reads every allocated KV slot.
// These kernels do one pass per step of the layer's elementwise work and
// attend over each row's live context only:
//   rms_norm          out = w * (x / rms(x))                      one kernel
//   rope_store        per-head q/k RMSNorm (Qwen3), rotary, and the new
//                     key/value written into the cache slot len[r]  one kernel
//   decode_attention  split-context attention over slots [0, len[r]]
//                     (chunks past a row's length do no work)     two kernels
//   silu_mul          silu(gate) * up                             one kernel
//   sample_rows       temperature, log-softmax and the inverse-CDF draw over
//                     the vocabulary in id order, with the drawn token's
//                     log-prob                                     one kernel
// Numerics follow the LibTorch path they replace (fast_decoder.cpp, Hugging
// Face's modules): float32 arithmetic, each intermediate rounded to the
// element type where LibTorch rounds it. Sums run in another order, so the
// two paths agree to rounding, not bit for bit (tests/models/
// decode_kernels_test.cpp states the tolerances).
//
// Every launch goes to `stream` (a cudaStream_t), so the calls can be
// captured into a CUDA graph. Each returns nullptr, or the CUDA error's text
// when the launch failed (the caller throws; nothing is retried).
//
// Layouts (row-major, contiguous):
//   x, out               [rows, dim]
//   qkv                  [rows, (heads + 2 kv) * head_dim]: q heads, k heads, v heads
//   k_cache, v_cache     [rows, kv, capacity, head_dim]
//   attention out        [rows, heads * head_dim]; q head h uses kv head h / (heads / kv)
//   gate_up              [rows, 2 * inter] (gate first), out [rows, inter]
//   logits               [rows, vocab]
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem::internal::kernels {

enum class elem : int { f32, f16, bf16 };

/// Shapes the kernels handle: even head_dim whose rows are 16-byte multiples
/// (head_dim * element size % 16 == 0) and at most 16 query heads per kv head.
bool supports(elem t, int head_dim, int heads, int kv);

const char* rms_norm(elem t, const void* x, const void* w, void* out, int rows, int dim,
                     float eps, void* stream);

struct rope_args {
  elem t = elem::bf16;
  void* qkv = nullptr;           // rotated in place (q and k heads)
  const float* inv_freq = nullptr; // [head_dim / 2]
  const int64_t* len = nullptr;  // [rows]: the slot each row writes (its position)
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  const void* q_norm = nullptr;  // [head_dim] gains, or null (no q/k norm)
  const void* k_norm = nullptr;
  float eps = 1e-6f;
  int rows = 0, heads = 0, kv = 0, head_dim = 0, capacity = 0;
};
const char* rope_store(const rope_args& a, void* stream);

struct attention_args {
  elem t = elem::bf16;
  const void* qkv = nullptr;     // q read from here (after rope_store)
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int64_t* len = nullptr;  // row r attends over slots [0, len[r]]
  void* out = nullptr;
  float* work = nullptr;         // attention_work_floats(...) floats
  float scale = 1.0f;
  int rows = 0, heads = 0, kv = 0, head_dim = 0, capacity = 0;
};
/// Scratch the split-context attention needs for these shapes.
size_t attention_work_floats(int rows, int heads, int kv, int head_dim, int capacity);
const char* decode_attention(const attention_args& a, void* stream);

const char* silu_mul(elem t, const void* gate_up, void* out, int rows, int inter, void* stream);

/// Row r: z = logits[r] / temperature; tokens[r] = the first id whose
/// cumulative exp(z - max) reaches u[r] times the row's total (u[r] in [0, 1));
/// logp[r] = log_softmax(z)[tokens[r]].
const char* sample_rows(elem t, const void* logits, int rows, int vocab, const float* u,
                        float temperature, int64_t* tokens, float* logp, void* stream);

} // namespace tandem::internal::kernels
