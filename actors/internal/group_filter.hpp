// group_filter.hpp: dynamic sampling (DAPO): a scored group whose rewards are
// all equal carries no group-relative advantage, so it is filtered out of the
// batch and another prompt is sampled in its place, until the batch holds B
// informative groups (docs/grpo.md §6).
//
//   scored group ──should_filter──▶ yes: work_buffer::filter (settled, not
//        │                              trained; counted and summarised)
//        └──────────────────────────▶ no:  stays scored, joins a batch
//
// Bound: at most `max_per_step` groups are filtered between two optimizer
// steps. A collapsed policy (every group all-right or all-wrong) would
// otherwise keep the samplers generating forever without a step; past the
// bound, uninformative groups are trained on (zero advantage, no gradient)
// and counted as `passed`, so the run advances and the figure shows why.
//
// The filtered groups of an interval are kept (at most max_per_step of them)
// so that the step's reward statistics cover every group scored in it: the
// reward a user sees does not jump just because the easy prompts left the
// batch.
//
// Thread safety: one thread (the controller actor).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/messages.hpp"

namespace tandem {

struct group_filter_settings {
  bool enabled = false;
  int32_t max_per_step = 0; // > 0 when enabled
};

/// True when every reward of the group is equal (within 1e-12, the tolerance
/// of compute_advantages' zero-std test): group-relative advantages are all 0.
bool uninformative(const scored_group& g);

struct filter_interval {
  uint64_t filtered = 0; // groups filtered since the last step
  uint64_t passed = 0;   // uninformative groups let through past the bound
  std::vector<scored_group> groups; // the filtered ones (<= max_per_step)
};

class group_filter {
public:
  explicit group_filter(group_filter_settings s) : s_(s) {}

  /// Decides for a freshly scored group; a true answer is recorded (the
  /// caller then settles the group without training on it).
  bool should_filter(const scored_group& g);

  /// What was filtered since the previous call (the step boundary).
  filter_interval take_interval();

  uint64_t total_filtered() const { return total_; }
  bool enabled() const { return s_.enabled; }

private:
  group_filter_settings s_;
  filter_interval now_;
  uint64_t total_ = 0;
};

/// Share of the groups settled in an interval that were filtered:
/// filtered / (filtered + trained). 0 when nothing was settled.
double filtered_fraction(uint64_t filtered, uint64_t trained);

} // namespace tandem
