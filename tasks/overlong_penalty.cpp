// overlong_penalty.cpp: see overlong_penalty.hpp.

#include "tasks/overlong_penalty.hpp"

#include <algorithm>

namespace tandem {

double overlong_penalty(size_t length, const overlong_settings& s) {
  if (s.buffer <= 0)
    return 0.0;
  const double free_len = static_cast<double>(s.max_new_tokens) - s.buffer;
  const double over = static_cast<double>(length) - free_len;
  if (over <= 0)
    return 0.0;
  return -std::min(over / s.buffer, 1.0) * s.penalty;
}

void apply_overlong_penalty(scored_group& g, const overlong_settings& s) {
  if (s.buffer <= 0)
    return;
  const auto& c = g.rollout.completions;
  const size_t n = std::min(g.rewards.size(), c.size());
  for (size_t i = 0; i < n; ++i)
    g.rewards[i] += overlong_penalty(c[i].tokens.size(), s);
}

} // namespace tandem
