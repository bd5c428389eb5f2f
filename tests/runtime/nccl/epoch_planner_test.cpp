// epoch_planner: membership changes take effect at version boundaries by
// opening a new epoch; failures and lost members never leave the learner
// waiting on a member outside the current epoch.
#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/nccl/epoch_planner.hpp"

namespace tandem::nccl {
namespace {

using members = std::vector<member_id>;

comm_id id_of(uint8_t n) {
  comm_id id;
  id.bytes[0] = n;
  return id;
}

/// Opens an epoch at a boundary with every invitee accepting; returns it.
uint64_t form_all(epoch_planner& p) {
  auto step = p.at_boundary();
  EXPECT_EQ(step.kind, boundary_step::form);
  for (auto& m : step.invite)
    p.accept(m, step.epoch);
  EXPECT_TRUE(p.all_accepted());
  auto roster = p.seal(step.epoch, id_of(static_cast<uint8_t>(step.epoch)));
  EXPECT_TRUE(roster);
  p.ready(step.epoch);
  return step.epoch;
}

TEST(EpochPlanner, WithoutMembersEveryBoundaryIsSkipped) {
  epoch_planner p{"learner"};
  auto step = p.at_boundary();
  EXPECT_EQ(step.kind, boundary_step::skip);
  EXPECT_EQ(step.old, teardown::none);
  EXPECT_EQ(p.state(), epoch_state::idle);
  p.join("learner"); // the learner is never its own member
  EXPECT_EQ(p.at_boundary().kind, boundary_step::skip);
}

TEST(EpochPlanner, FirstJoinFormsEpochOneWithTheLearnerAtRankZero) {
  epoch_planner p{"learner"};
  p.join("s2");
  p.join("s1");
  auto step = p.at_boundary();
  ASSERT_EQ(step.kind, boundary_step::form);
  EXPECT_EQ(step.epoch, 1u);
  EXPECT_EQ(step.invite, (members{"s1", "s2"}));
  EXPECT_EQ(p.state(), epoch_state::forming);
  p.accept("s1", 1);
  EXPECT_FALSE(p.all_accepted());
  p.accept("s2", 1);
  EXPECT_TRUE(p.all_accepted());
  auto roster = p.seal(1, id_of(7));
  ASSERT_TRUE(roster);
  EXPECT_EQ(roster->ranks, (members{"learner", "s1", "s2"}));
  EXPECT_EQ(roster->rank_of("s2"), 2);
  EXPECT_EQ(roster->id, id_of(7));
  EXPECT_EQ(p.state(), epoch_state::initializing);
  p.ready(1);
  EXPECT_EQ(p.state(), epoch_state::active);
}

TEST(EpochPlanner, UnchangedMembershipKeepsBroadcastingOnTheSameEpoch) {
  epoch_planner p{"learner"};
  p.join("s1");
  auto e = form_all(p);
  for (int v = 0; v < 3; ++v) {
    auto step = p.at_boundary();
    EXPECT_EQ(step.kind, boundary_step::broadcast);
    EXPECT_EQ(step.epoch, e);
  }
}

TEST(EpochPlanner, JoinMidRunTakesEffectOnlyAtTheNextBoundary) {
  epoch_planner p{"learner"};
  p.join("s1");
  form_all(p);
  p.join("s2"); // arrives mid-version
  EXPECT_EQ(p.state(), epoch_state::active);
  EXPECT_EQ(p.roster().ranks, (members{"learner", "s1"})) << "epoch 1 untouched";
  auto step = p.at_boundary();
  ASSERT_EQ(step.kind, boundary_step::form);
  EXPECT_EQ(step.epoch, 2u);
  EXPECT_EQ(step.invite, (members{"s1", "s2"}));
  EXPECT_EQ(step.old, teardown::close) << "epoch 1 was healthy: close it gracefully";
  EXPECT_TRUE(step.release.empty());
}

TEST(EpochPlanner, LeaveReleasesTheMemberAtTheNextBoundary) {
  epoch_planner p{"learner"};
  p.join("s1");
  p.join("s2");
  form_all(p);
  p.leave("s1");
  EXPECT_EQ(p.roster().rank_of("s1"), 1) << "s1 serves epoch 1 until the boundary";
  auto step = p.at_boundary();
  ASSERT_EQ(step.kind, boundary_step::form);
  EXPECT_EQ(step.invite, (members{"s2"}));
  EXPECT_EQ(step.release, (members{"s1"}));
  EXPECT_EQ(step.old, teardown::close);
}

TEST(EpochPlanner, LastMemberLeavingEndsTheEpochAndSkips) {
  epoch_planner p{"learner"};
  p.join("s1");
  form_all(p);
  p.leave("s1");
  auto step = p.at_boundary();
  EXPECT_EQ(step.kind, boundary_step::skip);
  EXPECT_EQ(step.old, teardown::close);
  EXPECT_EQ(step.release, (members{"s1"}));
  EXPECT_EQ(p.state(), epoch_state::idle);
}

TEST(EpochPlanner, LostMemberBreaksTheEpochSoItIsAbortedNotBroadcastOn) {
  epoch_planner p{"learner"};
  p.join("s1");
  p.join("s2");
  form_all(p);
  p.lost("s2");
  auto step = p.at_boundary();
  ASSERT_EQ(step.kind, boundary_step::form);
  EXPECT_EQ(step.old, teardown::abort) << "closing could wait on the dead peer";
  EXPECT_EQ(step.invite, (members{"s1"}));
}

TEST(EpochPlanner, FailureNamesTheEpochAndTheNextBoundaryReinvitesEveryone) {
  epoch_planner p{"learner"};
  p.join("s1");
  p.join("s2");
  auto e = form_all(p);
  p.failed(e, make_error(errc::collective_timeout, "broadcast missed its deadline"));
  EXPECT_EQ(p.state(), epoch_state::idle);
  EXPECT_TRUE(is(p.last_failure(), errc::collective_timeout));
  EXPECT_NE(describe(p.last_failure()).find("epoch 1: broadcast missed"), std::string::npos)
    << describe(p.last_failure());
  auto step = p.at_boundary();
  ASSERT_EQ(step.kind, boundary_step::form);
  EXPECT_EQ(step.epoch, 2u);
  EXPECT_EQ(step.old, teardown::none) << "the failed communicator is already aborted";
  EXPECT_EQ(step.invite, (members{"s1", "s2"}));
}

TEST(EpochPlanner, FailureThatAlreadyNamesItsEpochIsKeptAsIs) {
  epoch_planner p{"learner"};
  p.join("s1");
  auto e = form_all(p);
  p.failed(e, make_error(errc::peer_down, "epoch 1, version 4, bucket 2/3 (10 bytes): x"));
  EXPECT_EQ(describe(p.last_failure()), "peer_down: epoch 1, version 4, bucket 2/3 (10 bytes): x");
}

TEST(EpochPlanner, InviteesThatDoNotAcceptAreDroppedAndMustJoinAgain) {
  epoch_planner p{"learner"};
  p.join("s1");
  p.join("dead");
  auto step = p.at_boundary();
  p.accept("s1", step.epoch);
  EXPECT_FALSE(p.all_accepted());
  // the caller's accept deadline passes
  auto roster = p.seal(step.epoch, id_of(1));
  ASSERT_TRUE(roster);
  EXPECT_EQ(roster->ranks, (members{"learner", "s1"}));
  EXPECT_EQ(p.dropped(), (members{"dead"}));
  EXPECT_EQ(p.members(), (members{"s1"}));
  p.ready(step.epoch);
  EXPECT_EQ(p.at_boundary().kind, boundary_step::broadcast) << "no retry of the dropped one";
}

TEST(EpochPlanner, SealWithoutAnyAcceptGoesIdle) {
  epoch_planner p{"learner"};
  p.join("dead");
  auto step = p.at_boundary();
  auto roster = p.seal(step.epoch, id_of(1));
  ASSERT_FALSE(roster);
  EXPECT_TRUE(is(roster.error(), errc::not_ready));
  EXPECT_EQ(p.state(), epoch_state::idle);
  EXPECT_EQ(p.at_boundary().kind, boundary_step::skip);
}

TEST(EpochPlanner, StaleAcceptsSealsAndFailuresAreIgnored) {
  epoch_planner p{"learner"};
  p.join("s1");
  auto first = p.at_boundary();   // epoch 1 is never sealed
  auto second = p.at_boundary();  // reopened as epoch 2
  EXPECT_EQ(second.epoch, first.epoch + 1);
  p.accept("s1", first.epoch);    // late answer to epoch 1
  EXPECT_FALSE(p.all_accepted());
  EXPECT_TRUE(is(p.seal(first.epoch, id_of(1)).error(), errc::invalid_argument));
  p.accept("s1", second.epoch);
  ASSERT_TRUE(p.seal(second.epoch, id_of(2)));
  p.ready(second.epoch);
  p.failed(first.epoch, make_error(errc::collective_timeout));
  EXPECT_EQ(p.state(), epoch_state::active);
  EXPECT_FALSE(p.last_failure());
}

TEST(EpochPlanner, MemberLeavingWhileFormingIsNeitherSealedNorDropped) {
  epoch_planner p{"learner"};
  p.join("s1");
  p.join("s2");
  auto step = p.at_boundary();
  p.accept("s1", step.epoch);
  p.accept("s2", step.epoch);
  p.leave("s2");
  EXPECT_TRUE(p.all_accepted());
  auto roster = p.seal(step.epoch, id_of(1));
  ASSERT_TRUE(roster);
  EXPECT_EQ(roster->ranks, (members{"learner", "s1"}));
  EXPECT_TRUE(p.dropped().empty());
}

TEST(EpochPlanner, RejoinFromAMemberOfTheEpochMeansItRestarted) {
  epoch_planner p{"learner"};
  p.join("s1");
  form_all(p);
  p.join("s1");
  auto step = p.at_boundary();
  ASSERT_EQ(step.kind, boundary_step::form);
  EXPECT_EQ(step.old, teardown::abort);
  EXPECT_EQ(step.invite, (members{"s1"}));
}

TEST(EpochPlanner, BoundaryDuringAnUnfinishedInitAbortsIt) {
  epoch_planner p{"learner"};
  p.join("s1");
  auto step = p.at_boundary();
  p.accept("s1", step.epoch);
  ASSERT_TRUE(p.seal(step.epoch, id_of(1)));
  auto next = p.at_boundary(); // ready() never came
  EXPECT_EQ(next.kind, boundary_step::form);
  EXPECT_EQ(next.old, teardown::abort);
}

} // namespace
} // namespace tandem::nccl
