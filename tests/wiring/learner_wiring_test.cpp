// learner_wiring_test.cpp: how `tandem run` finds and connects the learner's
// data-parallel ranks: the plan lists every rank of the head with its
// device; the collectives are one thread group on the CPU and refuse mixed
// or shared devices; make_trainer refuses a rank count the process does not
// hold.
#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "topology/process_plan.hpp"
#include "wiring/components.hpp"
#include "wiring/nccl_endpoints.hpp"

namespace tandem {
namespace {

nccl::time_point soon() {
  return nccl::clock_type::now() + std::chrono::seconds(10);
}

TEST(LearnerWiring, PlanListsEveryRankOfTheHeadWithItsDevice) {
  run_config cfg;
  cfg.learner.ranks = 3;
  cfg.learner.threads = 2;
  auto plan = resolve_processes(cfg, short_form_cluster(cfg));
  const auto& ranks = plan.head().learner_ranks;
  ASSERT_EQ(ranks.size(), 3u);
  EXPECT_EQ(ranks[0].name, "learner");
  EXPECT_EQ(ranks[2].name, "learner-2");
  EXPECT_EQ(ranks[1].device, "cpu");
  EXPECT_EQ(ranks[1].threads, 2);
  EXPECT_EQ(plan.head().learner.name, "learner");
}

TEST(LearnerWiring, PlacementDevicesGiveEachRankItsGpu) {
  run_config cfg;
  cfg.learner.ranks = 2;
  topology::Cluster c = short_form_cluster(cfg);
  for (auto& g : *c.mutable_groups())
    if (g.role() == topology::LEARNER) {
      g.mutable_placements(0)->add_devices(2);
      g.mutable_placements(0)->add_devices(3);
    }
  auto plan = resolve_processes(cfg, c);
  const auto& ranks = plan.head().learner_ranks;
  ASSERT_EQ(ranks.size(), 2u);
  EXPECT_EQ(ranks[0].device, "cuda:2");
  EXPECT_EQ(ranks[1].device, "cuda:3");
  EXPECT_EQ(plan.head().learner.device, "cuda:2"); // rank 0 publishes the weights
}

TEST(LearnerWiring, CpuRanksShareOneThreadGroup) {
  auto comms = make_learner_collectives({"cpu", "cpu", "cpu"}, soon());
  ASSERT_TRUE(comms) << describe(comms.error());
  ASSERT_EQ(comms->size(), 3u);
  for (int r = 0; r < 3; ++r) {
    EXPECT_TRUE((*comms)[r]->ready());
    EXPECT_EQ((*comms)[r]->rank(), r);
    EXPECT_EQ((*comms)[r]->ranks(), 3);
    EXPECT_FALSE((*comms)[r]->device_memory());
  }
}

TEST(LearnerWiring, MixedOrSharedDevicesAreRefused) {
  auto mixed = make_learner_collectives({"cpu", "cuda:0"}, soon());
  ASSERT_FALSE(mixed);
  EXPECT_TRUE(is(mixed.error(), errc::invalid_config));
  EXPECT_NE(describe(mixed.error()).find("learner rank 0 is on 'cpu'"), std::string::npos)
    << describe(mixed.error());
  auto shared = make_learner_collectives({"cuda:1", "cuda:1"}, soon());
  ASSERT_FALSE(shared);
  EXPECT_TRUE(is(shared.error(), errc::invalid_config));
  EXPECT_NE(describe(shared.error()).find("both on GPU 1"), std::string::npos)
    << describe(shared.error());
}

TEST(LearnerWiring, TrainerRefusesRanksOutsideThisProcess) {
  run_config cfg;
  cfg.learner.ranks = 2;
  auto be = make_trainer(cfg, std::vector<placed_instance>{{"learner", "cpu", 1}});
  ASSERT_FALSE(be);
  EXPECT_TRUE(is(be.error(), errc::invalid_config));
  EXPECT_NE(describe(be.error()).find("learner.ranks is 2 but this process holds 1"),
            std::string::npos)
    << describe(be.error());
}

} // namespace
} // namespace tandem
