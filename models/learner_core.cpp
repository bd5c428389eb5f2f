// learner_core.cpp: GRPO optimizer steps on the LibTorch transformer.
//
// train(batch):
//   1. validate every sequence (errc::invalid_argument names its index);
//   2. split the batch into min(mini_batches, B) contiguous chunks (one per
//      optimizer step), each into micro-batches of at most
//      micro_batch_tokens padded tokens, and compute, with no grad and before
//      any update, the prox log-probs (and reference log-probs when
//      kl_beta > 0) of every micro-batch: all of them come from the weights
//      the batch arrived at;
//   3. per chunk: forward + backward of each micro-batch with its share of
//      the loss (models/internal/learner_step.hpp), global grad norm, clip,
//      AdamW step, version += 1.
// A non-finite loss or grad norm zeroes the gradients, skips the step and
// returns errc::numeric_failure (earlier chunks of the batch stay applied).
//
// Data parallelism (ranks > 1, docs/data-parallel.md): every rank gets the
// whole batch, takes its contiguous slice of each chunk's rows, scales its
// parts against the whole chunk's rows/tokens, and step_ranks sums the
// gradient over the ranks (internal::dp_rank: buckets started by gradient
// hooks during the last backward), combines the statistics exactly, then
// clips and updates identically on every rank (ZeRO 1/2: flat_adamw on this
// rank's shard, then an all_gather of the weights).
//
// Device and precision: the model, its AdamW state, the reference model and
// every batch tensor live on settings.device. bf16_autocast keeps float32
// weights and optimizer state and runs the forwards under CUDA autocast;
// backward follows the dtypes autocast chose. On CUDA, attention is the
// fused causal kernel (no explicit mask; exact for right padding). Exported
// and saved weights are float32 on the host.
//
// Saved state (export_state/import_state): the version and AdamW's
// per-parameter state (models/internal/adamw_state.hpp), then, when the
// entropy bonus is steered, its coefficient and last entropy; see
// learner_core.hpp for why that is all.
//
// Choices: AdamW decays every parameter, norms and biases included (one param
// group); the reference is the initial weights (from the seed or the HF
// checkpoint) and is not replaced by import_weights; the optimizer state
// survives import_weights.
//
// What make(), validate() and train() refuse (settings, a rank's
// collective, each sequence) is internal/learner_validation.
//
// Thread safety: one thread at a time (see learner_core.hpp).

#include "models/learner_core.hpp"

#include <cmath>
#include <functional>

#include "models/entropy_control.hpp"
#include "models/internal/adamw_state.hpp"
#include "models/internal/data_parallel.hpp"
#include "models/internal/device_precision.hpp"
#include "models/internal/learner_state.hpp"
#include "models/internal/learner_step.hpp"
#include "models/internal/learner_validation.hpp"
#include "models/internal/transformer.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/reduce_collective.hpp"

namespace tandem {

class learner_core::impl {
public:
  impl(const learner_settings& s, const internal::step_numerics& n)
    : settings(s), numerics(n), model(s.model), entropy(s.grpo) {}

  caf::expected<std::vector<train_step_stats>> train(const std::vector<train_sequence>& batch);

  learner_settings settings;
  internal::step_numerics numerics;
  internal::transformer model;
  internal::transformer reference{nullptr};
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t version = 0;
  entropy_control entropy; // the entropy bonus's coefficient, step by step
  torch::Tensor flat; // refresh_flat_weights' buffer, made on first use
  std::unique_ptr<internal::dp_rank> dp; // ranks > 1 only
  std::function<void(learner_phase)> phase_hook;
  void enter(learner_phase p) const {
    if (phase_hook)
      phase_hook(p);
  }

private:
  struct step_parts { // one optimizer step's micro-batches held by this rank
    std::vector<internal::micro_batch> parts;
    internal::step_totals whole; // of the step on every rank together
  };
  std::vector<step_parts> prepare(const std::vector<train_sequence>& batch);
  caf::expected<train_step_stats> step(const step_parts& parts);
  caf::expected<train_step_stats> step_ranks(const step_parts& parts);
  grpo_config step_config() const;
  int64_t normaliser_length(const grpo_config& g) const;
  struct rank_sums { // the step's figures over every rank
    grpo_loss_stats loss;
    internal::mismatch_stats mismatch;
    double bad_ranks = 0;     // ranks whose loss was not finite
    double shard_squares = 0; // stage 2: sum of squares of the reduced gradient
  };
  caf::expected<rank_sums> combine_over_ranks(const internal::accumulated_step& acc,
                                              const std::vector<internal::micro_batch>& parts);
  double clip_gradients();
  double clip_scale(double norm) const;
  train_step_stats finish_step(const grpo_config& g, const grpo_loss_stats& loss,
                               const internal::mismatch_stats& mismatch, double grad_norm,
                               double lr);
};

// Mini-batch k is rows [lo, hi) of the batch; with ranks > 1 this rank
// takes the contiguous rows [lo + r n / N, lo + (r + 1) n / N) of its n rows
// (balanced by rows; a rank may get none), and the step's totals are those
// of all n rows, known here because every rank holds the whole batch.
std::vector<learner_core::impl::step_parts>
learner_core::impl::prepare(const std::vector<train_sequence>& batch) {
  const size_t n = std::min<size_t>(settings.mini_batches, batch.size());
  const auto ranks = static_cast<size_t>(settings.ranks);
  const auto rank = static_cast<size_t>(settings.rank);
  auto* ref = reference ? &reference : nullptr;
  std::vector<step_parts> steps(n);
  for (size_t k = 0; k < n; ++k) {
    const size_t lo = k * batch.size() / n;
    const size_t hi = (k + 1) * batch.size() / n;
    for (size_t i = lo; i < hi; ++i)
      steps[k].whole.tokens += static_cast<double>(batch[i].completion.size());
    steps[k].whole.rows = static_cast<double>(hi - lo);
    const size_t mine_lo = lo + rank * (hi - lo) / ranks;
    const size_t mine_hi = lo + (rank + 1) * (hi - lo) / ranks;
    if (mine_lo == mine_hi)
      continue;
    for (const auto& rows : internal::plan_micro_batches(batch, mine_lo, mine_hi,
                                                         settings.micro_batch_tokens))
      steps[k].parts.push_back(
        internal::prepare_micro_batch(model, ref, batch, rows, version, numerics));
  }
  return steps;
}

// Global L2 norm before clipping; scales gradients down to grad_clip.
double learner_core::impl::clip_gradients() {
  std::vector<torch::Tensor> squares; // one device scalar per parameter, read once
  for (const auto& p : model->parameters())
    if (p.grad().defined())
      squares.push_back(p.grad().pow(2).sum().to(torch::kDouble));
  if (squares.empty())
    return 0;
  const double norm = std::sqrt(torch::stack(squares).sum().item<double>());
  const double scale = clip_scale(norm);
  if (scale != 1.0) {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters())
      if (p.grad().defined())
        p.grad().mul_(scale);
  }
  return norm;
}

double learner_core::impl::clip_scale(double norm) const {
  const double clip = settings.optimizer.grad_clip;
  return clip > 0 && std::isfinite(norm) && norm > clip ? clip / (norm + 1e-6) : 1.0;
}

// Version, entropy control and the statistics, after the update.
train_step_stats learner_core::impl::finish_step(const grpo_config& g, const grpo_loss_stats& loss,
                                                 const internal::mismatch_stats& mismatch,
                                                 double grad_norm, double lr) {
  ++version;
  entropy.observe(loss.entropy);
  train_step_stats st;
  st.version = version;
  st.loss = loss;
  st.grad_norm = grad_norm;
  st.sampler_logp_abs_diff = mismatch.all_abs;
  st.mismatch_logp_abs = mismatch.abs;
  st.mismatch_k3 = mismatch.k3;
  st.mismatch_tokens = mismatch.tokens;
  st.tokens = static_cast<int64_t>(loss.tokens);
  st.lr = lr;
  st.entropy_coef = g.entropy_coef;
  return st;
}

// This step's GRPO settings: the configured ones with the entropy bonus's
// current (steered) coefficient.
grpo_config learner_core::impl::step_config() const {
  grpo_config g = settings.grpo;
  g.entropy_coef = entropy.coef();
  return g;
}

// The constant normaliser's length: the configured one, else max_new_tokens.
int64_t learner_core::impl::normaliser_length(const grpo_config& g) const {
  return g.constant_normalizer > 0 ? g.constant_normalizer : settings.max_new_tokens;
}

caf::expected<train_step_stats> learner_core::impl::step(const step_parts& step) {
  if (dp)
    return step_ranks(step);
  const auto& parts = step.parts;
  const grpo_config g = step_config();
  const int64_t norm_len = normaliser_length(g);
  enter(learner_phase::backward);
  optimizer->zero_grad();
  auto acc = internal::accumulate_gradients(model, parts, g, norm_len, numerics);
  enter(learner_phase::optimizer);
  const double grad_norm = acc.finite ? clip_gradients() : NAN;
  if (!acc.finite || !std::isfinite(grad_norm)) {
    optimizer->zero_grad();
    const double loss = acc.finite ? acc.loss.loss : acc.bad_loss;
    return make_error(errc::numeric_failure,
                      "learner: non-finite loss " + std::to_string(loss) + " or grad norm "
                        + std::to_string(grad_norm) + " at version " + std::to_string(version));
  }
  const double lr = lr_at(settings.optimizer.lr, settings.optimizer.schedule, version);
  for (auto& group : optimizer->param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  optimizer->step();
  return finish_step(g, acc.loss, internal::measure_mismatch(parts), grad_norm, lr);
}

// One data-parallel step (docs/data-parallel.md): this rank's share of the
// loss and its gradient, the gradient summed over the ranks, the statistics'
// sums (and the non-finite flag, and for stage 2 the squares of the
// gradient shards) summed exactly, then the same clip and update on every
// rank. Every rank posts the same collective operations whatever happens
// locally (a non-finite loss still reduces), so none is left waiting.
// Every rank's statistics sums, non-finite flag and (stage 2) sum of squares
// of its gradient chunks, combined in rank order: the same on every rank.
caf::expected<learner_core::impl::rank_sums>
learner_core::impl::combine_over_ranks(const internal::accumulated_step& acc,
                                       const std::vector<internal::micro_batch>& parts) {
  constexpr size_t w = internal::loss_stats_sum::width;
  auto local = acc.sums.to_vector();
  const auto mismatch = internal::mismatch_sums(parts);
  local.insert(local.end(), mismatch.begin(), mismatch.end());
  local.push_back(acc.finite ? 0.0 : 1.0);
  local.push_back(dp->zero_stage() == 2 ? dp->grad_square_sum() : 0.0);
  auto all = dp->gather_over_ranks(local);
  if (!all)
    return all.error();
  internal::loss_stats_sum merged;
  std::vector<double> sums(local.size() - w, 0.0); // mismatch, flag, squares
  for (const auto& part : *all) {
    merged.merge(internal::loss_stats_sum::from_vector(part.data()));
    for (size_t i = 0; i < sums.size(); ++i)
      sums[i] += part[w + i];
  }
  rank_sums out;
  out.loss = merged.result();
  out.mismatch = internal::mismatch_of(sums.data());
  out.bad_ranks = sums[mismatch.size()];
  out.shard_squares = sums[mismatch.size() + 1];
  return out;
}

caf::expected<train_step_stats> learner_core::impl::step_ranks(const step_parts& step) {
  const grpo_config g = step_config();
  const int64_t norm_len = normaliser_length(g);
  enter(learner_phase::backward);
  dp->begin_step(); // every .grad a zeroed view into the flat gradient
  auto acc = internal::accumulate_gradients(model, step.parts, g, norm_len, numerics, step.whole,
                                            [this] { dp->arm(); });
  enter(learner_phase::optimizer);
  auto fail = [this](caf::error err) {
    dp->zero_gradients();
    return err;
  };
  if (auto err = dp->reduce_gradients(model))
    return fail(std::move(err));
  auto all = combine_over_ranks(acc, step.parts);
  if (!all)
    return fail(all.error());
  double grad_norm = NAN;
  if (dp->zero_stage() == 0) {
    // .grad views the reduced flat gradient: the same on every rank, so
    // the same norm and update.
    grad_norm = clip_gradients();
  } else {
    grad_norm = std::sqrt(dp->zero_stage() == 2 ? all->shard_squares : dp->grad_square_sum());
  }
  if (all->bad_ranks > 0 || !std::isfinite(grad_norm))
    return fail(make_error(errc::numeric_failure,
                           "learner rank " + std::to_string(settings.rank) + ": non-finite loss ("
                             + std::to_string(static_cast<int>(all->bad_ranks))
                             + " ranks) or grad norm " + std::to_string(grad_norm)
                             + " at version " + std::to_string(version)));
  const double lr = lr_at(settings.optimizer.lr, settings.optimizer.schedule, version);
  if (dp->zero_stage() == 0) {
    for (auto& group : optimizer->param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer->step();
  } else if (auto err = dp->sharded_update(model, lr, clip_scale(grad_norm))) {
    return fail(std::move(err));
  }
  return finish_step(g, all->loss, all->mismatch, grad_norm, lr);
}

caf::expected<std::vector<train_step_stats>>
learner_core::impl::train(const std::vector<train_sequence>& batch) {
  if (batch.empty())
    return make_error(errc::invalid_argument, "learner: empty batch");
  for (size_t i = 0; i < batch.size(); ++i)
    if (auto err = internal::validate_sequence(settings.model, batch[i], i))
      return err;
  enter(learner_phase::forward);
  const auto steps = prepare(batch);
  std::vector<train_step_stats> stats;
  for (const auto& parts : steps) {
    auto st = step(parts);
    if (!st)
      return st.error();
    stats.push_back(*st);
  }
  // Device work still queued (the last AdamW update) is part of this call.
  internal::synchronize(numerics.device);
  return stats;
}

// --- learner_core -------------------------------------------------------------

learner_core::learner_core(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
learner_core::~learner_core() = default;

namespace {

// The model from `init`, its frozen reference copy when kl_beta > 0, AdamW.
caf::expected<std::unique_ptr<learner_core::impl>>
build(const learner_settings& s, const std::function<caf::error(internal::transformer&)>& init) {
  if (auto err = internal::validate_settings(s))
    return err;
  if (auto err = internal::check_collective(s))
    return err;
  auto p = std::make_unique<learner_core::impl>(s, *internal::numerics_of(s));
  if (auto err = init(p->model))
    return err;
  if (s.grpo.kl_beta > 0) {
    p->reference = internal::transformer(s.model);
    auto blob = internal::export_weights(p->model);
    if (auto err = internal::import_weights(p->reference, blob.data(), blob.size()))
      return err;
    for (auto& q : p->reference->parameters())
      q.set_requires_grad(false);
    p->reference->to(p->numerics.device);
  }
  // Before the optimizer exists, so that its state is made on the device.
  p->model->to(p->numerics.device);
  p->model->set_activation_checkpointing(s.activation_checkpointing);
  const auto& o = s.optimizer;
  p->optimizer = std::make_unique<torch::optim::AdamW>(
    p->model->parameters(), torch::optim::AdamWOptions(o.lr)
                              .betas(std::make_tuple(o.beta1, o.beta2))
                              .weight_decay(o.weight_decay));
  if (s.ranks > 1)
    p->dp = std::make_unique<internal::dp_rank>(s, p->model, p->numerics.device);
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

caf::error learner_core::validate(const learner_settings& s) {
  try {
    return internal::validate_settings(s);
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure, std::string("learner_core::validate: ") + e.what());
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

void learner_core::set_phase_hook(std::function<void(learner_phase)> hook) {
  impl_->phase_hook = std::move(hook);
}

int64_t learner_core::version() const { return impl_->version; }

int64_t learner_core::training_state_bytes() const {
  std::vector<torch::Tensor> kept;
  for (const auto& p : impl_->model->parameters()) {
    kept.push_back(p);
    kept.push_back(p.grad());
  }
  for (const auto& [key, state] : impl_->optimizer->state()) {
    const auto& st = static_cast<const torch::optim::AdamWParamState&>(*state);
    kept.insert(kept.end(), {st.exp_avg(), st.exp_avg_sq(), st.max_exp_avg_sq()});
  }
  if (impl_->dp) {
    auto bufs = impl_->dp->lasting_tensors();
    kept.insert(kept.end(), bufs.begin(), bufs.end());
  }
  return internal::distinct_storage_bytes(kept);
}

std::vector<char> learner_core::export_weights() const {
  try {
    return internal::export_weights(impl_->model);
  } catch (const std::exception&) {
    return {}; // unreachable for CPU float tensors; an empty blob never imports
  }
}

caf::expected<flat_weights> learner_core::refresh_flat_weights() {
  try {
    torch::NoGradGuard no_grad;
    auto params = internal::ordered_parameters(impl_->model);
    int64_t total = 0;
    for (auto& p : params)
      total += p.numel();
    auto& flat = impl_->flat;
    if (!flat.defined() || flat.numel() != total)
      flat = torch::empty({total}, torch::TensorOptions().dtype(torch::kFloat)
                                     .device(impl_->numerics.device));
    int64_t at = 0;
    for (auto& p : params) {
      flat.narrow(0, at, p.numel()).copy_(p.detach().reshape({-1}));
      at += p.numel();
    }
    flat_weights out{flat.data_ptr(), static_cast<size_t>(total) * sizeof(float), -1};
    if (flat.is_cuda()) {
      out.device = flat.get_device();
      internal::synchronize(flat.device()); // NCCL reads it on its own stream
    }
    return out;
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure,
                      std::string("learner_core::refresh_flat_weights: ") + e.what());
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

std::vector<char> learner_core::export_state() const {
  try {
    internal::learner_state_writer w(impl_->version);
    if (impl_->dp && impl_->dp->zero_stage() > 0) {
      auto moments = impl_->dp->gather_moments();
      if (!moments)
        return {}; // a rank is gone; an empty blob never imports
      internal::write_moments(impl_->model, *moments, w);
    } else {
      internal::write_adamw_state(*impl_->optimizer, impl_->model, w);
    }
    if (impl_->entropy.steered())
      internal::write_entropy_control(impl_->entropy.alpha(), impl_->entropy.last_entropy(), w);
    return w.finish();
  } catch (const std::exception&) {
    return {}; // a device copy failed; an empty blob never imports
  }
}

caf::error learner_core::import_state(const char* data, size_t size) {
  auto parsed = internal::parse_learner_state(data, size);
  if (!parsed)
    return parsed.error();
  try {
    auto& tensors = parsed->tensors;
    auto control = internal::take_entropy_control(tensors);
    if (!control)
      return control.error();
    if (impl_->dp && impl_->dp->zero_stage() > 0) {
      auto moments = internal::read_moments(impl_->model, tensors);
      if (!moments)
        return moments.error();
      if (auto err = impl_->dp->restore_moments(*moments))
        return err;
    } else if (auto err = internal::read_adamw_state(*impl_->optimizer, impl_->model, tensors)) {
      return err;
    }
    if (*control)
      impl_->entropy.restore((*control)->alpha, (*control)->last_entropy);
    impl_->version = parsed->policy_version;
    return {};
  } catch (const std::exception& e) {
    return make_error(errc::backend_failure, std::string("learner_core::import_state: ")
                                               + e.what());
  }
}

} // namespace tandem
