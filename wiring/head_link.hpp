// head_link.hpp: how a process reaches a head's controller — connect to the
// head's control endpoint (its gate), answer the one-time challenge with the
// shared secret, receive the controller's handle.
//
// Thread safety: call from one thread (blocking, every step has a deadline).
#pragma once

#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "topology/topology.pb.h"

namespace tandem {

/// The run's shared secret: from the cluster's security section, or "" when
/// it names none (loopback-only runs). Errors never contain the secret.
caf::expected<std::string> load_run_secret(const topology::Cluster& cluster);

/// Connects to HOST:PORT, retrying until `connect_timeout` (the head may be
/// starting), then authenticates as `name`.
caf::expected<caf::actor> join_head(caf::actor_system& sys, const std::string& head,
                                    const std::string& name, const std::string& secret,
                                    std::chrono::milliseconds connect_timeout);

} // namespace tandem
