// wiring_test.cpp: `tandem plan FILE` and what `tandem run FILE` starts come
// from one resolution, for every run file shipped in configs/.
//
// For each file: the plan table (make_plan, what `tandem plan` prints) is
// reduced to instances per (process, role) and devices per (process, role);
// the head is then built the way `tandem run` builds it (make_head_settings
// + spawn_head, with fake backends) and each worker process the way
// `tandem worker --process P` resolves it; both must match the table, as
// must the controller's sampler count and the weights route.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "actors/sampler.hpp"
#include "tests/actors/graph_test_fixture.hpp"
#include "tests/actors/fakes.hpp"
#include "tasks/arithmetic_task.hpp"
#include "topology/cluster_checks.hpp"
#include "topology/plan.hpp"
#include "topology/run_loader.hpp"
#include "wiring/components.hpp"
#include "wiring/head.hpp"

namespace tandem::testing {
namespace {

namespace fs = std::filesystem;
using key = std::pair<std::string, std::string>; // process, role

std::vector<std::string> shipped_configs() {
  std::vector<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(std::string(TANDEM_SOURCE_DIR) + "/configs"))
    if (e.path().extension() == ".yaml")
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

/// Instances per (process, role) in the printed plan's rows.
std::map<key, int32_t> table_counts(const placement_plan& table) {
  std::map<key, int32_t> n;
  for (auto& r : table.rows)
    n[{r.process, r.role}] += r.instances;
  return n;
}

int32_t of(const std::map<key, int32_t>& counts, const std::string& process,
           const std::string& role) {
  auto it = counts.find({process, role});
  return it == counts.end() ? 0 : it->second;
}

/// The multiset of sampler devices per process in the table ("cpu" rows
/// stand for the config's device).
std::map<std::string, std::multiset<std::string>> table_sampler_devices(
  const placement_plan& table, const std::string& config_device) {
  std::map<std::string, std::multiset<std::string>> out;
  for (auto& r : table.rows)
    if (r.role == "sampler")
      for (int32_t i = 0; i < r.instances; ++i)
        out[r.process].insert(r.device == "cpu" ? config_device
                                                : "cuda:" + r.device.substr(4));
  return out;
}

struct Wiring : GraphTest {
  /// Builds the head as `tandem run` would, with fakes for the backends.
  head_graph start_head(const loaded_run& run) {
    auto settings = make_head_settings(run.config, run.plan);
    settings.detached = false; // the test coordinator runs every actor
    // A plug-in scorer (configs/reward/command.yaml) blocks on a program or
    // a server: its actor is tested in tests/actors/reward_plugin_test.cpp
    // and tests/tasks/; here the head gets the built-in rules instead.
    settings.reward_plugin = {};
    // The fakes train instantly, so the whole run happens inside run(): cap
    // it (a config with dynamic sampling and 20,000 steps is ~9M messages).
    settings.controller.steps = std::min(settings.controller.steps, 200);
    auto parts = graph_parts(std::make_shared<fake_training_backend>(), nullptr, spawn_probe());
    parts.spawn_sampler = [this](const placed_instance& inst) -> caf::expected<caf::actor> {
      started.push_back(inst);
      return spawn(sampler_actor, sampler_settings{inst.name, 2},
                   std::make_shared<fake_generation_backend>());
    };
    auto g = spawn_graph(settings, parts);
    run_messages();
    return g;
  }
  void run_messages() { run(); }
  std::vector<placed_instance> started;
};

TEST_F(Wiring, PlanAndRunAgreeForEveryShippedConfig) {
  auto files = shipped_configs();
  ASSERT_GE(files.size(), 8u) << "configs/ should ship the example run files";
  for (auto& file : files) {
    SCOPED_TRACE(file);
    auto run = load_run(file);
    ASSERT_TRUE(run.ok()) << run.issues.front().to_string();
    auto table = make_plan(run.cluster, run.config);
    auto want = table_counts(table);
    // The head, built as `tandem run` builds it.
    started.clear();
    auto g = start_head(run);
    EXPECT_EQ(int32_t(g.samplers.size()), of(want, "head", "sampler"));
    EXPECT_EQ(int32_t(started.size()), of(want, "head", "sampler"));
    EXPECT_EQ(int32_t(g.rewards.size()), of(want, "head", "reward"));
    EXPECT_EQ(of(want, "head", "learner"), 1);
    EXPECT_EQ(of(want, "head", "controller"), 1);
    auto settings = make_head_settings(run.config, run.plan);
    int32_t table_samplers = 0;
    for (auto& [k, n] : want)
      table_samplers += k.second == "sampler" ? n : 0;
    EXPECT_EQ(settings.controller.expected_samplers, table_samplers);
    EXPECT_EQ(run.plan.weights_over_nccl(),
              run.plan.declared && run.cluster.transports().weights() == "nccl");
    // Every other process, as `tandem worker --process P` resolves it.
    std::set<std::string> processes;
    for (auto& r : table.rows)
      processes.insert(r.process);
    for (auto& name : processes) {
      auto* p = run.plan.find(name);
      ASSERT_NE(p, nullptr) << name;
      EXPECT_EQ(int32_t(p->samplers.size()), of(want, name, "sampler")) << name;
      EXPECT_EQ(p->rewards, of(want, name, "reward")) << name;
    }
    // Devices: each sampler instance runs where the table puts it.
    auto devices = table_sampler_devices(table, run.config.sampler.device);
    for (auto& p : run.plan.processes) {
      std::multiset<std::string> got;
      for (auto& s : p.samplers)
        got.insert(s.device);
      EXPECT_EQ(got, devices[p.name]) << p.name;
    }
    // Worker processes started by `tandem run` (head's node) and `tandem
    // node` (the others) are exactly the table's non-head processes.
    std::set<std::string> launched;
    for (auto& n : run.cluster.nodes())
      for (auto* p : run.plan.workers_on(n.name()))
        launched.insert(p->name);
    processes.erase("head");
    EXPECT_EQ(launched, processes);
  }
}

TEST(ShortForm, IsSugarForAClusterSection) {
  run_config cfg;
  cfg.sampler.count = 3;
  cfg.sampler.processes = 2;
  cfg.sampler.threads = 2;
  cfg.reward.processes = 1;
  cfg.learner.threads = 4;
  cfg.sampler.device = "cuda:1";
  auto plan = resolve_processes(cfg, short_form_cluster(cfg));
  ASSERT_EQ(plan.processes.size(), 4u);
  EXPECT_EQ(plan.head().name, "head");
  EXPECT_EQ(plan.head().samplers.size(), 3u);
  EXPECT_EQ(plan.head().samplers[2].name, "sampler-2");
  EXPECT_EQ(plan.head().samplers[2].threads, 2);
  EXPECT_EQ(plan.head().samplers[2].device, "cuda:1"); // no placement devices: the config's
  EXPECT_EQ(plan.head().rewards, 0);
  EXPECT_EQ(plan.head().learner.threads, 4);
  EXPECT_EQ(plan.processes[1].name, "reward-p0");
  EXPECT_EQ(plan.processes[1].rewards, 1);
  EXPECT_EQ(plan.processes[2].name, "sampler-p0");
  EXPECT_EQ(plan.processes[2].samplers.at(0).name, "sampler-p0");
  EXPECT_EQ(plan.total(topology::SAMPLER), 5);
  EXPECT_EQ(plan.workers_on("local").size(), 3u);
}

TEST(ClusterPlacement, DevicesRoundRobinAndNamesWithinAProcess) {
  run_config cfg;
  topology::Cluster c = short_form_cluster(cfg);
  for (auto& g : *c.mutable_groups())
    if (g.role() == topology::SAMPLER) {
      g.clear_placements();
      auto* p = g.add_placements();
      p->set_node("local");
      p->set_process("rollout");
      p->set_instances(3);
      p->add_devices(4);
      p->add_devices(5);
    }
  auto plan = resolve_processes(cfg, c);
  auto* p = plan.find("rollout");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->samplers.size(), 3u);
  EXPECT_EQ(p->samplers[0].name, "rollout/sampler-0");
  EXPECT_EQ(p->samplers[0].device, "cuda:4");
  EXPECT_EQ(p->samplers[1].device, "cuda:5");
  EXPECT_EQ(p->samplers[2].device, "cuda:4");
}

TEST(RunLoader, OverridesAreCheckedAndNamed) {
  run_overrides o;
  o.steps = 0;
  o.target_reward = 2;
  auto r = with_overrides(run_config{}, o);
  ASSERT_EQ(r.issues.size(), 2u);
  EXPECT_EQ(r.issues[0].field, "--steps");
  EXPECT_EQ(r.issues[1].field, "--target-reward");
  o = {};
  o.steps = 7;
  o.output_dir = "runs/x";
  r = with_overrides(run_config{}, o);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.config.run.steps, 7);
  EXPECT_EQ(r.config.run.output_dir, "runs/x");
}

} // namespace
} // namespace tandem::testing
