// learner_step.cpp: see learner_step.hpp.

#include "models/internal/learner_step.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/grpo_loss.hpp"
#include "models/internal/device_precision.hpp"

namespace tandem::internal {

namespace {

int64_t row_length(const train_sequence& s) {
  return static_cast<int64_t>(s.prompt.size() + s.completion.size());
}

// [b, T] float tensor of per-token values of `rows`, 0 at padding.
template <class Get>
torch::Tensor padded(const std::vector<train_sequence>& batch, const std::vector<size_t>& rows,
                     int64_t t, Get get) {
  std::vector<float> v(rows.size() * t, 0.f);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& s = batch[rows[i]];
    for (size_t j = 0; j < s.completion.size(); ++j)
      v[i * t + j] = get(s, j);
  }
  return torch::from_blob(v.data(), {static_cast<int64_t>(rows.size()), t}, torch::kFloat)
    .clone();
}

// The loss of one part and the statistics grpo_loss reports for it.
struct part_loss {
  torch::Tensor loss;  // grpo loss (part's own aggregation)
  torch::Tensor bonus; // token-mean entropy, undefined without an entropy bonus
  grpo_loss_stats stats;
};

part_loss forward_part(transformer& model, const micro_batch& p, const grpo_config& g,
                       int64_t normalizer_length, const step_numerics& n) {
  autocast_guard cast(n.autocast);
  auto out = score_completions(model, p.packed, n.temperature);
  const auto& m = p.packed.loss_mask;
  part_loss r;
  torch::Tensor entropy;
  if (g.entropy_coef > 0) {
    // The bonus needs the graph through the full-vocabulary distribution.
    const auto& lp = out.log_probs;
    auto ent = -(lp.exp() * lp).sum(-1);
    r.bonus = (ent * m).sum() / m.sum().clamp_min(1.0);
    entropy = ent.detach();
  } else {
    // A statistic only: no graph through the full-vocabulary distribution.
    torch::NoGradGuard no_grad;
    auto lp = out.log_probs.detach();
    entropy = -(lp.exp() * lp).sum(-1);
  }
  grpo_loss_inputs in{out.logp, p.prox, p.behav, p.ref, p.advantages, m, entropy};
  auto res = grpo_loss(in, g, normalizer_length);
  r.loss = res.loss;
  r.stats = res.stats;
  return r;
}

// The fields of grpo_loss_stats in loss_stats_sum's vector order.
std::vector<double grpo_loss_stats::*> stat_fields() {
  using s = grpo_loss_stats;
  return {&s::loss, &s::pg_loss, &s::kl, &s::entropy, &s::clip_low, &s::clip_high,
          &s::clip_region, &s::ratio_mean, &s::ratio_min, &s::ratio_max,
          &s::behav_weight_mean, &s::behav_weight_truncated, &s::behav_approx_kl,
          &s::tokens, &s::behav_weight_masked, &s::clip_dual, &s::clip_sequence,
          &s::sequences};
}

} // namespace

void loss_stats_sum::add(const grpo_loss_stats& s, double loss_weight) {
  sum_.loss += loss_weight * s.loss;
  sum_.pg_loss += loss_weight * s.pg_loss;
  const double n = s.tokens;
  sum_.kl += n * s.kl;
  sum_.entropy += n * s.entropy;
  sum_.clip_low += n * s.clip_low;
  sum_.clip_high += n * s.clip_high;
  sum_.clip_region += n * s.clip_region;
  sum_.ratio_mean += n * s.ratio_mean;
  sum_.behav_weight_mean += n * s.behav_weight_mean;
  sum_.behav_weight_truncated += n * s.behav_weight_truncated;
  sum_.behav_approx_kl += n * s.behav_approx_kl;
  sum_.behav_weight_masked += n * s.behav_weight_masked;
  sum_.clip_dual += n * s.clip_dual;
  sum_.clip_sequence += s.sequences * s.clip_sequence;
  sum_.sequences += s.sequences;
  sum_.ratio_min = any_ ? std::min(sum_.ratio_min, s.ratio_min) : s.ratio_min;
  sum_.ratio_max = any_ ? std::max(sum_.ratio_max, s.ratio_max) : s.ratio_max;
  sum_.tokens += n;
  any_ = any_ || n > 0;
}

void loss_stats_sum::merge(const loss_stats_sum& o) {
  const bool any = any_ || o.any_;
  const auto lo = any_ && o.any_ ? std::min(sum_.ratio_min, o.sum_.ratio_min)
                                 : (any_ ? sum_.ratio_min : o.sum_.ratio_min);
  const auto hi = any_ && o.any_ ? std::max(sum_.ratio_max, o.sum_.ratio_max)
                                 : (any_ ? sum_.ratio_max : o.sum_.ratio_max);
  for (auto f : stat_fields())
    sum_.*f += o.sum_.*f;
  sum_.ratio_min = lo;
  sum_.ratio_max = hi;
  any_ = any;
}

grpo_loss_stats loss_stats_sum::result() const {
  grpo_loss_stats r = sum_;
  const double n = std::max(sum_.tokens, 1.0);
  for (double* f : {&r.kl, &r.entropy, &r.clip_low, &r.clip_high, &r.clip_region,
                    &r.ratio_mean, &r.behav_weight_mean, &r.behav_weight_truncated,
                    &r.behav_approx_kl, &r.behav_weight_masked, &r.clip_dual})
    *f /= n;
  r.clip_sequence /= std::max(sum_.sequences, 1.0);
  return r;
}

std::vector<double> loss_stats_sum::to_vector() const {
  std::vector<double> v;
  for (auto f : stat_fields())
    v.push_back(sum_.*f);
  v.push_back(any_ ? 1.0 : 0.0);
  v.resize(width, 0.0);
  return v;
}

loss_stats_sum loss_stats_sum::from_vector(const double* v) {
  loss_stats_sum out;
  const auto fields = stat_fields();
  for (size_t i = 0; i < fields.size(); ++i)
    out.sum_.*fields[i] = v[i];
  out.any_ = v[fields.size()] > 0;
  return out;
}

step_totals totals_of(const std::vector<micro_batch>& parts) {
  step_totals t;
  for (const auto& p : parts) {
    t.rows += p.rows;
    t.tokens += p.tokens;
  }
  return t;
}

std::vector<std::vector<size_t>> plan_micro_batches(const std::vector<train_sequence>& batch,
                                                    size_t lo, size_t hi, int64_t max_tokens) {
  std::vector<size_t> order(hi - lo);
  std::iota(order.begin(), order.end(), lo);
  if (max_tokens <= 0)
    return {order};
  std::stable_sort(order.begin(), order.end(), [&batch](size_t a, size_t b) {
    return row_length(batch[a]) > row_length(batch[b]);
  });
  std::vector<std::vector<size_t>> plan;
  int64_t longest = 0; // of the open micro-batch: its first row (longest first)
  for (size_t i : order) {
    const auto n = static_cast<int64_t>(plan.empty() ? 0 : plan.back().size());
    if (plan.empty() || (n + 1) * longest > max_tokens) {
      plan.push_back({i});
      longest = row_length(batch[i]);
    } else {
      plan.back().push_back(i);
    }
  }
  return plan;
}

micro_batch prepare_micro_batch(transformer& model, transformer* reference,
                                const std::vector<train_sequence>& batch,
                                const std::vector<size_t>& rows, int64_t version,
                                const step_numerics& n) {
  torch::NoGradGuard no_grad;
  std::vector<sequence_ref> refs;
  std::vector<float> adv;
  micro_batch mb;
  for (size_t i : rows) {
    refs.push_back({&batch[i].prompt, &batch[i].completion});
    adv.push_back(static_cast<float>(batch[i].advantage));
    mb.tokens += static_cast<double>(batch[i].completion.size());
  }
  mb.rows = static_cast<double>(rows.size());
  auto packed = pack(refs);
  if (n.causal_only)
    packed.mask = torch::Tensor(); // exact for right padding (transformer.hpp)
  mb.packed = to_device(packed, n.device);
  const auto t = packed.targets.size(1);
  mb.behav = padded(batch, rows, t, [](const train_sequence& s, size_t j) {
               return s.behav_logprobs[j];
             }).to(n.device);
  mb.same_version = padded(batch, rows, t, [version](const train_sequence& s, size_t j) {
                      return s.versions[j] == version ? 1.f : 0.f;
                    }).to(n.device) > 0;
  mb.advantages = torch::from_blob(adv.data(), {static_cast<int64_t>(adv.size())}, torch::kFloat)
                    .clone()
                    .to(n.device);
  autocast_guard cast(n.autocast);
  mb.prox = score_completions(model, mb.packed, n.temperature).logp;
  if (reference != nullptr)
    mb.ref = score_completions(*reference, mb.packed, n.temperature).logp;
  return mb;
}

accumulated_step accumulate_gradients(transformer& model, const std::vector<micro_batch>& parts,
                                      const grpo_config& g, int64_t normalizer_length,
                                      const step_numerics& n) {
  return accumulate_gradients(model, parts, g, normalizer_length, n, totals_of(parts));
}

accumulated_step accumulate_gradients(transformer& model, const std::vector<micro_batch>& parts,
                                      const grpo_config& g, int64_t normalizer_length,
                                      const step_numerics& n, const step_totals& whole,
                                      const std::function<void()>& before_last_backward) {
  const double rows = whole.rows, tokens = whole.tokens;
  accumulated_step out;
  auto& merged = out.sums;
  for (size_t k = 0; k < parts.size(); ++k) {
    const auto& p = parts[k];
    // The share of this part in the step's loss (see the file comment).
    const double w_tokens = p.tokens / std::max(tokens, 1.0);
    const double w_loss = g.aggregation == loss_aggregation::token_mean ? w_tokens
                                                                        : p.rows / rows;
    auto part = forward_part(model, p, g, normalizer_length, n);
    auto total = part.loss * w_loss;
    if (part.bonus.defined())
      total = total - g.entropy_coef * w_tokens * part.bonus;
    const double value = total.item<double>();
    if (!std::isfinite(value)) {
      out.finite = false;
      out.bad_loss = value;
      return out;
    }
    if (k + 1 == parts.size() && before_last_backward)
      before_last_backward();
    total.backward();
    merged.add(part.stats, w_loss);
  }
  out.loss = merged.result();
  return out;
}

mismatch_stats measure_mismatch(const std::vector<micro_batch>& parts) {
  const auto sums = mismatch_sums(parts);
  return mismatch_of(sums.data());
}

mismatch_stats mismatch_of(const double* a) {
  mismatch_stats m;
  m.all_abs = a[0] / std::max(a[1], 1.0);
  m.abs = a[2] / std::max(a[4], 1.0);
  m.k3 = a[3] / std::max(a[4], 1.0);
  m.tokens = static_cast<int64_t>(a[4]);
  return m;
}

std::vector<double> mismatch_sums(const std::vector<micro_batch>& parts) {
  // Device-side sums, read back once: [all |d|, all tokens, |d|, k3, tokens].
  torch::Tensor sums;
  for (const auto& p : parts) {
    const auto real = p.packed.loss_mask > 0;
    const auto same = real.logical_and(p.same_version);
    const auto zero = torch::zeros_like(p.prox);
    const auto d = torch::where(real, p.prox - p.behav, zero);
    const auto dc = d.clamp(-20.0, 20.0);
    const auto k3 = dc.exp() - dc - 1.0;
    auto s = torch::stack({d.abs().sum(), real.sum().to(torch::kFloat),
                           torch::where(same, d.abs(), zero).sum(),
                           torch::where(same, k3, zero).sum(), same.sum().to(torch::kFloat)})
               .to(torch::kDouble);
    sums = sums.defined() ? sums + s : s;
  }
  std::vector<double> out(5, 0.0);
  if (!sums.defined())
    return out;
  auto h = sums.to(torch::kCPU);
  auto a = h.accessor<double, 1>();
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = a[static_cast<int64_t>(i)];
  return out;
}

} // namespace tandem::internal
