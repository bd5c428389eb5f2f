// transformer.cpp: the Llama-layout decoder, its weight blob format and the
// learner-side packing. See transformer.hpp for the layout and invariants.
//
// Weight blob: raw little-endian float32 of every parameter, concatenated in
// registration order of named_parameters() (embed_tokens, layers.i.{self_attn
// q,k,v,o (each weight, then bias when attention_bias: q,k,v), then q_norm,
// k_norm when qk_norm; mlp
// gate,up,down; input_layernorm; post_attention_layernorm}, norm, lm_head
// unless tied). Row-major, as the tensors are laid out.
//
// Activation checkpointing: layer_checkpoint below is torch.utils.checkpoint's
// reentrant variant written as a custom autograd function (LibTorch C++ has no
// checkpoint utility).
//
// Thread safety: one thread at a time per transformer.

#include "models/internal/transformer.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include <torch/version.h>

#include "models/hf_checkpoint.hpp"
#include "models/internal/device_precision.hpp"
#include "models/rope.hpp"
#include "runtime/error.hpp"

namespace tandem::internal {

namespace {

torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias = false) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// HF rotate_half: (x1, x2) -> (-x2, x1) over the two halves of head_dim.
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  return torch::cat({-x2, x1}, -1);
}

torch::Tensor apply_rotary(const torch::Tensor& x, const rotary& rope) {
  return x * rope.cos + rotate_half(x) * rope.sin;
}

#if TORCH_VERSION_MAJOR >= 2
// Causal attention through the fused kernels; q [B, H, S, hd], k/v
// [B, KV, S, hd]. Query head h uses kv head h / rep (HF repeat_kv).
torch::Tensor fused_causal_attention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v,
                                     int64_t rep) {
  if (rep > 1) {
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
  // Under autocast the rotary products promote q and k to float32 while v
  // comes out of its projection in bf16; the kernel wants one dtype.
  const auto dtype = v.scalar_type();
  return at::scaled_dot_product_attention(q.to(dtype), k.to(dtype), v, {}, 0.0, true);
}
#endif

} // namespace

// --- modules ------------------------------------------------------------------

rms_norm_impl::rms_norm_impl(int64_t dim, double eps) : eps_(eps) {
  weight_ = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor rms_norm_impl::forward(const torch::Tensor& x) {
  auto var = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * torch::rsqrt(var + eps_) * weight_;
}

attention_impl::attention_impl(const model_config& cfg)
  : heads_(cfg.num_heads),
    kv_heads_(cfg.num_kv_heads),
    head_dim_(head_dim_of(cfg)) {
  const bool bias = cfg.attention_bias;
  q_proj_ = register_module("q_proj", make_linear(cfg.hidden_size, heads_ * head_dim_, bias));
  k_proj_ = register_module("k_proj", make_linear(cfg.hidden_size, kv_heads_ * head_dim_, bias));
  v_proj_ = register_module("v_proj", make_linear(cfg.hidden_size, kv_heads_ * head_dim_, bias));
  o_proj_ = register_module("o_proj", make_linear(heads_ * head_dim_, cfg.hidden_size));
  if (cfg.qk_norm) { // after o_proj: hf_export.cpp's policy_tensor_specs mirrors this order
    q_norm_ = register_module("q_norm", rms_norm(head_dim_, cfg.rms_norm_eps));
    k_norm_ = register_module("k_norm", rms_norm(head_dim_, cfg.rms_norm_eps));
  }
}

torch::Tensor attention_impl::forward(const torch::Tensor& x, const rotary& rope,
                                      const torch::Tensor& blocked,
                                      torch::Tensor* k_cache,
                                      torch::Tensor* v_cache, int64_t start) {
  const auto b = x.size(0);
  const auto s = x.size(1);
  auto q = q_proj_(x).view({b, s, heads_, head_dim_});
  auto k = k_proj_(x).view({b, s, kv_heads_, head_dim_});
  if (q_norm_) { // Qwen3: RMSNorm over each head's q and k, before rotary
    q = q_norm_(q);
    k = k_norm_(k);
  }
  q = apply_rotary(q.transpose(1, 2), rope);
  k = apply_rotary(k.transpose(1, 2), rope);
  auto v = v_proj_(x).view({b, s, kv_heads_, head_dim_}).transpose(1, 2);
  if (k_cache != nullptr) {
    k_cache->narrow(2, start, s).copy_(k);
    v_cache->narrow(2, start, s).copy_(v);
    k = k_cache->narrow(2, 0, start + s);
    v = v_cache->narrow(2, 0, start + s);
  }
  const auto rep = heads_ / kv_heads_;
  const auto sk = k.size(2);
  torch::Tensor mask = blocked;
  if (!mask.defined()) {
#if TORCH_VERSION_MAJOR >= 2
    if (k_cache == nullptr) {
      auto out = fused_causal_attention(q, k, v, rep);
      return o_proj_(out.transpose(1, 2).reshape({b, s, heads_ * head_dim_}));
    }
#endif
    // Query i sits at slot sk - s + i and sees the keys up to that slot.
    mask = torch::ones({s, sk}, torch::TensorOptions().dtype(torch::kBool).device(x.device()))
             .triu(sk - s + 1);
  }
  // Query head h uses kv head h / rep (HF repeat_kv). Folding the rep query
  // heads into the row dimension avoids copying the keys and values.
  auto qg = q.reshape({b, kv_heads_, rep * s, head_dim_});
  auto scores = torch::matmul(qg, k.transpose(-2, -1)) * (1.0 / std::sqrt(double(head_dim_)));
  scores = scores.view({b, kv_heads_, rep, s, sk})
             .masked_fill(mask, -std::numeric_limits<float>::infinity());
  auto probs = torch::softmax(scores, -1).view({b, kv_heads_, rep * s, sk});
  auto out = torch::matmul(probs, v).view({b, heads_, s, head_dim_});
  return o_proj_(out.transpose(1, 2).reshape({b, s, heads_ * head_dim_}));
}

mlp_impl::mlp_impl(const model_config& cfg) {
  gate_proj_ = register_module("gate_proj", make_linear(cfg.hidden_size, cfg.intermediate_size));
  up_proj_ = register_module("up_proj", make_linear(cfg.hidden_size, cfg.intermediate_size));
  down_proj_ = register_module("down_proj", make_linear(cfg.intermediate_size, cfg.hidden_size));
}

torch::Tensor mlp_impl::forward(const torch::Tensor& x) {
  return down_proj_(torch::silu(gate_proj_(x)) * up_proj_(x));
}

decoder_layer_impl::decoder_layer_impl(const model_config& cfg) {
  self_attn_ = register_module("self_attn", attention(cfg));
  mlp_ = register_module("mlp", mlp(cfg));
  input_layernorm_ = register_module("input_layernorm",
                                     rms_norm(cfg.hidden_size, cfg.rms_norm_eps));
  post_attention_layernorm_ = register_module(
    "post_attention_layernorm", rms_norm(cfg.hidden_size, cfg.rms_norm_eps));
}

torch::Tensor decoder_layer_impl::forward(const torch::Tensor& x, const rotary& rope,
                                          const torch::Tensor& blocked,
                                          torch::Tensor* k_cache,
                                          torch::Tensor* v_cache, int64_t start) {
  auto h = x + self_attn_(input_layernorm_(x), rope, blocked, k_cache, v_cache, start);
  return h + mlp_(post_attention_layernorm_(h));
}

namespace {

// What a checkpointed layer needs besides its input; not autograd inputs.
struct layer_context {
  rotary rope;
  torch::Tensor blocked; // may be undefined (plain causal)
};

// One decoder layer, checkpointed. Forward runs without a graph (apply()
// turns grad mode off) and keeps only the layer's input. Backward recomputes
// the layer with grad, under the forward's autocast state, and
// back-propagates through the recomputation (a reentrant backward): that
// accumulates the layer's parameter gradients like any backward does, and the
// input's gradient is returned to the outer graph.
struct layer_checkpoint : torch::autograd::Function<layer_checkpoint> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               decoder_layer_impl* layer, const layer_context* c) {
    ctx->save_for_backward({x});
    // The layer belongs to the model, which outlives every graph built on it
    // (a graph lives within one learner step); a raw address is enough.
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["cos"] = c->rope.cos;
    ctx->saved_data["sin"] = c->rope.sin;
    ctx->saved_data["masked"] = c->blocked.defined();
    if (c->blocked.defined())
      ctx->saved_data["blocked"] = c->blocked;
    ctx->saved_data["autocast"] = autocast_guard::active();
    return layer->forward(x, c->rope, c->blocked, nullptr, nullptr, 0);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto* layer = reinterpret_cast<decoder_layer_impl*>(ctx->saved_data["layer"].toInt());
    rotary rope{ctx->saved_data["cos"].toTensor(), ctx->saved_data["sin"].toTensor()};
    torch::Tensor blocked;
    if (ctx->saved_data["masked"].toBool())
      blocked = ctx->saved_data["blocked"].toTensor();
    torch::Tensor out;
    {
      torch::AutoGradMode with_grad(true);
      autocast_guard cast(ctx->saved_data["autocast"].toBool());
      out = layer->forward(x, rope, blocked, nullptr, nullptr, 0);
    }
    torch::autograd::backward({out}, {grads[0]});
    return {x.grad(), torch::Tensor(), torch::Tensor()};
  }
};

} // namespace

transformer_impl::transformer_impl(const model_config& cfg) : cfg_(cfg) {
  auto inv_freq = rope_inv_freq(cfg); // default or llama3-scaled (models/rope.hpp)
  inv_freq_ = torch::tensor(inv_freq, torch::kFloat);
  embed_tokens_ = register_module("embed_tokens",
                                  torch::nn::Embedding(cfg.vocab_size, cfg.hidden_size));
  layers_ = register_module("layers", torch::nn::ModuleList());
  for (int32_t i = 0; i < cfg.num_layers; ++i)
    layers_->push_back(decoder_layer(cfg));
  norm_ = register_module("norm", rms_norm(cfg.hidden_size, cfg.rms_norm_eps));
  if (!cfg.tie_embeddings)
    lm_head_ = register_module("lm_head", make_linear(cfg.hidden_size, cfg.vocab_size));
}

void transformer_impl::init_weights(uint64_t seed) {
  torch::NoGradGuard no_grad;
  // The global generator is reseeded right here so that the draws depend only
  // on the seed and the (fixed) registration order.
  torch::manual_seed(seed);
  for (auto& item : named_parameters(/*recurse=*/true)) {
    auto& p = item.value();
    const auto& name = item.key();
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
      p.zero_(); // q/k/v biases; no draw, so bias-free configs keep their stream
    else if (p.dim() == 1)
      p.fill_(1.0); // RMSNorm gains
    else
      p.normal_(0.0, 0.02);
  }
}

rotary transformer_impl::make_rotary(const torch::Tensor& positions) {
  // One copy per device instead of one small host-to-device copy per call.
  if (!inv_freq_on_device_.defined() || inv_freq_on_device_.device() != positions.device())
    inv_freq_on_device_ = inv_freq_.to(positions.device());
  auto freqs = positions.to(torch::kFloat).unsqueeze(-1) * inv_freq_on_device_; // [B,S,hd/2]
  auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);                       // [B,1,S,hd]
  return {emb.cos(), emb.sin()};
}

torch::Tensor transformer_impl::run_layers(const torch::Tensor& tokens,
                                           const torch::Tensor& positions,
                                           const torch::Tensor& mask, kv_cache* cache,
                                           int64_t start) {
  auto h = embed_tokens_(tokens);
  layer_context c{make_rotary(positions), {}};
  // [B, S, Sk] -> [B, kv_heads, rep, S, Sk] by broadcasting.
  if (mask.defined())
    c.blocked = mask.logical_not().unsqueeze(1).unsqueeze(1);
  const bool checkpoint = checkpointing_ && cache == nullptr && torch::GradMode::is_enabled();
  for (size_t i = 0; i < layers_->size(); ++i) {
    auto* layer = layers_[i]->as<decoder_layer_impl>();
    if (checkpoint) {
      h = layer_checkpoint::apply(h, layer, &c);
      continue;
    }
    auto* k = cache ? &cache->k[i] : nullptr;
    auto* v = cache ? &cache->v[i] : nullptr;
    h = layer->forward(h, c.rope, c.blocked, k, v, start);
  }
  return norm_(h);
}

torch::Tensor transformer_impl::forward(const torch::Tensor& tokens,
                                        const torch::Tensor& positions,
                                        const torch::Tensor& mask, kv_cache* cache,
                                        int64_t start) {
  return project(run_layers(tokens, positions, mask, cache, start));
}

torch::Tensor transformer_impl::hidden(const torch::Tensor& tokens,
                                       const torch::Tensor& positions,
                                       const torch::Tensor& mask) {
  return run_layers(tokens, positions, mask, nullptr, 0);
}

torch::Tensor transformer_impl::project(const torch::Tensor& h) {
  if (lm_head_)
    return lm_head_(h);
  return torch::nn::functional::linear(h, embed_tokens_->weight);
}

kv_cache transformer_impl::make_cache(int64_t batch, int64_t capacity) const {
  const int64_t head_dim = head_dim_of(cfg_);
  kv_cache c;
  for (int32_t i = 0; i < cfg_.num_layers; ++i) {
    c.k.push_back(torch::zeros({batch, cfg_.num_kv_heads, capacity, head_dim}));
    c.v.push_back(torch::zeros({batch, cfg_.num_kv_heads, capacity, head_dim}));
  }
  return c;
}

// --- config and weights -------------------------------------------------------

caf::error validate(const model_config& c) {
  auto bad = [](const char* what) { return make_error(errc::invalid_argument, what); };
  if (c.vocab_size <= 0) return bad("model_config.vocab_size must be > 0");
  if (c.hidden_size <= 0 || c.num_layers <= 0 || c.intermediate_size <= 0)
    return bad("model_config: hidden_size, num_layers, intermediate_size must be > 0");
  if (c.num_heads <= 0 || c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    return bad("model_config.num_kv_heads must be > 0 and divide num_heads");
  if (c.head_dim < 0 || (c.head_dim == 0 && c.hidden_size % c.num_heads != 0)
      || head_dim_of(c) % 2 != 0)
    return bad("model_config: head_dim (else hidden_size / num_heads) must be an even integer");
  if (c.max_seq_len < 2) return bad("model_config.max_seq_len must be >= 2");
  if (!(c.rope_theta > 0) || !(c.rms_norm_eps > 0))
    return bad("model_config: rope_theta and rms_norm_eps must be > 0");
  // The families differ in the q/k/v biases (Qwen2 always has them) and the
  // q/k norms (Qwen3 always has them); Mistral computes as Llama does.
  if (c.model_type != "llama" && c.model_type != "qwen2" && c.model_type != "qwen3"
      && c.model_type != "mistral")
    return bad("model_config.model_type must be llama, qwen2, qwen3 or mistral");
  if (c.attention_bias != (c.model_type == "qwen2"))
    return bad("model_config.attention_bias must be true for qwen2 and false otherwise");
  if (c.qk_norm != (c.model_type == "qwen3"))
    return bad("model_config.qk_norm must be true for qwen3 and false otherwise");
  if (auto err = validate_rope_scaling(c.rope_scaling))
    return err;
  if (c.max_position_embeddings < 0
      || (c.max_position_embeddings > 0 && c.max_seq_len > c.max_position_embeddings))
    return bad("model_config.max_seq_len must not exceed max_position_embeddings");
  return {};
}

std::vector<torch::Tensor> ordered_parameters(const transformer& model) {
  std::vector<torch::Tensor> out;
  for (const auto& item : model->named_parameters(/*recurse=*/true))
    out.push_back(item.value());
  return out;
}

int64_t count_parameters(const transformer& model) {
  int64_t n = 0;
  for (const auto& p : ordered_parameters(model))
    n += p.numel();
  return n;
}

std::vector<char> export_weights(const transformer& model) {
  std::vector<char> out(static_cast<size_t>(count_parameters(model)) * sizeof(float));
  size_t off = 0;
  for (const auto& p : ordered_parameters(model)) {
    auto c = p.detach().to(torch::kCPU, torch::kFloat).contiguous();
    const auto bytes = static_cast<size_t>(c.numel()) * sizeof(float);
    std::memcpy(out.data() + off, c.data_ptr<float>(), bytes);
    off += bytes;
  }
  return out;
}

caf::error import_weights(transformer& model, const char* data, size_t size) {
  const auto expected = static_cast<size_t>(count_parameters(model)) * sizeof(float);
  if (size != expected || data == nullptr)
    return make_error(errc::invalid_argument,
                      "weights blob has " + std::to_string(size) + " bytes, expected "
                        + std::to_string(expected));
  // Aligned copy first: the blob may come straight out of a message buffer.
  std::vector<float> values(expected / sizeof(float));
  std::memcpy(values.data(), data, expected);
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      return make_error(errc::invalid_argument,
                        "weights blob has a non-finite value at float " + std::to_string(i));
  torch::NoGradGuard no_grad;
  size_t off = 0;
  for (auto& p : ordered_parameters(model)) {
    auto src = torch::from_blob(values.data() + off, p.sizes(), torch::kFloat);
    p.copy_(src);
    off += static_cast<size_t>(p.numel());
  }
  return {};
}

// --- Hugging Face checkpoints ------------------------------------------------

caf::error load_hf(transformer& model, const std::string& dir) {
  std::vector<hf_tensor_spec> specs;
  std::vector<torch::Tensor> params;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    specs.push_back({item.key(), item.value().sizes().vec()});
    params.push_back(item.value());
  }
  torch::NoGradGuard no_grad;
  return read_hf_weights(dir, specs, [&](size_t i, const std::vector<float>& values) {
    auto src = torch::from_blob(const_cast<float*>(values.data()), params[i].sizes(),
                                torch::kFloat);
    params[i].copy_(src);
    return caf::error{};
  });
}

caf::error save_hf(const transformer& model, const std::string& dir,
                   uint64_t max_shard_bytes) {
  if (auto err = write_hf_config(dir, model->config()))
    return err;
  std::vector<torch::Tensor> keep; // contiguous copies stay alive while writing
  std::vector<hf_tensor_ref> refs;
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    keep.push_back(item.value().detach().to(torch::kCPU, torch::kFloat).contiguous());
    refs.push_back({item.key(), keep.back().sizes().vec(), keep.back().data_ptr<float>()});
  }
  return write_hf_weights(dir, refs, max_shard_bytes);
}

// --- learner-side packing -----------------------------------------------------

torch::Tensor causal_mask(const torch::Tensor& valid) {
  const auto s = valid.size(1);
  auto causal = torch::ones({s, s}, torch::kBool).tril();
  auto self = torch::eye(s).to(torch::kBool);
  return (causal.unsqueeze(0) & valid.unsqueeze(1)) | self.unsqueeze(0);
}

packed_batch pack(const std::vector<sequence_ref>& rows) {
  const auto b = static_cast<int64_t>(rows.size());
  int64_t s = 1;
  int64_t t = 1;
  for (const auto& r : rows) {
    s = std::max<int64_t>(s, r.prompt->size() + r.completion->size());
    t = std::max<int64_t>(t, r.completion->size());
  }
  std::vector<int64_t> tokens(b * s, 0), positions(b * s, 0), predict(b * t, 0),
    targets(b * t, 0);
  std::vector<uint8_t> valid(b * s, 0);
  std::vector<float> loss_mask(b * t, 0.f);
  packed_batch out;
  for (int64_t i = 0; i < b; ++i) {
    const auto& p = *rows[i].prompt;
    const auto& c = *rows[i].completion;
    const auto plen = static_cast<int64_t>(p.size());
    const auto clen = static_cast<int64_t>(c.size());
    for (int64_t j = 0; j < s; ++j) {
      positions[i * s + j] = j; // right padding: real tokens start at 0
      if (j < plen + clen) {
        tokens[i * s + j] = j < plen ? p[j] : c[j - plen];
        valid[i * s + j] = 1;
      }
    }
    for (int64_t j = 0; j < clen; ++j) {
      predict[i * t + j] = plen - 1 + j;
      targets[i * t + j] = c[j];
      loss_mask[i * t + j] = 1.f;
    }
    out.completion_len.push_back(clen);
  }
  auto to_tensor = [](auto& v, std::initializer_list<int64_t> shape, torch::Dtype d) {
    return torch::from_blob(v.data(), shape, d).clone();
  };
  out.tokens = to_tensor(tokens, {b, s}, torch::kLong);
  out.positions = to_tensor(positions, {b, s}, torch::kLong);
  out.mask = causal_mask(to_tensor(valid, {b, s}, torch::kUInt8).to(torch::kBool));
  out.predict_at = to_tensor(predict, {b, t}, torch::kLong);
  out.targets = to_tensor(targets, {b, t}, torch::kLong);
  out.loss_mask = to_tensor(loss_mask, {b, t}, torch::kFloat);
  return out;
}

packed_batch to_device(const packed_batch& p, const torch::Device& device) {
  auto move = [&device](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  packed_batch out = p;
  out.tokens = move(p.tokens);
  out.positions = move(p.positions);
  out.mask = move(p.mask);
  out.predict_at = move(p.predict_at);
  out.targets = move(p.targets);
  out.loss_mask = move(p.loss_mask);
  return out;
}

completion_logits score_completions(transformer& model, const packed_batch& p,
                                    double temperature) {
  auto h = model->hidden(p.tokens, p.positions, p.mask); // [B,S,H]
  auto idx = p.predict_at.unsqueeze(-1).expand({p.predict_at.size(0), p.predict_at.size(1),
                                                h.size(-1)});
  // Projecting only the T predicting rows saves (S - T) x vocab logits.
  auto logits = model->project(h.gather(1, idx)); // [B,T,V]
  // Same op order as the sampler: divide, then log_softmax, then gather.
  auto scaled = logits / temperature;
  auto log_probs = torch::log_softmax(scaled, -1);
  auto logp = log_probs.gather(-1, p.targets.unsqueeze(-1)).squeeze(-1);
  return {log_probs, logp};
}

caf::error validate_row(const model_config& cfg, const sequence_ref& row, size_t index) {
  auto bad = [index](const std::string& what) {
    return make_error(errc::invalid_argument, "sequence " + std::to_string(index) + ": " + what);
  };
  if (row.prompt->empty())
    return bad("empty prompt");
  if (row.prompt->size() + row.completion->size() > static_cast<size_t>(cfg.max_seq_len))
    return bad("prompt + completion longer than max_seq_len "
               + std::to_string(cfg.max_seq_len));
  for (const auto* part : {row.prompt, row.completion})
    for (auto tok : *part)
      if (tok < 0 || tok >= cfg.vocab_size)
        return bad("token " + std::to_string(tok) + " outside the vocabulary");
  return {};
}

} // namespace tandem::internal
