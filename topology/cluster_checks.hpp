// cluster_checks.hpp: semantic rules of a topology::Cluster and its defaults.
//
// Runs after the YAML -> proto mapping (cluster_loader.cpp). The mapping
// records where each written field sits (source_map); every rule reports at
// the field that most needs changing, and all issues are collected.
//
// Defaults: proto3 cannot tell an absent field from 0, so fill_defaults()
// uses the source_map: an ABSENT field gets the default documented in
// topology.proto (instances 1, threads 1, group name = role name, head.node =
// the only node, placement process = "head"/"worker-<node>", transports
// "caf", cluster name "cluster"); a WRITTEN out-of-range value such as
// `threads: 0` is left alone and reported by check_cluster().
//
// Learner ranks (learner.ranks, passed in as a learner_demand): the learner
// group's instances are its data-parallel ranks, one per rank in total over
// its placements; a lone learner placement without `instances` gets
// learner.ranks of them. A placement with devices gives each of its ranks
// its own GPU (as many devices as instances); ranks > 1 without devices are
// threads of one process on learner.device: cpu, so they need one placement
// and that device.
//
// Device exclusivity: a GPU (node + index) belongs to at most one placement
// in the whole cluster, whatever the roles; instances of one placement share
// its devices round-robin.
//
// Thread safety: pure functions; source_map is a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "topology/config_loader.hpp"
#include "topology/topology.pb.h"

namespace tandem {

/// Field path -> 1-based position of its value in the file, e.g.
/// "cluster.groups[1].placements[0].node" -> {14, 15}.
class source_map {
public:
  struct pos {
    int line = 0;
    int column = 0;
  };

  void mark(const std::string& path, pos p) { marks_[path] = p; }
  bool present(const std::string& path) const { return marks_.count(path) > 0; }
  /// Position of `path`, else of the nearest enclosing field, else {0, 0}.
  pos where(const std::string& path) const;

  /// A field whose value failed to map; rules reading it stay silent so that
  /// one mistake is reported once.
  void mark_invalid(const std::string& path) { invalid_.insert(path); }
  /// True if `path` or an enclosing field failed to map.
  bool invalid(const std::string& path) const;
  /// True if `path` or any field inside it failed to map.
  bool invalid_within(const std::string& path) const;

private:
  std::map<std::string, pos> marks_;
  std::set<std::string> invalid_;
};

/// What the run's config asks of the learner's placement (load_run() passes
/// the config's values; the defaults are a single-rank learner).
struct learner_demand {
  int32_t ranks = 1;          // learner.ranks
  std::string device = "cpu"; // learner.device: where a placement without devices runs
};

/// Parent of a dotted/indexed path: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a".
std::string parent_path(const std::string& path);

/// Fills the absent fields with their defaults (see file comment).
void fill_defaults(topology::Cluster& cluster, const source_map& marks,
                   const learner_demand& learner = {});

/// All semantic issues of `cluster` (defaults already filled), located by
/// `marks`; `file` names the file in the issues.
std::vector<config_issue> check_cluster(const topology::Cluster& cluster,
                                        const source_map& marks,
                                        const std::string& file,
                                        const learner_demand& learner = {});

/// Lower-case YAML spelling of a role ("learner").
std::string role_name(topology::Role role);

/// True for 127.0.0.0/8, ::1 and localhost.
bool is_loopback(const std::string& host);

} // namespace tandem
