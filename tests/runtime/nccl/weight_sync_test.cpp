// Weight sync end to end on fakes: the learner, its epoch planner and several
// samplers, driven one version boundary at a time the way the broadcaster
// actor drives them. Samplers join, leave, die silently or are reported lost;
// the learner never waits longer than one deadline and keeps publishing.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include "runtime/error.hpp"
#include "runtime/nccl/epoch_planner.hpp"
#include "runtime/nccl/fake_collective.hpp"
#include "runtime/nccl/manual_clock.hpp"
#include "runtime/nccl/weight_transfer.hpp"

namespace tandem::nccl {
namespace {

using namespace std::chrono_literals;
using members = std::vector<member_id>;

std::vector<uint8_t> pattern(size_t n, int64_t version) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(i * 13 + version * 5 + 3);
  return v;
}

struct sampler {
  sampler(fake_fabric& f, clock_source& c, size_t bytes) : comm(f, c), weights(bytes) {}
  fake_collective comm;
  std::vector<uint8_t> weights; // staging == live here (in_place = false)
  version_intake intake;
  bool alive = true;
  bool answers_invites = true;
};

class WeightSync : public ::testing::Test {
protected:
  void SetUp() override {
    plan = *plan_buckets({3000, 500, 1200}, {1024, 256}); // 6 buckets
    weights = pattern(plan.flat_bytes, 0);
  }

  sampler& start(const member_id& name) {
    auto& s = samplers[name];
    s = std::make_unique<sampler>(fabric, clock, plan.flat_bytes);
    planner.join(name);
    return *s;
  }

  void kill(const member_id& name) {
    samplers[name]->comm.crash();
    samplers[name]->alive = false;
  }

  void tear_down_old(const boundary_step& step) {
    if (step.old == teardown::close)
      learner.close(clock.now() + 2s);
    else if (step.old == teardown::abort)
      learner.abort();
    for (auto& m : step.release)
      if (samplers[m]->alive)
        samplers[m]->comm.close(clock.now() + 2s);
  }

  // Invite round + seal + init. Members init before the learner (fake order).
  caf::error form(const boundary_step& step) {
    for (auto& m : step.invite) {
      auto& s = *samplers[m];
      if (!s.alive || !s.answers_invites)
        continue;
      s.comm.close(clock.now() + 2s); // a member closes its old epoch first
      planner.accept(m, step.epoch);
    }
    if (!planner.all_accepted())
      clock.advance(accept_deadline); // the broadcaster's accept timer fires
    auto roster = planner.seal(step.epoch, *learner.make_id());
    if (!roster)
      return roster.error();
    for (int r = 1; r < roster->nranks(); ++r) {
      auto& s = *samplers[roster->ranks[r]];
      if (s.alive && roster->ranks[r] != dies_before_init) {
        EXPECT_FALSE(s.comm.init(r, roster->nranks(), roster->id, clock.now() + init_timeout));
      }
    }
    if (!dies_before_init.empty())
      kill(dies_before_init);
    if (auto err = learner.init(0, roster->nranks(), roster->id, clock.now() + init_timeout)) {
      planner.failed(step.epoch, err);
      return err;
    }
    planner.ready(step.epoch);
    return {};
  }

  // One version boundary, as the broadcaster actor runs it.
  caf::error publish(int64_t version) {
    weights = pattern(plan.flat_bytes, version);
    auto step = planner.at_boundary();
    last_step = step;
    tear_down_old(step);
    if (step.kind == boundary_step::skip)
      return {};
    if (step.kind == boundary_step::form) {
      auto err = form(step);
      if (is(err, errc::not_ready))
        return {}; // nobody accepted: skip this version
      if (err)
        return err;
    }
    auto h = make_header(version, planner.roster().epoch, plan);
    packed_memory mem{weights.data()};
    auto start_time = clock.now();
    auto sent = send_version(learner, clock, h, plan, mem, options);
    learner_wait = clock.now() - start_time;
    receive_all(h);
    if (!sent) {
      planner.failed(h.epoch, sent.error());
      return sent.error();
    }
    return {};
  }

  void receive_all(const version_header& h) {
    auto& roster = planner.roster();
    for (int r = 1; r < roster.nranks(); ++r) {
      auto& s = *samplers[roster.ranks[r]];
      if (!s.alive)
        continue;
      packed_memory mem{s.weights.data()};
      (void) receive_version(s.comm, clock, h, plan, mem, s.intake, false, options);
    }
  }

  // Installed `version` and holds its bytes (alignment padding aside).
  bool holds(const member_id& name, int64_t version) {
    auto& s = *samplers[name];
    auto want = pattern(plan.flat_bytes, version);
    for (auto& b : plan.buckets)
      for (auto& seg : b.segments) {
        auto at = b.flat_offset + seg.bucket_offset;
        if (!std::equal(want.begin() + at, want.begin() + at + seg.bytes,
                        s.weights.begin() + at))
          return false;
      }
    return s.intake.installed_version() == version;
  }

  manual_clock clock;
  fake_fabric fabric;
  fake_collective learner{fabric, clock};
  epoch_planner planner{"learner"};
  bucket_plan plan;
  std::vector<uint8_t> weights;
  std::map<member_id, std::unique_ptr<sampler>> samplers;
  transfer_options options;
  duration accept_deadline = 5s;
  duration init_timeout = 30s;
  member_id dies_before_init;
  boundary_step last_step;
  duration learner_wait{};
};

TEST_F(WeightSync, LearnerPublishesWithoutSamplersAndNeverWaits) {
  EXPECT_FALSE(publish(1));
  EXPECT_EQ(last_step.kind, boundary_step::skip);
  EXPECT_EQ(clock.elapsed(), 0s);
}

TEST_F(WeightSync, JoinMidRunTakesEffectAtTheNextVersionAndOthersKeepReceiving) {
  start("s1");
  ASSERT_FALSE(publish(1));
  EXPECT_EQ(planner.roster().epoch, 1u);
  EXPECT_TRUE(holds("s1", 1));
  start("s2"); // joins between versions 1 and 2
  EXPECT_EQ(planner.roster().epoch, 1u);
  ASSERT_FALSE(publish(2));
  EXPECT_EQ(last_step.kind, boundary_step::form);
  EXPECT_EQ(planner.roster().epoch, 2u);
  EXPECT_EQ(planner.roster().ranks, (members{"learner", "s1", "s2"}));
  EXPECT_TRUE(holds("s1", 2));
  EXPECT_TRUE(holds("s2", 2));
  ASSERT_FALSE(publish(3));
  EXPECT_EQ(last_step.kind, boundary_step::broadcast) << "no rebuild without a change";
  EXPECT_TRUE(holds("s1", 3));
  EXPECT_TRUE(holds("s2", 3));
  EXPECT_EQ(clock.elapsed(), 0s) << "nobody waited on anybody";
}

TEST_F(WeightSync, LeaverIsReleasedAndTheOthersContinueOnANewEpoch) {
  start("s1");
  start("s2");
  ASSERT_FALSE(publish(1));
  planner.leave("s1");
  ASSERT_FALSE(publish(2));
  EXPECT_EQ(last_step.release, (members{"s1"}));
  EXPECT_EQ(planner.roster().ranks, (members{"learner", "s2"}));
  EXPECT_TRUE(holds("s1", 1)) << "the leaver keeps its last complete version";
  EXPECT_TRUE(holds("s2", 2));
  EXPECT_FALSE(samplers["s1"]->comm.ready());
}

TEST_F(WeightSync, SilentlyDeadPeerCostsOneBucketDeadlineThenTheNextEpochExcludesIt) {
  start("s1");
  start("s2");
  ASSERT_FALSE(publish(1));
  kill("s2"); // SIGKILL: the control plane has not noticed
  auto err = publish(2);
  ASSERT_TRUE(is(err, errc::collective_timeout)) << describe(err);
  EXPECT_NE(describe(err).find("epoch 1, version 2, bucket 1/6"), std::string::npos)
    << describe(err);
  EXPECT_GE(learner_wait, bucket_budget(plan, 0, options.timeouts));
  EXPECT_LT(learner_wait, bucket_budget(plan, 0, options.timeouts) + 2ms);
  EXPECT_EQ(learner.aborts(), 1u);
  EXPECT_TRUE(is(planner.last_failure(), errc::collective_timeout));
  EXPECT_TRUE(holds("s1", 1)) << "s1 never installs the half-sent version 2";

  ASSERT_FALSE(publish(3)); // epoch 2: s2 cannot accept the invite
  EXPECT_EQ(last_step.old, teardown::none);
  EXPECT_EQ(planner.dropped(), (members{"s2"}));
  EXPECT_EQ(planner.roster().epoch, 2u);
  EXPECT_EQ(planner.roster().ranks, (members{"learner", "s1"}));
  EXPECT_TRUE(holds("s1", 3));
  ASSERT_FALSE(publish(4));
  EXPECT_EQ(last_step.kind, boundary_step::broadcast);
  EXPECT_TRUE(holds("s1", 4));
}

TEST_F(WeightSync, PeerReportedLostIsAbortedWithoutWaitingForAnyDeadline) {
  start("s1");
  start("s2");
  ASSERT_FALSE(publish(1));
  kill("s2");
  planner.lost("s2"); // e.g. CAF's down message for its process
  ASSERT_FALSE(publish(2));
  EXPECT_EQ(last_step.old, teardown::abort);
  EXPECT_EQ(last_step.invite, (members{"s1"}));
  EXPECT_EQ(clock.elapsed(), 0s);
  EXPECT_TRUE(holds("s1", 2));
}

TEST_F(WeightSync, RemoteErrorEndsTheBroadcastAsPeerDownBeforeTheDeadline) {
  fake_fabric sockets{death_mode::remote_error};
  fake_collective learner2{sockets, clock};
  sampler s1{sockets, clock, plan.flat_bytes};
  auto id = *learner2.make_id();
  ASSERT_FALSE(s1.comm.init(1, 2, id, clock.now() + 1s));
  ASSERT_FALSE(learner2.init(0, 2, id, clock.now() + 1s));
  s1.comm.crash();
  packed_memory mem{weights.data()};
  auto sent = send_version(learner2, clock, make_header(1, 1, plan), plan, mem, options);
  ASSERT_FALSE(sent);
  EXPECT_TRUE(is(sent.error(), errc::peer_down)) << describe(sent.error());
  EXPECT_EQ(clock.elapsed(), 0s);
}

TEST_F(WeightSync, MemberDyingBetweenAcceptAndInitCostsOneInitDeadline) {
  start("s1");
  start("s2");
  dies_before_init = "s2";
  auto err = publish(1);
  ASSERT_TRUE(is(err, errc::collective_timeout)) << describe(err);
  EXPECT_GE(clock.elapsed(), init_timeout);
  EXPECT_LT(clock.elapsed(), init_timeout + 2ms);
  EXPECT_NE(describe(planner.last_failure()).find("epoch 1: init"), std::string::npos)
    << describe(planner.last_failure());
  dies_before_init.clear();
  ASSERT_FALSE(publish(2)); // s1's init of epoch 1 is abandoned; epoch 2 forms
  EXPECT_EQ(planner.roster().epoch, 2u);
  EXPECT_EQ(planner.roster().ranks, (members{"learner", "s1"}));
  EXPECT_TRUE(holds("s1", 2));
}

TEST_F(WeightSync, RestartedSamplerRejoinsUnderItsNameAndGetsANewEpoch) {
  start("s1");
  start("s2");
  ASSERT_FALSE(publish(1));
  kill("s2");
  start("s2"); // a new process, same name, joins again
  ASSERT_FALSE(publish(2));
  EXPECT_EQ(last_step.old, teardown::abort);
  EXPECT_EQ(planner.roster().epoch, 2u);
  EXPECT_TRUE(holds("s1", 2));
  EXPECT_TRUE(holds("s2", 2));
  EXPECT_EQ(clock.elapsed(), 0s);
}

TEST_F(WeightSync, SamplerThatMissesTheInviteIsDroppedAndCanJoinAgain) {
  start("s1");
  start("s2");
  ASSERT_FALSE(publish(1));
  samplers["s1"]->answers_invites = false;
  planner.leave("s2");
  ASSERT_FALSE(publish(2)) << "s2's leave forms epoch 2 with s1 only, who is slow";
  EXPECT_EQ(last_step.kind, boundary_step::form);
  EXPECT_EQ(planner.state(), epoch_state::idle) << "no member accepted: version skipped";
  EXPECT_TRUE(planner.members().empty());
  EXPECT_EQ(clock.elapsed(), accept_deadline);
  samplers["s1"]->answers_invites = true;
  planner.join("s1");
  ASSERT_FALSE(publish(3));
  EXPECT_TRUE(holds("s1", 3));
}

} // namespace
} // namespace tandem::nccl
