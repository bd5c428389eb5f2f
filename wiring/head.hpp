// head.hpp: the one place that builds the head's actor graph — broadcaster,
// learner, reward actors, the head's own samplers and the controller, wired
// to each other. `tandem run`, the pipeline bench and the actor tests all
// build it here; they differ only in the parts they pass (LibTorch and NCCL
// backends in production, fakes in tests).
//
//   samplers --sampler_hello--> controller --train_batch--> learner
//        ^                        |  ^                        |
//        |                  rollout_group|                 publish (one
//        |                        v  |                     delivery path:
//        +--weights---------- broadcaster <-------------- bytes or NCCL)
//                               reward actors
//
// Dependencies are passed by name (head_parts fields), never positionally.
// spawn_head() spawns in dependency order (broadcaster, learner, evaluator,
// rewards, controller, samplers) and announces each local sampler to the
// controller.
//
// Thread safety: call from one thread; the actors it returns are handles.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/backends.hpp"
#include "actors/controller.hpp"
#include "actors/learner.hpp"
#include "actors/weight_broadcaster.hpp"
#include "models/grpo_config.hpp"
#include "tasks/reward_rules.hpp"
#include "topology/process_plan.hpp"
#include "wiring/reward_plugins.hpp"

namespace tandem {

/// Plain settings of the head's actors.
struct head_settings {
  controller_settings controller;
  broadcaster_settings broadcaster;
  grpo_config grpo;
  reward_weights reward;
  reward_scorer_factory reward_plugin;   // empty: the built-in rules (reward.kind)
  std::vector<placed_instance> samplers; // the head's own samplers
  int32_t rewards = 1;                   // reward actors in the head (0: remote only)
  int32_t sampler_max_groups = 1;        // groups a sampler decodes as one batch
  // LibTorch actors (learner, samplers) get their own threads. False under
  // CAF's test coordinator, which runs every actor on its own schedule.
  bool detached = true;
};

/// The backends and collaborators the graph is built from.
struct head_parts {
  std::shared_ptr<problem_source> problems;
  std::shared_ptr<const text_tokenizer> tokenizer; // null = the built-in char tokenizer
  std::shared_ptr<training_backend> trainer;
  learner_nccl nccl;                                // empty publisher = bytes only
  std::shared_ptr<metrics_sink> metrics;
  std::function<void(const std::string&)> progress;
  std::function<void(const std::vector<uint64_t>&)> on_consumed; // audit hook (tests)
  caf::actor observer;       // gets finished_atom(ok, summary)
  caf::actor scaler;         // starts worker processes on scale-up; may be null
  caf::actor weights_mirror; // the ZeroMQ weights server; may be null
  caf::actor recorder;       // journal + checkpoints (actors/recorder.hpp); may be null
  caf::actor monitor;        // the health monitor (console/health_monitor.hpp); may be null
  std::optional<controller_snapshot> resume; // the controller's part of a checkpoint
  /// Reward actors spawned elsewhere (tests: one that hangs), used besides
  /// the settings.rewards the head spawns.
  std::vector<caf::actor> rewards;
  /// Tests: an actor put in front of the learner as the controller sees it
  /// (gets the real learner; e.g. one that hangs once). Null: none.
  std::function<caf::actor(const caf::actor& learner)> learner_front;
  /// Spawns one of the head's samplers (settings.samplers, in order).
  std::function<caf::expected<caf::actor>(const placed_instance&)> spawn_sampler;
  /// Spawns the evaluator (actors/evaluator.hpp), which joins the learner
  /// for weights; empty: no evaluator (wiring/evaluation.hpp).
  std::function<caf::expected<caf::actor>(const caf::actor& learner)> spawn_evaluator;
};

struct head_graph {
  caf::actor controller, learner, broadcaster;
  caf::actor evaluator; // null without one
  std::vector<caf::actor> samplers, rewards;
  std::vector<caf::actor> all() const;
};

caf::expected<head_graph> spawn_head(caf::actor_system& sys, const head_settings& settings,
                                     const head_parts& parts);

} // namespace tandem
