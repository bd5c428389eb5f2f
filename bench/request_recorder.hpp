// request_recorder: stands in front of one sampler during the record pass of
// `tandem bench pipeline` (pipeline_bench.hpp) and logs every request the
// controller dispatches to it, so that generation alone can later replay
// exactly those requests (same groups, seeds and composition).
// accepts:   generate_request (request) -> logged, then delegated to the
//            sampler (its generate_result goes straight to the controller)
// sends:     nothing of its own
// waits for: nothing
// unblocked by: -
//
// Linked to its sampler: either one ending ends the other. Weights do not
// pass through it: the bench subscribes the sampler itself to the broadcaster
// (a weight ack must come from the subscribed address).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>

#include "runtime/messages.hpp"

namespace tandem {

/// The requests the recorders saw. Thread safety: add() from any actor,
/// sorted() after the run (a mutex guards both).
class request_log {
public:
  void add(const generate_request& r);
  /// Every request, ordered by its first group id (= dispatch order of the
  /// controller's work buffer, which hands out the oldest groups first).
  std::vector<generate_request> sorted() const;

private:
  mutable std::mutex mtx_;
  // Every request of the record pass: bounded by the run it records
  // ((warmup + steps) x groups_per_step groups, a few hundred requests at
  // the defaults), and the replay needs all of them.
  std::vector<generate_request> requests_;
};

caf::behavior request_recorder_actor(caf::event_based_actor* self, caf::actor sampler,
                                     std::shared_ptr<request_log> log);

} // namespace tandem
