// worker.hpp: the actors of one worker process (a process_plan that is not
// the head): its samplers, each with an outbox when rollouts travel over
// ZeroMQ, one weights fetcher feeding them when weights do, and its reward
// actors; every actor is announced to the head's controller.
//
// Thread safety: call from one thread.
#pragma once

#include <memory>
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

/// Spawns `proc`'s actors and announces them to `controller`.
caf::expected<std::vector<caf::actor>> spawn_worker(caf::actor_system& sys,
                                                    const run_config& cfg,
                                                    const run_plan& plan,
                                                    const process_plan& proc,
                                                    const caf::actor& controller,
                                                    const worker_plane& wp);

} // namespace tandem
