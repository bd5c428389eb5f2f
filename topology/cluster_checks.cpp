// cluster_checks.cpp: defaults and one small function per rule family
// (nodes, head + ports, transports, groups + placements, roles, security).
#include "topology/cluster_checks.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <set>

#include "topology/internal/yaml_binder.hpp"

namespace tandem {

namespace topo = tandem::topology;

// --- source_map ----------------------------------------------------------------

std::string parent_path(const std::string& path) {
  auto dot = path.rfind('.');
  auto bracket = path.rfind('[');
  if (dot == std::string::npos && bracket == std::string::npos)
    return {};
  if (dot == std::string::npos)
    return path.substr(0, bracket);
  if (bracket == std::string::npos)
    return path.substr(0, dot);
  return path.substr(0, std::max(dot, bracket));
}

source_map::pos source_map::where(const std::string& path) const {
  for (std::string p = path; !p.empty(); p = parent_path(p))
    if (auto i = marks_.find(p); i != marks_.end())
      return i->second;
  return {};
}

bool source_map::invalid(const std::string& path) const {
  for (std::string p = path; !p.empty(); p = parent_path(p))
    if (invalid_.count(p) > 0)
      return true;
  return false;
}

bool source_map::invalid_within(const std::string& path) const {
  for (const auto& p : invalid_)
    if (p.compare(0, path.size(), path) == 0)
      return true;
  return false;
}

// --- helpers -------------------------------------------------------------------

std::string role_name(topo::Role role) {
  switch (role) {
    case topo::CONTROLLER: return "controller";
    case topo::LEARNER: return "learner";
    case topo::SAMPLER: return "sampler";
    case topo::REWARD: return "reward";
    case topo::BROADCASTER: return "broadcaster";
    default: return "unspecified";
  }
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

namespace {

std::string gpath(int g) { return "cluster.groups[" + std::to_string(g) + "]"; }
std::string ppath(int g, int p) {
  return gpath(g) + ".placements[" + std::to_string(p) + "]";
}
std::string npath(int n) { return "cluster.nodes[" + std::to_string(n) + "]"; }

/// Loopback addresses are one host for the "how many machines" question.
std::string host_key(const std::string& host) {
  return is_loopback(host) ? "loopback" : host;
}

bool is_wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "*" || host == "[::]";
}

bool valid_host_chars(const std::string& host) {
  return std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_';
  });
}

bool may_hold_devices(topo::Role r) { return r == topo::LEARNER || r == topo::SAMPLER; }

const topo::Node* find_node(const topo::Cluster& c, const std::string& name) {
  for (const auto& n : c.nodes())
    if (n.name() == name)
      return &n;
  return nullptr;
}

void fill_placement(topo::Placement& p, const std::string& path, const std::string& head,
                    const source_map& m) {
  if (!m.present(path + ".instances"))
    p.set_instances(1);
  if (!m.present(path + ".threads"))
    p.set_threads(1);
  if (!m.present(path + ".process"))
    p.set_process(p.node() == head ? "head" : "worker-" + p.node());
}

// Collects issues; a rule stays silent when a field it reads failed to map.
class checker {
public:
  checker(const topo::Cluster& c, const source_map& m, std::string file,
          learner_demand learner)
    : c_(c), m_(m), file_(std::move(file)), learner_(std::move(learner)) {}

  void report(const std::string& path, std::string message,
              std::initializer_list<std::string> reads = {}) {
    if (m_.invalid(path))
      return;
    for (const auto& r : reads)
      if (m_.invalid_within(r))
        return;
    auto p = m_.where(path);
    issues_.push_back(config_issue{file_, p.line, p.column, path, std::move(message)});
  }

  void run() {
    check_nodes();
    check_head();
    check_transports();
    for (int g = 0; g < c_.groups_size(); ++g)
      check_group(g);
    check_roles();
    check_security();
  }

  std::vector<config_issue> take() { return std::move(issues_); }

private:
  void check_nodes();
  void check_node(int n);
  void check_head();
  void check_ports();
  void check_transports();
  void check_group(int g);
  void check_placement(int g, int p);
  void check_devices(int g, int p, const topo::Node& node);
  void check_process(int g, int p);
  void check_roles();
  void check_single(topo::Role role, bool required, bool one_instance);
  void check_learner_ranks();
  void check_learner_devices(int g);
  void check_security();
  bool multi_host() const;
  bool any_non_caf() const {
    return c_.transports().rollouts() != "caf" || c_.transports().weights() != "caf";
  }

  const topo::Cluster& c_;
  const source_map& m_;
  std::string file_;
  learner_demand learner_;
  std::vector<config_issue> issues_;
  // node + device -> placement path holding it (devices are exclusive).
  std::map<std::pair<std::string, int>, std::string> device_owner_;
  // process name -> node it lives on.
  std::map<std::string, std::string> process_node_;
};

void checker::check_nodes() {
  if (c_.nodes_size() == 0)
    report("cluster.nodes", "a cluster needs at least one node", {"cluster.nodes"});
  for (int n = 0; n < c_.nodes_size(); ++n)
    check_node(n);
}

void checker::check_node(int n) {
  const auto& node = c_.nodes(n);
  const std::string path = npath(n);
  if (node.name().empty())
    report(path + ".name", "a node needs a name");
  for (int k = 0; k < n && !node.name().empty(); ++k)
    if (c_.nodes(k).name() == node.name())
      report(path + ".name", "duplicate node name '" + node.name() + "' (also "
                               + npath(k) + ")");
  if (node.host().empty())
    report(path + ".host", "a node needs a host (an address or DNS name)");
  else if (is_wildcard(node.host()))
    report(path + ".host", "'" + node.host() + "' is a wildcard address; name the host "
                           "the other nodes reach this one at");
  else if (!valid_host_chars(node.host()))
    report(path + ".host", "'" + node.host() + "' is not a host name or address");
  if (node.gpus() < 0)
    report(path + ".gpus", "must be >= 0 (got " + std::to_string(node.gpus()) + ")");
  if (node.cpu_threads() < 0)
    report(path + ".cpu_threads", "must be >= 0 (got "
                                    + std::to_string(node.cpu_threads()) + ")");
  if (node.gpu_memory_mb() < 0)
    report(path + ".gpu_memory_mb", "must be >= 0 (got "
                                      + std::to_string(node.gpu_memory_mb()) + ")");
  if (node.gpu_memory_mb() > 0 && node.gpus() == 0)
    report(path + ".gpu_memory_mb", "has no effect on a node with 0 GPUs; remove it");
}

void checker::check_head() {
  const std::string& head = c_.head().node();
  if (head.empty() && c_.nodes_size() > 1)
    report("cluster.head.node", "required when the cluster has more than one node",
           {"cluster.nodes"});
  else if (!head.empty() && find_node(c_, head) == nullptr && c_.nodes_size() > 0) {
    std::vector<std::string> names;
    for (const auto& n : c_.nodes())
      names.push_back(n.name());
    std::string hint = internal::closest_name(head, names);
    report("cluster.head.node", "unknown node '" + head + "'"
                                  + (hint.empty() ? "" : "; did you mean '" + hint + "'?"),
           {"cluster.nodes"});
  }
  check_ports();
}

void checker::check_ports() {
  const auto& h = c_.head();
  for (auto [key, port] : {std::pair<std::string, int>{"control_port", h.control_port()},
                           {"data_port", h.data_port()}}) {
    std::string path = "cluster.head." + key;
    if (m_.present(path) && (port < 1 || port > 65535))
      report(path, "must be in [1, 65535] (got " + std::to_string(port) + ")");
  }
  if (h.control_port() != 0 && h.control_port() == h.data_port())
    report("cluster.head.data_port", "must differ from control_port ("
                                       + std::to_string(h.control_port()) + ")");
  // Weights over zmq use the next port too (rollouts data_port, weights +1).
  if (c_.transports().weights() == "zmq" && h.data_port() != 0) {
    if (h.data_port() == 65535)
      report("cluster.head.data_port", "must be below 65535 with weights: zmq (the weights "
                                       "server binds data_port + 1)");
    else if (h.control_port() == h.data_port() + 1)
      report("cluster.head.data_port", "data_port + 1 (the weights server with weights: zmq) "
                                       "must differ from control_port ("
                                         + std::to_string(h.control_port()) + ")");
  }
  if (m_.present("cluster.head.data_port") && !any_non_caf())
    report("cluster.head.data_port",
           "has no effect with transports rollouts: caf and weights: caf; remove it");
  if (!multi_host())
    return;
  if (!m_.present("cluster.head.control_port"))
    report("cluster.head", "control_port is required when the cluster spans more than "
                           "one host (workers must know where to connect)");
  if (any_non_caf() && !m_.present("cluster.head.data_port"))
    report("cluster.head", "data_port is required when the cluster spans more than one "
                           "host and a transport is zmq or nccl");
}

void checker::check_transports() {
  const auto& t = c_.transports();
  if (t.rollouts() != "caf" && t.rollouts() != "zmq")
    report("cluster.transports.rollouts",
           "expected one of caf, zmq (got '" + t.rollouts() + "')");
  if (t.weights() != "caf" && t.weights() != "zmq" && t.weights() != "nccl")
    report("cluster.transports.weights",
           "expected one of caf, zmq, nccl (got '" + t.weights() + "')");
}

void checker::check_group(int g) {
  const auto& group = c_.groups(g);
  const std::string path = gpath(g);
  if (group.role() == topo::ROLE_UNSPECIFIED)
    report(path, "a group needs a role (one of controller, learner, sampler, reward, "
                 "broadcaster)", {path + ".role"});
  for (int k = 0; k < g; ++k)
    if (c_.groups(k).name() == group.name() && !group.name().empty()) {
      std::string at = m_.present(path + ".name") ? path + ".name" : path;
      report(at, "duplicate group name '" + group.name() + "' (also " + gpath(k)
                   + "); give each group a distinct name", {path + ".role"});
      break;
    }
  if (group.placements_size() == 0)
    report(path, "role with no placement: group '" + group.name()
                   + "' needs at least one placement", {path + ".placements"});
  for (int p = 0; p < group.placements_size(); ++p)
    check_placement(g, p);
}

void checker::check_placement(int g, int p) {
  const auto& pl = c_.groups(g).placements(p);
  const std::string path = ppath(g, p);
  if (m_.present(path + ".instances") && pl.instances() < 1)
    report(path + ".instances", "must be >= 1 (got " + std::to_string(pl.instances())
                                  + "); remove the placement instead");
  if (m_.present(path + ".threads") && pl.threads() < 1)
    report(path + ".threads", "must be >= 1 (got " + std::to_string(pl.threads()) + ")");
  if (pl.node().empty())
    return report(path + ".node", "a placement needs a node");
  const topo::Node* node = find_node(c_, pl.node());
  if (node == nullptr) {
    std::vector<std::string> names;
    for (const auto& n : c_.nodes())
      names.push_back(n.name());
    std::string hint = internal::closest_name(pl.node(), names);
    return report(path + ".node", "unknown node '" + pl.node() + "'"
                                    + (hint.empty() ? "" : "; did you mean '" + hint + "'?"),
                  {"cluster.nodes"});
  }
  check_devices(g, p, *node);
  check_process(g, p);
}

void checker::check_devices(int g, int p, const topo::Node& node) {
  const auto& pl = c_.groups(g).placements(p);
  const std::string path = ppath(g, p);
  const topo::Role role = c_.groups(g).role();
  if (pl.devices_size() > 0 && !may_hold_devices(role) && role != topo::ROLE_UNSPECIFIED)
    return report(path + ".devices", "a " + role_name(role)
                                       + " runs on the CPU; remove devices");
  if (pl.devices_size() > std::max(pl.instances(), 1))
    report(path + ".devices", "lists " + std::to_string(pl.devices_size())
                                + " devices for " + std::to_string(pl.instances())
                                + " instance(s); a device would stay idle");
  std::string gpus_path;
  for (int n = 0; n < c_.nodes_size() && gpus_path.empty(); ++n)
    if (c_.nodes(n).name() == node.name())
      gpus_path = npath(n) + ".gpus";
  for (int d = 0; d < pl.devices_size(); ++d) {
    const int dev = pl.devices(d);
    const std::string dpath = path + ".devices[" + std::to_string(d) + "]";
    if (dev < 0 || dev >= node.gpus()) {
      report(dpath, "node " + node.name() + " has " + std::to_string(node.gpus())
                      + " GPUs; device " + std::to_string(dev) + " does not exist",
             {gpus_path});
      continue;
    }
    auto [it, fresh] = device_owner_.emplace(std::make_pair(node.name(), dev), path);
    if (!fresh)
      report(dpath, "overlaps: gpu:" + std::to_string(dev) + " on node " + node.name()
                      + " already belongs to " + it->second
                      + " (GPU devices are exclusive to one placement)");
  }
}

void checker::check_process(int g, int p) {
  const auto& pl = c_.groups(g).placements(p);
  const std::string path = ppath(g, p) + ".process";
  const std::string& head = c_.head().node();
  // With the head missing or unknown (reported once) defaults point nowhere.
  const bool head_known = find_node(c_, head) != nullptr;
  if (pl.process().empty())
    return report(path, "must not be empty (absent = \"head\" on the head's node, "
                        "\"worker-<node>\" elsewhere)");
  if (pl.process() == "head" && pl.node() != head && head_known)
    return report(path, "the head process runs on node " + head + ", not on "
                          + pl.node());
  auto [it, fresh] = process_node_.emplace(pl.process(), pl.node());
  if (!fresh && it->second != pl.node())
    report(path, "process '" + pl.process() + "' already runs on node " + it->second
                   + "; a process lives on one node");
  if (c_.groups(g).role() == topo::CONTROLLER && pl.process() != "head" && head_known)
    report(path, "the controller runs in the head process; remove process or set "
                 "it to head");
}

void checker::check_single(topo::Role role, bool required, bool one_instance) {
  std::vector<int> groups;
  for (int g = 0; g < c_.groups_size(); ++g)
    if (c_.groups(g).role() == role)
      groups.push_back(g);
  const std::string name = role_name(role);
  if (groups.empty() && required)
    return report("cluster.groups", "no " + name + " group; every run needs exactly one "
                                      + name, {"cluster.groups"});
  for (size_t i = 1; i < groups.size(); ++i)
    report(gpath(groups[i]) + ".role", "a second " + name + " group (also "
                                         + gpath(groups[0]) + "); a run has exactly one "
                                         + name);
  if (groups.empty() || !one_instance)
    return;
  const auto& grp = c_.groups(groups[0]);
  int total = 0;
  for (const auto& pl : grp.placements())
    total += std::max(pl.instances(), 1); // < 1 is reported at the field
  if (total > 1 || grp.placements_size() > 1) {
    std::string at = ppath(groups[0], 0) + ".instances";
    if (grp.placements_size() > 1)
      at = ppath(groups[0], 1);
    report(at, "a run has exactly one " + name + " instance (group '" + grp.name()
                 + "' has " + std::to_string(total) + ")");
  }
}

void checker::check_roles() {
  check_single(topo::CONTROLLER, true, true);
  check_single(topo::LEARNER, true, false); // one instance per rank
  check_learner_ranks();
  check_single(topo::BROADCASTER, true, true);
  // Each group has >= 1 placement and each placement >= 1 instance (both
  // reported where they fail), so one group of the role means >= 1 instance.
  for (auto role : {topo::SAMPLER, topo::REWARD}) {
    bool any = std::any_of(c_.groups().begin(), c_.groups().end(),
                           [&](const topo::ActorGroup& g) { return g.role() == role; });
    if (!any)
      report("cluster.groups", "no " + role_name(role) + " instance (no group has role "
                                 + role_name(role) + "); a run needs at least one",
             {"cluster.groups"});
  }
  if (c_.transports().weights() != "nccl")
    return;
  for (int g = 0; g < c_.groups_size(); ++g)
    for (int p = 0; p < c_.groups(g).placements_size(); ++p)
      if (may_hold_devices(c_.groups(g).role())
          && c_.groups(g).placements(p).devices_size() == 0)
        report(ppath(g, p), "transports.weights nccl needs a GPU on every learner and "
                            "sampler placement; add devices");
}

void checker::check_learner_ranks() {
  int g = 0;
  while (g < c_.groups_size() && c_.groups(g).role() != topo::LEARNER)
    ++g;
  if (g == c_.groups_size())
    return; // reported by check_single
  const auto& grp = c_.groups(g);
  int total = 0;
  for (const auto& pl : grp.placements())
    total += std::max(pl.instances(), 1); // < 1 is reported at the field
  if (total == learner_.ranks || learner_.ranks < 1 || grp.placements_size() == 0)
    return check_learner_devices(g);
  const std::string at = grp.placements_size() == 1 ? ppath(g, 0) + ".instances" : gpath(g);
  report(at, "group '" + grp.name() + "' has " + std::to_string(total)
               + " learner instance(s) but learner.ranks is " + std::to_string(learner_.ranks)
               + ": a run has exactly one learner instance per rank",
         {gpath(g) + ".placements"});
}

// Each rank owns one GPU, or the CPU of its process. Ranks are numbered in
// placement order with the head's first: the head process holds rank 0
// (the data-parallel learner is driven from there). Ranks may sit in several
// processes (CPU: a socket_collective; GPUs: one NCCL communicator whose id
// rank 0 hands out), but all on the CPU or all on GPUs.
void checker::check_learner_devices(int g) {
  const auto& grp = c_.groups(g);
  std::set<std::string> processes;
  bool on_gpus = false, on_cpu = false;
  for (int p = 0; p < grp.placements_size(); ++p) {
    const auto& pl = grp.placements(p);
    processes.insert(pl.process());
    on_gpus = on_gpus || pl.devices_size() > 0;
    on_cpu = on_cpu || pl.devices_size() == 0;
    const int instances = std::max(pl.instances(), 1);
    if (pl.devices_size() > 0 && pl.devices_size() < instances)
      report(ppath(g, p) + ".devices",
             std::to_string(instances) + " learner ranks on " + std::to_string(pl.devices_size())
               + " device(s): each rank needs its own GPU; list " + std::to_string(instances)
               + " devices");
    if (pl.devices_size() > 0 || learner_.ranks < 2)
      continue;
    if (learner_.device != "cpu")
      report(ppath(g, p), "learner ranks without devices run on learner.device "
                            + learner_.device + "; with learner.ranks "
                            + std::to_string(learner_.ranks)
                            + " each rank needs its own GPU: list them in devices");
  }
  if (learner_.ranks < 2)
    return;
  if (on_gpus && on_cpu)
    report(gpath(g), "learner ranks are all on the CPU or each on a GPU: give every learner "
                     "placement its devices, or none",
           {gpath(g) + ".placements"});
  if (processes.size() > 1 && processes.count("head") == 0)
    report(ppath(g, 0) + ".process",
           "the head process holds learner rank 0: place at least one learner instance in "
           "process head (the others may go to worker processes)");
}

bool checker::multi_host() const {
  std::set<std::string> hosts;
  for (const auto& n : c_.nodes())
    hosts.insert(host_key(n.host()));
  return hosts.size() > 1;
}

void checker::check_security() {
  const auto& s = c_.security();
  if (!s.secret_file().empty() && !s.secret_env().empty())
    report("cluster.security.secret_env",
           "set either secret_file or secret_env, not both");
  if (!s.secret_file().empty() || !s.secret_env().empty())
    return;
  const bool several = multi_host();
  for (int n = 0; n < c_.nodes_size(); ++n) {
    const std::string& host = c_.nodes(n).host();
    if (host.empty() || (is_loopback(host) && !several))
      continue;
    std::string why = several ? "the cluster spans more than one host"
                              : host + " is not a loopback address";
    return report(npath(n) + ".host", why + "; set security.secret_file or "
                                            "security.secret_env", {"cluster.nodes"});
  }
}

} // namespace

void fill_defaults(topo::Cluster& c, const source_map& m, const learner_demand& learner) {
  if (!m.present("cluster.name"))
    c.set_name("cluster");
  if (!m.present("cluster.head.node") && c.nodes_size() == 1)
    c.mutable_head()->set_node(c.nodes(0).name());
  auto* t = c.mutable_transports();
  if (!m.present("cluster.transports.rollouts"))
    t->set_rollouts("caf");
  if (!m.present("cluster.transports.weights"))
    t->set_weights("caf");
  for (int g = 0; g < c.groups_size(); ++g) {
    auto* group = c.mutable_groups(g);
    if (!m.present(gpath(g) + ".name") && group->role() != topo::ROLE_UNSPECIFIED)
      group->set_name(role_name(group->role()));
    for (int p = 0; p < group->placements_size(); ++p)
      fill_placement(*group->mutable_placements(p), ppath(g, p), c.head().node(), m);
    // A lone learner placement holds every rank unless it says otherwise.
    if (group->role() == topo::LEARNER && group->placements_size() == 1
        && !m.present(ppath(g, 0) + ".instances"))
      group->mutable_placements(0)->set_instances(std::max(learner.ranks, 1));
  }
}

std::vector<config_issue> check_cluster(const topo::Cluster& cluster,
                                        const source_map& marks,
                                        const std::string& file,
                                        const learner_demand& learner) {
  checker k(cluster, marks, file, learner);
  k.run();
  return k.take();
}

} // namespace tandem
