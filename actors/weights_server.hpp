// weights_server: the head's end of the ZeroMQ weight flow. Serves the newest
// policy version to the weights_fetcher of every worker process.
// accepts:   publish_atom(version, bytes) from the learner (every version)
//            tick_atom                    (to itself: answer requests for `poll`)
//            status_atom                  -> (newest version, requests, chunks sent, malformed)
// sends:     weight chunks over ZeroMQ (request-driven: only what a fetcher asks for)
// waits for: fetchers' requests, at most `poll` per tick
// unblocked by: a fetcher's hello; publish_atom makes a newer version servable
//
// Runs detached (serving blocks its thread up to `poll`). Only the newest
// version is kept, so memory is one weight set plus the chunks in flight.
#pragma once

#include <chrono>
#include <memory>

#include <caf/stateful_actor.hpp>

#include "runtime/transport/zmq_channel.hpp"

namespace tandem {

struct weights_server_state {
  std::shared_ptr<transport::weights_publisher> publisher; // used by this actor only
  // Longest serving slice: bounds how late a publish or exit is handled.
  std::chrono::milliseconds poll{20};
  static inline const char* name = "weights_server";
};

using weights_server_actor_t = caf::stateful_actor<weights_server_state>;

caf::behavior weights_server_actor(weights_server_actor_t* self,
                                   std::shared_ptr<transport::weights_publisher> publisher);

} // namespace tandem
