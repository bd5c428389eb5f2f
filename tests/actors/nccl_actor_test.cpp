// Weights over NCCL through the real actors: controller, learner (rank 0),
// weight broadcaster, reward and samplers (members) with fake backends and
// the fake collective, stepped on CAF's test coordinator.
//
// The learner blocks inside its handler while an NCCL init or broadcast is
// under way (as in production, where it runs detached). Here every actor
// shares one thread, so the collectives use a `pumping_clock`: while a
// collective waits, each pause() runs one pending message of another actor
// (the member processing its nccl_open or version), and only when nothing
// is pending does fake time move. Deadlines therefore expire exactly, and
// nothing sleeps.
#include <algorithm>
#include <cstring>
#include <memory>
#include <set>

#include "graph_test_fixture.hpp"
#include "fakes.hpp"

#include "actors/controller.hpp"
#include "actors/learner.hpp"
#include "actors/reward.hpp"
#include "actors/sampler.hpp"
#include "wiring/head.hpp"
#include "actors/weight_broadcaster.hpp"
#include "runtime/nccl/fake_collective.hpp"
#include "runtime/nccl/weight_publisher.hpp"
#include "runtime/nccl/weight_receiver.hpp"
#include "tasks/arithmetic_task.hpp"

namespace tandem::testing {
namespace {

// A member that never answers an invite (a process stuck in a GPU call);
// the weight chunks it is sent meanwhile pile up unread.
struct zombie_state {
  std::vector<caf::response_promise> held;
};
caf::behavior zombie(caf::stateful_actor<zombie_state>* self) {
  return {
    [](const weights_chunk&) {},
    [=](nccl_invite_atom, uint64_t) -> caf::result<nccl_accept_atom, std::string, uint64_t> {
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<nccl_accept_atom, std::string, uint64_t>{};
    },
  };
}

using namespace std::chrono_literals;

constexpr size_t weight_bytes = 4096; // 4 buckets of 1 KiB
constexpr size_t bucket_bytes = 1024;

/// Version v's weights: v in the first 8 bytes, a v-keyed pattern after.
std::vector<char> weights_of(int64_t v) {
  std::vector<char> w(weight_bytes);
  for (size_t i = 8; i < w.size(); ++i)
    w[i] = static_cast<char>(i * 31 + v * 7);
  std::memcpy(w.data(), &v, sizeof(v));
  return w;
}

class pumping_clock final : public nccl::clock_source {
public:
  explicit pumping_clock(caf::scheduler::test_coordinator& sched) : sched_(sched) {}
  nccl::time_point now() const override { return now_; }
  void pause(nccl::duration d) override {
    if (!sched_.try_run_once())
      now_ += std::max<nccl::duration>(d, 1ms);
  }
  nccl::duration elapsed() const { return now_.time_since_epoch(); }

private:
  caf::scheduler::test_coordinator& sched_;
  nccl::time_point now_{};
};

/// fake_training_backend with flat "device" weights in host memory.
class flat_trainer : public fake_training_backend {
public:
  caf::expected<flat_weights> device_weights() override {
    flat_ = weights_of(version());
    ++refreshes;
    return flat_weights{flat_.data(), flat_.size(), -1};
  }
  int refreshes = 0;

private:
  std::vector<char> flat_;
};

/// fake_generation_backend with a receive buffer; records what it installed
/// and whether each installed version arrived intact.
class flat_generator : public fake_generation_backend {
public:
  caf::expected<flat_weights> receive_buffer() override {
    return flat_weights{staging_.data(), staging_.size(), -1};
  }
  caf::error install_received() override {
    int64_t v = -1;
    std::memcpy(&v, staging_.data(), sizeof(v));
    installed.push_back(v);
    intact = intact && staging_ == weights_of(v);
    return caf::none;
  }
  std::vector<int64_t> installed;
  bool intact = true;

private:
  std::vector<char> staging_ = std::vector<char>(weight_bytes);
};

struct NcclPipeline : GraphTest {
  controller_settings cs;
  pumping_clock clock{sched};
  nccl::fake_fabric fabric;
  std::shared_ptr<flat_trainer> trainer = std::make_shared<flat_trainer>();
  std::shared_ptr<nccl::weight_publisher> publisher;
  learner_nccl learner_options;
  std::vector<std::shared_ptr<flat_generator>> gens;
  std::vector<nccl::fake_collective*> member_comms; // owned by their receivers
  std::shared_ptr<memory_sink> metrics = std::make_shared<memory_sink>();
  caf::actor observer, broadcaster, learner, reward, controller;
  std::vector<caf::actor> samplers;

  NcclPipeline() {
    cs.steps = 8;
    cs.groups_per_step = 4;
    cs.group_size = 2;
    cs.max_staleness = 1;
    cs.generate_timeout = 10s;
  }

  /// The graph as `tandem run` builds it (wiring/head.hpp): fake collective
  /// for the learner's publisher, `n_samplers` samplers of the head.
  void start(int n_samplers) {
    observer = spawn_probe();
    publisher = std::make_shared<nccl::weight_publisher>(
      "learner", std::make_unique<nccl::fake_collective>(fabric, clock), clock, bucket_bytes);
    auto hs = graph_settings(cs);
    hs.sampler_max_groups = 2;
    for (int i = 0; i < n_samplers; ++i)
      hs.samplers.push_back({"s" + std::to_string(i), "cuda:0", 1});
    auto parts = graph_parts(trainer, metrics, observer);
    parts.nccl = learner_options;
    parts.nccl.publisher = publisher;
    parts.spawn_sampler = [this](const placed_instance& inst) -> caf::expected<caf::actor> {
      return make_sampler(inst.name, {});
    };
    auto g = spawn_graph(hs, parts);
    broadcaster = g.broadcaster;
    learner = g.learner;
    reward = g.rewards.at(0);
    controller = g.controller;
  }

  /// A sampler with its own fake NCCL end (not yet announced).
  caf::actor make_sampler(const std::string& name, nccl::weight_receiver::bucket_hook hook) {
    gens.push_back(std::make_shared<flat_generator>());
    auto comm = std::make_unique<nccl::fake_collective>(fabric, clock);
    member_comms.push_back(comm.get());
    sampler_settings ss;
    ss.name = name;
    ss.nccl = std::make_shared<nccl::weight_receiver>(std::move(comm), clock,
                                                      nccl::endpoint_options{},
                                                      std::move(hook));
    auto s = spawn(sampler_actor, ss, gens.back());
    samplers.push_back(s);
    return s;
  }

  /// A sampler joining later, as a worker process's would.
  caf::actor add_sampler(const std::string& name,
                         nccl::weight_receiver::bucket_hook hook = {}) {
    auto s = make_sampler(name, std::move(hook));
    caf::anon_send(controller, sampler_hello{name, s, 2});
    return s;
  }

  /// A hook for sampler `i`: its process dies right before it posts bucket
  /// `bucket` of `version` (its collective stops, its actor is killed, so
  /// the controller and the learner get a down message).
  nccl::weight_receiver::bucket_hook process_dies(size_t i, int64_t version, size_t bucket) {
    return [this, i, version, bucket](int64_t v, size_t index) {
      if (v == version && index == bucket) {
        member_comms[i]->crash();
        caf::anon_send_exit(samplers[i], caf::exit_reason::kill);
      }
    };
  }

  /// Failed NCCL inits and broadcasts (0 before the learner first ran).
  uint64_t nccl_failures() {
    auto& roster = state<learner_state>(learner).roster;
    return roster ? roster->nccl_failures() : 0;
  }

  std::optional<std::pair<bool, std::string>> finished() {
    for (auto& m : inbox(observer))
      if (m.size() == 3 && m.match_elements<finished_atom, bool, std::string>())
        return std::make_pair(m.get_as<bool>(1), m.get_as<std::string>(2));
    return std::nullopt;
  }
};

TEST_F(NcclPipeline, EveryVersionAfterTheFirstEpochTravelsOverNcclIntact) {
  start(2);
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  EXPECT_EQ(trainer->version(), 8);
  EXPECT_EQ(publisher->planner().roster().ranks,
            (std::vector<nccl::member_id>{"learner", "s0", "s1"}));
  EXPECT_EQ(publisher->planner().roster().epoch, 1u) << "one epoch: membership never changed";
  for (auto& g : gens) {
    EXPECT_TRUE(g->intact);
    ASSERT_FALSE(g->installed.empty());
    EXPECT_EQ(g->installed.back(), 8) << "the last version came over NCCL";
    EXPECT_TRUE(std::is_sorted(g->installed.begin(), g->installed.end()));
  }
  // Bytes went out only until the epoch was open: version 0 at start and the
  // version at whose boundary the epoch formed.
  EXPECT_LE(state<broadcaster_state>(broadcaster).latest, 1);
  EXPECT_GE(publisher->versions_sent(), 7u);
  EXPECT_EQ(nccl_failures(), 0u);
}

TEST_F(NcclPipeline, MemberKilledMidBroadcastIsATypedErrorAndTrainingGoesOn) {
  cs.steps = 12;
  fabric.set_link_bytes_per_s(1e6); // 1 KiB bucket = ~1 ms of fake time
  start(1);
  add_sampler("s1", process_dies(1, 4, 2)); // dies before bucket 2 of version 4
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  EXPECT_EQ(trainer->version(), 12) << "the learner kept training";
  EXPECT_EQ(nccl_failures(), 1u);
  EXPECT_TRUE(std::find(gens[1]->installed.begin(), gens[1]->installed.end(), 4)
              == gens[1]->installed.end())
    << "the dead member never installed the torn version";
  // s0 is served to the end, over NCCL again once epoch 2 formed without s1.
  EXPECT_EQ(publisher->planner().roster().ranks,
            (std::vector<nccl::member_id>{"learner", "s0"}));
  EXPECT_EQ(publisher->planner().roster().epoch, 2u);
  EXPECT_TRUE(gens[0]->intact);
  EXPECT_EQ(gens[0]->installed.back(), 12);
}

TEST_F(NcclPipeline, LearnersTypedErrorNamesEpochVersionAndBucketWithinTheBudget) {
  cs.steps = 6;
  fabric.set_link_bytes_per_s(1e6);
  start(1);
  add_sampler("s1", process_dies(1, 4, 2));
  // Step until the learner's broadcast of version 4 failed.
  auto& planner = publisher->planner();
  while (nccl_failures() == 0 && sched.try_run_once()) {
  }
  auto& failure = planner.last_failure();
  ASSERT_TRUE(is(failure, errc::collective_timeout)) << describe(failure);
  // The fake's root op completes only once every rank lived to its end, so
  // the first bucket is the one that fails here.
  EXPECT_NE(describe(failure).find("epoch 1, version 4, bucket 1/4 (1024 bytes)"),
            std::string::npos)
    << describe(failure);
  // Its budget: 2 s base + 5 s first-bucket grace + 1 KiB at 1 GB/s. Everything
  // before it took a few fake milliseconds, so the learner waited no longer.
  EXPECT_LT(clock.elapsed(), 7s + 50ms) << "fake time used: "
                                         << std::chrono::duration<double>(clock.elapsed()).count();
  EXPECT_GE(clock.elapsed(), 7s) << "it did wait out the deadline (a hang looks like this)";
  run();
  ASSERT_TRUE(finished());
  EXPECT_TRUE(finished()->first);
}

TEST_F(NcclPipeline, MemberWhoseNcclBreaksLeavesItAndKeepsGettingBytes) {
  cs.steps = 10;
  start(1);
  // s1's collective breaks at version 3, but its process lives on.
  add_sampler("s1", [this](int64_t version, size_t index) {
    if (version == 3 && index == 1)
      member_comms[1]->crash();
  });
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  EXPECT_EQ(trainer->version(), 10);
  EXPECT_EQ(publisher->planner().roster().ranks,
            (std::vector<nccl::member_id>{"learner", "s0"}))
    << "s1 left NCCL instead of failing every new epoch";
  EXPECT_LE(nccl_failures(), 2u);
  EXPECT_EQ(gens[0]->installed.back(), 10);
  auto s1_loads = gens[1]->loads;
  EXPECT_GE(s1_loads, 2) << "s1 went on with weights as bytes";
  EXPECT_GE(state<sampler_state>(samplers[1]).version, 9);
}

TEST_F(NcclPipeline, SamplerJoiningMidRunGetsBytesAtOnceAndNcclFromTheNextEpoch) {
  cs.steps = 10;
  start(1);
  // Run until the first epoch is open, then add a sampler.
  while (publisher->planner().state() != nccl::epoch_state::active && sched.try_run_once()) {
  }
  ASSERT_EQ(publisher->planner().state(), nccl::epoch_state::active);
  add_sampler("s1");
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  EXPECT_GE(gens[1]->loads, 1) << "the joiner got bytes before its first epoch";
  EXPECT_EQ(publisher->planner().roster().ranks,
            (std::vector<nccl::member_id>{"learner", "s0", "s1"}));
  EXPECT_EQ(publisher->planner().roster().epoch, 2u);
  EXPECT_EQ(gens[1]->installed.back(), 10);
  EXPECT_TRUE(gens[1]->intact);
}

TEST_F(NcclPipeline, MemberThatNeverAcceptsIsSealedOutAtTheDeadlineAndInvitedAgainLater) {
  cs.steps = 12;
  cs.generate_timeout = 60s; // only the 10 s accept deadline fires below
  learner_options.rejoin_after = 3;
  start(1);
  auto z = spawn(zombie);
  caf::anon_send(learner, sampler_hello{"zombie", z, 2});
  // Step until the first epoch is forming (s0 and the zombie invited).
  auto& planner = publisher->planner();
  while (planner.state() != nccl::epoch_state::forming && sched.try_run_once()) {
  }
  ASSERT_EQ(planner.state(), nccl::epoch_state::forming);
  for (int i = 0; i < 50; ++i) // s0 accepts; the zombie never does
    sched.try_run_once();
  EXPECT_EQ(planner.state(), nccl::epoch_state::forming) << "waiting for the zombie";
  EXPECT_GE(gens[0]->loads, 1) << "bytes serve s0 meanwhile";
  EXPECT_EQ(publisher->versions_sent(), 0u);
  // The accept deadline: seal without the zombie; the run goes on with s0 on
  // NCCL until the cool-down brings the zombie back into a new invite round.
  advance_time(10s);
  EXPECT_EQ(planner.dropped(), (std::vector<nccl::member_id>{"zombie"}));
  for (int i = 0; i < 4 && !finished(); ++i)
    advance_time(10s); // later invite rounds that the zombie ignores too
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->first) << f->second;
  EXPECT_EQ(trainer->version(), 12);
  EXPECT_GE(state<zombie_state>(z).held.size(), 2u) << "invited again after the cool-down";
  EXPECT_TRUE(gens[0]->intact);
  EXPECT_GE(publisher->versions_sent(), 3u) << "s0 got versions over NCCL in between";
  EXPECT_FALSE(gens[0]->installed.empty());
}

} // namespace
} // namespace tandem::testing
