// components.hpp: tandem's components built from a loaded run (config +
// resolved plan): the task tokenizer and problem source, the LibTorch
// trainer and samplers, the settings and parts of the head's graph
// (wiring/head.hpp). Placement-dependent values (a sampler's device and
// threads, the learner's device, the weights transport, how many samplers
// to wait for) come from the plan, never from rewriting the config.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/backends.hpp"
#include "actors/controller.hpp"
#include "wiring/head.hpp"
#include "topology/process_plan.hpp"
#include "tasks/text_tokenizer.hpp"
#include "topology/run_config.hpp"

namespace tandem {

/// The policy's shape: cfg.model with vocab_size set (the config checks set
/// it from a checkpoint or tokenizer.json; the built-in tokenizer's otherwise).
model_config policy_model(const run_config& cfg);

/// The task's tokenizer: the built-in char_tokenizer, or task.tokenizer's
/// tokenizer.json (loaded once per process and shared; thread-safe).
caf::expected<std::shared_ptr<const text_tokenizer>> task_tokenizer(const run_config& cfg);

/// The learner's backend on `learner` (device, threads): seeded random
/// weights, or model.hf_path's checkpoint. learner.ranks must be 1.
caf::expected<std::shared_ptr<training_backend>> make_trainer(const run_config& cfg,
                                                              const placed_instance& learner);

/// The same for the learner ranks of this process (process_plan::
/// learner_ranks, rank order): one rank gives the plain backend; learner.ranks
/// > 1 gives a data_parallel_backend over one backend per rank, rank r on
/// ranks[r].device, their gradients summed over make_learner_collectives
/// (wiring/nccl_endpoints.hpp). errc::invalid_config when the count is not
/// learner.ranks (ranks spread over several processes are not wired).
caf::expected<std::shared_ptr<training_backend>>
make_trainer(const run_config& cfg, const std::vector<placed_instance>& ranks);

/// Problem source for the config's task.
caf::expected<std::shared_ptr<problem_source>> make_problem_source(const run_config& cfg);

/// Controller settings from the run config and its plan.
controller_settings make_controller_settings(const run_config& cfg, const run_plan& plan);

/// Sampling settings of the config's samplers: its temperature, top_p and
/// max_new_tokens plus the task tokenizer's stop ids and stop-text check.
caf::expected<sampling_params> sampling_with_stops(const run_config& cfg);

/// Where sampler `inst` decodes (device, dtype, rows of a request).
device_options sampler_device(const run_config& cfg, const placed_instance& inst);

/// Spawns sampler `inst`: detached with a LibTorch backend (and an NCCL
/// receiver when the plan sends weights over NCCL), or a simulated one when
/// sampler.simulated_token_ms > 0.
caf::expected<caf::actor> spawn_sampler(caf::actor_system& sys, const run_config& cfg,
                                        const run_plan& plan, const placed_instance& inst,
                                        std::shared_ptr<rollout_outbox> outbox = nullptr);

/// The head's settings for a loaded run.
head_settings make_head_settings(const run_config& cfg, const run_plan& plan);

/// The head's parts with the real backends (LibTorch trainer and samplers,
/// NCCL publisher when configured); the caller adds metrics, progress,
/// observer, scaler and the weights mirror.
caf::expected<head_parts> make_head_parts(caf::actor_system& sys, const run_config& cfg,
                                          const run_plan& plan);

} // namespace tandem
