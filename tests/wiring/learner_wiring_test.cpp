// learner_wiring_test.cpp: how `tandem run` finds and connects the learner's
// data-parallel ranks: the plan lists every rank of the head with its
// device; the collectives are one thread group on the CPU and refuse mixed
// or shared devices; make_trainer refuses a rank count the process does not
// hold; a plan with ranks in a worker process gets a context for their
// socket collective and a head learner whose missing rank is named by the
// deadline.
#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "runtime/error.hpp"
#include "topology/process_plan.hpp"
#include "wiring/actor_system.hpp"
#include "wiring/components.hpp"
#include "wiring/data_plane.hpp"
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

// Rank 0 in the head, rank 1 in the worker process "rank-1".
run_plan spread_plan(const run_config& cfg) {
  topology::Cluster c = short_form_cluster(cfg);
  for (auto& g : *c.mutable_groups())
    if (g.role() == topology::LEARNER) {
      g.mutable_placements(0)->set_instances(1);
      auto* p = g.add_placements();
      p->set_node("local");
      p->set_process("rank-1");
      p->set_instances(1);
    }
  return resolve_processes(cfg, c);
}

TEST(LearnerWiring, RanksInAWorkerGetASocketCollectiveAndAreNamedWhenMissing) {
  run_config cfg;
  cfg.learner.ranks = 2;
  cfg.timeouts.train_s = 30;    // rank 0's collective would wait 10 s
  cfg.timeouts.connect_s = 0.2; // rank 1's proxy waits for it to join
  auto plan = spread_plan(cfg);
  ASSERT_TRUE(learner_spread(plan));
  EXPECT_FALSE(learner_spread(resolve_processes(cfg, short_form_cluster(cfg))));
  ASSERT_NE(plan.find("rank-1"), nullptr);
  EXPECT_EQ(plan.find("rank-1")->first_learner_rank, 1);
  // Rollouts and weights stay on CAF, yet the plane has a CURVE context.
  auto hp = bind_head_data_plane(plan, "0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(hp) << describe(hp.error());
  ASSERT_TRUE(hp->ctx);
  EXPECT_TRUE(hp->info.rollouts.empty());

  caf::actor_system_config sc;
  configure_actor_system(sc);
  caf::actor_system sys{sc};
  learner_link link;
  link.ctx = hp->ctx;
  auto be = make_spread_trainer(sys, cfg, plan, link);
  ASSERT_TRUE(be) << describe(be.error());
  EXPECT_EQ(link.endpoint.rfind("tcp://127.0.0.1:", 0), 0u) << link.endpoint;
  EXPECT_NE(link.group, 0u);
  train_sequence row;
  row.prompt = {1, 2};
  row.completion = {3, 4};
  row.behav_logprobs = {-1.f, -1.f};
  row.versions = {0, 0};
  row.advantage = 1;
  // Rank 1's proxy gives up at connect_s and tells rank 0's collective,
  // which stops waiting for rank 1's input long before its own deadline.
  const auto start = std::chrono::steady_clock::now();
  auto res = (*be)->train({row, row});
  ASSERT_FALSE(res);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  const auto why = describe(res.error());
  EXPECT_TRUE(is(res.error(), errc::peer_down)) << why;
  EXPECT_NE(why.find("learner rank 1 is gone (peer_down: never joined within 200 ms"),
            std::string::npos)
    << why;
  EXPECT_EQ((*be)->version(), 0);

  // Without a link (or with ranks on a GPU) nothing is built.
  learner_link none;
  EXPECT_FALSE(make_spread_trainer(sys, cfg, plan, none));
}

// GPU ranks in several processes share one NCCL communicator: rank 0's id
// reaches the others as bytes; a malformed id or a rank off the GPU is
// refused before any NCCL call.
TEST(LearnerWiring, SpreadGpuRanksCheckTheirIdAndDevice) {
  auto bad_id = make_spread_gpu_collective(1, 2, "cuda:1", {1, 2, 3});
  ASSERT_FALSE(bad_id);
  EXPECT_TRUE(is(bad_id.error(), errc::malformed_message)) << describe(bad_id.error());
  auto on_cpu = make_spread_gpu_collective(1, 2, "cpu", std::vector<uint8_t>(128, 7));
  ASSERT_FALSE(on_cpu);
  EXPECT_TRUE(is(on_cpu.error(), errc::invalid_config)) << describe(on_cpu.error());
  auto no_gpu = make_learner_nccl_id("cpu");
  ASSERT_FALSE(no_gpu);
  EXPECT_TRUE(is(no_gpu.error(), errc::invalid_config)) << describe(no_gpu.error());
}

// Rank 0's id is NCCL's 128 bytes (ncclGetUniqueId needs no GPU); a rank's
// collective answers its shape at once and makes nothing before its first
// post. Without NCCL in the build both are refused by name.
TEST(LearnerWiring, SpreadGpuRanksGetALazyCollectiveOverRankZerosId) {
  auto id = make_learner_nccl_id("cuda:0");
  if (!id) {
    EXPECT_TRUE(is(id.error(), errc::invalid_config)) << describe(id.error());
    EXPECT_NE(describe(id.error()).find("no NCCL"), std::string::npos) << describe(id.error());
    return;
  }
  EXPECT_EQ(id->size(), 128u);
  auto c = make_spread_gpu_collective(1, 2, "cuda:1", *id);
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_TRUE((*c)->ready());
  EXPECT_EQ((*c)->rank(), 1);
  EXPECT_EQ((*c)->ranks(), 2);
  EXPECT_TRUE((*c)->device_memory());
  EXPECT_TRUE((*c)->device_ordered());
}

} // namespace
} // namespace tandem
