// process_plan.cpp: the short form as a cluster, and cluster -> processes.
#include "topology/process_plan.hpp"

#include <algorithm>

#include "topology/cluster_checks.hpp"

namespace tandem {

namespace topo = tandem::topology;

int32_t process_plan::count(topo::Role role) const {
  int32_t n = 0;
  for (auto& a : actors)
    if (a.role == role)
      n += a.instances;
  return n;
}

const process_plan* run_plan::find(const std::string& process) const {
  for (auto& p : processes)
    if (p.name == process)
      return &p;
  return nullptr;
}

int32_t run_plan::total(topo::Role role) const {
  int32_t n = 0;
  for (auto& p : processes)
    n += p.count(role);
  return n;
}

std::vector<const process_plan*> run_plan::workers_on(const std::string& node) const {
  std::vector<const process_plan*> out;
  for (auto& p : processes)
    if (!p.head && p.node == node)
      out.push_back(&p);
  return out;
}

namespace {

void add_group(topo::Cluster& c, topo::Role role, const std::string& name) {
  auto* g = c.add_groups();
  g->set_role(role);
  g->set_name(name);
}

void place(topo::Cluster& c, const std::string& group, const std::string& process,
           int32_t instances, int32_t threads) {
  for (auto& g : *c.mutable_groups()) {
    if (g.name() != group)
      continue;
    auto* p = g.add_placements();
    p->set_node("local");
    p->set_process(process);
    p->set_instances(instances);
    p->set_threads(threads);
  }
}

std::string host_of(const topo::Cluster& c, const std::string& node) {
  for (auto& n : c.nodes())
    if (n.name() == node)
      return n.host();
  return "127.0.0.1";
}

process_plan& process_for(std::vector<process_plan>& ps, const topo::Cluster& c,
                          const topo::Placement& p) {
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

/// Device of instance `i` of `slot`, or `fallback` when it has none.
std::string device_of(const actor_slot& slot, int32_t i, const std::string& fallback) {
  if (slot.devices.empty())
    return fallback;
  return "cuda:" + std::to_string(slot.devices[static_cast<size_t>(i) % slot.devices.size()]);
}

/// Fills the named sampler instances, the reward count and the learner.
void place_instances(const run_config& cfg, process_plan& p) {
  const int32_t samplers = p.count(topo::SAMPLER);
  int32_t index = 0;
  for (auto& slot : p.actors) {
    if (slot.role == topo::SAMPLER) {
      for (int32_t i = 0; i < slot.instances; ++i, ++index) {
        auto name = p.head ? "sampler-" + std::to_string(index)
                    : samplers == 1 ? p.name
                                    : p.name + "/sampler-" + std::to_string(index);
        p.samplers.push_back({name, device_of(slot, i, cfg.sampler.device), slot.threads});
      }
    } else if (slot.role == topo::REWARD) {
      p.rewards += slot.instances;
    } else if (slot.role == topo::LEARNER) {
      for (int32_t i = 0; i < slot.instances; ++i) {
        const auto rank = p.learner_ranks.size();
        p.learner_ranks.push_back({rank == 0 ? "learner" : "learner-" + std::to_string(rank),
                                   device_of(slot, i, cfg.learner.device), slot.threads});
      }
      if (!p.learner_ranks.empty())
        p.learner = p.learner_ranks.front();
    }
  }
}

} // namespace

topo::Cluster short_form_cluster(const run_config& cfg) {
  topo::Cluster c;
  c.set_name("local");
  auto* node = c.add_nodes();
  node->set_name("local");
  node->set_host("127.0.0.1");
  c.mutable_head()->set_node("local");
  for (auto role : {topo::CONTROLLER, topo::LEARNER, topo::BROADCASTER, topo::REWARD,
                    topo::SAMPLER})
    add_group(c, role, role_name(role));
  place(c, "controller", "head", 1, 1);
  place(c, "learner", "head", std::max(cfg.learner.ranks, 1), cfg.learner.threads);
  place(c, "broadcaster", "head", 1, 1);
  place(c, "reward", cfg.reward.processes > 0 ? "reward-p0" : "head", 1, 1);
  if (cfg.sampler.count > 0)
    place(c, "sampler", "head", cfg.sampler.count, cfg.sampler.threads);
  for (int32_t i = 0; i < cfg.sampler.processes; ++i)
    place(c, "sampler", "sampler-p" + std::to_string(i), 1, cfg.sampler.threads);
  c.mutable_transports()->set_rollouts("caf");
  c.mutable_transports()->set_weights("caf");
  return c;
}

run_plan resolve_processes(const run_config& cfg, const topo::Cluster& cluster) {
  run_plan plan;
  plan.cluster = cluster.name();
  for (auto& g : cluster.groups())
    for (auto& p : g.placements())
      process_for(plan.processes, cluster, p)
        .actors.push_back(actor_slot{g.role(), g.name(), std::max(1, p.instances()),
                                     std::max(1, p.threads()),
                                     {p.devices().begin(), p.devices().end()}});
  // The checks guarantee a head process; keep the others in first-mention order.
  std::stable_partition(plan.processes.begin(), plan.processes.end(),
                        [](const process_plan& x) { return x.head; });
  int32_t rank = 0;
  for (auto& p : plan.processes) {
    place_instances(cfg, p);
    p.first_learner_rank = rank;
    for (size_t i = 0; i < p.learner_ranks.size(); ++i, ++rank)
      p.learner_ranks[i].name = rank == 0 ? "learner" : "learner-" + std::to_string(rank);
    if (!p.learner_ranks.empty())
      p.learner = p.learner_ranks.front();
  }
  if (!cluster.transports().rollouts().empty())
    plan.transports.rollouts = cluster.transports().rollouts();
  if (!cluster.transports().weights().empty())
    plan.transports.weights = cluster.transports().weights();
  plan.head_node = cluster.head().node();
  plan.bind_host = host_of(cluster, plan.head_node);
  plan.control_port = static_cast<uint16_t>(cluster.head().control_port());
  plan.data_port = static_cast<uint16_t>(cluster.head().data_port());
  return plan;
}

run_plan single_process_plan(const run_config& cfg, int32_t samplers,
                             const std::string& weights_transport) {
  auto c = short_form_cluster(cfg);
  for (auto& g : *c.mutable_groups()) {
    if (g.role() == topo::REWARD)
      g.mutable_placements(0)->set_process("head");
    if (g.role() == topo::SAMPLER) {
      g.clear_placements();
      if (samplers > 0)
        place(c, "sampler", "head", samplers, cfg.sampler.threads);
    }
  }
  c.mutable_transports()->set_weights(weights_transport);
  return resolve_processes(cfg, c);
}

process_plan scaled_process(const run_config& cfg, topo::Role role, const std::string& name) {
  process_plan p;
  p.name = name;
  p.node = "local";
  p.host = "127.0.0.1";
  auto threads = role == topo::SAMPLER ? cfg.sampler.threads : 1;
  p.actors.push_back(actor_slot{role, role_name(role), 1, threads, {}});
  place_instances(cfg, p);
  return p;
}

namespace {

/// "cuda:0 cuda:1" for the learner ranks of `p` (the config's device when a
/// slot has none).
std::string learner_devices(const process_plan& p, const std::string& fallback) {
  std::string out;
  for (auto& slot : p.actors)
    for (int32_t i = 0; slot.role == topo::LEARNER && i < slot.instances; ++i)
      out += (out.empty() ? "" : " ") + device_of(slot, i, fallback);
  return out;
}

} // namespace

std::string describe_processes(const run_plan& plan) {
  std::string out = "processes (" + std::string(plan.declared ? "cluster: section" : "short form")
                    + "), rollouts over " + plan.transports.rollouts + ", weights over "
                    + plan.transports.weights + ":\n";
  for (auto& p : plan.processes) {
    out += "  " + p.name + " on " + p.node + " (" + p.host + "), "
           + (p.head ? "tandem run" : "tandem worker --process " + p.name) + ":";
    for (auto& slot : p.actors)
      if (slot.role != topo::SAMPLER && slot.role != topo::LEARNER)
        out += " " + role_name(slot.role) + " x" + std::to_string(slot.instances) + ";";
    const int32_t n = p.count(topo::LEARNER);
    if (n > 0 && !p.head) // ranks of a learner spread over processes
      out += " learner rank" + std::string(n > 1 ? "s " : " ")
             + std::to_string(p.first_learner_rank)
             + (n > 1 ? ".." + std::to_string(p.first_learner_rank + n - 1) : "") + " ["
             + learner_devices(p, p.learner.device) + ", " + std::to_string(p.learner.threads)
             + " thread(s) each];";
    else if (p.count(topo::LEARNER) == 1)
      out += " learner [" + p.learner.device + ", " + std::to_string(p.learner.threads)
             + " thread(s)];";
    else if (p.count(topo::LEARNER) > 1)
      out += " learner x" + std::to_string(p.count(topo::LEARNER)) + " ranks ["
             + learner_devices(p, p.learner.device) + ", " + std::to_string(p.learner.threads)
             + " thread(s) each];";
    for (auto& s : p.samplers)
      out += " sampler " + s.name + " [" + s.device + ", " + std::to_string(s.threads)
             + " thread(s)];";
    out += "\n";
  }
  return out;
}

std::vector<std::string> worker_argv(const std::string& exe, const std::string& config,
                                     const std::string& head, const std::string& process) {
  return {exe, "worker", "--config", config, "--head", head, "--process", process};
}

} // namespace tandem
