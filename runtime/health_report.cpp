#include "runtime/health_report.hpp"

namespace tandem {

const char* to_string(actor_state s) {
  switch (s) {
    case actor_state::starting: return "starting";
    case actor_state::ready: return "ready";
    case actor_state::busy: return "busy";
    case actor_state::waiting_for_weights: return "waiting_for_weights";
    case actor_state::draining: return "draining";
    case actor_state::stalled: return "stalled";
    case actor_state::dead: return "dead";
  }
  return "?";
}

const char* to_string(learner_phase p) {
  switch (p) {
    case learner_phase::waiting_for_batch: return "waiting_for_batch";
    case learner_phase::forward: return "forward";
    case learner_phase::backward: return "backward";
    case learner_phase::optimizer: return "optimizer";
    case learner_phase::publishing: return "publishing";
  }
  return "?";
}

} // namespace tandem
