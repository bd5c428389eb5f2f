// gate: the only actor a head exposes on its control endpoint. A peer proves
// it holds the run's shared secret before it learns the controller's handle.
// accepts:   join_atom(name) (request)                 -> nonce (one-time challenge)
//            join_atom(name, nonce, mac) (request)     -> the controller (caf::actor)
//            anything else                             -> dropped, logged, counted
// sends:     nothing on its own
// waits for: nothing
// unblocked by: -
//
// mac = keyed BLAKE2b(secret, "tandem-join|" + nonce + "|" + name), hex. A
// nonce is good for one attempt and expires after `nonce_ttl`; at most
// `max_pending` challenges are outstanding (a flood of join requests cannot
// grow memory; the oldest are forgotten first). Every run has a secret
// (loopback runs: RUN_DIR/secret, runtime/transport/run_secret.hpp); a gate
// given one shorter than min_secret_bytes refuses every join.
// An unauthenticated peer therefore never holds a handle to the controller,
// learner, samplers or broadcaster: the training actors receive nothing from
// it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace tandem {

struct gate_settings {
  std::string secret;
  caf::actor controller;
  size_t max_pending = 1024;
  caf::timespan nonce_ttl = std::chrono::seconds{30};
};

struct gate_state {
  struct challenge {
    std::string nonce;
    std::string name;
    caf::actor_clock::time_point expires;
  };
  gate_settings settings;
  std::deque<challenge> pending; // bounded by settings.max_pending
  uint64_t admitted = 0;
  uint64_t refused = 0;
  static inline const char* name = "gate";
};

using gate_actor_t = caf::stateful_actor<gate_state>;

caf::behavior gate_actor(gate_actor_t* self, gate_settings settings);

/// The MAC a joining peer sends (shared by the gate and the peers).
caf::expected<std::string> join_proof(const std::string& secret, const std::string& nonce,
                                      const std::string& name);

} // namespace tandem
