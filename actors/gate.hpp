// gate: the only actor a head exposes on its control endpoint. A peer proves
// it holds the run's shared secret before it learns the controller's handle.
// accepts:   join_atom(name) (request)                 -> nonce (one-time challenge)
//            join_atom(name, nonce, mac) (request)     -> the controller (caf::actor)
//            anything else                             -> dropped, logged, counted
// sends:     nothing on its own
// waits for: nothing
// unblocked by: -
//
// mac = join_proof(secret, nonce, name) (actors/internal/join_ledger.hpp). A
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
#include <string>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/internal/join_ledger.hpp" // join_ledger, join_proof (the peers' MAC)

namespace tandem {

struct gate_settings {
  std::string secret;
  caf::actor controller;
  size_t max_pending = 1024;
  caf::timespan nonce_ttl = std::chrono::seconds{30};
};

struct gate_state {
  gate_settings settings;
  join_ledger ledger; // the challenges (actors/internal/join_ledger.hpp)
  uint64_t admitted = 0;
  uint64_t refused = 0;
  static inline const char* name = "gate";
};

using gate_actor_t = caf::stateful_actor<gate_state>;

caf::behavior gate_actor(gate_actor_t* self, gate_settings settings);

} // namespace tandem
