// pipeline_modes.hpp: the modes `tandem bench pipeline` (pipeline_bench.hpp)
// measures, each on the same fixed workload and each in a fresh actor system
// built with the functions `tandem run` uses (wiring/head.hpp, wiring/components.hpp),
// on a one-process plan (single_process_plan):
//
//   record      once, untimed: the real pipeline with a request_recorder in
//               front of every sampler. Yields the workload: every
//               generate_request the controller dispatched (groups, problems,
//               seeds, request composition) and the version-0 weights.
//   generation  the run's samplers (spawn_sampler) holding version 0 replay
//               those requests (request_replayer): the same batches of
//               groups_per_request groups, decoded with the same seeds, so the
//               same completions as in the pipelines.
//   training    the run's learner actor (make_trainer, detached) trains on the
//               scored groups of generation, groups_per_step at a time in
//               group order, one request at a time as the controller sends
//               them, publishing every version to a broadcaster.
//   pipeline    spawn_head with the given staleness bound, as `tandem run`.
//
// The policy is frozen (the caller's config sets a learning rate too small to
// change a weight), so every version decodes like version 0 and every mode
// sees the same completions. Each mode leaves the steps of its first
// `warmup_steps` out of its rate; every mode reports the tokens it generated
// and trained over the whole workload, so the caller can check the modes did
// the same work.
//
// Thread placement: samplers and the learner are detached actors (one OS
// thread plus their configured intra-op threads each) in every mode; the
// control-plane actors share CAF's scheduler (configure_actor_system).
//
// Deadlines: every wait is bounded by the config's timeouts (generate_s per
// request, train_s per step, their sum per pipeline step); a missed one is
// an error naming the mode.
#pragma once

#include <cstdint>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/messages.hpp"
#include "topology/process_plan.hpp"
#include "topology/run_config.hpp"

namespace tandem {

struct pipeline_workload {
  std::vector<generate_request> requests; // dispatch order, min_version 0
  size_t warmup_requests = 0; // leading requests that hold groups of the warm-up steps
  std::vector<char> weights;  // version 0, as the learner publishes it
  int64_t groups = 0;         // in all requests
  int64_t generated_tokens = 0, trained_tokens = 0; // by the record pass, whole workload
};

/// What one mode measured.
struct mode_result {
  double samples_per_s = 0;      // completions per second after the warm-up steps
  int64_t generated_tokens = -1; // over the whole workload; -1: the mode generates none
  int64_t trained_tokens = -1;   // over the whole workload; -1: the mode trains none
};

/// Runs the record pass on `cfg` (its max_staleness as given).
caf::expected<pipeline_workload> record_workload(const run_config& cfg, const run_plan& plan,
                                                 int32_t warmup_steps);

/// Generation alone; `scored` receives every group of the workload, scored,
/// in group order (training alone's input).
caf::expected<mode_result> run_generation(const run_config& cfg, const run_plan& plan,
                                          const pipeline_workload& w,
                                          std::vector<scored_group>* scored);

/// Training alone on `scored`, groups_per_step groups per step.
caf::expected<mode_result> run_training(const run_config& cfg, const run_plan& plan,
                                        const std::vector<scored_group>& scored,
                                        int32_t warmup_steps);

/// The real pipeline for cfg.run.steps steps. With `console`, as `tandem
/// run` has it: every actor reports health, the head serves its console,
/// and a page is open on it (its stream read, /metrics scraped and
/// /api/actors fetched every second: bench/console_probe.hpp).
caf::expected<mode_result> run_pipeline(const run_config& cfg, const run_plan& plan,
                                        int32_t warmup_steps, bool console = false);

} // namespace tandem
