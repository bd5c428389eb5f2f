// weights_fetcher: a worker process's end of the ZeroMQ weight flow. Fetches
// each new policy version from the head's weights_server once per process and
// hands it to the samplers of this process as weight chunks (in-process
// messages, no copy over the network per sampler).
// accepts:   tick_atom                  (to itself: one bounded fetch)
//            weights_ack_atom(version)  a local sampler installed a version
//            status_atom                -> (newest fetched version, versions, malformed)
// sends:     weights_chunk...           -> every local sampler
// waits for: the server's answer, at most `fetch_deadline` per tick; when the
//            server has nothing newer it asks again after `idle_poll`
// unblocked by: the learner publishing a version (through the server)
//
// A version is handed out only after it was assembled completely and its
// checksum matched (weights_subscriber), so a sampler never runs with a
// half-received version. Runs detached: a fetch blocks its thread.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/transport/zmq_channel.hpp"

namespace tandem {

struct fetcher_settings {
  // One fetch waits at most this long for the server; partial progress is
  // kept for the next tick, so a slow link only delays, never restarts.
  std::chrono::milliseconds fetch_deadline{500};
  // Pause between asks when the server had nothing newer: adds at most this
  // much to a new version's latency, and keeps idle request traffic to
  // 50 tiny frames per second per process.
  std::chrono::milliseconds idle_poll{20};
  size_t chunk_bytes = size_t{1} << 20; // in-process chunks to samplers
};

struct fetcher_state {
  fetcher_settings settings;
  std::shared_ptr<transport::weights_subscriber> subscriber; // used by this actor only
  std::vector<caf::actor> samplers;
  int64_t delivered = -1;
  uint64_t versions = 0;
  static inline const char* name = "weights_fetcher";
};

using fetcher_actor_t = caf::stateful_actor<fetcher_state>;

caf::behavior weights_fetcher_actor(fetcher_actor_t* self, fetcher_settings settings,
                                    std::shared_ptr<transport::weights_subscriber> subscriber,
                                    std::vector<caf::actor> samplers);

} // namespace tandem
