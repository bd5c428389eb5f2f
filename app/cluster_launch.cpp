#include "app/cluster_launch.hpp"

#include <algorithm>

namespace tandem {

int32_t process_plan::count(topology::Role role) const {
  int32_t n = 0;
  for (auto& a : actors)
    if (a.role == role)
      n += a.instances;
  return n;
}

int32_t process_plan::threads(topology::Role role) const {
  for (auto& a : actors)
    if (a.role == role)
      return a.threads;
  return 1;
}

std::string process_plan::device(topology::Role role, int32_t i) const {
  for (auto& a : actors) {
    if (a.role != role)
      continue;
    if (i < a.instances)
      return a.devices.empty()
               ? std::string{}
               : "cuda:" + std::to_string(a.devices[static_cast<size_t>(i) % a.devices.size()]);
    i -= a.instances;
  }
  return {};
}

namespace {

std::string host_of(const topology::Cluster& c, const std::string& node) {
  for (auto& n : c.nodes())
    if (n.name() == node)
      return n.host();
  return "127.0.0.1";
}

process_plan& process_for(std::vector<process_plan>& ps, const topology::Cluster& c,
                          const topology::Placement& p) {
  for (auto& x : ps)
    if (x.name == p.process())
      return x;
  process_plan fresh;
  fresh.name = p.process();
  fresh.node = p.node();
  fresh.host = host_of(c, p.node());
  fresh.head = p.process() == "head";
  ps.push_back(std::move(fresh));
  return ps.back();
}

} // namespace

std::vector<process_plan> plan_processes(const topology::Cluster& cluster) {
  std::vector<process_plan> ps;
  for (auto& g : cluster.groups())
    for (auto& p : g.placements())
      process_for(ps, cluster, p).actors.push_back(
        actor_slot{g.role(), std::max(1, p.instances()), std::max(1, p.threads()),
                   {p.devices().begin(), p.devices().end()}});
  std::stable_partition(ps.begin(), ps.end(), [](const process_plan& x) { return x.head; });
  return ps;
}

const process_plan* find_process(const std::vector<process_plan>& ps, const std::string& name) {
  for (auto& p : ps)
    if (p.name == name)
      return &p;
  return nullptr;
}

int32_t total_instances(const std::vector<process_plan>& ps, topology::Role role) {
  int32_t n = 0;
  for (auto& p : ps)
    n += p.count(role);
  return n;
}

std::string head_host(const topology::Cluster& cluster) {
  return host_of(cluster, cluster.head().node());
}

std::vector<std::string> worker_argv(const std::string& exe, const std::string& config,
                                     const std::string& head, const std::string& process) {
  return {exe, "worker", "--config", config, "--head", head, "--process", process};
}

} // namespace tandem

#include "topology/run_config.hpp"

namespace tandem {

head_layout legacy_layout(const run_config& cfg) {
  head_layout l;
  l.samplers = cfg.sampler.count;
  l.sampler_threads = cfg.sampler.threads;
  l.rewards = cfg.reward.processes > 0 ? 0 : 1;
  l.learner_threads = cfg.learner.threads;
  l.expected_samplers = cfg.sampler.count + cfg.sampler.processes;
  for (int32_t i = 0; i < cfg.sampler.processes; ++i)
    l.workers.push_back({"--role", "sampler", "--name", "sampler-p" + std::to_string(i)});
  if (cfg.reward.processes > 0)
    l.workers.push_back({"--role", "reward", "--name", "reward-p0"});
  return l;
}

head_layout cluster_layout(const run_config& cfg, const topology::Cluster& cluster) {
  auto ps = plan_processes(cluster);
  head_layout l;
  const auto& head = ps.front(); // the checks guarantee a head process
  l.samplers = head.count(topology::SAMPLER);
  l.sampler_threads = head.threads(topology::SAMPLER);
  l.rewards = head.count(topology::REWARD);
  l.learner_threads = head.threads(topology::LEARNER);
  l.sampler_device = head.device(topology::SAMPLER, 0);
  l.learner_device = head.device(topology::LEARNER, 0);
  l.expected_samplers = total_instances(ps, topology::SAMPLER);
  l.bind_host = head_host(cluster);
  l.port = static_cast<uint16_t>(cluster.head().control_port());
  l.zmq_rollouts = cluster.transports().rollouts() == "zmq";
  l.zmq_weights = cluster.transports().weights() == "zmq";
  if (!cluster.transports().weights().empty())
    l.weights_transport = cluster.transports().weights();
  l.data_port = static_cast<uint16_t>(cluster.head().data_port());
  for (auto& p : ps)
    if (!p.head && p.node == head.node)
      l.workers.push_back({"--process", p.name});
  (void) cfg;
  return l;
}

} // namespace tandem
