// head_link.hpp: how a process reaches a head's controller — connect to the
// head's control endpoint (the control handshake first, then its gate:
// wiring/control_endpoint.hpp), answer the one-time challenge with the
// shared secret, receive the controller's handle — and, for a worker whose
// head went down, how to tell a finished head from a lost one and find the
// restarted head at the same address.
//
// Thread safety: call from one thread (blocking, every step has a deadline).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/node_id.hpp>

#include "topology/topology.pb.h"

namespace tandem {

/// True when the cluster's security section names a secret (file or
/// environment variable).
bool names_secret(const topology::Cluster& cluster);

/// The secret the cluster's security section names, or "" when it names
/// none. Errors never contain the secret.
caf::expected<std::string> load_configured_secret(const topology::Cluster& cluster);

/// The run's shared secret, for a process that joins the run: the one the
/// cluster's security section names, else RUN_DIR/secret, which the run's
/// head generated (runtime/transport/run_secret.hpp; refused when group or
/// others may read it). Never empty. Errors never contain the secret.
caf::expected<std::string> load_run_secret(const topology::Cluster& cluster,
                                           const std::string& run_dir);

/// The head's: as load_run_secret, but a run directory without a secret gets
/// a generated one (written with mode 0600). Called before any port is bound.
caf::expected<std::string> ensure_run_secret(const topology::Cluster& cluster,
                                             const std::string& run_dir);

/// Connects to HOST:PORT, retrying until `connect_timeout` (the head may be
/// starting; each connection attempt is bounded by it too), then
/// authenticates as `name` (each gate reply within 10 s).
caf::expected<caf::actor> join_head(caf::actor_system& sys, const std::string& head,
                                    const std::string& name, const std::string& secret,
                                    std::chrono::milliseconds connect_timeout);

/// How a joined head's controller went down, from the reason in the down_msg
/// a worker's monitor gets.
enum class head_down {
  finished,    // it quit on its own (normal, user_shutdown): the run is over
  unreachable, // remote_link_unreachable: its process died (killed, crashed)
               // or the link broke (missed heartbeats): a head may come back
  failed,      // any other reason: the controller failed while its process
               // may still run; only a new head process can take over
};
head_down classify_head_down(const caf::error& reason);

/// Joins the head at HOST:PORT again after the controller went down: one
/// join_head attempt after another, 500 ms apart, until `deadline` (each
/// connect bounded by the time left, at most 2 s; each gate reply by the
/// time left, at least 1 s and at most 10 s); stops early, with
/// errc::not_ready, once `stop()` is true. A controller on node `not_on`
/// counts as a failed attempt (the process whose controller failed still
/// runs its gate); an empty node_id refuses none. errc::timeout names the
/// last attempt's error.
caf::expected<caf::actor> rejoin_head(caf::actor_system& sys, const std::string& head,
                                      const std::string& name, const std::string& secret,
                                      std::chrono::steady_clock::time_point deadline,
                                      const std::function<bool()>& stop,
                                      const caf::node_id& not_on = caf::node_id{});

} // namespace tandem
