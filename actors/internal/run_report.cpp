#include "actors/internal/run_report.hpp"

#include "actors/internal/group_filter.hpp"

#include <cmath>
#include <cstdio>

namespace tandem {

batch_rewards summarize_rewards(const std::vector<scored_group>& batch) {
  batch_rewards b;
  double sum = 0, sq = 0, acc = 0, fmt = 0, len = 0, trunc = 0;
  for (auto& g : batch)
    for (size_t i = 0; i < g.rewards.size(); ++i) {
      sum += g.rewards[i];
      sq += g.rewards[i] * g.rewards[i];
      acc += i < g.accuracy.size() ? g.accuracy[i] : 0;
      fmt += i < g.format.size() ? g.format[i] : 0;
      if (i < g.rollout.completions.size()) {
        auto& c = g.rollout.completions[i];
        len += static_cast<double>(c.tokens.size());
        trunc += c.finished ? 0 : 1;
      }
      ++b.completions;
    }
  if (b.completions == 0)
    return b;
  double n = static_cast<double>(b.completions);
  b.reward_mean = sum / n;
  b.reward_std = n > 1 ? std::sqrt(std::max(0.0, (sq - sum * sum / n) / (n - 1))) : 0;
  b.accuracy_mean = acc / n;
  b.format_mean = fmt / n;
  b.completion_len_mean = len / n;
  b.truncated_fraction = trunc / n;
  return b;
}

json_record to_json(const step_record& r) {
  json_record j;
  auto& l = r.learner;
  j.add("step", r.step).add("version", r.version).add("elapsed_s", r.elapsed)
    .add("reward_mean", r.rewards.reward_mean).add("reward_std", r.rewards.reward_std)
    .add("accuracy", r.rewards.accuracy_mean).add("format", r.rewards.format_mean)
    .add("completion_len", r.rewards.completion_len_mean)
    .add("truncated_frac", r.rewards.truncated_fraction)
    .add("zero_std_frac", l.zero_std_fraction).add("groups_filtered", static_cast<int64_t>(r.filtered))
    .add("filtered_frac", filtered_fraction(r.filtered, r.trained_groups))
    .add("filter_passed", static_cast<int64_t>(r.filter_passed)).add("adv_abs_mean", l.advantage_abs_mean)
    .add("loss", l.loss).add("pg_loss", l.pg_loss).add("kl", l.kl).add("entropy", l.entropy)
    .add("clip_low", l.clip_low).add("clip_high", l.clip_high)
    .add("clip_region", l.clip_region).add("ratio_mean", l.ratio_mean)
    .add("ratio_min", l.ratio_min).add("ratio_max", l.ratio_max)
    .add("behav_weight_mean", l.behav_weight_mean)
    .add("behav_weight_truncated", l.behav_weight_truncated)
    .add("behav_approx_kl", l.behav_approx_kl)
    .add("behav_weight_masked", l.behav_weight_masked)
    .add("clip_dual", l.clip_dual).add("clip_sequence", l.clip_sequence)
    .add("sampler_logp_abs_diff", l.sampler_logp_abs_diff).add("grad_norm", l.grad_norm)
    .add("mismatch_logp_abs", l.mismatch_logp_abs).add("mismatch_k3", l.mismatch_k3)
    .add("mismatch_tokens", l.mismatch_tokens).add("lr", l.lr)
    .add("entropy_coef", l.entropy_coef)
    .add("staleness_mean", r.staleness.mean).add("staleness_max", r.staleness.max)
    .add_array("staleness_hist", r.staleness.histogram)
    .add("tokens_generated", r.tokens_generated).add("train_tokens", l.tokens)
    .add("tokens_per_s", r.times.wall > 0 ? r.tokens_generated / r.times.wall : 0.0)
    .add("generate_s", r.times.generate).add("score_s", r.times.score)
    .add("train_s", r.times.train).add("step_wall_s", r.times.wall)
    .add("samplers", r.samplers)
    .add("groups_consumed", static_cast<int64_t>(r.consumed))
    .add("groups_requeued", static_cast<int64_t>(r.requeued))
    .add("groups_dropped", static_cast<int64_t>(r.dropped))
    .add("groups_stale_refused", static_cast<int64_t>(r.stale_refused))
    .add("reward_ok", static_cast<int64_t>(r.reward_ok))
    .add("reward_invalid", static_cast<int64_t>(r.reward_invalid))
    .add("reward_timeout", static_cast<int64_t>(r.reward_timeout))
    .add("reward_error", static_cast<int64_t>(r.reward_error))
    .add("prompts_dropped_long", static_cast<int64_t>(r.prompts_dropped_long))
    .add("prompts_dropped_long_total", static_cast<int64_t>(r.prompts_dropped_long_total));
  return j;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", (long long) s / 3600, (long long) (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", (long long) s / 60, (long long) s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%llds", (long long) s);
  return buf;
}

std::string progress_line(const step_record& r, int64_t total_steps) {
  double tps = r.times.wall > 0 ? r.tokens_generated / r.times.wall : 0;
  double per_step = r.step > 0 ? r.elapsed / r.step : 0;
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "step %lld/%lld v%lld | reward %.3f acc %.3f | stale %.2f max %lld | "
                "%.0f tok/s | %lld samplers | %s elapsed, eta %s",
                (long long) r.step, (long long) total_steps, (long long) r.version,
                r.rewards.reward_mean, r.rewards.accuracy_mean, r.staleness.mean,
                (long long) r.staleness.max, tps, (long long) r.samplers,
                format_duration(r.elapsed).c_str(),
                format_duration(per_step * (total_steps - r.step)).c_str());
  std::string line = buf;
  if (r.filtered + r.filter_passed > 0) {
    std::snprintf(buf, sizeof(buf), " | filtered %.0f%%",
                  100 * filtered_fraction(r.filtered, r.trained_groups));
    line += buf;
  }
  auto failed = r.reward_invalid + r.reward_timeout + r.reward_error;
  if (failed > 0)
    line += " | scoring failed " + std::to_string(failed) + " (invalid "
            + std::to_string(r.reward_invalid) + ", timeout " + std::to_string(r.reward_timeout)
            + ", error " + std::to_string(r.reward_error) + ")";
  return line;
}

void reward_window::add(double x) {
  xs_.push_back(x);
  while (xs_.size() > window_)
    xs_.pop_front();
}

double reward_window::mean() const {
  if (xs_.empty())
    return 0;
  double s = 0;
  for (auto x : xs_)
    s += x;
  return s / static_cast<double>(xs_.size());
}

} // namespace tandem
