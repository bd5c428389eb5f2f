// batch_builder.hpp: scored groups → training sequences with group-relative
// advantages (the learner's pure preprocessing, tested without actors).
#pragma once

#include <vector>

#include <caf/expected.hpp>

#include "models/advantages.hpp"
#include "models/learner_core.hpp"
#include "runtime/messages.hpp"

namespace tandem {

struct built_batch {
  std::vector<train_sequence> sequences;
  double zero_std_fraction = 0;
  double advantage_abs_mean = 0;
};

/// Every group must have the same, non-zero number of completions and one
/// reward per completion; each completion needs as many log-probs and
/// versions as tokens. Empty completions get no sequence (nothing to learn).
caf::expected<built_batch> build_train_batch(const std::vector<scored_group>& groups,
                                             const grpo_config& cfg);

} // namespace tandem
