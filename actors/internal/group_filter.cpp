#include "actors/internal/group_filter.hpp"

#include <cmath>
#include <utility>

namespace tandem {

bool uninformative(const scored_group& g) {
  if (g.rewards.empty())
    return true;
  for (double r : g.rewards)
    if (std::fabs(r - g.rewards.front()) > 1e-12)
      return false;
  return true;
}

bool group_filter::should_filter(const scored_group& g) {
  if (!s_.enabled || !uninformative(g))
    return false;
  if (now_.filtered >= static_cast<uint64_t>(s_.max_per_step)) {
    ++now_.passed;
    return false;
  }
  ++now_.filtered;
  ++total_;
  now_.groups.push_back(g);
  return true;
}

filter_interval group_filter::take_interval() {
  return std::exchange(now_, {});
}

double filtered_fraction(uint64_t filtered, uint64_t trained) {
  auto settled = filtered + trained;
  return settled == 0 ? 0.0 : static_cast<double>(filtered) / static_cast<double>(settled);
}

} // namespace tandem
