#include "actors/internal/staleness_gate.hpp"

#include <algorithm>

namespace tandem {

int64_t admission_capacity(const staleness_policy& p, int64_t version,
                           uint64_t admitted, uint64_t dropped) {
  auto budget = (int64_t{p.max_staleness} + version + 1) * p.groups_per_step;
  auto used = static_cast<int64_t>(admitted - dropped);
  return std::max<int64_t>(0, budget - used);
}

int64_t min_start_version(const staleness_policy& p, int64_t version) {
  return version - p.max_staleness;
}

staleness_stats measure_staleness(const std::vector<scored_group>& batch,
                                  int64_t train_version) {
  staleness_stats s;
  int64_t n = 0, sum = 0;
  for (auto& g : batch)
    for (auto& c : g.rollout.completions)
      for (auto v : c.versions) {
        auto k = std::max<int64_t>(0, train_version - v);
        if (static_cast<size_t>(k) >= s.histogram.size())
          s.histogram.resize(k + 1, 0);
        ++s.histogram[k];
        s.max = std::max(s.max, k);
        sum += k;
        ++n;
      }
  s.mean = n > 0 ? static_cast<double>(sum) / n : 0.0;
  return s;
}

} // namespace tandem
