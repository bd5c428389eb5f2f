// staleness_gate.hpp: how many new groups the controller may admit now so
// that no group consumed at learner version v was started before v - eta.
//
// AReaL's rule (docs/grpo.md §5.2): with B groups per step, the first
// (eta + v + 1) * B groups ever admitted can all be consumed by version
// v + eta at the latest, so
//     capacity = (eta + v + 1) * B - (admitted - dropped)
// where admitted - dropped counts consumed groups plus everything alive.
// eta = 0 is the synchronous mode: the next batch is admitted only after the
// learner published the version that will generate it. The rule bounds
// admission; the controller additionally stamps every dispatch with the
// current version as the minimum the sampler must hold, and refuses at batch
// formation any group older than v - eta (requeued, never trained on).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "runtime/messages.hpp"

namespace tandem {

struct staleness_policy {
  int32_t max_staleness = 1;   // eta
  int32_t groups_per_step = 1; // B
};

/// Groups that may be admitted now (never negative).
int64_t admission_capacity(const staleness_policy& p, int64_t version,
                           uint64_t admitted, uint64_t dropped);

/// Oldest start version a batch trained at `version` may contain.
int64_t min_start_version(const staleness_policy& p, int64_t version);

/// Per-token staleness (train version - token version) of a batch.
struct staleness_stats {
  double mean = 0;
  int64_t max = 0;
  std::vector<int64_t> histogram; // histogram[k] = tokens with staleness k
};

staleness_stats measure_staleness(const std::vector<scored_group>& batch,
                                  int64_t train_version);

} // namespace tandem
