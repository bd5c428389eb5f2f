// process_plan.hpp: the one resolved layout of a run — for every OS process:
// its node, the actors it hosts (instances, threads, devices, names) and the
// transport of each flow. `tandem plan`, `tandem run`, `tandem worker`,
// `tandem node`, `tandem scale` and the benches all read it; nothing works
// out placement anywhere else, and nothing writes the run_config afterwards
// (what depends on placement — a sampler's device and threads, the learner's
// device, the weights transport, how many samplers to wait for — lives here).
//
// Two ways to write a layout, one model: a `cluster:` section names nodes,
// groups and placements; without one, the short form (sampler.count,
// sampler.processes, reward.processes, sampler.threads, learner.threads) is
// sugar for the cluster short_form_cluster() builds:
//   node "local" (127.0.0.1, no GPUs), head on it, ephemeral ports;
//   process "head":        controller, learner (learner.ranks instances of
//                          learner.threads each),
//                          broadcaster, reward (unless reward.processes = 1),
//                          sampler.count samplers (sampler.threads);
//   process "sampler-pI":  one sampler each, I < sampler.processes;
//   process "reward-p0":   the reward actor, when reward.processes = 1;
//   transports: caf for both flows.
//
// Process model: the process named "head" hosts the controller, learner and
// broadcaster plus whatever else is placed there; every other process is a
// `tandem worker --process NAME` that spawns its placements' samplers and
// reward actors and joins the head.
//
// Devices: instance i of a placement with devices [d0..dn-1] runs on
// "cuda:" + d(i mod n); a placement without devices uses the config's
// sampler.device / learner.device (the short form's only way to name one).
//
// Names: samplers of the head are "sampler-I"; those of a worker process are
// "PROCESS" when the process hosts exactly one sampler, else
// "PROCESS/sampler-I" (I counts within the process).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topology/run_config.hpp"
#include "topology/topology.pb.h"

namespace tandem {

/// One placement as a process hosts it.
struct actor_slot {
  topology::Role role = topology::ROLE_UNSPECIFIED;
  std::string group;            // the group's name (plan table)
  int32_t instances = 1;
  int32_t threads = 1;          // LibTorch intra-op threads per instance
  std::vector<int32_t> devices; // GPU indices; empty = the config's device
};

/// What one instance of a sampler (or the learner) runs with.
struct placed_instance {
  std::string name;
  std::string device; // "cpu", "cuda" or "cuda:N"
  int32_t threads = 1;
};

struct process_plan {
  std::string name;
  std::string node;
  std::string host;
  bool head = false;
  std::vector<actor_slot> actors;
  std::vector<placed_instance> samplers; // one per sampler instance, named
  int32_t rewards = 0;                   // reward actor instances
  placed_instance learner;               // meaningful in the head process
  // Every learner rank of this process in rank order (learner.ranks
  // instances; learner is the first), each with its device.
  std::vector<placed_instance> learner_ranks;
  // The global rank of learner_ranks[0]: ranks are numbered over the
  // processes in plan order (the head's first, so the head holds rank 0).
  int32_t first_learner_rank = 0;

  int32_t count(topology::Role role) const; // instances of a role
};

/// How each flow travels (cluster.transports).
struct flow_transports {
  std::string rollouts = "caf"; // caf | zmq
  std::string weights = "caf";  // caf | zmq | nccl
};

struct run_plan {
  std::string cluster;                  // the cluster's name
  bool declared = false;                // from a cluster: section (not the short form)
  std::vector<process_plan> processes;  // the head first, then in order of first mention
  flow_transports transports;
  std::string head_node;
  std::string bind_host = "127.0.0.1";  // where the head's control endpoint listens
  uint16_t control_port = 0;            // 0 = ephemeral
  uint16_t data_port = 0;               // rollouts; weights on data_port + 1; 0 = ephemeral
  // The weights endpoint's own port (a restarted head binds the one its
  // workers know); 0 = data_port + 1, or ephemeral with data_port 0.
  uint16_t weights_port = 0;

  const process_plan& head() const { return processes.front(); }
  const process_plan* find(const std::string& process) const;
  /// Instances of `role` over all processes.
  int32_t total(topology::Role role) const;
  /// The worker processes (not the head) placed on `node`.
  std::vector<const process_plan*> workers_on(const std::string& node) const;
  bool weights_over_nccl() const { return transports.weights == "nccl"; }
};

/// The cluster the short form of `cfg` stands for (see file comment).
topology::Cluster short_form_cluster(const run_config& cfg);

/// The resolved layout of a checked `cluster` for `cfg`.
run_plan resolve_processes(const run_config& cfg, const topology::Cluster& cluster);

/// A one-process layout (benchmarks): the head with `samplers` samplers of
/// the config's device and threads, a reward actor, the given weights
/// transport (caf | nccl).
run_plan single_process_plan(const run_config& cfg, int32_t samplers,
                             const std::string& weights_transport = "caf");

/// The process of one sampler or reward actor started at runtime by
/// `tandem scale` (not in the file's layout): a sampler gets the config's
/// sampler device and threads.
process_plan scaled_process(const run_config& cfg, topology::Role role, const std::string& name);

/// One block per process: where it runs, how it starts, every actor with
/// its name, device and threads, and the flows' transports.
std::string describe_processes(const run_plan& plan);

/// argv of a worker process for `process` joining the head at host:port.
std::vector<std::string> worker_argv(const std::string& exe, const std::string& config,
                                     const std::string& head, const std::string& process);

} // namespace tandem
