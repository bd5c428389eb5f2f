// weight_roster: which route each version takes to each sampler, and the
// NCCL membership rules (join, leave, lost, the accept deadline and its
// cool-down), on the fake collective and a manual clock. The port records
// what the learner actor would send and drives the members' receivers the
// way the sampler actor does (members open before the learner's init and
// receive after its send: runtime/nccl/fake_collective.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/internal/weight_roster.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/fake_collective.hpp"
#include "runtime/nccl/manual_clock.hpp"
#include "runtime/nccl/weight_receiver.hpp"

namespace tandem {
namespace {

using nccl::member_id;
using names = std::vector<member_id>;

constexpr size_t weight_bytes = 1024; // 4 buckets
constexpr size_t bucket = 256;

std::vector<uint8_t> pattern(int64_t version) {
  std::vector<uint8_t> v(weight_bytes);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<uint8_t>(i * 7 + version * 11 + 1);
  return v;
}

struct fake_member {
  nccl::fake_collective* comm = nullptr; // owned by rx
  std::unique_ptr<nccl::weight_receiver> rx;
  std::vector<uint8_t> buffer = std::vector<uint8_t>(weight_bytes);
  bool answers_invites = true;
  std::vector<int64_t> received; // versions that arrived over NCCL
};

struct invitation {
  uint64_t epoch = 0;
  names members;
};

/// The learner actor's part, recorded; members open at once (as the sampler
/// actor does on nccl_open) and receive when the test says.
class recording_port final : public weight_port {
public:
  recording_port(std::map<member_id, fake_member>& members, std::vector<uint8_t>& weights)
    : members_(members), weights_(weights) {}

  caf::expected<flat_weights> device_weights() override {
    return flat_weights{weights_.data(), weights_.size(), -1};
  }
  void publish_bytes(int64_t version, byte_targets to) override {
    if (to.broadcaster)
      bytes.push_back(version);
    if (to.mirror)
      mirrored.push_back(version);
  }
  void invite(const names& ms, uint64_t epoch) override { invites.push_back({epoch, ms}); }
  void open(const member_id& m, const nccl_open& o) override {
    auto id = nccl::from_bytes(o.id);
    ASSERT_TRUE(id);
    EXPECT_FALSE(members_.at(m).rx->open(o.epoch, *id, o.rank, o.nranks, o.bucket_bytes));
  }
  void announce(const member_id& m, const nccl::version_header& h) override {
    announced.emplace_back(m, h);
  }
  void log(const std::string& line) override { lines.push_back(line); }

  std::vector<int64_t> bytes, mirrored;
  std::vector<invitation> invites;
  std::vector<std::pair<member_id, nccl::version_header>> announced;
  std::vector<std::string> lines;

private:
  std::map<member_id, fake_member>& members_;
  std::vector<uint8_t>& weights_;
};

class WeightRoster : public ::testing::Test {
protected:
  void make(bool with_nccl, bool mirror = false, int64_t rejoin_after = 16) {
    weight_roster_settings s;
    if (with_nccl)
      s.publisher = std::make_shared<nccl::weight_publisher>(
        "learner", std::make_unique<nccl::fake_collective>(fabric, clock), clock, bucket);
    s.rejoin_after = rejoin_after;
    s.mirror = mirror;
    auto p = std::make_unique<recording_port>(members, weights);
    port = p.get();
    roster = std::make_unique<weight_roster>(std::move(s), std::move(p));
  }

  fake_member& add(const member_id& name) {
    auto& m = members[name];
    auto comm = std::make_unique<nccl::fake_collective>(fabric, clock);
    m.comm = comm.get();
    m.rx = std::make_unique<nccl::weight_receiver>(std::move(comm), clock);
    EXPECT_EQ(roster->join(name, false), weight_route::nccl);
    return m;
  }

  /// The learner's version `v` after a step; members receive what was announced.
  void deliver(int64_t v) {
    weights = pattern(v);
    roster->deliver(v);
    receive_announced();
  }

  /// The members that answer accept the last invitation (the last accept
  /// seals). True if it sealed.
  bool answer_invites() {
    EXPECT_FALSE(port->invites.empty());
    auto inv = port->invites.back();
    bool sealed = false;
    for (auto& name : inv.members) {
      auto& m = members.at(name);
      if (!m.answers_invites)
        continue;
      m.rx->invite(inv.epoch);
      sealed = roster->accept(name, inv.epoch) || sealed;
    }
    receive_announced();
    return sealed;
  }

  /// The accept deadline of the last invitation.
  bool deadline() {
    auto sealed = roster->seal(port->invites.back().epoch);
    receive_announced();
    return sealed;
  }

  void receive_announced() {
    for (auto& [name, h] : port->announced) {
      auto& m = members.at(name);
      if (m.rx->receive(h, m.buffer.data(), m.buffer.size()))
        m.received.push_back(h.version);
    }
    port->announced.clear();
  }

  /// s0..s(n-1) in one open epoch, version 0 delivered.
  void epoch_of(int n) {
    for (int i = 0; i < n; ++i)
      add("s" + std::to_string(i));
    deliver(0);
    ASSERT_TRUE(answer_invites());
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(roster->state_of("s" + std::to_string(i)), delivery_state::member);
  }

  const nccl::epoch_planner& planner() const { return roster->publisher()->planner(); }

  nccl::manual_clock clock;
  nccl::fake_fabric fabric;
  std::map<member_id, fake_member> members;
  std::vector<uint8_t> weights;
  recording_port* port = nullptr;
  std::unique_ptr<weight_roster> roster;
};

TEST_F(WeightRoster, WithoutNcclEverySamplerTakesBytesAndEveryVersionGoesAsBytes) {
  make(false);
  EXPECT_EQ(roster->join("s0", false), weight_route::bytes);
  for (int64_t v = 0; v < 3; ++v)
    deliver(v);
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_TRUE(port->invites.empty());
  EXPECT_EQ(roster->state_of("s0"), delivery_state::bytes);
  EXPECT_TRUE(port->mirrored.empty()) << "no mirror in this run";
}

TEST_F(WeightRoster, VersionZeroGoesAsBytesBeforeAnySamplerJoined) {
  make(true);
  deliver(0);
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0}));
  EXPECT_TRUE(port->invites.empty()) << "nobody to invite";
}

TEST_F(WeightRoster, BytesOnlyWhileASamplerIsOutsideTheLiveEpoch) {
  make(true);
  add("s0");
  add("s1");
  EXPECT_EQ(roster->state_of("s0"), delivery_state::waiting);
  deliver(0);
  ASSERT_EQ(port->invites.size(), 1u);
  EXPECT_EQ(port->invites[0].members, (names{"s0", "s1"}));
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0})) << "the forming boundary goes as bytes";
  ASSERT_TRUE(answer_invites());
  EXPECT_FALSE(roster->needs_bytes());
  for (int64_t v = 1; v <= 3; ++v)
    deliver(v);
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0})) << "steady state: nothing as bytes";
  for (auto& name : {"s0", "s1"}) {
    EXPECT_EQ(members[name].received, (std::vector<int64_t>{0, 1, 2, 3})) << name;
    EXPECT_EQ(members[name].buffer, pattern(3)) << name;
  }
  EXPECT_EQ(planner().roster().epoch, 1u);
  EXPECT_EQ(roster->nccl_failures(), 0u);
}

TEST_F(WeightRoster, JoinerWaitsOnBytesForTheNextBoundary) {
  make(true);
  epoch_of(1);
  deliver(1);
  add("s1");
  EXPECT_EQ(roster->state_of("s1"), delivery_state::waiting);
  EXPECT_TRUE(roster->needs_bytes());
  EXPECT_EQ(port->invites.size(), 1u) << "nothing changes between boundaries";
  deliver(2);
  ASSERT_EQ(port->invites.size(), 2u);
  EXPECT_EQ(port->invites[1].members, (names{"s0", "s1"}));
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0, 2}));
  ASSERT_TRUE(answer_invites());
  EXPECT_EQ(roster->state_of("s1"), delivery_state::member);
  deliver(3);
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(members["s1"].received, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(planner().roster().epoch, 2u);
}

TEST_F(WeightRoster, InviteeMissingTheAcceptDeadlineIsSealedOutAndInvitedAgainAfterRejoinAfter) {
  make(true, false, 3);
  add("s0");
  add("z").answers_invites = false;
  deliver(0);
  EXPECT_FALSE(answer_invites()) << "waiting for z";
  deliver(1); // the round is still open: bytes, no new boundary
  EXPECT_EQ(port->invites.size(), 1u);
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0, 1}));
  ASSERT_TRUE(deadline());
  EXPECT_EQ(roster->state_of("s0"), delivery_state::member);
  EXPECT_EQ(roster->state_of("z"), delivery_state::cooling);
  EXPECT_EQ(roster->rejoin_at("z"), 4) << "sealed at v1, back after 3 versions";
  EXPECT_EQ(members["s0"].received, (std::vector<int64_t>{1})) << "the seal sends v1 at once";
  deliver(2);
  deliver(3);
  EXPECT_EQ(port->invites.size(), 1u) << "cooling";
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0, 1, 2, 3})) << "bytes serve z";
  EXPECT_EQ(members["s0"].received, (std::vector<int64_t>{1, 2, 3}));
  deliver(4);
  ASSERT_EQ(port->invites.size(), 2u);
  EXPECT_EQ(port->invites[1].members, (names{"s0", "z"}));
  EXPECT_EQ(roster->state_of("z"), delivery_state::waiting);
  EXPECT_FALSE(roster->seal(1)) << "a stale deadline seals nothing";
}

TEST_F(WeightRoster, MemberThatLeavesLivesOnBytes) {
  make(true);
  epoch_of(2);
  EXPECT_TRUE(roster->leave("s1"));
  EXPECT_EQ(roster->state_of("s1"), delivery_state::bytes);
  deliver(1); // a new epoch without s1
  ASSERT_EQ(port->invites.size(), 2u);
  EXPECT_EQ(port->invites[1].members, (names{"s0"}));
  ASSERT_TRUE(answer_invites());
  for (int64_t v = 2; v <= 20; ++v)
    deliver(v);
  EXPECT_EQ(port->invites.size(), 2u) << "never invited again";
  EXPECT_EQ(port->bytes.back(), 20) << "every version reaches s1 as bytes";
  EXPECT_EQ(port->bytes.size(), 21u);
  EXPECT_EQ(members["s0"].received.back(), 20) << "s0 stays on NCCL";
  EXPECT_FALSE(roster->leave("s1")) << "it is not on NCCL any more";
}

TEST_F(WeightRoster, DeadMemberIsDroppedAtTheNextBoundary) {
  make(true);
  epoch_of(2);
  members["s1"].comm->crash();
  roster->lost("s1");
  EXPECT_FALSE(roster->state_of("s1"));
  deliver(1);
  ASSERT_EQ(port->invites.size(), 2u);
  EXPECT_EQ(port->invites[1].members, (names{"s0"}));
  ASSERT_TRUE(answer_invites());
  EXPECT_EQ(planner().roster().ranks, (names{"learner", "s0"}));
  deliver(2);
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0, 1})) << "steady again without s1";
  EXPECT_EQ(members["s0"].received.back(), 2);
  EXPECT_EQ(roster->nccl_failures(), 0u) << "nothing waited on the dead member";
}

TEST_F(WeightRoster, FailedBroadcastIsATypedErrorTheVersionGoesAsBytesAndTheDeadIsSealedOut) {
  make(true);
  epoch_of(2);
  members["s1"].comm->crash(); // its process died; nobody reported it yet
  members["s1"].answers_invites = false;
  deliver(1);
  EXPECT_EQ(roster->nccl_failures(), 1u);
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0, 1})) << "bytes serve the failed version";
  ASSERT_FALSE(port->lines.empty());
  EXPECT_NE(port->lines.back().find("epoch 1, version 1"), std::string::npos)
    << port->lines.back();
  deliver(2); // the next boundary forms a new epoch
  ASSERT_EQ(port->invites.size(), 2u);
  EXPECT_FALSE(answer_invites());
  ASSERT_TRUE(deadline());
  EXPECT_EQ(roster->state_of("s1"), delivery_state::cooling);
  EXPECT_EQ(members["s0"].received.back(), 2);
}

TEST_F(WeightRoster, MirrorGetsEveryVersionEvenInTheSteadyState) {
  make(true, true);
  epoch_of(1);
  for (int64_t v = 1; v <= 3; ++v)
    deliver(v);
  EXPECT_EQ(port->mirrored, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0}));
}

TEST_F(WeightRoster, DataPlaneSamplerIsNeverInvitedAndNeedsNoBroadcasterBytes) {
  make(true, true);
  EXPECT_EQ(roster->join("w0", true), weight_route::data_plane);
  epoch_of(1);
  EXPECT_EQ(port->invites[0].members, (names{"s0"}));
  deliver(1);
  EXPECT_EQ(roster->state_of("w0"), delivery_state::data_plane);
  EXPECT_EQ(port->bytes, (std::vector<int64_t>{0}));
  EXPECT_EQ(port->mirrored, (std::vector<int64_t>{0, 1})) << "the mirror serves w0";
}

TEST_F(WeightRoster, LateAcceptChangesNothing) {
  make(true);
  epoch_of(1);
  EXPECT_FALSE(roster->accept("s0", 1)) << "epoch 1 is sealed";
  EXPECT_FALSE(roster->seal(1));
  deliver(1);
  EXPECT_EQ(planner().roster().epoch, 1u);
  EXPECT_EQ(members["s0"].received, (std::vector<int64_t>{0, 1}));
}

TEST_F(WeightRoster, RestartedMemberJoiningAgainGetsANewEpoch) {
  make(true);
  epoch_of(2);
  roster->join("s1", false); // same name, new process: its communicator is gone
  EXPECT_EQ(roster->state_of("s1"), delivery_state::member) << "until the next boundary";
  members["s1"].comm->crash();
  auto comm = std::make_unique<nccl::fake_collective>(fabric, clock);
  members["s1"].comm = comm.get();
  members["s1"].rx = std::make_unique<nccl::weight_receiver>(std::move(comm), clock);
  members["s1"].received.clear();
  deliver(1);
  ASSERT_EQ(port->invites.size(), 2u) << "the epoch is re-formed, not broadcast on";
  ASSERT_TRUE(answer_invites());
  EXPECT_EQ(planner().roster().epoch, 2u);
  EXPECT_EQ(members["s1"].received, (std::vector<int64_t>{1}));
  EXPECT_EQ(roster->nccl_failures(), 0u);
}

} // namespace
} // namespace tandem
