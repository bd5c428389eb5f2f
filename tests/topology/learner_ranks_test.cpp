// learner_ranks_test: learner.ranks / zero_stage / grad_bucket_mb in the run
// file (topology/internal/learner_checks.hpp) and the learner's placement
// against its ranks (cluster_checks.hpp), each mistake at FILE:LINE:COL.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "topology/config_loader.hpp"
#include "topology/plan.hpp"
#include "topology/process_plan.hpp"
#include "topology/run_loader.hpp"
#include "tests/runtime/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace tandem;

namespace {

std::string all_issues(const std::vector<config_issue>& issues) {
  std::string out;
  for (const auto& i : issues)
    out += i.to_string() + "\n";
  return out;
}

void expect_single(const std::vector<config_issue>& issues, const std::string& field,
                   const std::string& text, int line) {
  ASSERT_EQ(issues.size(), 1u) << all_issues(issues);
  const auto& i = issues[0];
  EXPECT_EQ(i.field, field) << i.to_string();
  EXPECT_NE(i.message.find(text), std::string::npos) << i.to_string();
  EXPECT_EQ(i.line, line) << i.to_string();
  EXPECT_GT(i.column, 0) << i.to_string();
}

config_result parse(const std::string& text) { return parse_run_config(text, "test.yaml"); }

// Line 1 is "learner:"; `placement` is the learner group's placement.
std::string with_cluster(const std::string& learner, const std::string& placement,
                         int gpus = 4) {
  return "learner:\n" + learner
         + "cluster:\n  nodes:\n    - name: box\n      host: 127.0.0.1\n      gpus: "
         + std::to_string(gpus)
         + "\n  groups:\n    - role: controller\n      placements: [{node: box}]\n"
           "    - role: learner\n      placements:\n" + placement
         + "    - role: broadcaster\n      placements: [{node: box}]\n"
           "    - role: reward\n      placements: [{node: box}]\n"
           "    - role: sampler\n      placements: [{node: box}]\n";
}

class RunFiles : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path()
           / ("tandem_ranks_test_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { tandem::test::remove_tree(dir_); }
  loaded_run load(const std::string& text) {
    auto p = (dir_ / "run.yaml").string();
    std::ofstream(p) << text;
    return load_run(p);
  }
  fs::path dir_;
};

} // namespace

// --- the keys ------------------------------------------------------------------

TEST(LearnerRanksConfig, DefaultsAreOneRankStageZeroAnd25MiBBuckets) {
  auto r = parse("run:\n  steps: 3\n");
  ASSERT_TRUE(r.ok()) << all_issues(r.issues);
  EXPECT_EQ(r.config.learner.ranks, 1);
  EXPECT_EQ(r.config.learner.zero_stage, 0);
  EXPECT_EQ(r.config.learner.grad_bucket_mb, 25);
  auto two = parse("learner:\n  ranks: 2\n  zero_stage: 2\n  grad_bucket_mb: 50\n");
  ASSERT_TRUE(two.ok()) << all_issues(two.issues);
  EXPECT_EQ(two.config.learner.ranks, 2);
  EXPECT_EQ(two.config.learner.zero_stage, 2);
  EXPECT_EQ(two.config.learner.grad_bucket_mb, 50);
}

TEST(LearnerRanksConfig, OutOfRangeValuesAreRefusedAtTheirField) {
  expect_single(parse("learner:\n  ranks: 0\n").issues, "learner.ranks", "must be >= 1", 2);
  expect_single(parse("learner:\n  ranks: 2\n  zero_stage: 3\n").issues, "learner.zero_stage",
                "must be 0, 1", 3);
  expect_single(parse("learner:\n  ranks: 2\n  grad_bucket_mb: 0\n").issues,
                "learner.grad_bucket_mb", "must be in 1..4096", 3);
}

TEST(LearnerRanksConfig, ShardingAndBucketsWithOneRankHaveNoEffect) {
  expect_single(parse("learner:\n  zero_stage: 1\n").issues, "learner.zero_stage",
                "has no effect with learner.ranks: 1", 2);
  expect_single(parse("learner:\n  grad_bucket_mb: 10\n").issues, "learner.grad_bucket_mb",
                "has no effect with learner.ranks: 1", 2);
  EXPECT_TRUE(parse("learner:\n  zero_stage: 0\n").ok()); // explicitly off
}

TEST(LearnerRanksConfig, EveryRankNeedsARowOfEachMiniBatch) {
  // 4 groups x 2 = 8 sequences in 2 mini-batches: 4 per mini-batch.
  auto r = parse("run:\n  groups_per_step: 4\n  group_size: 2\nlearner:\n  mini_batches: 2\n"
                 "  ranks: 5\n");
  expect_single(r.issues, "learner.ranks", "must be <= the sequences of one mini-batch", 6);
  EXPECT_NE(r.issues[0].message.find("= 4 (got 5)"), std::string::npos);
}

TEST(LearnerRanksConfig, ShortFormRanksOnAGpuNeedAClusterSection) {
  expect_single(parse("learner:\n  device: cuda\n  ranks: 2\n").issues, "learner.ranks",
                "each rank needs its own GPU, which only a cluster: section names", 3);
}

// --- against the placement -------------------------------------------------------

TEST_F(RunFiles, ShortFormCpuRanksAreInstancesOfTheHeadProcess) {
  auto run = load("learner:\n  ranks: 2\n");
  ASSERT_TRUE(run.ok()) << all_issues(run.issues);
  EXPECT_EQ(run.plan.head().count(topology::LEARNER), 2);
}

TEST_F(RunFiles, TwoRanksOnOneDeviceAreRefusedAtTheDevices) {
  auto run = load(with_cluster("  device: cuda\n  ranks: 2\n",
                               "        - node: box\n          devices: [0]\n"));
  expect_single(run.issues, "cluster.groups[1].placements[0].devices",
                "2 learner ranks on 1 device(s): each rank needs its own GPU", 15);
}

TEST_F(RunFiles, LearnerInstancesMustMatchTheRanks) {
  auto run = load(with_cluster("  device: cuda\n  ranks: 2\n",
                               "        - node: box\n          devices: [0]\n"
                               "          instances: 1\n"));
  expect_single(run.issues, "cluster.groups[1].placements[0].instances",
                "has 1 learner instance(s) but learner.ranks is 2", 16);
}

TEST_F(RunFiles, GpuRanksWithoutDevicesAreRefused) {
  auto run = load(with_cluster("  device: cuda\n  ranks: 2\n", "        - node: box\n"));
  expect_single(run.issues, "cluster.groups[1].placements[0]",
                "learner ranks without devices run on learner.device cuda", 14);
}

// CPU ranks may live in several processes: the head's come first (rank 0),
// the others are numbered on in plan order.
TEST_F(RunFiles, CpuRanksInTwoProcessesAreNumberedFromTheHead) {
  auto run = load(with_cluster("  ranks: 3\n", "        - node: box\n"
                                               "          process: other\n"
                                               "          instances: 2\n"
                                               "        - node: box\n"));
  ASSERT_TRUE(run.ok()) << all_issues(run.issues);
  const auto& head = run.plan.head();
  ASSERT_EQ(head.learner_ranks.size(), 1u);
  EXPECT_EQ(head.first_learner_rank, 0);
  EXPECT_EQ(head.learner.name, "learner");
  const auto* other = run.plan.find("other");
  ASSERT_NE(other, nullptr);
  ASSERT_EQ(other->learner_ranks.size(), 2u);
  EXPECT_EQ(other->first_learner_rank, 1);
  EXPECT_EQ(other->learner_ranks[0].name, "learner-1");
  EXPECT_EQ(other->learner_ranks[1].name, "learner-2");
  EXPECT_EQ(other->learner_ranks[1].device, "cpu");
  const auto text = describe_processes(run.plan);
  EXPECT_NE(text.find("tandem worker --process other: learner ranks 1..2 [cpu cpu"),
            std::string::npos)
    << text;
}

TEST_F(RunFiles, RanksWithNoneInTheHeadAreRefusedAtTheProcess) {
  auto run = load(with_cluster("  ranks: 2\n", "        - node: box\n"
                                               "          process: a\n"
                                               "        - node: box\n"
                                               "          process: b\n"));
  expect_single(run.issues, "cluster.groups[1].placements[0].process",
                "the head process holds learner rank 0", 14);
}

TEST_F(RunFiles, GpuRanksInTwoProcessesEachGetTheirGpu) {
  auto run = load(with_cluster("  device: cuda\n  ranks: 2\n",
                               "        - node: box\n          devices: [0]\n"
                               "        - node: box\n          process: other\n"
                               "          devices: [1]\n"));
  ASSERT_TRUE(run.ok()) << all_issues(run.issues);
  EXPECT_EQ(run.plan.head().learner.device, "cuda:0");
  ASSERT_NE(run.plan.find("other"), nullptr);
  EXPECT_EQ(run.plan.find("other")->learner_ranks.at(0).device, "cuda:1");
}

TEST_F(RunFiles, RanksMixingCpuAndGpusAreRefused) {
  auto run = load(with_cluster("  ranks: 2\n",
                               "        - node: box\n          devices: [0]\n"
                               "        - node: box\n          process: other\n"));
  expect_single(run.issues, "cluster.groups[1]", "all on the CPU or each on a GPU", 11);
}

TEST_F(RunFiles, TwoRanksOnTwoGpusEachGetTheirOwnDevice) {
  auto run = load(with_cluster("  device: cuda\n  ranks: 2\n  zero_stage: 1\n",
                               "        - node: box\n          devices: [0, 1]\n"));
  ASSERT_TRUE(run.ok()) << all_issues(run.issues);
  EXPECT_EQ(run.plan.head().count(topology::LEARNER), 2);
  auto plan = make_plan(run.cluster, run.config);
  ASSERT_GE(plan.devices.size(), 2u);
  EXPECT_EQ(plan.devices[0].holder, "learner rank 0");
  EXPECT_EQ(plan.devices[1].holder, "learner rank 1");
}
