// learner_core.cpp: GRPO optimizer steps on the LibTorch transformer.
//
// train(batch):
//   1. validate every sequence (errc::invalid_argument names its index);
//   2. split the batch into min(mini_batches, B) contiguous chunks and compute,
//      with no grad and before any update, the prox log-probs (and reference
//      log-probs when kl_beta > 0) of every chunk: all of them come from the
//      weights the batch arrived at;
//   3. per chunk: forward with grad, grpo_loss, backward, global grad norm,
//      clip, AdamW step, version += 1.
// A non-finite loss or grad norm zeroes the gradients, skips the step and
// returns errc::numeric_failure (earlier chunks of the batch stay applied).
//
// Choices: AdamW decays every parameter, norms and biases included (one param
// group); the reference is the initial weights (from the seed or the HF
// checkpoint) and is not replaced by import_weights; the optimizer state
// survives import_weights.
//
// Thread safety: one thread at a time (see learner_core.hpp).

#include "models/learner_core.hpp"

#include <cmath>
#include <functional>

#include "models/grpo_loss.hpp"
#include "models/internal/transformer.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

// Constants of one chunk, computed before the first update of the batch.
struct chunk_data {
  internal::packed_batch packed;
  torch::Tensor prox;  // [b, T]
  torch::Tensor ref;   // [b, T] or undefined
  torch::Tensor behav; // [b, T], 0 at padding
  torch::Tensor advantages; // [b]
};

caf::error validate_sequence(const model_config& cfg, const train_sequence& s,
                             size_t index) {
  auto bad = [index](const std::string& what) {
    return make_error(errc::invalid_argument, "sequence " + std::to_string(index) + ": " + what);
  };
  if (s.completion.empty())
    return bad("empty completion");
  if (s.behav_logprobs.size() != s.completion.size())
    return bad("behav_logprobs has " + std::to_string(s.behav_logprobs.size())
               + " entries for " + std::to_string(s.completion.size()) + " tokens");
  if (s.versions.size() != s.completion.size())
    return bad("versions has " + std::to_string(s.versions.size()) + " entries for "
               + std::to_string(s.completion.size()) + " tokens");
  if (!std::isfinite(s.advantage))
    return bad("non-finite advantage");
  for (auto lp : s.behav_logprobs)
    if (!std::isfinite(lp))
      return bad("non-finite behaviour log-prob");
  return internal::validate_row(cfg, {&s.prompt, &s.completion}, index);
}

caf::error validate_settings(const learner_settings& s) {
  if (auto err = internal::validate(s.model))
    return err;
  auto bad = [](const char* what) { return make_error(errc::invalid_argument, what); };
  if (!(s.temperature > 0)) return bad("learner: temperature must be > 0");
  if (s.max_new_tokens < 1) return bad("learner: max_new_tokens must be >= 1");
  if (s.mini_batches < 1) return bad("learner: mini_batches must be >= 1");
  const auto& o = s.optimizer;
  if (!(o.lr > 0)) return bad("optimizer.lr must be > 0");
  if (!(o.weight_decay >= 0) || !(o.grad_clip >= 0))
    return bad("optimizer: weight_decay and grad_clip must be >= 0");
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
    return bad("optimizer: betas must be in [0, 1)");
  if (!(s.grpo.kl_beta >= 0)) return bad("grpo.kl_beta must be >= 0");
  return {};
}

torch::Tensor padded(const std::vector<train_sequence>& batch, size_t lo, size_t hi,
                     int64_t t) {
  std::vector<float> v((hi - lo) * t, 0.f);
  for (size_t i = lo; i < hi; ++i)
    std::copy(batch[i].behav_logprobs.begin(), batch[i].behav_logprobs.end(),
              v.begin() + (i - lo) * t);
  return torch::from_blob(v.data(), {static_cast<int64_t>(hi - lo), t}, torch::kFloat).clone();
}

double masked_mean(const torch::Tensor& x, const torch::Tensor& mask) {
  return ((x * mask).sum() / mask.sum().clamp_min(1.0)).item<double>();
}

} // namespace

class learner_core::impl {
public:
  explicit impl(const learner_settings& s) : settings(s), model(s.model) {}

  caf::expected<std::vector<train_step_stats>> train(const std::vector<train_sequence>& batch);

  learner_settings settings;
  internal::transformer model;
  internal::transformer reference{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t version = 0;

private:
  std::vector<chunk_data> prepare(const std::vector<train_sequence>& batch);
  caf::expected<train_step_stats> step(chunk_data& c);
  double clip_gradients();
};

std::vector<chunk_data> learner_core::impl::prepare(const std::vector<train_sequence>& batch) {
  torch::NoGradGuard no_grad;
  const size_t n = std::min<size_t>(settings.mini_batches, batch.size());
  std::vector<chunk_data> chunks;
  for (size_t k = 0; k < n; ++k) {
    const size_t lo = k * batch.size() / n;
    const size_t hi = (k + 1) * batch.size() / n;
    std::vector<internal::sequence_ref> rows;
    std::vector<float> adv;
    for (size_t i = lo; i < hi; ++i) {
      rows.push_back({&batch[i].prompt, &batch[i].completion});
      adv.push_back(static_cast<float>(batch[i].advantage));
    }
    chunk_data c;
    c.packed = internal::pack(rows);
    const auto t = c.packed.targets.size(1);
    c.prox = internal::score_completions(model, c.packed, settings.temperature).logp;
    if (reference)
      c.ref = internal::score_completions(reference, c.packed, settings.temperature).logp;
    c.behav = padded(batch, lo, hi, t);
    c.advantages = torch::from_blob(adv.data(), {static_cast<int64_t>(adv.size())},
                                    torch::kFloat).clone();
    chunks.push_back(std::move(c));
  }
  return chunks;
}

// Global L2 norm before clipping; scales gradients down to grad_clip.
double learner_core::impl::clip_gradients() {
  double sq = 0;
  for (const auto& p : model->parameters())
    if (p.grad().defined())
      sq += p.grad().pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  const double clip = settings.optimizer.grad_clip;
  if (clip > 0 && std::isfinite(norm) && norm > clip) {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters())
      if (p.grad().defined())
        p.grad().mul_(clip / (norm + 1e-6));
  }
  return norm;
}

caf::expected<train_step_stats> learner_core::impl::step(chunk_data& c) {
  auto out = internal::score_completions(model, c.packed, settings.temperature);
  const auto& g = settings.grpo;
  torch::Tensor entropy, bonus;
  if (g.entropy_coef > 0) {
    // The bonus needs the graph through the full-vocabulary distribution.
    auto lp = torch::log_softmax(out.logits, -1);
    auto ent = -(lp.exp() * lp).sum(-1);
    const auto& m = c.packed.loss_mask;
    bonus = (ent * m).sum() / m.sum().clamp_min(1.0);
    entropy = ent.detach();
  } else {
    // A statistic only: no graph through the full-vocabulary distribution.
    torch::NoGradGuard no_grad;
    auto lp = torch::log_softmax(out.logits.detach(), -1);
    entropy = -(lp.exp() * lp).sum(-1);
  }
  grpo_loss_inputs in{out.logp, c.prox, c.behav, c.ref, c.advantages,
                      c.packed.loss_mask, entropy};
  const int64_t norm_len = g.constant_normalizer > 0 ? g.constant_normalizer
                                                     : settings.max_new_tokens;
  auto res = grpo_loss(in, g, norm_len);
  if (bonus.defined())
    res.loss = res.loss - g.entropy_coef * bonus;
  optimizer->zero_grad();
  const double loss = res.loss.item<double>();
  double grad_norm = NAN;
  if (std::isfinite(loss)) {
    res.loss.backward();
    grad_norm = clip_gradients();
  }
  if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
    optimizer->zero_grad();
    return make_error(errc::numeric_failure,
                      "learner: non-finite loss " + std::to_string(loss) + " or grad norm "
                        + std::to_string(grad_norm) + " at version " + std::to_string(version));
  }
  optimizer->step();
  ++version;
  train_step_stats st;
  st.version = version;
  st.loss = res.stats;
  st.grad_norm = grad_norm;
  st.sampler_logp_abs_diff = masked_mean((c.prox - c.behav).abs(), c.packed.loss_mask);
  st.tokens = static_cast<int64_t>(c.packed.loss_mask.sum().item<double>());
  return st;
}

caf::expected<std::vector<train_step_stats>>
learner_core::impl::train(const std::vector<train_sequence>& batch) {
  if (batch.empty())
    return make_error(errc::invalid_argument, "learner: empty batch");
  for (size_t i = 0; i < batch.size(); ++i)
    if (auto err = validate_sequence(settings.model, batch[i], i))
      return err;
  auto chunks = prepare(batch);
  std::vector<train_step_stats> stats;
  for (auto& c : chunks) {
    auto st = step(c);
    if (!st)
      return st.error();
    stats.push_back(*st);
  }
  return stats;
}

// --- learner_core -------------------------------------------------------------

learner_core::learner_core(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
learner_core::~learner_core() = default;

namespace {

// The model from `init`, its frozen reference copy when kl_beta > 0, AdamW.
caf::expected<std::unique_ptr<learner_core::impl>>
build(const learner_settings& s, const std::function<caf::error(internal::transformer&)>& init) {
  if (auto err = validate_settings(s))
    return err;
  auto p = std::make_unique<learner_core::impl>(s);
  if (auto err = init(p->model))
    return err;
  if (s.grpo.kl_beta > 0) {
    p->reference = internal::transformer(s.model);
    auto blob = internal::export_weights(p->model);
    if (auto err = internal::import_weights(p->reference, blob.data(), blob.size()))
      return err;
    for (auto& q : p->reference->parameters())
      q.set_requires_grad(false);
  }
  const auto& o = s.optimizer;
  p->optimizer = std::make_unique<torch::optim::AdamW>(
    p->model->parameters(), torch::optim::AdamWOptions(o.lr)
                              .betas(std::make_tuple(o.beta1, o.beta2))
                              .weight_decay(o.weight_decay));
  return p;
}

} // namespace

caf::expected<std::unique_ptr<learner_core>> learner_core::make(const learner_settings& s) {
  try {
    auto p = build(s, [&s](internal::transformer& m) {
      m->init_weights(s.seed);
      return caf::error{};
    });
    if (!p)
      return p.error();
    return std::unique_ptr<learner_core>(new learner_core(std::move(*p)));
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure, std::string("learner_core::make: ") + e.what());
  }
}

caf::expected<std::unique_ptr<learner_core>>
learner_core::make_from_hf(const learner_settings& s, const std::string& dir,
                           const hf_load_options& opts) {
  auto cfg = read_hf_config(dir, opts);
  if (!cfg)
    return cfg.error();
  auto settings = s;
  settings.model = *cfg;
  try {
    auto p = build(settings,
                   [&dir](internal::transformer& m) { return internal::load_hf(m, dir); });
    if (!p)
      return p.error();
    return std::unique_ptr<learner_core>(new learner_core(std::move(*p)));
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure,
                      std::string("learner_core::make_from_hf: ") + e.what());
  }
}

caf::error learner_core::save_hf(const std::string& dir, uint64_t max_shard_bytes) const {
  try {
    return internal::save_hf(impl_->model, dir, max_shard_bytes);
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure, std::string("learner_core::save_hf: ") + e.what());
  }
}

caf::expected<std::vector<train_step_stats>>
learner_core::train(const std::vector<train_sequence>& batch) {
  try {
    return impl_->train(batch);
  } catch (const std::exception& e) {
    impl_->optimizer->zero_grad();
    return make_error(errc::backend_failure, std::string("learner_core::train: ") + e.what());
  }
}

int64_t learner_core::version() const { return impl_->version; }

std::vector<char> learner_core::export_weights() const {
  try {
    return internal::export_weights(impl_->model);
  } catch (const std::exception&) {
    return {}; // unreachable for CPU float tensors; an empty blob never imports
  }
}

caf::error learner_core::import_weights(const char* data, size_t size, int64_t version) {
  try {
    if (auto err = internal::import_weights(impl_->model, data, size))
      return err;
    impl_->version = version;
    return {};
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure, std::string("learner_core::import_weights: ")
                                               + e.what());
  }
}

} // namespace tandem
