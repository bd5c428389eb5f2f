// worker.hpp: the actors of one worker process (a process_plan that is not
// the head): its samplers, each with an outbox when rollouts travel over
// ZeroMQ, one weights fetcher feeding them when weights do, and its reward
// actors; every actor is announced to the head's controller, and again to a
// restarted head's controller after the worker rejoined it.
//
// Thread safety: call from one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "runtime/messages.hpp"
#include "runtime/transport/zmq_channel.hpp"
#include "topology/process_plan.hpp"
#include "topology/run_config.hpp"

namespace tandem {

/// This process's end of the data plane: the head's endpoints (empty: that
/// flow stays on CAF) and a transport context when any flow is on ZeroMQ.
struct worker_plane {
  data_plane_info info;
  std::shared_ptr<transport::transport_context> ctx;
};

/// The data plane for the head's endpoints `info` (a CURVE context keyed by
/// `secret` when a flow is on ZeroMQ).
caf::expected<worker_plane> make_worker_plane(data_plane_info info, const std::string& secret);

/// The actors of one worker process. They outlive the head they first
/// joined: a rejoin re-announces the same actors.
struct worker_actors {
  std::vector<caf::actor> samplers;
  std::vector<sampler_hello> hellos; // one per sampler, same order
  std::vector<caf::actor> rewards;
  caf::actor fetcher; // null: weights stay on CAF (or no sampler)
  // Learner ranks hosted here (actors/learner_rank.hpp) and their ranks.
  std::vector<caf::actor> learner_ranks;
  std::vector<int32_t> learner_rank_ids;
  /// Samplers, reward actors and learner ranks (the fetcher quits with the
  /// samplers).
  std::vector<caf::actor> all() const;
};

/// Spawns `proc`'s actors and announces them to `controller`.
caf::expected<worker_actors> spawn_worker(caf::actor_system& sys, const run_config& cfg,
                                          const run_plan& plan, const process_plan& proc,
                                          const caf::actor& controller, const worker_plane& wp);

/// A sampler_hello per sampler, a join_atom per reward actor and a
/// learner_rank_atom per learner rank to `controller`.
void announce_worker(const worker_actors& w, const caf::actor& controller);

/// Sends every sampler of `w` a sampler_reset (actors/sampler_reset.hpp),
/// without a new outbox.
void reset_samplers(const worker_actors& w);

/// Points `w` at a restarted head whose endpoints are `fresh`, `wp` being the
/// plane in use. Resets every sampler; when an endpoint changed, `wp` becomes
/// a new plane for `fresh` and each sampler gets a new outbox with its reset
/// (an unchanged endpoint keeps its sockets: ZeroMQ reconnects them by
/// itself, and the CURVE keys come from the run secret). Spawns a new
/// weights fetcher when weights come over ZeroMQ; the previous one must be
/// gone: its subscriber remembers the newest version of the lost head, and
/// a restarted head may serve only older ones. Announces nothing. A worker
/// that hosts learner ranks cannot follow a restarted head (its ranks are
/// bound to the lost learner's collective and state): errc::invalid_config,
/// and the worker exits.
caf::error reattach_worker(caf::actor_system& sys, const process_plan& proc, worker_actors& w,
                           worker_plane& wp, const data_plane_info& fresh,
                           const std::string& secret);

} // namespace tandem
