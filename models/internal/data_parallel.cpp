// data_parallel.cpp: see data_parallel.hpp.
#include "models/internal/data_parallel.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_set>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "models/internal/device_precision.hpp"
#include "runtime/error.hpp"

namespace tandem::internal {

namespace {

// `err` with "learner rank r: what: " in front, its code kept.
caf::error prefixed(const caf::error& err, int rank, const std::string& what) {
  const auto code = err.category() == error_category ? static_cast<errc>(err.code())
                                                     : errc::backend_failure;
  return make_error(code, "learner rank " + std::to_string(rank) + ": " + what + ": "
                            + describe(err));
}

// Runs `fn` after an AccumulateGrad node has accumulated into .grad. The
// FunctionPostHook interface (operator() on the node's outputs and inputs)
// is the same in LibTorch 1.13 and 2.x; 2.x adds compiled_args with a
// default, which compiled autograd alone calls.
struct after_accumulate final : torch::autograd::FunctionPostHook {
  explicit after_accumulate(std::function<void()> f) : fn(std::move(f)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    fn();
    return outputs;
  }
  std::function<void()> fn;
};

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> out(shape.size(), 1);
  for (size_t k = shape.size(); k-- > 1;)
    out[k - 1] = out[k] * shape[k];
  return out;
}

} // namespace

int64_t distinct_storage_bytes(const std::vector<torch::Tensor>& tensors) {
  std::unordered_set<const void*> seen;
  int64_t bytes = 0;
  for (const auto& t : tensors)
    if (t.defined() && seen.insert(t.storage().unsafeGetStorageImpl()).second)
      bytes += static_cast<int64_t>(t.storage().nbytes());
  return bytes;
}

flat_layout plan_flat_layout(const std::vector<int64_t>& numel, int ranks, int rank,
                             int64_t bucket_bytes) {
  flat_layout l;
  l.ranks = ranks;
  l.rank = rank;
  l.numel = numel;
  const int64_t cap = std::max<int64_t>(bucket_bytes / static_cast<int64_t>(sizeof(float)), 1);
  size_t i = 0;
  while (i < numel.size()) {
    flat_layout::bucket b;
    b.start = l.total;
    b.first = i;
    int64_t used = 0;
    do { // whole parameters; one larger than the cap gets a bucket of its own
      l.offset.push_back(b.start + used);
      used += numel[i++];
    } while (i < numel.size() && used + numel[i] <= cap);
    b.end = i;
    b.size = static_cast<int64_t>(nccl::padded_count(static_cast<size_t>(used), ranks));
    b.local = l.shard;
    l.total += b.size;
    l.shard += b.size / ranks;
    l.buckets.push_back(b);
  }
  return l;
}

// -- flat_adamw ----------------------------------------------------------------

flat_adamw::flat_adamw(int64_t numel, adamw_hyper h, torch::Device device)
  : h_(h),
    exp_avg_(torch::zeros({numel}, torch::TensorOptions().dtype(torch::kFloat).device(device))),
    exp_avg_sq_(torch::zeros_like(exp_avg_)) {}

// The operations and their order are torch::optim::AdamW::step's (LibTorch
// 1.13 and 2.x), so each element gets the same rounding.
void flat_adamw::step(const std::vector<torch::Tensor>& params,
                      const std::vector<torch::Tensor>& grads, const std::vector<int64_t>& at,
                      double lr) {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double bias1 = 1 - std::pow(h_.beta1, static_cast<double>(steps_));
  const double bias2 = 1 - std::pow(h_.beta2, static_cast<double>(steps_));
  for (size_t i = 0; i < params.size(); ++i) {
    auto p = params[i];
    const auto& g = grads[i];
    const int64_t n = p.numel();
    auto m = exp_avg_.narrow(0, at[i], n);
    auto v = exp_avg_sq_.narrow(0, at[i], n);
    if (h_.weight_decay != 0)
      p.mul_(1 - lr * h_.weight_decay);
    m.mul_(h_.beta1).add_(g, 1 - h_.beta1);
    v.mul_(h_.beta2).addcmul_(g, g, 1 - h_.beta2);
    auto denom = (v.sqrt() / std::sqrt(bias2)).add_(h_.eps);
    p.addcdiv_(m, denom, -lr / bias1);
  }
}

void flat_adamw::restore(int64_t steps, const torch::Tensor& exp_avg,
                         const torch::Tensor& exp_avg_sq) {
  exp_avg_.copy_(exp_avg);
  exp_avg_sq_.copy_(exp_avg_sq);
  steps_ = steps;
}

// -- dp_rank -------------------------------------------------------------------

dp_rank::dp_rank(const learner_settings& s, const transformer& model, torch::Device device)
  : comm_(s.collective), stage_(s.zero_stage), timeout_ms_(s.collective_timeout_ms) {
  std::vector<int64_t> numel;
  for (const auto& p : ordered_parameters(model)) {
    numel.push_back(p.numel());
    shapes_.push_back(p.sizes().vec());
  }
  layout_ = plan_flat_layout(numel, s.ranks, s.rank, s.grad_bucket_bytes);
  params_list_ = ordered_parameters(model);
  bucket_of_.resize(numel.size());
  for (size_t b = 0; b < layout_.buckets.size(); ++b)
    for (size_t i = layout_.buckets[b].first; i < layout_.buckets[b].end; ++i)
      bucket_of_[i] = b;
  const auto f = torch::TensorOptions().dtype(torch::kFloat).device(device);
  grads_ = torch::zeros({layout_.total}, f);
  // Each .grad: the flat buffer's storage at the parameter's offset. Not
  // narrow().view(): an autograd view cannot be detach_()ed, which
  // Optimizer::zero_grad (1.13 and 2.x) does to every .grad.
  for (size_t i = 0; i < params_list_.size(); ++i) {
    auto v = torch::empty({0}, f);
    v.set_(grads_.storage(), layout_.offset[i], shapes_[i], contiguous_strides(shapes_[i]));
    views_.push_back(v);
  }
  for (size_t i = 0; i < params_list_.size(); ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(params_list_[i]);
    hook_keys_.push_back(
      acc->add_post_hook(std::make_unique<after_accumulate>([this, i] { on_accumulated(i); })));
    accumulators_.push_back(std::move(acc));
  }
  if (stage_ > 0) {
    const auto& o = s.optimizer;
    adamw_ = std::make_unique<flat_adamw>(
      layout_.shard, adamw_hyper{o.beta1, o.beta2, 1e-8, o.weight_decay}, device);
    wshard_ = torch::zeros({layout_.shard}, f); // padding stays 0 through every update
  }
  begin_step();
}

dp_rank::~dp_rank() {
  for (size_t i = 0; i < accumulators_.size(); ++i)
    accumulators_[i]->del_post_hook(hook_keys_[i]);
}

int64_t dp_rank::buffer_bytes() const { return distinct_storage_bytes(lasting_tensors()); }

std::vector<torch::Tensor> dp_rank::lasting_tensors() const {
  std::vector<torch::Tensor> out{grads_};
  if (stage_ > 0) {
    out.push_back(adamw_->exp_avg());
    out.push_back(adamw_->exp_avg_sq());
    out.push_back(wshard_);
  }
  return out;
}

nccl::time_point dp_rank::deadline() const {
  return nccl::clock_type::now() + std::chrono::milliseconds(timeout_ms_);
}

// Posts `op` on every bucket of `flat`, last bucket first, then waits for
// the last one posted (which completes every earlier one).
caf::error dp_rank::run_buckets(nccl::reduce_op op, torch::Tensor& flat, const char* what) {
  if (!comm_->device_ordered())
    synchronize(flat.device()); // the collective reads what LibTorch wrote
  const auto until = deadline();
  nccl::ticket last = 0;
  for (auto b = layout_.buckets.rbegin(); b != layout_.buckets.rend(); ++b) {
    nccl::float_span span{flat.data_ptr<float>() + b->start, static_cast<size_t>(b->size)};
    auto t = comm_->post(op, span, until);
    if (!t)
      return prefixed(t.error(), layout_.rank, what);
    last = *t;
  }
  if (auto err = comm_->wait(last, until))
    return prefixed(err, layout_.rank, what);
  return {};
}

caf::error dp_rank::run_one(nccl::reduce_op op, torch::Tensor& flat, const char* what) {
  if (!comm_->device_ordered())
    synchronize(flat.device());
  nccl::float_span span{flat.data_ptr<float>(), static_cast<size_t>(flat.numel())};
  if (auto err = comm_->run(op, span, deadline()))
    return prefixed(err, layout_.rank, what);
  return {};
}

void dp_rank::begin_step() {
  grads_.zero_();
  for (size_t i = 0; i < params_list_.size(); ++i)
    params_list_[i].mutable_grad() = views_[i];
  seen_.assign(params_list_.size(), 0);
  missing_.clear();
  for (const auto& b : layout_.buckets)
    missing_.push_back(b.end - b.first);
  armed_ = false;
  next_post_ = static_cast<int>(layout_.buckets.size()) - 1;
  tickets_.clear();
  post_error_ = caf::error{};
  twice_ = false;
}

void dp_rank::zero_gradients() { grads_.zero_(); }

// Parameter i's .grad is its view again, holding what .grad held: a
// replaced .grad is copied in, a dropped one (undefined) contributes zeros.
void dp_rank::keep_view(size_t i) {
  auto& g = params_list_[i].mutable_grad();
  if (g.defined() && g.data_ptr() == views_[i].data_ptr())
    return;
  torch::NoGradGuard no_grad;
  if (g.defined())
    views_[i].copy_(g);
  else
    views_[i].zero_();
  g = views_[i];
}

// On the autograd engine's thread, after AccumulateGrad wrote parameter i's
// .grad (its slice of grads_), while the caller's thread is inside
// backward(): nothing else touches this object meanwhile.
void dp_rank::on_accumulated(size_t i) {
  if (!armed_)
    return;
  keep_view(i);
  if (++seen_[i] > 1) {
    twice_ = true;
    return;
  }
  if (--missing_[bucket_of_[i]] == 0)
    post_ready_buckets();
}

void dp_rank::post_ready_buckets() {
  const auto op = stage_ == 2 ? nccl::reduce_op::reduce_scatter : nccl::reduce_op::all_reduce;
  while (next_post_ >= 0 && missing_[static_cast<size_t>(next_post_)] == 0) {
    const auto& b = layout_.buckets[static_cast<size_t>(next_post_)];
    --next_post_;
    if (post_error_)
      continue; // the collective is closed; reduce_gradients reports the error
    if (!comm_->device_ordered())
      synchronize(grads_.device()); // the collective reads what LibTorch wrote
    nccl::float_span span{grads_.data_ptr<float>() + b.start, static_cast<size_t>(b.size)};
    auto t = comm_->post(op, span, until_);
    if (t)
      tickets_.push_back(*t);
    else
      post_error_ = t.error();
  }
}

caf::error dp_rank::reduce_gradients(const transformer&) {
  if (!armed_ && next_post_ == static_cast<int>(layout_.buckets.size()) - 1)
    until_ = deadline(); // no backward armed the hooks (no rows, a skipped backward)
  armed_ = false;
  for (size_t i = 0; i < params_list_.size(); ++i) {
    if (seen_[i] > 0)
      continue;
    keep_view(i);
    seen_[i] = 1;
    --missing_[bucket_of_[i]];
  }
  post_ready_buckets();
  if (post_error_)
    return prefixed(post_error_, layout_.rank, "gradient reduction");
  if (twice_)
    return make_error(errc::backend_failure,
                      "learner rank " + std::to_string(layout_.rank)
                        + ": a parameter's gradient arrived twice in one backward; its bucket "
                          "was reduced early (docs/data-parallel.md, Overlap)");
  if (!tickets_.empty())
    if (auto err = comm_->wait(tickets_.back(), until_))
      return prefixed(err, layout_.rank, "gradient reduction");
  return {};
}

caf::expected<std::vector<std::vector<double>>>
dp_rank::gather_over_ranks(const std::vector<double>& local) {
  // Each double as two floats' bits: all_gather copies, never adds.
  const size_t w = 2 * local.size();
  const auto n = static_cast<size_t>(layout_.ranks);
  std::vector<float> host(w * n, 0.f);
  std::memcpy(host.data() + static_cast<size_t>(layout_.rank) * w, local.data(),
              local.size() * sizeof(double));
  auto buf = torch::from_blob(host.data(), {static_cast<int64_t>(host.size())}, torch::kFloat)
               .to(grads_.device(), /*non_blocking=*/false, /*copy=*/true);
  if (auto err = run_one(nccl::reduce_op::all_gather, buf, "statistics all_gather"))
    return err;
  auto back = buf.to(torch::kCPU).contiguous();
  std::vector<std::vector<double>> all(n, std::vector<double>(local.size()));
  for (size_t r = 0; r < n; ++r)
    std::memcpy(all[r].data(), back.data_ptr<float>() + r * w, local.size() * sizeof(double));
  return all;
}

double dp_rank::grad_square_sum() const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> squares;
  if (stage_ == 2) {
    for (const auto& b : layout_.buckets)
      squares.push_back(
        grads_.narrow(0, layout_.own_start(b), layout_.chunk(b)).pow(2).sum().to(torch::kDouble));
  } else {
    for (size_t i = 0; i < layout_.offset.size(); ++i)
      squares.push_back(grads_.narrow(0, layout_.offset[i], layout_.numel[i])
                          .pow(2)
                          .sum()
                          .to(torch::kDouble));
  }
  return squares.empty() ? 0.0 : torch::stack(squares).sum().item<double>();
}

// The weights at flat positions [at, at + n) of bucket b, from or into
// `shard` (n elements); padding positions are left alone.
void dp_rank::copy_weights(const flat_layout::bucket& b, int64_t at, int64_t n,
                           torch::Tensor shard, bool into_model) {
  for (size_t i = b.first; i < b.end; ++i) {
    const int64_t lo = std::max(at, layout_.offset[i]);
    const int64_t hi = std::min(at + n, layout_.offset[i] + layout_.numel[i]);
    if (lo >= hi)
      continue;
    auto w = params_list_[i].view({-1}).narrow(0, lo - layout_.offset[i], hi - lo);
    auto s = shard.narrow(0, lo - at, hi - lo);
    if (into_model)
      w.copy_(s);
    else
      s.copy_(w);
  }
}

// The flat gradient buffer doubles as the gather buffer of the weights: once
// AdamW has read this rank's gradient chunks, nothing needs the gradient.
// The model is written only after every bucket's gather succeeded.
caf::error dp_rank::sharded_update(transformer&, double lr, double grad_scale) {
  torch::NoGradGuard no_grad;
  auto& shard = wshard_; // this rank's weights
  std::vector<torch::Tensor> p, g;
  std::vector<int64_t> at;
  for (const auto& b : layout_.buckets) {
    const int64_t c = layout_.chunk(b);
    copy_weights(b, layout_.own_start(b), c, shard.narrow(0, b.local, c), false);
    p.push_back(shard.narrow(0, b.local, c));
    g.push_back(grads_.narrow(0, layout_.own_start(b), c));
    if (grad_scale != 1.0)
      g.back().mul_(grad_scale);
    at.push_back(b.local);
  }
  adamw_->step(p, g, at, lr);
  grads_.zero_(); // padding stays 0 in the gathered weights
  for (const auto& b : layout_.buckets)
    grads_.narrow(0, layout_.own_start(b), layout_.chunk(b))
      .copy_(shard.narrow(0, b.local, layout_.chunk(b)));
  if (auto err = run_buckets(nccl::reduce_op::all_gather, grads_, "parameter all_gather"))
    return err;
  for (const auto& b : layout_.buckets)
    copy_weights(b, b.start, b.size, grads_.narrow(0, b.start, b.size), true);
  return {};
}

caf::expected<std::vector<param_moments>> dp_rank::gather_moments() {
  torch::NoGradGuard no_grad;
  auto m = torch::zeros_like(grads_);
  auto v = torch::zeros_like(grads_);
  for (const auto& b : layout_.buckets) {
    m.narrow(0, layout_.own_start(b), layout_.chunk(b))
      .copy_(adamw_->exp_avg().narrow(0, b.local, layout_.chunk(b)));
    v.narrow(0, layout_.own_start(b), layout_.chunk(b))
      .copy_(adamw_->exp_avg_sq().narrow(0, b.local, layout_.chunk(b)));
  }
  if (auto err = run_buckets(nccl::reduce_op::all_gather, m, "moment all_gather"))
    return err;
  if (auto err = run_buckets(nccl::reduce_op::all_gather, v, "moment all_gather"))
    return err;
  m = m.to(torch::kCPU);
  v = v.to(torch::kCPU);
  std::vector<param_moments> out;
  for (size_t i = 0; i < layout_.offset.size(); ++i)
    out.push_back({adamw_->steps(),
                   m.narrow(0, layout_.offset[i], layout_.numel[i]).view(shapes_[i]).clone(),
                   v.narrow(0, layout_.offset[i], layout_.numel[i]).view(shapes_[i]).clone()});
  return out;
}

caf::error dp_rank::restore_moments(const std::vector<param_moments>& moments) {
  torch::NoGradGuard no_grad;
  for (const auto& pm : moments)
    if (pm.step != moments.front().step)
      return make_error(errc::invalid_argument,
                        "learner state: ZeRO keeps one step count for every parameter; the "
                        "state has "
                          + std::to_string(moments.front().step) + " and "
                          + std::to_string(pm.step));
  auto m = torch::zeros({layout_.total}, torch::kFloat);
  auto v = torch::zeros({layout_.total}, torch::kFloat);
  for (size_t i = 0; i < moments.size(); ++i) {
    m.narrow(0, layout_.offset[i], layout_.numel[i]).copy_(moments[i].exp_avg.reshape({-1}));
    v.narrow(0, layout_.offset[i], layout_.numel[i]).copy_(moments[i].exp_avg_sq.reshape({-1}));
  }
  auto lm = torch::zeros({layout_.shard}, torch::kFloat);
  auto lv = torch::zeros({layout_.shard}, torch::kFloat);
  for (const auto& b : layout_.buckets) {
    lm.narrow(0, b.local, layout_.chunk(b)).copy_(m.narrow(0, layout_.own_start(b), layout_.chunk(b)));
    lv.narrow(0, b.local, layout_.chunk(b)).copy_(v.narrow(0, layout_.own_start(b), layout_.chunk(b)));
  }
  adamw_->restore(moments.empty() ? 0 : moments.front().step, lm, lv);
  return {};
}

} // namespace tandem::internal
