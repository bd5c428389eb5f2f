// decode_kernels.cu: see decode_kernels.hpp.
#include "models/internal/decode_kernels.hpp"

#include <cfloat>
#include <cmath>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace tandem::internal::kernels {

namespace {

// Attention: positions per block of the split-context pass, and its threads
// (one position each). 128 keeps a block's scores in 8 KiB of shared memory
// at 16 heads and gives a 512-token context 4 blocks per (row, kv head).
constexpr int chunk = 128;
// Query heads per kv head a block holds in registers (GQA groups seen in the
// families tandem loads are 1 to 8; 16 leaves room).
constexpr int max_rep = 16;

template <class T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_f<__half>(__half x) { return __half2float(x); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <class T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

/// x rounded to T and back: where LibTorch stores an intermediate in T.
template <class T> __device__ __forceinline__ float rt(float x) { return to_f(from_f<T>(x)); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); every
/// thread gets the result. `red` holds 32 floats.
__device__ float block_sum(float v, float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads(); // red may still be read by a previous call
  if (lane == 0)
    red[warp] = v;
  __syncthreads();
  v = lane < warps ? red[lane] : 0.0f;
  return warp_sum(v);
}

const char* launched() {
  auto err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

// ---- RMSNorm: one block per row -------------------------------------------

template <class T>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                T* __restrict__ out, int dim, float eps) {
  __shared__ float red[32];
  const T* xr = x + static_cast<size_t>(blockIdx.x) * dim;
  T* o = out + static_cast<size_t>(blockIdx.x) * dim;
  float ss = 0;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = to_f(xr[i]);
    ss += v * v;
  }
  const float inv = rsqrtf(block_sum(ss, red) / static_cast<float>(dim) + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x)
    o[i] = from_f<T>(to_f(w[i]) * rt<T>(to_f(xr[i]) * inv));
}

// ---- q/k norm, rotary and cache store: one warp per (row, head) ------------

template <class T>
__global__ void rope_store_kernel(rope_args a) {
  const int warp = static_cast<int>((blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  const int lane = threadIdx.x & 31;
  const int slots = a.heads + 2 * a.kv;
  if (warp >= a.rows * slots)
    return;
  const int r = warp / slots, s = warp % slots, hd = a.head_dim, half = hd / 2;
  T* x = static_cast<T*>(a.qkv) + static_cast<size_t>(r) * slots * hd + static_cast<size_t>(s) * hd;
  const int64_t pos = a.len[r];
  auto cache_row = [&](void* cache, int g) {
    return static_cast<T*>(cache) + ((static_cast<size_t>(r) * a.kv + g) * a.capacity + pos) * hd;
  };
  if (s >= a.heads + a.kv) { // a value head: stored as it is
    T* dst = cache_row(a.v_cache, s - a.heads - a.kv);
    for (int i = lane; i < hd; i += 32)
      dst[i] = x[i];
    return;
  }
  const bool is_k = s >= a.heads;
  const T* gain = static_cast<const T*>(is_k ? a.k_norm : a.q_norm);
  float inv = 1.0f;
  if (gain) {
    float ss = 0;
    for (int i = lane; i < hd; i += 32) {
      const float v = to_f(x[i]);
      ss += v * v;
    }
    inv = rsqrtf(warp_sum(ss) / static_cast<float>(hd) + a.eps);
  }
  T* dst = is_k ? cache_row(a.k_cache, s - a.heads) : nullptr;
  for (int i = lane; i < half; i += 32) {
    float x1 = to_f(x[i]), x2 = to_f(x[i + half]);
    if (gain) {
      x1 = rt<T>(to_f(gain[i]) * rt<T>(x1 * inv));
      x2 = rt<T>(to_f(gain[i + half]) * rt<T>(x2 * inv));
    }
    const float f = static_cast<float>(pos) * a.inv_freq[i];
    const float c = rt<T>(cosf(f)), sn = rt<T>(sinf(f));
    const T o1 = from_f<T>(rt<T>(x1 * c) - rt<T>(x2 * sn));
    const T o2 = from_f<T>(rt<T>(x2 * c) + rt<T>(x1 * sn));
    x[i] = o1;
    x[i + half] = o2;
    if (dst) {
      dst[i] = o1;
      dst[i + half] = o2;
    }
  }
}

// ---- attention over the live context --------------------------------------
//
// Pass 1, grid (splits, kv, rows), `chunk` threads: block (c, g, r) scores
// positions [c * chunk, min((c + 1) * chunk, len[r] + 1)) against the rep
// query heads of kv head g, and leaves per head the chunk's max m, its sum of
// exp(s - m) l and its unnormalised output acc in `work`. A chunk past the
// row's length returns at once. Pass 2, one block per (row, head), merges the
// row's chunks: out = sum exp(m_c - M) acc_c / sum exp(m_c - M) l_c.

struct work_layout {
  int rep, hd, splits;
  __device__ __host__ size_t per_block() const { return static_cast<size_t>(rep) * (hd + 2); }
  __device__ float* block(float* w, int r, int g, int kv, int c) const {
    return w + ((static_cast<size_t>(r) * kv + g) * splits + c) * per_block();
  }
};

template <class T>
__global__ void attention_chunks(attention_args a, work_layout L) {
  const int c = blockIdx.x, g = blockIdx.y, r = blockIdx.z;
  const int hd = a.head_dim, rep = L.rep, t = threadIdx.x;
  const int64_t n = a.len[r] + 1; // slots [0, len] are attended
  const int p0 = c * chunk;
  if (p0 >= n)
    return;
  const int valid = n - p0 < chunk ? static_cast<int>(n - p0) : chunk;
  extern __shared__ float sm[];
  float* q_s = sm;                // [rep][hd], scaled
  float* p_s = sm + rep * hd;     // [rep][chunk]
  const int slots = a.heads + 2 * a.kv;
  const T* q = static_cast<const T*>(a.qkv) + static_cast<size_t>(r) * slots * hd
               + static_cast<size_t>(g) * rep * hd;
  for (int i = t; i < rep * hd; i += blockDim.x)
    q_s[i] = to_f(q[i]) * a.scale;
  __syncthreads();

  const size_t head_base = (static_cast<size_t>(r) * a.kv + g) * a.capacity;
  const T* kc = static_cast<const T*>(a.k_cache) + head_base * hd;
  const T* vc = static_cast<const T*>(a.v_cache) + head_base * hd;
  float acc[max_rep];
#pragma unroll
  for (int h = 0; h < max_rep; ++h)
    acc[h] = 0.0f;
  if (t < valid) {
    constexpr int per_vec = 16 / static_cast<int>(sizeof(T));
    const uint4* kv4 = reinterpret_cast<const uint4*>(kc + static_cast<size_t>(p0 + t) * hd);
    for (int j = 0; j < hd / per_vec; ++j) {
      const uint4 raw = kv4[j];
      const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
      for (int k = 0; k < per_vec; ++k) {
        const float kx = to_f(e[k]);
        const float* qd = q_s + j * per_vec + k;
#pragma unroll
        for (int h = 0; h < max_rep; ++h)
          if (h < rep)
            acc[h] += qd[h * hd] * kx;
      }
    }
  }
#pragma unroll
  for (int h = 0; h < max_rep; ++h)
    if (h < rep)
      p_s[h * chunk + t] = t < valid ? acc[h] : -INFINITY;
  __syncthreads();

  float* w = L.block(a.work, r, g, a.kv, c);
  const int lane = t & 31, warp = t >> 5, warps = blockDim.x >> 5;
  for (int h = warp; h < rep; h += warps) {
    float m = -INFINITY;
    for (int i = lane; i < chunk; i += 32)
      m = fmaxf(m, p_s[h * chunk + i]);
    m = warp_max(m); // finite: position p0 is valid
    float l = 0;
    for (int i = lane; i < chunk; i += 32) {
      const float e = __expf(p_s[h * chunk + i] - m);
      p_s[h * chunk + i] = e;
      l += e;
    }
    l = warp_sum(l);
    if (lane == 0) {
      w[h] = m;
      w[rep + h] = l;
    }
  }
  __syncthreads();
  for (int o = t; o < rep * hd; o += blockDim.x) {
    const int h = o / hd, d = o % hd;
    const float* p = p_s + h * chunk;
    const T* v = vc + static_cast<size_t>(p0) * hd + d;
    float s = 0;
    for (int i = 0; i < valid; ++i)
      s += p[i] * to_f(v[static_cast<size_t>(i) * hd]);
    w[2 * rep + o] = s;
  }
}

template <class T>
__global__ void attention_merge(attention_args a, work_layout L) {
  const int r = blockIdx.x / a.heads, h = blockIdx.x % a.heads;
  const int g = h / L.rep, j = h % L.rep, hd = a.head_dim;
  const int splits = static_cast<int>((a.len[r] + 1 + chunk - 1) / chunk);
  float big = -INFINITY;
  for (int c = 0; c < splits; ++c)
    big = fmaxf(big, L.block(a.work, r, g, a.kv, c)[j]);
  float den = 0;
  for (int c = 0; c < splits; ++c) {
    const float* w = L.block(a.work, r, g, a.kv, c);
    den += __expf(w[j] - big) * w[L.rep + j];
  }
  T* out = static_cast<T*>(a.out) + static_cast<size_t>(r) * a.heads * hd + static_cast<size_t>(h) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float num = 0;
    for (int c = 0; c < splits; ++c) {
      const float* w = L.block(a.work, r, g, a.kv, c);
      num += __expf(w[j] - big) * w[2 * L.rep + j * hd + d];
    }
    out[d] = from_f<T>(num / den);
  }
}

// ---- SwiGLU ----------------------------------------------------------------

template <class T>
__global__ void silu_mul_kernel(const T* __restrict__ gu, T* __restrict__ out, int rows, int inter) {
  const size_t n = static_cast<size_t>(rows) * inter;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = i / inter, k = i % inter;
    const float g = to_f(gu[r * 2 * inter + k]);
    const float u = to_f(gu[r * 2 * inter + inter + k]);
    out[i] = from_f<T>(rt<T>(g / (1.0f + expf(-g))) * u);
  }
}

// ---- the draw: one block of `draw_threads` per row ---------------------------

constexpr int draw_threads = 1024;

/// Inclusive prefix sum over the block; `red` holds 32 floats. Returns the
/// thread's inclusive sum; *total gets the block's.
__device__ float block_scan(float v, float* red, float* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int o = 1; o < 32; o <<= 1) {
    const float y = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o)
      v += y;
  }
  __syncthreads();
  if (lane == 31)
    red[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float s = lane < warps ? red[lane] : 0.0f;
    for (int o = 1; o < 32; o <<= 1) {
      const float y = __shfl_up_sync(0xffffffffu, s, o);
      if (lane >= o)
        s += y;
    }
    red[lane] = s; // inclusive over warps
  }
  __syncthreads();
  *total = red[warps - 1];
  return v + (warp > 0 ? red[warp - 1] : 0.0f);
}

template <class T>
__global__ void sample_kernel(const T* __restrict__ logits, int vocab, const float* __restrict__ u,
                              float temperature, int64_t* tokens, float* logp) {
  __shared__ float red[32];
  __shared__ float red_m[32];
  __shared__ float incl_s[draw_threads];
  __shared__ int found;
  const int r = blockIdx.x, t = threadIdx.x;
  const T* x = logits + static_cast<size_t>(r) * vocab;
  float m = -INFINITY;
  for (int i = t; i < vocab; i += blockDim.x)
    m = fmaxf(m, to_f(x[i]) / temperature);
  m = warp_max(m);
  if ((t & 31) == 0)
    red_m[t >> 5] = m;
  if (t == 0)
    found = vocab - 1; // LibTorch's clamp when the target passes the total
  __syncthreads();
  m = -INFINITY;
  for (int i = 0; i < (blockDim.x >> 5); ++i)
    m = fmaxf(m, red_m[i]);
  // Contiguous segments, so the prefix over threads is the prefix over ids.
  const int seg = (vocab + blockDim.x - 1) / blockDim.x;
  const int lo = min(vocab, t * seg), hi = min(vocab, lo + seg);
  float w = 0;
  for (int i = lo; i < hi; ++i)
    w += __expf(to_f(x[i]) / temperature - m);
  float total = 0;
  const float incl = block_scan(w, red, &total);
  incl_s[t] = incl;
  __syncthreads();
  // The segment holding the draw is the first whose inclusive prefix reaches
  // the target; taking the previous thread's prefix as this one's start
  // leaves no gap between segments whatever the scan's rounding, and
  // atomicMin keeps the first where rounding makes two qualify.
  const float excl = t > 0 ? incl_s[t - 1] : 0.0f;
  // Clamped to the last segment's end, which can round below the scan's
  // total: the segments then cover (0, target] whatever u is.
  const float target = fminf(u[r] * total, incl_s[blockDim.x - 1]);
  if (target <= 0.0f) {
    if (t == 0)
      found = 0;
  } else if (excl < target && target <= incl) {
    float c = 0;
    int pick = -1, last = lo;
    for (int i = lo; i < hi; ++i) {
      const float e = __expf(to_f(x[i]) / temperature - m);
      c += e;
      if (e > 0.0f)
        last = i;
      if (excl + c >= target) {
        pick = i;
        break;
      }
    }
    atomicMin(&found, pick >= 0 ? pick : last); // last: the prefix fell short by rounding
  }
  __syncthreads();
  if (t == 0) {
    const int tok = found;
    tokens[r] = tok;
    logp[r] = to_f(x[tok]) / temperature - m - logf(total);
  }
}

template <class F>
const char* dispatch(elem t, F&& f) {
  switch (t) {
    case elem::f32: f(float{}); break;
    case elem::f16: f(__half{}); break;
    case elem::bf16: f(__nv_bfloat16{}); break;
  }
  return launched();
}

int cdiv(size_t a, size_t b) { return static_cast<int>((a + b - 1) / b); }

size_t elem_size(elem t) { return t == elem::f32 ? 4 : 2; }

} // namespace

bool supports(elem t, int head_dim, int heads, int kv) {
  return head_dim > 0 && head_dim % 2 == 0 && (head_dim * elem_size(t)) % 16 == 0 && kv > 0
         && heads % kv == 0 && heads / kv <= max_rep;
}

const char* rms_norm(elem t, const void* x, const void* w, void* out, int rows, int dim, float eps,
                     void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  const int threads = dim >= 1024 ? 256 : 128;
  return dispatch(t, [&](auto z) {
    using T = decltype(z);
    rms_norm_kernel<T><<<rows, threads, 0, s>>>(static_cast<const T*>(x),
                                                static_cast<const T*>(w), static_cast<T*>(out),
                                                dim, eps);
  });
}

const char* rope_store(const rope_args& a, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  const size_t warps = static_cast<size_t>(a.rows) * (a.heads + 2 * a.kv);
  return dispatch(a.t, [&](auto z) {
    using T = decltype(z);
    rope_store_kernel<T><<<cdiv(warps * 32, 128), 128, 0, s>>>(a);
  });
}

size_t attention_work_floats(int rows, int heads, int kv, int head_dim, int capacity) {
  const size_t splits = static_cast<size_t>(cdiv(static_cast<size_t>(capacity), chunk));
  return static_cast<size_t>(rows) * kv * splits * (heads / kv) * (head_dim + 2);
}

const char* decode_attention(const attention_args& a, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  const work_layout L{a.heads / a.kv, a.head_dim, cdiv(static_cast<size_t>(a.capacity), chunk)};
  const size_t shared = static_cast<size_t>(L.rep) * (a.head_dim + chunk) * sizeof(float);
  const dim3 grid(static_cast<unsigned>(L.splits), static_cast<unsigned>(a.kv),
                  static_cast<unsigned>(a.rows));
  return dispatch(a.t, [&](auto z) {
    using T = decltype(z);
    attention_chunks<T><<<grid, chunk, shared, s>>>(a, L);
    attention_merge<T><<<a.rows * a.heads, a.head_dim >= 128 ? 128 : 64, 0, s>>>(a, L);
  });
}

const char* silu_mul(elem t, const void* gate_up, void* out, int rows, int inter, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  const size_t n = static_cast<size_t>(rows) * inter;
  const int blocks = cdiv(n, 256) < 65535 ? cdiv(n, 256) : 65535;
  return dispatch(t, [&](auto z) {
    using T = decltype(z);
    silu_mul_kernel<T><<<blocks, 256, 0, s>>>(static_cast<const T*>(gate_up), static_cast<T*>(out),
                                              rows, inter);
  });
}

const char* sample_rows(elem t, const void* logits, int rows, int vocab, const float* u,
                        float temperature, int64_t* tokens, float* logp, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  return dispatch(t, [&](auto z) {
    using T = decltype(z);
    sample_kernel<T><<<rows, draw_threads, 0, s>>>(static_cast<const T*>(logits), vocab, u,
                                                   temperature, tokens, logp);
  });
}

} // namespace tandem::internal::kernels
