#include "bench/sample_stats.hpp"

#include <algorithm>
#include <cstdio>

namespace tandem {

namespace {

/// The p-quantile of sorted `xs` (p in [0, 1]), interpolated.
double quantile(const std::vector<double>& xs, double p) {
  double pos = p * static_cast<double>(xs.size() - 1);
  auto lo = static_cast<size_t>(pos);
  auto hi = std::min(lo + 1, xs.size() - 1);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - static_cast<double>(lo));
}

} // namespace

spread summarize(std::vector<double> xs) {
  spread s;
  if (xs.empty())
    return s;
  std::sort(xs.begin(), xs.end());
  s.count = xs.size();
  s.min = xs.front();
  s.max = xs.back();
  s.median = quantile(xs, 0.5);
  s.q1 = quantile(xs, 0.25);
  s.q3 = quantile(xs, 0.75);
  return s;
}

std::string format_spread(const spread& s, int decimals) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.*f [%.*f..%.*f]", decimals, s.median, decimals, s.min,
                decimals, s.max);
  return buf;
}

} // namespace tandem
