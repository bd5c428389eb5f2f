// pipeline.hpp: spawning tandem's actors for one run config in this process,
// and the actor-system settings every tandem process uses.
//
// Thread budget: every LibTorch actor (sampler, learner) is detached, so it
// owns one OS thread plus its configured intra-op threads; the scheduler runs
// only the light control-plane actors (controller, reward, broadcaster).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include "actors/backends.hpp"
#include "actors/controller.hpp"
#include "tasks/text_tokenizer.hpp"
#include "topology/run_config.hpp"

namespace tandem {

/// Config for every tandem process: message types, error category, a small
/// scheduler, the middleman with heartbeats (a hung peer is detected within
/// about 2 s instead of never).
void configure_actor_system(caf::actor_system_config& cfg);

struct pipeline {
  caf::actor controller, learner, broadcaster;
  std::vector<caf::actor> samplers, rewards;
  std::vector<caf::actor> all() const;
};

struct pipeline_options {
  std::shared_ptr<metrics_sink> metrics;
  std::function<void(const std::string&)> progress;
  caf::actor observer;
  caf::actor scaler;              // starts sampler processes on scale requests
  int32_t local_samplers = -1;    // -1: cfg.sampler.count
  int32_t local_rewards = 1;      // 0: wait for a remote reward to join
  int32_t expected_samplers = -1; // -1: cfg.sampler.count + cfg.sampler.processes
  data_plane_info data_plane;     // the head's ZeroMQ endpoints (empty: CAF only)
  caf::actor weights_mirror;      // gets every published version (weights_server)
};

/// The policy's shape: cfg.model with vocab_size set (the config checks set
/// it from a checkpoint or tokenizer.json; the built-in tokenizer's otherwise).
model_config policy_model(const run_config& cfg);

/// The task's tokenizer: the built-in char_tokenizer, or task.tokenizer's
/// tokenizer.json (loaded once per process and shared; thread-safe).
caf::expected<std::shared_ptr<const text_tokenizer>> task_tokenizer(const run_config& cfg);

/// The learner's backend: seeded random weights, or model.hf_path's checkpoint.
caf::expected<std::shared_ptr<training_backend>> make_trainer(const run_config& cfg);

/// Problem source for the config's task.
caf::expected<std::shared_ptr<problem_source>> make_problem_source(const run_config& cfg);

/// Controller settings from the run config.
controller_settings make_controller_settings(const run_config& cfg);

/// Spawns broadcaster, learner, reward and local samplers, then the
/// controller, and makes the local samplers join it.
caf::expected<pipeline> spawn_pipeline(caf::actor_system& sys, const run_config& cfg,
                                       const pipeline_options& opts);

/// Sampling settings of the config's samplers: its temperature, top_p and
/// max_new_tokens plus the task tokenizer's stop ids and stop-text check.
caf::expected<sampling_params> sampling_with_stops(const run_config& cfg);

/// Where the config's samplers decode (device, dtype, rows of a request).
device_options sampler_device(const run_config& cfg);

/// Spawns one sampler: detached with a LibTorch backend, or a simulated one
/// when sampler.simulated_token_ms > 0.
caf::expected<caf::actor> spawn_sampler(caf::actor_system& sys, const run_config& cfg,
                                        const std::string& name,
                                        std::shared_ptr<rollout_outbox> outbox = nullptr);

} // namespace tandem
