// data_plane.hpp: setting up the ZeroMQ data plane of a run (the topology's
// cluster.transports: zmq) on the head and in worker processes.
//
// Head: binds the rollout intake (PULL, on the head's host at data_port) and
// the weights server (ROUTER, data_port + 1); ports 0 = ephemeral. Workers
// ask the controller for the bound endpoints (data_plane_atom) after they
// joined through the gate, so the endpoints travel authenticated and
// ephemeral ports work. Every socket uses CURVE keys derived from the run's
// secret (runtime/transport/auth.hpp; loopback runs too, their secret is
// RUN_DIR/secret): a peer without the secret cannot connect.
//
// Worker: one rollout_sender per sampler (each actor owns its socket) and one
// weights_fetcher per process feeding that process's samplers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/backends.hpp"
#include "topology/process_plan.hpp"
#include "runtime/messages.hpp"
#include "runtime/transport/zmq_channel.hpp"

namespace tandem {

/// The head's sockets, bound but not yet served by actors.
struct head_data_plane {
  std::shared_ptr<transport::transport_context> ctx;
  std::shared_ptr<transport::rollout_receiver> rollouts; // null: rollouts on CAF
  std::shared_ptr<transport::weights_publisher> weights; // null: weights on CAF
  data_plane_info info;
  bool enabled() const { return rollouts || weights; }
};

/// Binds what `plan` puts on ZeroMQ. Nothing to bind = an empty plane. The
/// context is made also when learner ranks live outside the head (their
/// socket_collective is bound by the learner's builder, not here).
caf::expected<head_data_plane> bind_head_data_plane(const run_plan& plan,
                                                    const std::string& secret);

/// Spawns (detached) the actor that serves the bound weights socket, which
/// it then owns; null when weights stay on CAF.
caf::actor spawn_weights_server(caf::actor_system& sys, head_data_plane& plane);

/// Spawns (detached) the actor that feeds rollout frames to `controller`,
/// owning the bound socket; null when rollouts stay on CAF.
caf::actor spawn_rollout_intake(caf::actor_system& sys, head_data_plane& plane,
                                const caf::actor& controller);

/// "rollouts tcp://..., weights caf" for the start-up log.
std::string describe_plane(const data_plane_info& info);

/// Transport context for a process: CURVE keys from `secret`, which must
/// hold at least min_secret_bytes (an empty one is an error).
caf::expected<std::shared_ptr<transport::transport_context>>
make_transport_context(const std::string& secret);

/// A sampler's outbox to the head's rollout intake at `endpoint`.
caf::expected<std::shared_ptr<rollout_outbox>>
connect_outbox(std::shared_ptr<transport::transport_context> ctx, const std::string& endpoint,
               const std::string& sampler_name);

/// Spawns (detached) the fetcher that feeds `samplers` from `endpoint`.
caf::expected<caf::actor> spawn_weights_fetcher(caf::actor_system& sys,
                                                std::shared_ptr<transport::transport_context> ctx,
                                                const std::string& endpoint,
                                                const std::string& process_name,
                                                std::vector<caf::actor> samplers);

} // namespace tandem
