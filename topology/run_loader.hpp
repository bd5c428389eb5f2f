// run_loader.hpp: one run file -> everything a command needs, checked once:
// the run_config, the cluster (declared, or the short form's), and the
// resolved process plan (process_plan.hpp). Command-line overrides are
// applied here, inside topology/, and checked like the file's own values, so
// components downstream never write the configuration.
//
// Thread safety: pure functions (load_run reads the file).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "topology/config_loader.hpp"
#include "topology/process_plan.hpp"
#include "topology/topology.pb.h"

namespace tandem {

/// Values a command line or a benchmark replaces; absent = the file's.
struct run_overrides {
  std::optional<int32_t> steps;         // --steps (>= 1)
  std::optional<std::string> output_dir; // --output
  std::optional<double> target_reward;  // --target-reward (0..1)
  std::optional<int32_t> max_staleness; // benches: sync (0) vs async
  std::optional<double> learning_rate;  // benches: a frozen policy (> 0)
  std::optional<int32_t> max_head_restarts; // --max-head-restarts (tandem chaos)
};

struct loaded_run {
  run_config config;
  topology::Cluster cluster; // the declared cluster, or short_form_cluster(config)
  run_plan plan;             // resolve_processes(config, cluster)
  std::vector<config_issue> issues; // empty = valid (every issue of the file)
  // config, cluster and plan are meaningful: the only issues are GPUs whose
  // memory estimate exceeds gpu_memory_mb (`tandem plan` still shows why).
  bool resolved = false;
  bool ok() const { return issues.empty(); }
};

/// Loads, checks and resolves the run file at `path`; last, every GPU of the
/// plan whose estimate (plan.hpp) exceeds its node's gpu_memory_mb is an
/// issue at that field, so every command refuses a placement that cannot fit.
loaded_run load_run(const std::string& path, const run_overrides& overrides = {});

/// `cfg` with `overrides` applied, or the issues they raise (field = the
/// override's name, file = `origin`).
config_result with_overrides(run_config cfg, const run_overrides& overrides,
                             const std::string& origin = "command line");

} // namespace tandem
