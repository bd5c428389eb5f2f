// rollout_intake: the head's end of the ZeroMQ rollout flow. Receives the
// rollout frames samplers in worker processes push to the head and hands
// their groups to the controller.
// accepts:   tick_atom                   (to itself: one bounded receive)
//            status_atom                 -> (frames, malformed) counters
// sends:     rollouts_atom(generate_result) -> controller
// waits for: frames on the PULL socket, at most `poll` per tick, so exit
//            messages are seen within `poll`
// unblocked by: a sampler's rollout_sender
//
// Runs detached: a receive blocks its thread up to `poll`. Malformed frames
// are logged and counted by the receiver, never forwarded. Accounting
// (duplicates, late groups) is the controller's work_buffer, not this actor's.
#pragma once

#include <chrono>
#include <memory>

#include <caf/actor.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/transport/zmq_channel.hpp"

namespace tandem {

struct intake_state {
  std::shared_ptr<transport::rollout_receiver> receiver; // used by this actor only
  caf::actor controller;
  // Longest single receive: bounds how late an exit or status message is
  // handled; frames that arrive end the wait at once.
  std::chrono::milliseconds poll{50};
  uint64_t forwarded_groups = 0;
  static inline const char* name = "rollout_intake";
};

using intake_actor_t = caf::stateful_actor<intake_state>;

caf::behavior rollout_intake_actor(intake_actor_t* self,
                                   std::shared_ptr<transport::rollout_receiver> receiver,
                                   caf::actor controller);

} // namespace tandem
