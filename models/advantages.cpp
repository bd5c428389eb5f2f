// advantages.cpp: group-relative advantages (docs/grpo.md §1).
//
//   A_i = (r_i - mean_g(i)) / (std + eps)   scaling group | batch | batch_residual
//   A_i =  r_i - mean_g(i)                  scaling none (Dr. GRPO)
//
// Choices among alternatives (docs/grpo.md §1 says why):
// - std is Bessel's (n - 1) everywhere; a group (or batch) of one has std 0,
//   so its advantage is 0 / (0 + eps) = 0 rather than verl's "std 1" rule.
// - "batch" is TRL's definition: the std of the raw rewards around the
//   global mean. The centring is still by the group mean.
// - "batch_residual" is AReaL's std_level batch under mean_level group: the
//   Bessel std over the whole batch of the centred rewards r_i - mean_i
//   (mean_i = the baseline of i), i.e. sqrt(sum (r_i - mean_i)^2 / (n - 1)).
// - "fixed" centres every reward on one constant b: A_i = r_i - b (scaled
//   as chosen). It is W-REINFORCE's weighting (Zhu et al. 2025, "The
//   Surprising Effectiveness of Negative Reinforcement"): for rewards in
//   {0, 1}, b = 1 / (1 + lambda) gives +lambda / (1 + lambda) to a right
//   answer and -1 / (1 + lambda) to a wrong one.
// - zero_std_fraction always counts groups whose rewards are all equal, also
//   under batch scaling (TRL would report the batch std there: 0 or 1), since
//   the useful signal is "how many groups carry no gradient".
//
// Thread safety: pure functions.
// An all-equal group has advantage exactly 0 (also when eps == 0).
// Invariants: rewards.size() is a positive multiple of group_size; every
// reward is finite; eps >= 0. Violations return errc::invalid_argument.

#include "models/advantages.hpp"

#include <cmath>
#include <string>

#include "runtime/error.hpp"

namespace tandem {

namespace {

// Below this a group std counts as zero: rewards that differ only by
// rounding noise carry no learning signal either.
constexpr double zero_std_tolerance = 1e-12;

double mean_of(const double* first, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i)
    sum += first[i];
  return sum / static_cast<double>(n);
}

// Bessel std around a given centre; 0 for fewer than two values.
double bessel_std(const double* first, size_t n, double centre) {
  if (n < 2)
    return 0.0;
  double sq = 0;
  for (size_t i = 0; i < n; ++i)
    sq += (first[i] - centre) * (first[i] - centre);
  return std::sqrt(sq / static_cast<double>(n - 1));
}

bool exactly_equal(const double* first, size_t n) {
  for (size_t i = 1; i < n; ++i)
    if (first[i] != first[0])
      return false;
  return true;
}

// An all-equal group's mean is its value: the summed mean of e.g. {0.1, 0.1,
// 0.1} is off by an ulp and would leave ~1e-11 advantages behind.
double group_mean_of(const double* first, size_t n) {
  return exactly_equal(first, n) ? first[0] : mean_of(first, n);
}

// Bessel std over the batch of r_i - baseline_i (batch_residual).
// The value completion i of group `grp` is compared with.
double centre_of(advantage_baseline baseline, const double* grp, size_t g, double batch_mean,
                 double fixed_baseline) {
  switch (baseline) {
    case advantage_baseline::group: return group_mean_of(grp, g);
    case advantage_baseline::batch: return batch_mean;
    case advantage_baseline::fixed: return fixed_baseline;
  }
  return group_mean_of(grp, g);
}

double residual_std(const std::vector<double>& rewards, size_t g, double batch_mean,
                    advantage_baseline baseline, double fixed_baseline) {
  const size_t n = rewards.size();
  if (n < 2)
    return 0.0;
  double sq = 0;
  for (size_t start = 0; start < n; start += g) {
    const double* grp = rewards.data() + start;
    const double mean = centre_of(baseline, grp, g, batch_mean, fixed_baseline);
    for (size_t i = 0; i < g; ++i)
      sq += (grp[i] - mean) * (grp[i] - mean);
  }
  return std::sqrt(sq / static_cast<double>(n - 1));
}

double scale_of(std_scaling scaling, double group_std, double batch_std,
                double residual, double eps) {
  switch (scaling) {
    case std_scaling::group: return group_std + eps;
    case std_scaling::batch: return batch_std + eps;
    case std_scaling::batch_residual: return residual + eps;
    case std_scaling::none: return 1.0;
  }
  return 1.0;
}

caf::error validate(const std::vector<double>& rewards, int32_t group_size,
                    double eps, double fixed_baseline) {
  if (group_size <= 0)
    return make_error(errc::invalid_argument,
                      "compute_advantages: group_size must be > 0, got "
                        + std::to_string(group_size));
  if (rewards.empty() || rewards.size() % static_cast<size_t>(group_size) != 0)
    return make_error(errc::invalid_argument,
                      "compute_advantages: " + std::to_string(rewards.size())
                        + " rewards is not a positive multiple of group_size "
                        + std::to_string(group_size));
  if (!(eps >= 0) || !std::isfinite(eps))
    return make_error(errc::invalid_argument,
                      "compute_advantages: eps must be finite and >= 0");
  if (!std::isfinite(fixed_baseline))
    return make_error(errc::invalid_argument,
                      "compute_advantages: the fixed baseline must be finite");
  for (size_t i = 0; i < rewards.size(); ++i)
    if (!std::isfinite(rewards[i]))
      return make_error(errc::invalid_argument,
                        "compute_advantages: reward " + std::to_string(i)
                          + " is not finite");
  return {};
}

} // namespace

caf::expected<advantage_result>
compute_advantages(const std::vector<double>& rewards, int32_t group_size,
                   std_scaling scaling, double eps, advantage_baseline baseline,
                   double fixed_baseline) {
  if (auto err = validate(rewards, group_size, eps, fixed_baseline))
    return err;
  if (baseline != advantage_baseline::group && scaling == std_scaling::group)
    return make_error(errc::invalid_argument,
                      std::string("compute_advantages: a ") + to_string(baseline)
                        + " baseline needs std scaling batch or none");
  const size_t n = rewards.size();
  const size_t g = static_cast<size_t>(group_size);
  const double batch_mean = mean_of(rewards.data(), n);
  const double batch_std = bessel_std(rewards.data(), n, batch_mean);
  const double residual = scaling == std_scaling::batch_residual
                            ? residual_std(rewards, g, batch_mean, baseline, fixed_baseline)
                            : 0.0;
  advantage_result res;
  res.advantages.resize(n);
  size_t zero_groups = 0;
  for (size_t start = 0; start < n; start += g) {
    const double* grp = rewards.data() + start;
    const bool equal = exactly_equal(grp, g);
    const double group_mean = group_mean_of(grp, g); // exact when all equal
    const double group_std = bessel_std(grp, g, group_mean);
    const double mean = baseline == advantage_baseline::group
                          ? group_mean : centre_of(baseline, grp, g, batch_mean, fixed_baseline);
    if (equal || group_std < zero_std_tolerance)
      ++zero_groups;
    const double denom = scale_of(scaling, group_std, batch_std, residual, eps);
    for (size_t i = 0; i < g; ++i) {
      const double centred = grp[i] - mean;
      // Guards 0 / 0 when eps == 0 and the group (or batch) has no spread.
      res.advantages[start + i] = centred == 0.0 ? 0.0 : centred / denom;
    }
  }
  res.zero_std_fraction
    = static_cast<double>(zero_groups) / static_cast<double>(n / g);
  return res;
}

} // namespace tandem
