// learner: runs the GRPO update on scored batches and publishes every new
// policy version.
// accepts:   train_batch (request) -> train_report
//            save_atom(path)        (request) -> version written to path
// sends:     publish_atom(version, bytes) -> weight broadcaster
// waits for: nothing; it owns the weights and publishes version 0 at start
// unblocked by: -
//
// Runs detached in production (a LibTorch step blocks its thread). A batch
// that fails (invalid, or a non-finite loss) is answered with the error and
// leaves the weights and version unchanged; the controller decides to retry.
#pragma once

#include <memory>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/backends.hpp"
#include "models/grpo_config.hpp"
#include "runtime/messages.hpp"

namespace tandem {

using save_atom = caf::atom_constant<caf::atom("save")>;

struct learner_state {
  std::shared_ptr<training_backend> backend;
  grpo_config grpo;
  caf::actor broadcaster;
  static inline const char* name = "learner";
};

using learner_actor_t = caf::stateful_actor<learner_state>;

caf::behavior learner_actor(learner_actor_t* self, grpo_config grpo,
                            std::shared_ptr<training_backend> backend,
                            caf::actor broadcaster);

} // namespace tandem
