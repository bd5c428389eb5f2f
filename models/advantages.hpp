// advantages.hpp: group-relative advantages (torch-free; grpo.md §1).
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
caf::expected<advantage_result>
compute_advantages(const std::vector<double>& rewards, int32_t group_size,
                   std_scaling scaling, double eps);

} // namespace tandem
