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
#include "actors/remote_rank_backend.hpp"
#include "runtime/transport/zmq_channel.hpp"
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
/// learner.ranks (make_spread_trainer builds the ranks of several processes).
caf::expected<std::shared_ptr<training_backend>>
make_trainer(const run_config& cfg, const std::vector<placed_instance>& ranks);

/// One rank's backend on `inst` (its device and threads) with `ls` (rank,
/// ranks, collective): seeded random weights or model.hf_path's checkpoint.
/// Every rank built from one config starts with the same weights.
caf::expected<std::shared_ptr<training_backend>>
make_rank_trainer(const run_config& cfg, learner_settings ls, const placed_instance& inst);

/// True when some learner rank lives outside the head process.
bool learner_spread(const run_plan& plan);

/// The head's end of learner ranks in worker processes (CPU): the run's
/// transport context and the head's host in; rank 0's socket_collective
/// endpoint and the learner's group id out (for the workers, through
/// data_plane_info); the directory the controller fills as ranks join.
struct learner_link {
  std::shared_ptr<transport::transport_context> ctx;
  std::string bind_host = "127.0.0.1";
  std::shared_ptr<rank_directory> directory = std::make_shared<rank_directory>();
  std::string endpoint; // out
  uint64_t group = 0;   // out
  std::vector<uint8_t> nccl_id; // out, GPU ranks: the NCCL id rank 0 made
};

/// The learner of a run whose ranks the plan spreads over processes: the
/// head's ranks on socket_collectives (rank 0 binds, the rest connect), the
/// others as remote_rank_backends over `link.directory`, all behind one
/// data_parallel_backend (same join rule as in one process). GPU ranks
/// instead share one NCCL communicator whose id rank 0 makes (link.nccl_id),
/// each rank's made on its first post (wiring/nccl_endpoints.hpp).
caf::expected<std::shared_ptr<training_backend>>
make_spread_trainer(caf::actor_system& sys, const run_config& cfg, const run_plan& plan,
                    learner_link& link);

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
/// `link`: needed when learner_spread(plan) (else errc::invalid_config).
caf::expected<head_parts> make_head_parts(caf::actor_system& sys, const run_config& cfg,
                                          const run_plan& plan, learner_link* link = nullptr);

} // namespace tandem
