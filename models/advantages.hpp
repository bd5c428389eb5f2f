// advantages.hpp: group-relative advantages (torch-free; docs/grpo.md §1).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include <caf/expected.hpp>

#include "models/grpo_config.hpp"

namespace tandem {

struct advantage_result {
  std::vector<double> advantages;  // one per completion, same order as rewards
  double zero_std_fraction = 0.0;  // share of groups whose rewards are all equal
};

/// Rewards are laid out group after group: rewards[g * group_size + i].
/// Std is Bessel's (n - 1). A group of size 1 has std 0 → advantage 0.
/// With baseline batch every reward is centred on the batch mean, with
/// baseline fixed on `fixed_baseline`; group std scaling is then undefined
/// (an all-equal group has std 0) and rejected.
caf::expected<advantage_result>
compute_advantages(const std::vector<double>& rewards, int32_t group_size,
                   std_scaling scaling, double eps,
                   advantage_baseline baseline = advantage_baseline::group,
                   double fixed_baseline = 0.0);

} // namespace tandem
