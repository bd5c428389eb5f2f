// run_loader.cpp: config + cluster + overrides + plan, in that order.
#include "topology/run_loader.hpp"

#include "topology/cluster_loader.hpp"
#include "topology/plan.hpp"

namespace tandem {

namespace {

void issue(config_result& r, const std::string& origin, const std::string& field,
           const std::string& message) {
  r.issues.push_back(config_issue{origin, 0, 0, field, message});
}

/// A device whose estimate exceeds its node's gpu_memory_mb (plan.hpp) is
/// an issue at that field.
void add_memory_issues(loaded_run& out, const source_map& marks, const std::string& path) {
  const auto plan = make_plan(out.cluster, out.config);
  for (const auto& d : plan.devices) {
    if (!d.over())
      continue;
    std::string field = "cluster.nodes";
    for (int n = 0; n < out.cluster.nodes_size(); ++n)
      if (out.cluster.nodes(n).name() == d.node)
        field = "cluster.nodes[" + std::to_string(n) + "].gpu_memory_mb";
    auto p = marks.where(field);
    out.issues.push_back(config_issue{path, p.line, p.column, field, refusal_message(d)});
  }
}

} // namespace

config_result with_overrides(run_config cfg, const run_overrides& o, const std::string& origin) {
  config_result r;
  if (o.steps && *o.steps < 1)
    issue(r, origin, "--steps", "must be >= 1 (got " + std::to_string(*o.steps) + ")");
  if (o.target_reward && (*o.target_reward < 0 || *o.target_reward > 1))
    issue(r, origin, "--target-reward", "must be in [0, 1]");
  if (o.max_staleness && *o.max_staleness < 0)
    issue(r, origin, "run.max_staleness", "must be >= 0");
  if (o.learning_rate && !(*o.learning_rate > 0))
    issue(r, origin, "learner.lr", "must be > 0");
  if (o.max_head_restarts && *o.max_head_restarts < 0)
    issue(r, origin, "--max-head-restarts", "must be >= 0");
  if (o.output_dir && o.output_dir->empty())
    issue(r, origin, "--output", "must not be empty");
  if (o.steps)
    cfg.run.steps = *o.steps;
  if (o.output_dir)
    cfg.run.output_dir = *o.output_dir;
  if (o.target_reward)
    cfg.run.target_reward = *o.target_reward;
  if (o.max_staleness)
    cfg.run.max_staleness = *o.max_staleness;
  if (o.learning_rate)
    cfg.learner.optimizer.lr = *o.learning_rate;
  if (o.max_head_restarts)
    cfg.run.max_head_restarts = *o.max_head_restarts;
  r.config = std::move(cfg);
  return r;
}

loaded_run load_run(const std::string& path, const run_overrides& overrides) {
  loaded_run out;
  auto r = load_run_config(path);
  if (!r.ok()) { // the cluster loader would repeat the file's syntax errors
    out.issues = std::move(r.issues);
    return out;
  }
  auto c = parse_cluster_file(path, learner_demand{r.config.learner.ranks,
                                                   r.config.learner.device});
  auto o = with_overrides(std::move(r.config), overrides);
  out.issues = std::move(c.issues);
  out.issues.insert(out.issues.end(), o.issues.begin(), o.issues.end());
  if (!out.ok())
    return out;
  out.config = std::move(o.config);
  out.cluster = c.declared ? std::move(c.cluster) : short_form_cluster(out.config);
  out.plan = resolve_processes(out.config, out.cluster);
  out.plan.declared = c.declared;
  out.resolved = true;
  add_memory_issues(out, c.marks, path);
  return out;
}

} // namespace tandem
