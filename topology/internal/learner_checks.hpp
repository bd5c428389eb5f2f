// learner_checks.hpp: the rules of the data-parallel learner keys —
// learner.ranks, learner.zero_stage, learner.grad_bucket_mb — reported at
// their FILE:LINE:COL like the other config checks (config_checks.hpp).
//
// Ranks and placement: every rank is one instance of the learner group
// (cluster_checks.hpp checks the instances against learner.ranks and gives
// each rank its own GPU). Without a `cluster:` section (the short form) the
// ranks are instances of the head process on learner.device, so ranks > 1
// there needs learner.device: cpu, where the ranks are threads of one
// process sharing its cores (for tests and small runs); ranks on GPUs are
// named by a cluster: section's `devices`.
//
// Thread safety: pure.
#pragma once

#include "topology/internal/yaml_binder.hpp"
#include "topology/run_config.hpp"

namespace tandem::internal {

/// Checks the keys above (ranges, settings that would do nothing, ranks vs.
/// the rows of a mini-batch, ranks on the short form's device).
void check_learner_parallel(const run_config& cfg, binder_context& ctx);

} // namespace tandem::internal
