// cluster_launch.hpp: from a checked topology::Cluster to the OS processes
// that run it — which actors each process hosts, and the argv that starts a
// worker process.
//
// Process model: every placement names a process ("head" by default on the
// head's node). The head process hosts the controller, learner and
// broadcaster plus whatever else is placed there; every other process is a
// `tandem worker --process NAME` that spawns its placements' samplers and
// reward actors and joins them to the head. `tandem run` starts the head and
// the worker processes of the head's node; `tandem node --node N` starts the
// worker processes of node N on that machine.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topology/topology.pb.h"

namespace tandem {

struct actor_slot {
  topology::Role role = topology::ROLE_UNSPECIFIED;
  int32_t instances = 1;
  int32_t threads = 1;
  std::vector<int32_t> devices; // GPU indices, instance i on devices[i % n]; empty = CPU
};

struct process_plan {
  std::string name;
  std::string node;
  std::string host;
  bool head = false;
  std::vector<actor_slot> actors;
  int32_t count(topology::Role role) const;   // instances of a role
  int32_t threads(topology::Role role) const; // threads of its first slot (1 if none)
  /// "cuda:D" for instance `i` of `role` (counted over this process's slots
  /// of that role), or "" when that instance's placement has no devices.
  std::string device(topology::Role role, int32_t i) const;
};

/// One entry per process, the head first, then in order of first mention.
std::vector<process_plan> plan_processes(const topology::Cluster& cluster);

const process_plan* find_process(const std::vector<process_plan>& ps, const std::string& name);

/// Instances of a role over all processes.
int32_t total_instances(const std::vector<process_plan>& ps, topology::Role role);

/// Address the head's controller listens on: the head node's host.
std::string head_host(const topology::Cluster& cluster);

/// argv of a worker process for `process` joining the head at host:port.
std::vector<std::string> worker_argv(const std::string& exe, const std::string& config,
                                     const std::string& head, const std::string& process);

} // namespace tandem

namespace tandem {

struct run_config;

/// What the head process of a run hosts and which worker processes it starts.
struct head_layout {
  int32_t samplers = 0;          // sampler actors in the head process
  int32_t sampler_threads = 1;
  int32_t rewards = 1;           // reward actors in the head process
  int32_t learner_threads = 1;
  std::string sampler_device;    // "cuda:D" of the head's samplers ("" = config's)
  std::string learner_device;    // "cuda:D" of the learner ("" = config's)
  int32_t expected_samplers = 0; // all sampler instances of the run
  std::string bind_host = "127.0.0.1";
  uint16_t port = 0;             // 0 = ephemeral
  // ZeroMQ data plane (cluster.transports): rollouts bind data_port, weights
  // data_port + 1 (0 = ephemeral; workers learn the endpoints from the head).
  bool zmq_rollouts = false;
  bool zmq_weights = false;
  std::string weights_transport = "caf"; // cluster.transports.weights
  uint16_t data_port = 0;
  /// One entry per worker process to start here: extra worker arguments
  /// (--process P, or --role R --name N without a cluster section).
  std::vector<std::vector<std::string>> workers;
  bool needs_endpoint() const { return !workers.empty() || expected_samplers > samplers; }
};

/// Without a cluster: section (sampler.count / processes, reward.processes).
head_layout legacy_layout(const run_config& cfg);

/// From a cluster: the head process and the worker processes on its node.
head_layout cluster_layout(const run_config& cfg, const topology::Cluster& cluster);

} // namespace tandem
