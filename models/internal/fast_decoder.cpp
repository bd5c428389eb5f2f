// fast_decoder.cpp: see fast_decoder.hpp.

#include "models/internal/fast_decoder.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>

#include <torch/version.h>

#include "models/rope.hpp"

#ifdef TANDEM_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include "models/internal/decode_kernels.hpp"
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace tandem::internal {

namespace F = torch::nn::functional;

namespace {

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return b.defined() ? F::linear(x, w, b) : F::linear(x, w);
}

/// q [B, kv, Lq, hd], k/v [B, kv, Lk, hd], keep bool [B, 1, Lq, Lk].
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& keep, double scale) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, keep, 0.0, false, scale);
#else
  auto s = torch::matmul(q, k.transpose(-2, -1)) * scale;
  s = s.masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(s, -1), v);
#endif
}

torch::Tensor param(const std::map<std::string, torch::Tensor>& m, const std::string& name,
                    bool required = true) {
  auto it = m.find(name);
  if (it == m.end()) {
    if (required)
      throw std::runtime_error("fast_decoder: the model has no parameter " + name);
    return {};
  }
  return it->second;
}

} // namespace

#ifdef TANDEM_WITH_CUDA
struct fast_decoder::graph_state {
  at::cuda::CUDAGraph graph;
};
// The fused step's static buffers (the graph captures their addresses).
struct fast_decoder::fused_state {
  kernels::elem t;
  torch::Tensor x;      // [R, D] residual stream
  torch::Tensor h;      // [R, D] normed input of a projection
  torch::Tensor qkv;    // [R, (heads + 2 kv) * head_dim]
  torch::Tensor attn;   // [R, heads * head_dim]
  torch::Tensor gu;     // [R, 2 * intermediate]
  torch::Tensor act;    // [R, intermediate]
  torch::Tensor logits; // [R, vocab] in the decoder's dtype
  torch::Tensor work;   // float32 scratch of the split-context attention
};

namespace {

void check_launch(const char* err, const char* what) {
  if (err)
    throw std::runtime_error(std::string("fast_decoder: ") + what + ": " + err);
}

kernels::elem elem_of(torch::ScalarType t) {
  return t == torch::kBFloat16 ? kernels::elem::bf16
         : t == torch::kHalf   ? kernels::elem::f16
                               : kernels::elem::f32;
}

void* stream_of(const torch::Device& d) {
  return c10::cuda::getCurrentCUDAStream(d.index()).stream();
}

} // namespace
#else
struct fast_decoder::graph_state {};
struct fast_decoder::fused_state {};
#endif

fast_decoder::fast_decoder(const model_config& cfg, torch::Device device,
                           torch::ScalarType dtype, int64_t rows, int64_t capacity)
  : cfg_(cfg), device_(device), dtype_(dtype), rows_(rows), capacity_(capacity),
    head_dim_(head_dim_of(cfg)), rep_(cfg.num_heads / cfg.num_kv_heads) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(device_);
  auto i64 = torch::TensorOptions().dtype(torch::kLong).device(device_);
  auto dt = torch::TensorOptions().dtype(dtype_).device(device_);
  inv_freq_ = torch::tensor(rope_inv_freq(cfg), torch::kFloat).to(device_); // models/rope.hpp
  for (int32_t i = 0; i < cfg.num_layers; ++i) {
    k_cache_.push_back(torch::zeros({rows_, cfg.num_kv_heads, capacity_, head_dim_}, dt));
    v_cache_.push_back(torch::zeros({rows_, cfg.num_kv_heads, capacity_, head_dim_}, dt));
  }
  len_ = torch::zeros({rows_}, i64);
  slots_ = torch::arange(capacity_, i64);
  in_tokens_ = torch::zeros({rows_}, i64);
  out_logits_ = torch::zeros({rows_, cfg.vocab_size}, f32);
}

fast_decoder::~fast_decoder() = default;

void fast_decoder::load(const transformer& model) {
  std::map<std::string, torch::Tensor> m;
  for (const auto& item : model->named_parameters(true))
    m[item.key()] = item.value();
  load(m);
}

void fast_decoder::load(const std::map<std::string, torch::Tensor>& m) {
  torch::NoGradGuard no_grad;
  // Copies the sources, concatenated along dim 0, into `dst` (allocated on
  // first use; later loads overwrite it in place).
  auto put = [&](torch::Tensor& dst, std::vector<torch::Tensor> srcs) {
    srcs.erase(std::remove_if(srcs.begin(), srcs.end(),
                              [](const torch::Tensor& t) { return !t.defined(); }),
               srcs.end());
    if (srcs.empty())
      return;
    auto src = srcs.size() == 1 ? srcs[0] : torch::cat(srcs, 0);
    if (!dst.defined())
      dst = torch::empty(src.sizes(), torch::TensorOptions().dtype(dtype_).device(device_));
    dst.copy_(src);
  };
  put(embed_w_, {param(m, "embed_tokens.weight")});
  put(norm_w_, {param(m, "norm.weight")});
  put(lm_head_w_, {param(m, "lm_head.weight", !cfg_.tie_embeddings)});
  layers_.resize(static_cast<size_t>(cfg_.num_layers));
  for (int32_t i = 0; i < cfg_.num_layers; ++i) {
    auto p = "layers." + std::to_string(i) + ".";
    auto a = p + "self_attn.";
    auto& l = layers_[static_cast<size_t>(i)];
    put(l.ln1, {param(m, p + "input_layernorm.weight")});
    put(l.ln2, {param(m, p + "post_attention_layernorm.weight")});
    put(l.qkv_w, {param(m, a + "q_proj.weight"), param(m, a + "k_proj.weight"),
                  param(m, a + "v_proj.weight")});
    put(l.qkv_b, {param(m, a + "q_proj.bias", false), param(m, a + "k_proj.bias", false),
                  param(m, a + "v_proj.bias", false)});
    put(l.o_w, {param(m, a + "o_proj.weight")});
    put(l.q_norm, {param(m, a + "q_norm.weight", cfg_.qk_norm)});
    put(l.k_norm, {param(m, a + "k_norm.weight", cfg_.qk_norm)});
    put(l.gate_up_w, {param(m, p + "mlp.gate_proj.weight"), param(m, p + "mlp.up_proj.weight")});
    put(l.down_w, {param(m, p + "mlp.down_proj.weight")});
  }
}

torch::Tensor fast_decoder::embed(const torch::Tensor& tokens) const {
  return torch::embedding(embed_w_, tokens);
}

// Hugging Face's LlamaRMSNorm: float32 statistics, cast back, then the gain.
torch::Tensor fast_decoder::rms(const torch::Tensor& x, const torch::Tensor& w) const {
  auto xf = x.to(torch::kFloat);
  xf = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + cfg_.rms_norm_eps);
  return w * xf.to(dtype_);
}

torch::Tensor fast_decoder::mlp(const fast_layer& l, const torch::Tensor& x) const {
  auto gu = F::linear(rms(x, l.ln2), l.gate_up_w);
  const auto inter = static_cast<int64_t>(cfg_.intermediate_size);
  return F::linear(torch::silu(gu.narrow(-1, 0, inter)) * gu.narrow(-1, inter, inter), l.down_w);
}

// Qwen3: each head's q and k through its RMSNorm (transformers' q_norm /
// k_norm), before rotary; qk [B, heads + kv, S, head_dim].
torch::Tensor fast_decoder::norm_qk(const fast_layer& l, const torch::Tensor& qk) const {
  if (!l.q_norm.defined())
    return qk;
  const auto heads = static_cast<int64_t>(cfg_.num_heads);
  return torch::cat({rms(qk.narrow(1, 0, heads), l.q_norm),
                     rms(qk.narrow(1, heads, cfg_.num_kv_heads), l.k_norm)}, 1);
}

torch::Tensor fast_decoder::rope(const torch::Tensor& qk, const torch::Tensor& cos,
                                 const torch::Tensor& sin) const {
  return qk * cos + rotate_half(qk) * sin;
}

torch::Tensor fast_decoder::head(const torch::Tensor& h) const {
  return F::linear(rms(h, norm_w_), lm_head_w_.defined() ? lm_head_w_ : embed_w_)
    .to(torch::kFloat);
}

torch::Tensor fast_decoder::prefill(const std::vector<int64_t>& rows,
                                    const std::vector<std::vector<int32_t>>& prompts) {
  const auto n = static_cast<int64_t>(prompts.size());
  int64_t p = 0;
  for (auto& pr : prompts)
    p = std::max<int64_t>(p, static_cast<int64_t>(pr.size()));
  if (p > capacity_ || p == 0 || static_cast<int64_t>(rows.size()) != n)
    throw std::runtime_error("fast_decoder::prefill: bad prompt lengths or rows");
  std::vector<int64_t> tok(static_cast<size_t>(n * p), 0), lens(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    lens[i] = static_cast<int64_t>(prompts[i].size());
    std::copy(prompts[i].begin(), prompts[i].end(), tok.begin() + i * p);
  }
  auto i64 = torch::TensorOptions().dtype(torch::kLong);
  auto tokens = torch::from_blob(tok.data(), {n, p}, i64).to(device_);
  auto len = torch::from_blob(lens.data(), {n}, i64).to(device_);
  auto row_idx = torch::from_blob(const_cast<int64_t*>(rows.data()), {n}, i64).to(device_);
  auto pos = slots_.narrow(0, 0, p);
  auto freqs = pos.to(torch::kFloat).unsqueeze(-1) * inv_freq_;
  auto emb = torch::cat({freqs, freqs}, -1).view({1, 1, p, head_dim_});
  auto cos = emb.cos().to(dtype_), sin = emb.sin().to(dtype_);
  auto causal = pos.unsqueeze(1) >= pos.unsqueeze(0);                        // [p, p]
  auto keep = causal.unsqueeze(0) & (pos.unsqueeze(0) < len.unsqueeze(1)).unsqueeze(1); // [n,p,p]
  keep = keep.unsqueeze(1).unsqueeze(2).expand({n, 1, rep_, p, p}).reshape({n, 1, rep_ * p, p});
  const auto kv = cfg_.num_kv_heads;
  const double scale = 1.0 / std::sqrt(double(head_dim_));
  auto x = embed(tokens);
  const auto heads = static_cast<int64_t>(cfg_.num_heads);
  for (size_t li = 0; li < layers_.size(); ++li) {
    auto& l = layers_[li];
    auto qkv = linear(rms(x, l.ln1), l.qkv_w, l.qkv_b).view({n, p, heads + 2 * kv, head_dim_})
                 .transpose(1, 2); // [n, heads + 2 kv, p, hd]
    auto qk = rope(norm_qk(l, qkv.narrow(1, 0, heads + kv)), cos, sin);
    auto q = qk.narrow(1, 0, heads);
    auto k = qk.narrow(1, heads, kv);
    auto v = qkv.narrow(1, heads + kv, kv);
    for (int64_t i = 0; i < n; ++i) {
      k_cache_[li][rows[i]].narrow(1, 0, p).copy_(k[i]);
      v_cache_[li][rows[i]].narrow(1, 0, p).copy_(v[i]);
    }
    auto a = attend(q.reshape({n, kv, rep_ * p, head_dim_}), k, v, keep, scale);
    a = a.reshape({n, heads, p, head_dim_}).transpose(1, 2).reshape({n, p, -1});
    x = x + F::linear(a, l.o_w);
    x = x + mlp(l, x);
  }
  len_.index_put_({row_idx}, len);
  auto last = x.gather(1, (len - 1).view({n, 1, 1}).expand({n, 1, x.size(2)})); // [n,1,D]
  return head(last).squeeze(1);
}

void fast_decoder::decode_core() {
  if (fused_) {
    decode_fused();
    return;
  }
  const auto r = rows_;
  const auto kv = cfg_.num_kv_heads;
  const double scale = 1.0 / std::sqrt(double(head_dim_));
  auto freqs = len_.to(torch::kFloat).unsqueeze(-1) * inv_freq_;            // [R, hd/2]
  auto emb = torch::cat({freqs, freqs}, -1).view({r, 1, 1, head_dim_});
  auto cos = emb.cos().to(dtype_), sin = emb.sin().to(dtype_);
  auto keep = (slots_.unsqueeze(0) <= len_.unsqueeze(1)).view({r, 1, 1, capacity_});
  auto at = len_.view({r, 1, 1, 1}).expand({r, kv, 1, head_dim_});
  const auto heads = static_cast<int64_t>(cfg_.num_heads);
  auto x = embed(in_tokens_).unsqueeze(1); // [R, 1, D]
  for (size_t li = 0; li < layers_.size(); ++li) {
    auto& l = layers_[li];
    auto qkv = linear(rms(x, l.ln1), l.qkv_w, l.qkv_b).view({r, heads + 2 * kv, 1, head_dim_});
    auto qk = rope(norm_qk(l, qkv.narrow(1, 0, heads + kv)), cos, sin);
    k_cache_[li].scatter_(2, at, qk.narrow(1, heads, kv));
    v_cache_[li].scatter_(2, at, qkv.narrow(1, heads + kv, kv));
    auto q = qk.narrow(1, 0, heads).reshape({r, kv, rep_, head_dim_});
    auto a = attend(q, k_cache_[li], v_cache_[li], keep, scale);
    x = x + F::linear(a.reshape({r, 1, heads * head_dim_}), l.o_w);
    x = x + mlp(l, x);
  }
  out_logits_.copy_(head(x).squeeze(1));
  // Every row advanced one slot; idle rows are clamped so writes stay in range.
  len_.add_(1).clamp_max_(capacity_ - 1);
}

torch::Tensor fast_decoder::decode(const torch::Tensor& tokens) {
  auto logits = decode_raw(tokens);
  if (logits.data_ptr() != out_logits_.data_ptr())
    out_logits_.copy_(logits);
  return out_logits_;
}

torch::Tensor fast_decoder::decode_raw(const torch::Tensor& tokens) {
  in_tokens_.copy_(tokens);
#ifdef TANDEM_WITH_CUDA
  if (graph_)
    graph_->graph.replay();
  else
    decode_core();
  return fused_ ? fused_->logits : out_logits_;
#else
  decode_core();
  return out_logits_;
#endif
}

#ifdef TANDEM_WITH_CUDA
bool fast_decoder::enable_kernels() {
  if (fused_ || !device_.is_cuda() || graph_)
    return static_cast<bool>(fused_);
  auto t = elem_of(dtype_);
  const auto heads = static_cast<int>(cfg_.num_heads), kv = static_cast<int>(cfg_.num_kv_heads);
  if (!kernels::supports(t, static_cast<int>(head_dim_), heads, kv))
    return false;
  auto f = std::make_unique<fused_state>();
  f->t = t;
  auto dt = torch::TensorOptions().dtype(dtype_).device(device_);
  const int64_t d = cfg_.hidden_size, inter = cfg_.intermediate_size;
  f->x = torch::zeros({rows_, d}, dt);
  f->h = torch::zeros({rows_, d}, dt);
  f->qkv = torch::zeros({rows_, (heads + 2 * kv) * head_dim_}, dt);
  f->attn = torch::zeros({rows_, heads * head_dim_}, dt);
  f->gu = torch::zeros({rows_, 2 * inter}, dt);
  f->act = torch::zeros({rows_, inter}, dt);
  f->logits = torch::zeros({rows_, static_cast<int64_t>(cfg_.vocab_size)}, dt);
  const auto work = kernels::attention_work_floats(static_cast<int>(rows_), heads, kv,
                                                   static_cast<int>(head_dim_),
                                                   static_cast<int>(capacity_));
  f->work = torch::zeros({static_cast<int64_t>(work)},
                         torch::TensorOptions().dtype(torch::kFloat).device(device_));
  fused_ = std::move(f);
  return true;
}

// One decode step through the fused kernels: per layer RMSNorm, the qkv GEMM
// (bias fused), rotary + cache store, attention (two kernels), the o GEMM
// adding into the residual, RMSNorm, the gate/up GEMM, SwiGLU and the down
// GEMM adding into the residual.
void fast_decoder::decode_fused() {
  auto& f = *fused_;
  void* st = stream_of(device_);
  const int rows = static_cast<int>(rows_), heads = static_cast<int>(cfg_.num_heads),
            kv = static_cast<int>(cfg_.num_kv_heads), hd = static_cast<int>(head_dim_);
  const int d = static_cast<int>(cfg_.hidden_size), inter = static_cast<int>(cfg_.intermediate_size);
  const auto eps = static_cast<float>(cfg_.rms_norm_eps);
  at::index_select_out(f.x, embed_w_, 0, in_tokens_);
  for (auto& l : layers_) {
    size_t li = static_cast<size_t>(&l - layers_.data());
    check_launch(kernels::rms_norm(f.t, f.x.data_ptr(), l.ln1.data_ptr(), f.h.data_ptr(), rows, d,
                                   eps, st), "rms_norm");
    if (l.qkv_b.defined())
      at::addmm_out(f.qkv, l.qkv_b, f.h, l.qkv_w.t());
    else
      at::mm_out(f.qkv, f.h, l.qkv_w.t());
    kernels::rope_args ra;
    ra.t = f.t;
    ra.qkv = f.qkv.data_ptr();
    ra.inv_freq = inv_freq_.data_ptr<float>();
    ra.len = len_.data_ptr<int64_t>();
    ra.k_cache = k_cache_[li].data_ptr();
    ra.v_cache = v_cache_[li].data_ptr();
    ra.q_norm = l.q_norm.defined() ? l.q_norm.data_ptr() : nullptr;
    ra.k_norm = l.k_norm.defined() ? l.k_norm.data_ptr() : nullptr;
    ra.eps = eps;
    ra.rows = rows, ra.heads = heads, ra.kv = kv, ra.head_dim = hd;
    ra.capacity = static_cast<int>(capacity_);
    check_launch(kernels::rope_store(ra, st), "rope_store");
    kernels::attention_args aa;
    aa.t = f.t;
    aa.qkv = f.qkv.data_ptr();
    aa.k_cache = k_cache_[li].data_ptr();
    aa.v_cache = v_cache_[li].data_ptr();
    aa.len = len_.data_ptr<int64_t>();
    aa.out = f.attn.data_ptr();
    aa.work = f.work.data_ptr<float>();
    aa.scale = static_cast<float>(1.0 / std::sqrt(double(head_dim_)));
    aa.rows = rows, aa.heads = heads, aa.kv = kv, aa.head_dim = hd;
    aa.capacity = static_cast<int>(capacity_);
    check_launch(kernels::decode_attention(aa, st), "decode_attention");
    f.x.addmm_(f.attn, l.o_w.t());
    check_launch(kernels::rms_norm(f.t, f.x.data_ptr(), l.ln2.data_ptr(), f.h.data_ptr(), rows, d,
                                   eps, st), "rms_norm");
    at::mm_out(f.gu, f.h, l.gate_up_w.t());
    check_launch(kernels::silu_mul(f.t, f.gu.data_ptr(), f.act.data_ptr(), rows, inter, st),
                 "silu_mul");
    f.x.addmm_(f.act, l.down_w.t());
  }
  check_launch(kernels::rms_norm(f.t, f.x.data_ptr(), norm_w_.data_ptr(), f.h.data_ptr(), rows, d,
                                 eps, st), "rms_norm");
  at::mm_out(f.logits, f.h, (lm_head_w_.defined() ? lm_head_w_ : embed_w_).t());
  // Every row advanced one slot; idle rows are clamped so writes stay in range.
  len_.add_(1).clamp_max_(capacity_ - 1);
}

std::pair<torch::Tensor, torch::Tensor> fast_decoder::sample(const torch::Tensor& logits,
                                                             const torch::Tensor& uniforms,
                                                             double temperature) {
  if (!fused_)
    throw std::runtime_error("fast_decoder::sample: fused kernels are not enabled");
  const auto n = logits.size(0);
  auto tokens = torch::empty({n}, torch::TensorOptions().dtype(torch::kLong).device(device_));
  auto logp = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  auto t = elem_of(logits.scalar_type());
  auto lg = logits.contiguous();
  auto u = uniforms.to(torch::kFloat).contiguous();
  check_launch(kernels::sample_rows(t, lg.data_ptr(), static_cast<int>(n),
                                    static_cast<int>(lg.size(1)), u.data_ptr<float>(),
                                    static_cast<float>(temperature), tokens.data_ptr<int64_t>(),
                                    logp.data_ptr<float>(), stream_of(device_)),
               "sample_rows");
  return {tokens, logp};
}
#else
bool fast_decoder::enable_kernels() { return false; }
void fast_decoder::decode_fused() {}
std::pair<torch::Tensor, torch::Tensor> fast_decoder::sample(const torch::Tensor&,
                                                             const torch::Tensor&, double) {
  throw std::runtime_error("fast_decoder::sample: this build has no CUDA kernels");
}
#endif

bool fast_decoder::enable_graph() {
#ifdef TANDEM_WITH_CUDA
  if (!device_.is_cuda() || graph_)
    return static_cast<bool>(graph_);
  // Capture on this decoder's GPU: a stream of another device (the thread's
  // current one, e.g. the learner's GPU 0) would record an empty graph.
  const auto index = device_.has_index() ? device_.index() : c10::cuda::current_device();
  c10::cuda::CUDAGuard device_guard(index);
  auto saved = len_.clone();
  auto stream = c10::cuda::getStreamFromPool(false, index);
  stream.synchronize();
  {
    c10::cuda::CUDAStreamGuard guard(stream);
    // Warm-up outside the capture (cuBLAS workspaces, allocator pools).
    for (int i = 0; i < 3; ++i)
      decode_core();
    stream.synchronize();
    auto g = std::make_unique<graph_state>();
    g->graph.capture_begin();
    decode_core();
    g->graph.capture_end();
    graph_ = std::move(g);
    len_.copy_(saved);
    stream.synchronize();
  }
  return true;
#else
  return false;
#endif
}

void fast_decoder::fork_rows(const std::vector<int64_t>& from, const std::vector<int64_t>& to,
                             int64_t slots) {
  const auto n = static_cast<int64_t>(from.size());
  if (n == 0)
    return;
  if (static_cast<int64_t>(to.size()) != n || slots < 1 || slots > capacity_)
    throw std::runtime_error("fast_decoder::fork_rows: bad rows or slot count");
  auto i64 = torch::TensorOptions().dtype(torch::kLong);
  auto src = torch::from_blob(const_cast<int64_t*>(from.data()), {n}, i64).to(device_);
  auto dst = torch::from_blob(const_cast<int64_t*>(to.data()), {n}, i64).to(device_);
  // Slots past a source's length are copied too; they are masked out and
  // overwritten by decode like any row's free slots.
  for (auto* cache : {&k_cache_, &v_cache_})
    for (auto& layer : *cache) {
      auto prefix = layer.narrow(2, 0, slots);
      prefix.index_copy_(0, dst, prefix.index_select(0, src));
    }
  len_.index_copy_(0, dst, len_.index_select(0, src));
}

} // namespace tandem::internal
