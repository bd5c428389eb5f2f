// scaler: starts sampler or reward worker processes when the controller scales up.
// accepts:   scale_atom(role, count) (request) -> text naming the new processes
//            publish_atom(head address)               where new workers connect
//            tick_atom                                (to itself, every second)
//                                                     reaps exited children
// sends:     nothing; each worker joins the controller itself
// waits for: the head address before it can start anything
// unblocked by: publish_atom
//
// Owns the child processes it started; when the scaler goes away (end of the
// run) each child is stopped (SIGTERM, then SIGKILL), and workers also die
// with the head (PR_SET_PDEATHSIG). Scaling down is the controller's job: it
// drains samplers, whose worker processes then exit on their own; the tick
// reaps them (and dead ones), logging each exit, so none stays a zombie.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/process_launcher.hpp"

namespace tandem {

struct scaler_state {
  std::shared_ptr<process_launcher> launcher;
  std::string exe, config, head;
  struct child {
    std::string name;
    std::unique_ptr<child_process> process;
  };
  std::vector<child> children; // bounded by the controller's cap
  int32_t started = 0;
  static inline const char* name = "scaler";
};

using scaler_actor_t = caf::stateful_actor<scaler_state>;

caf::behavior scaler_actor(scaler_actor_t* self, std::shared_ptr<process_launcher> launcher,
                           std::string exe, std::string config);

} // namespace tandem
