// request_replayer: generation alone in `tandem bench pipeline`
// (pipeline_bench.hpp): feeds a fixed list of recorded generate_requests to
// the samplers the way the controller dispatches (two open per sampler: one
// decoding, one queued behind it, as actors/internal/sampler_pool.hpp
// allows; the next request goes to the sampler that just answered), keeps
// every result and times the whole list.
// accepts:   the samplers' replies to its own requests
// sends:     generate_request -> samplers (request, `timeout` each)
//            replay_done_atom -> observer, once every request was answered or
//            one failed (then the outcome holds the error)
// waits for: nothing; it dispatches as soon as it starts
// unblocked by: -
//
// Quits after replay_done_atom. The outcome is written before that message
// is sent, so the observer may read it once the message arrives.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/messages.hpp"

namespace tandem {

using replay_done_atom = caf::atom_constant<caf::atom("replaydone")>;

struct replay_outcome {
  std::vector<generate_result> results; // by request index
  double seconds = 0;                   // first dispatch to last answer
  std::string error;                    // empty: every request answered
};

struct replayer_state {
  std::vector<caf::actor> samplers;
  std::vector<generate_request> requests;
  caf::timespan timeout{};
  std::shared_ptr<replay_outcome> out;
  caf::actor observer;
  size_t next = 0;     // next request to dispatch
  size_t answered = 0;
  double started = 0;  // steady clock, seconds
  static inline const char* name = "request_replayer";
};

using replayer_actor_t = caf::stateful_actor<replayer_state>;

caf::behavior request_replayer_actor(replayer_actor_t* self, std::vector<caf::actor> samplers,
                                     std::vector<generate_request> requests,
                                     caf::timespan timeout, std::shared_ptr<replay_outcome> out,
                                     caf::actor observer);

} // namespace tandem
