// cluster_test: the `cluster:` section -> topology::Cluster (reflection
// mapping, defaults, semantic checks) and the placement plan.
//
// The corpus tests/data/topologies/bad_*.yaml holds one mistake per file; its
// first line says what must be reported:
//   # expect: FIELD.PATH line N: MESSAGE-SUBSTRING
#include "topology/cluster_loader.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tasks/tokenizer.hpp"
#include "topology/cluster_checks.hpp"
#include "topology/config_loader.hpp"
#include "topology/plan.hpp"
#include "topology/process_plan.hpp"

namespace fs = std::filesystem;
using namespace tandem;

namespace {

const std::string corpus_dir = std::string(TANDEM_TEST_DATA_DIR) + "/topologies";
const std::string source_dir = TANDEM_SOURCE_DIR;

std::string all_issues(const std::vector<config_issue>& issues) {
  std::string out;
  for (const auto& i : issues)
    out += i.to_string() + "\n";
  return out;
}

std::vector<std::string> corpus(const std::string& prefix) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(corpus_dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".yaml")
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct expectation {
  std::string field;
  int line = 0;
  std::string message;
};

bool read_expectation(const std::string& path, expectation& out) {
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  static const std::regex re(R"(^# expect: (\S+) line (\d+): (.+)$)");
  std::smatch m;
  if (!std::regex_match(first, m, re))
    return false;
  out = {m[1], std::stoi(m[2]), m[3]};
  return true;
}

const std::string base_cluster = R"(cluster:
  nodes:
    - name: n1
      host: 127.0.0.1
  groups:
    - role: controller
      placements: [{node: n1}]
    - role: learner
      placements: [{node: n1}]
    - role: broadcaster
      placements: [{node: n1}]
    - role: reward
      placements: [{node: n1}]
    - role: sampler
      placements: [{node: n1}]
)";

run_config small_run() {
  run_config cfg; // defaults: h 64, L 2, heads 4, kv 2, ffn 176, seq 64
  cfg.model.vocab_size = 100;
  return cfg;
}

} // namespace

// --- corpus --------------------------------------------------------------------

TEST(ClusterCorpus, EveryBadFileReportsExactlyItsOneMistake) {
  auto files = corpus("bad_");
  ASSERT_GE(files.size(), 12u) << "corpus missing from " << corpus_dir;
  for (const auto& file : files) {
    SCOPED_TRACE(file);
    expectation want;
    ASSERT_TRUE(read_expectation(file, want)) << "first line lacks '# expect: ...'";
    auto r = parse_cluster_file(file);
    ASSERT_EQ(r.issues.size(), 1u) << all_issues(r.issues);
    const auto& got = r.issues[0];
    EXPECT_EQ(got.file, file);
    EXPECT_EQ(got.field, want.field) << got.to_string();
    EXPECT_EQ(got.line, want.line) << got.to_string();
    EXPECT_GT(got.column, 0) << got.to_string();
    EXPECT_NE(got.message.find(want.message), std::string::npos) << got.to_string();
  }
}

TEST(ClusterCorpus, GoodFilesLoadClean) {
  auto files = corpus("good_");
  ASSERT_GE(files.size(), 2u);
  for (const auto& file : files) {
    auto r = parse_cluster_file(file);
    EXPECT_TRUE(r.ok()) << file << "\n" << all_issues(r.issues);
  }
}

TEST(ClusterCorpus, ExampleConfigsLoadCleanAndKeepTheirRunSectionsValid) {
  for (const char* rel : {"/configs/local-3proc/run.yaml", "/configs/two-node/run.yaml"}) {
    std::string path = source_dir + rel;
    auto r = parse_cluster_file(path);
    EXPECT_TRUE(r.ok()) << path << "\n" << all_issues(r.issues);
    // Until the run loader skips `cluster:`, its only complaint may be that key.
    auto run = load_run_config(path);
    for (const auto& i : run.issues)
      EXPECT_EQ(i.field, "cluster") << i.to_string();
    EXPECT_LE(run.issues.size(), 1u);
  }
}

// --- mapping and defaults -------------------------------------------------------

TEST(ClusterLoader, MissingClusterKeyLeavesTheLayoutToTheShortForm) {
  auto r = parse_cluster_text("run:\n  steps: 3\n", "run.yaml");
  ASSERT_TRUE(r.ok()) << all_issues(r.issues);
  EXPECT_FALSE(r.declared);
  // The short form's cluster: one machine, everything on it, and it passes
  // the same checks as a written cluster: section.
  run_config cfg;
  cfg.sampler.count = 2;
  cfg.sampler.processes = 1;
  cfg.reward.processes = 1;
  auto c = short_form_cluster(cfg);
  ASSERT_EQ(c.nodes_size(), 1);
  EXPECT_EQ(c.nodes(0).name(), "local");
  EXPECT_EQ(c.nodes(0).host(), "127.0.0.1");
  EXPECT_EQ(c.nodes(0).gpus(), 0);
  EXPECT_EQ(c.head().node(), "local");
  ASSERT_EQ(c.groups_size(), 5);
  for (const auto& g : c.groups())
    for (const auto& p : g.placements())
      EXPECT_EQ(p.node(), "local");
  source_map marks;
  EXPECT_TRUE(check_cluster(c, marks, "x").empty());
}

TEST(ClusterLoader, AbsentFieldsTakeTheirDocumentedDefaults) {
  auto r = parse_cluster_file(corpus_dir + "/good_minimal.yaml");
  ASSERT_TRUE(r.ok()) << all_issues(r.issues);
  const auto& c = r.cluster;
  EXPECT_EQ(c.name(), "cluster");
  EXPECT_EQ(c.head().node(), "box");
  EXPECT_EQ(c.head().control_port(), 0); // ephemeral
  EXPECT_EQ(c.transports().rollouts(), "caf");
  EXPECT_EQ(c.transports().weights(), "caf");
  for (const auto& g : c.groups()) {
    EXPECT_EQ(g.name(), role_name(g.role()));
    const auto& p = g.placements(0);
    EXPECT_EQ(p.instances(), g.role() == topology::SAMPLER ? 3 : 1);
    EXPECT_EQ(p.threads(), 1);
    EXPECT_EQ(p.process(), "head");
  }
}

TEST(ClusterLoader, PlacementsOffTheHeadNodeDefaultToAWorkerProcessPerNode) {
  auto r = parse_cluster_file(corpus_dir + "/good_gpu_cluster.yaml");
  ASSERT_TRUE(r.ok()) << all_issues(r.issues);
  EXPECT_EQ(r.cluster.groups(4).placements(0).process(), "worker-rollout");
  EXPECT_EQ(r.cluster.groups(3).placements(0).process(), "scoring");
  EXPECT_EQ(r.cluster.groups(1).placements(0).threads(), 8);
}

TEST(ClusterLoader, AllIssuesOfAFileAreCollectedInDocumentOrder) {
  std::string text = base_cluster;
  text.replace(text.find("host: 127.0.0.1"), 15, "hots: 127.0.0.1");      // line 4
  text.replace(text.find("role: reward"), 12, "role: rewards");          // line 12
  text += "  transports:\n    weights: carrier-pigeon\n";                 // line 17
  auto r = parse_cluster_text(text, "t.yaml");
  ASSERT_EQ(r.issues.size(), 3u) << all_issues(r.issues);
  EXPECT_EQ(r.issues[0].field, "cluster.nodes[0].hots");
  EXPECT_EQ(r.issues[0].line, 4);
  EXPECT_EQ(r.issues[1].field, "cluster.groups[3].role");
  EXPECT_EQ(r.issues[1].line, 12);
  EXPECT_EQ(r.issues[2].field, "cluster.transports.weights");
  EXPECT_EQ(r.issues[2].line, 17);
}

TEST(ClusterLoader, FieldMissingForAnotherReasonIsReportedAtItsParent) {
  std::string text = base_cluster;
  text.replace(text.find("host: 127.0.0.1"), 15, "gpus: 0");
  auto r = parse_cluster_text(text, "t.yaml");
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r.issues);
  EXPECT_EQ(r.issues[0].field, "cluster.nodes[0].host");
  EXPECT_EQ(r.issues[0].line, 3); // the node's entry: the host has no line
  EXPECT_NE(r.issues[0].message.find("needs a host"), std::string::npos);
}

TEST(ClusterLoader, IssueReadsFileLineColumnFieldMessage) {
  std::string text = base_cluster;
  text.replace(text.find("host: 127.0.0.1"), 15, "host: [1, 2]");
  auto r = parse_cluster_text(text, "t.yaml");
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r.issues);
  EXPECT_EQ(r.issues[0].to_string(),
            "t.yaml:4:7: cluster.nodes[0].host: expected a string, got a list");
}

TEST(ClusterLoader, EnumsAreWrittenInLowerCaseOnly) {
  for (const char* bad : {"LEARNER", "role_unspecified", "Learner"}) {
    std::string text = base_cluster;
    text.replace(text.find("role: learner"), 13, std::string("role: ") + bad);
    auto r = parse_cluster_text(text, "t.yaml");
    ASSERT_EQ(r.issues.size(), 1u) << bad << "\n" << all_issues(r.issues);
    EXPECT_EQ(r.issues[0].field, "cluster.groups[1].role");
    EXPECT_EQ(r.issues[0].line, 8);
  }
}

TEST(ClusterLoader, NegativeAndOversizedIntegersAreRangeChecked) {
  std::string text = base_cluster;
  text.replace(text.find("host: 127.0.0.1"), 15,
               "host: 127.0.0.1\n      gpu_memory_mb: 99999999999999999999");
  auto r = parse_cluster_text(text, "t.yaml");
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r.issues);
  EXPECT_EQ(r.issues[0].field, "cluster.nodes[0].gpu_memory_mb");
  EXPECT_NE(r.issues[0].message.find("out of range"), std::string::npos);
}

TEST(ClusterLoader, SyntaxErrorIsReportedWithItsPosition) {
  auto r = parse_cluster_text("cluster:\n  nodes: [a, b\n", "t.yaml");
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r.issues);
  EXPECT_NE(r.issues[0].message.find("YAML syntax error"), std::string::npos);
  EXPECT_GT(r.issues[0].line, 0);
}

TEST(ClusterLoader, ClusterKeyWrittenTwiceIsReported) {
  auto r = parse_cluster_text(base_cluster + "cluster:\n  name: again\n", "t.yaml");
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r.issues);
  EXPECT_EQ(r.issues[0].field, "cluster");
  EXPECT_EQ(r.issues[0].line, 16);
}

TEST(ClusterLoader, EmptyClusterKeyIsAnErrorNotTheDefault) {
  auto r = parse_cluster_text("cluster:\n", "t.yaml");
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r.issues);
  EXPECT_EQ(r.issues[0].field, "cluster");
}

TEST(ClusterLoader, UnreadableFileIsOneIssue) {
  auto r = parse_cluster_file(corpus_dir + "/does_not_exist.yaml");
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].message, "cannot open file");
}

// --- plan ----------------------------------------------------------------------

TEST(ClusterPlan, ParameterCountMatchesAHandCount) {
  auto m = small_run().model;
  // per layer: q,o 2*64*64 + k,v 2*64*32 + MLP 3*64*176 + norms 2*64 = 46208
  EXPECT_EQ(parameter_count(m), 100 * 64 + 2 * 46208 + 64 + 100 * 64);
  m.tie_embeddings = true;
  EXPECT_EQ(parameter_count(m), 100 * 64 + 2 * 46208 + 64);
  m.vocab_size = 0; // taken from the character tokenizer
  EXPECT_EQ(parameter_count(m),
            int64_t(char_tokenizer{}.vocab_size()) * 64 + 2 * 46208 + 64);
}

// The memory model's formulas are checked in plan_test.cpp.

TEST(ClusterPlan, InstancesSpreadRoundRobinOverTheirDevices) {
  auto r = parse_cluster_file(corpus_dir + "/good_gpu_cluster.yaml");
  ASSERT_TRUE(r.ok()) << all_issues(r.issues);
  auto plan = make_plan(r.cluster, small_run());
  std::vector<int> fast;
  for (const auto& row : plan.rows)
    if (row.group == "fast")
      fast.push_back(row.instances);
  EXPECT_EQ(fast, (std::vector<int>{2, 2, 1, 1}));
  ASSERT_EQ(plan.devices.size(), 6u); // trainer gpu:0,1 + rollout gpu:0..3
  EXPECT_EQ(plan.devices[0].bytes, plan.memory.learner());
  EXPECT_TRUE(plan.warnings.empty()) << format_plan(plan);
}

TEST(ClusterPlan, RefusesADeviceWhoseEstimateExceedsItsMemory) {
  auto r = parse_cluster_file(corpus_dir + "/good_gpu_cluster.yaml");
  ASSERT_TRUE(r.ok());
  r.cluster.mutable_nodes(1)->set_gpu_memory_mb(1); // 1 MiB per GPU
  auto plan = make_plan(r.cluster, small_run());
  EXPECT_TRUE(plan.warnings.empty()) << format_plan(plan);
  auto refused = plan.refusals();
  ASSERT_EQ(refused.size(), 4u) << format_plan(plan);
  EXPECT_NE(refused[0].find("sampler group 'fast' (2 instances) on node rollout gpu:0 needs"),
            std::string::npos)
    << refused[0];
  EXPECT_NE(refused[0].find("> gpu_memory_mb 1 (1.0 MiB)"), std::string::npos) << refused[0];
  EXPECT_NE(format_plan(plan).find("error: sampler group 'fast'"), std::string::npos);
}

TEST(ClusterPlan, WarnsWhenPlacementsAskForMoreThreadsThanTheNodeHas) {
  auto r = parse_cluster_file(corpus_dir + "/good_gpu_cluster.yaml");
  ASSERT_TRUE(r.ok());
  r.cluster.mutable_nodes(0)->set_cpu_threads(4); // learner alone asks for 8
  auto plan = make_plan(r.cluster, small_run());
  ASSERT_EQ(plan.warnings.size(), 1u) << format_plan(plan);
  EXPECT_NE(plan.warnings[0].find("cpu_threads is 4"), std::string::npos);
}

TEST(ClusterPlan, FormattedTableAlignsItsColumns) {
  auto r = parse_cluster_file(corpus_dir + "/good_gpu_cluster.yaml");
  ASSERT_TRUE(r.ok());
  auto plan = make_plan(r.cluster, small_run());
  std::string text = format_plan(plan);
  std::istringstream in(text);
  std::string line;
  std::getline(in, line); // "cluster gpu"
  EXPECT_EQ(line, "cluster gpu");
  std::getline(in, line);
  const auto col = line.find("role");
  ASSERT_NE(col, std::string::npos);
  for (size_t i = 0; i < plan.rows.size(); ++i) {
    std::getline(in, line);
    EXPECT_EQ(line.substr(col, plan.rows[i].role.size()), plan.rows[i].role) << line;
  }
}
