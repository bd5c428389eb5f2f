// cluster_loader.hpp: the `cluster:` section of a run file -> topology::Cluster.
//
// The loader reads the WHOLE run file but looks only at its top-level
// `cluster:` key (the other sections belong to config_loader.hpp). The YAML
// is mapped onto topology.proto by reflection: keys are field names, scalars
// are type-checked (integer range, no fractions, true/false, enums by their
// lower-case name), lists fill repeated fields, mappings fill messages.
// Unknown keys (with a did-you-mean), duplicate keys and wrong types are
// reported as FILE:LINE:COL: cluster.groups[1].placements[0].node: message;
// then fill_defaults() and check_cluster() (cluster_checks.hpp) run, and all
// issues of the file are collected in document order.
//
// No `cluster:` key: `declared` is false and the cluster is empty; the run
// file's short form stands for the layout (short_form_cluster() in
// process_plan.hpp; load_run() in run_loader.hpp does this for callers).
//
// Thread safety: pure functions (parse_cluster_file reads the file).
#pragma once

#include <string>
#include <vector>

#include "topology/cluster_checks.hpp"
#include "topology/config_loader.hpp"
#include "topology/topology.pb.h"

namespace tandem {

struct cluster_result {
  topology::Cluster cluster;        // defaults filled; meaningful when ok()
  std::vector<config_issue> issues; // empty = valid
  bool declared = false;            // the file has a cluster: section
  source_map marks;                 // where each written field sits
  bool ok() const { return issues.empty(); }
};

/// Loads the `cluster:` section of the run file at `path`.
/// `learner` carries the config's learner.ranks and learner.device (the
/// learner placement rules of cluster_checks.hpp).
cluster_result parse_cluster_file(const std::string& path, const learner_demand& learner = {});

/// Same, from the text of a whole run file; `name` is the file name in issues.
cluster_result parse_cluster_text(const std::string& text, const std::string& name,
                                  const learner_demand& learner = {});

} // namespace tandem
