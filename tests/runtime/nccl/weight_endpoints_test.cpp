// weight_publisher (the learner's end) and weight_receiver (a sampler's end)
// on fakes, driven in the order the actors drive them: boundary, invite,
// accept, seal, members open, learner init, announce, send, receive.
// The fake collective runs on one thread, so members open before the
// learner's init and receive after its send (fake_collective.hpp).
#include <gtest/gtest.h>

#include <iostream>

#include <chrono>
#include <map>
#include <memory>

#include "runtime/error.hpp"
#include "runtime/nccl/fake_collective.hpp"
#include "runtime/nccl/manual_clock.hpp"
#include "runtime/nccl/weight_publisher.hpp"
#include "runtime/nccl/weight_receiver.hpp"

namespace tandem::nccl {
namespace {

using namespace std::chrono_literals;

constexpr size_t weight_bytes = 10'000; // 40 buckets of 256 bytes, the last partial
constexpr size_t bucket = 256;

std::vector<uint8_t> pattern(int64_t version) {
  std::vector<uint8_t> v(weight_bytes);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<uint8_t>(i * 7 + version * 11 + 1);
  return v;
}

struct member {
  fake_collective* comm = nullptr; // owned by rx
  std::unique_ptr<weight_receiver> rx;
  std::vector<uint8_t> buffer = std::vector<uint8_t>(weight_bytes);
  bool alive = true;
};

class WeightEndpoints : public ::testing::Test {
protected:
  WeightEndpoints() {
    auto comm = std::make_unique<fake_collective>(fabric, clock);
    learner_comm = comm.get();
    pub = std::make_unique<weight_publisher>("learner", std::move(comm), clock, bucket);
  }

  member& add(const member_id& name, weight_receiver::bucket_hook hook = {}) {
    auto& m = members[name];
    auto comm = std::make_unique<fake_collective>(fabric, clock);
    m.comm = comm.get();
    m.rx = std::make_unique<weight_receiver>(std::move(comm), clock, endpoint_options{},
                                             std::move(hook));
    pub->planner().join(name);
    return m;
  }

  // The learner actor's invite round, seal and init (members first).
  caf::error form(const boundary_step& step) {
    for (auto& name : step.invite) {
      auto& m = members[name];
      if (!m.alive)
        continue; // a dead member cannot accept
      m.rx->invite(step.epoch);
      pub->planner().accept(name, step.epoch);
    }
    auto roster = pub->seal(step.epoch);
    if (!roster)
      return roster.error();
    for (int r = 1; r < roster->nranks(); ++r)
      EXPECT_FALSE(members[roster->ranks[r]].rx->open(roster->epoch, roster->id, r,
                                                        roster->nranks(), bucket));
    return pub->init(*roster);
  }

  // One version: what the learner actor does after a step. Returns the
  // send's error, if any.
  caf::error publish(int64_t version) {
    publish_error = publish_once(version);
    if (publish_error)
      std::cerr << "publish(" << version << "): " << describe(publish_error) << "\n";
    return publish_error;
  }

  caf::error publish_once(int64_t version) {
    weights = pattern(version);
    auto step = pub->boundary();
    if (step.kind == boundary_step::skip)
      return make_error(errc::not_ready, "skip");
    if (step.kind == boundary_step::form)
      if (auto err = form(step))
        return err;
    auto h = pub->announce(version, weights.size());
    if (!h)
      return h.error();
    auto t0 = clock.now();
    auto sent = pub->send(*h, weights.data());
    send_time = clock.now() - t0;
    for (auto& [name, m] : members)
      if (m.alive && pub->planner().roster().rank_of(name) > 0)
        last_receive.insert_or_assign(name, m.rx->receive(*h, m.buffer.data(), m.buffer.size()));
    return sent ? caf::error{} : sent.error();
  }

  bool holds(const member_id& name, int64_t version) {
    return members[name].buffer == pattern(version);
  }

  manual_clock clock;
  fake_fabric fabric;
  fake_collective* learner_comm = nullptr;
  std::unique_ptr<weight_publisher> pub;
  std::map<member_id, member> members;
  std::map<member_id, caf::expected<transfer_report>> last_receive;
  std::vector<uint8_t> weights;
  duration send_time{};
  caf::error publish_error;
};

TEST_F(WeightEndpoints, FirstVersionFormsAnEpochAndReachesEveryMember) {
  add("s1");
  add("s2");
  EXPECT_FALSE(pub->serves_all());
  ASSERT_FALSE(publish(1)) << describe(publish_error);
  EXPECT_EQ(pub->planner().roster().epoch, 1u);
  EXPECT_TRUE(pub->serves_all());
  EXPECT_TRUE(holds("s1", 1));
  EXPECT_TRUE(holds("s2", 1));
  EXPECT_EQ(members["s1"].rx->epoch(), 1u);
  ASSERT_FALSE(publish(2));
  EXPECT_EQ(pub->planner().roster().epoch, 1u) << "no new epoch without a change";
  EXPECT_TRUE(holds("s1", 2));
  EXPECT_TRUE(holds("s2", 2));
  EXPECT_EQ(pub->versions_sent(), 2u);
  EXPECT_EQ(members["s2"].rx->versions_received(), 2u);
  EXPECT_EQ(clock.elapsed(), 0s) << "nobody waited on anybody";
}

TEST_F(WeightEndpoints, JoinerIsNotServedUntilTheNextEpoch) {
  add("s1");
  ASSERT_FALSE(publish(1)) << describe(publish_error);
  add("s2");
  EXPECT_FALSE(pub->serves_all()) << "the learner must publish bytes for s2 meanwhile";
  ASSERT_FALSE(publish(2));
  EXPECT_EQ(pub->planner().roster().epoch, 2u);
  EXPECT_TRUE(pub->serves_all());
  EXPECT_TRUE(holds("s1", 2));
  EXPECT_TRUE(holds("s2", 2));
}

TEST_F(WeightEndpoints, MemberKilledMidVersionIsATypedErrorWithinItsBudgetThenDropped) {
  add("s1");
  auto& s2 = add("s2");
  ASSERT_FALSE(publish(1)) << describe(publish_error);
  // s2's process dies during version 2: it never posts its receives.
  s2.comm->crash();
  s2.alive = false;
  auto err = publish(2);
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, errc::collective_timeout)) << describe(err);
  EXPECT_NE(describe(err).find("epoch 1, version 2, bucket 1/40"), std::string::npos)
    << describe(err);
  // Bucket 1's budget: base 2 s + first-bucket grace 5 s + 256 B at 1 GB/s.
  EXPECT_LE(send_time, 7s + 1ms);
  EXPECT_EQ(pub->planner().state(), epoch_state::idle);
  EXPECT_FALSE(learner_comm->ready()) << "the communicator was aborted";
  // The next version forms epoch 2; s2 cannot accept and is dropped.
  ASSERT_FALSE(publish(3));
  EXPECT_EQ(pub->planner().roster().ranks, (std::vector<member_id>{"learner", "s1"}));
  EXPECT_EQ(pub->planner().dropped(), (std::vector<member_id>{"s2"}));
  EXPECT_TRUE(holds("s1", 3));
}

TEST_F(WeightEndpoints, ReceiverHookSeesEveryBucketInOrder) {
  std::vector<size_t> seen;
  add("s1", [&](int64_t version, size_t index) {
    if (version == 1)
      seen.push_back(index);
  });
  ASSERT_FALSE(publish(1)) << describe(publish_error);
  ASSERT_EQ(seen.size(), 40u);
  EXPECT_EQ(seen.front(), 0u);
  EXPECT_EQ(seen.back(), 39u);
}

TEST_F(WeightEndpoints, ReceiverRefusesOtherEpochsAndShortBuffersWithoutPosting) {
  auto& s1 = add("s1");
  ASSERT_FALSE(publish(1)) << describe(publish_error);
  auto h = *pub->announce(2, weight_bytes);
  auto wrong = h;
  wrong.epoch = 9;
  auto r = s1.rx->receive(wrong, s1.buffer.data(), s1.buffer.size());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::version_mismatch)) << describe(r.error());
  EXPECT_EQ(s1.rx->epoch(), 0u) << "it left the epoch; the learner will re-invite it";
  EXPECT_EQ(s1.comm->in_flight(), 0u);
}

TEST_F(WeightEndpoints, ShortBufferIsRefused) {
  auto& s1 = add("s1");
  ASSERT_FALSE(publish(1)) << describe(publish_error);
  auto h = *pub->announce(2, weight_bytes);
  auto r = s1.rx->receive(h, s1.buffer.data(), 100);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::invalid_argument)) << describe(r.error());
}

TEST_F(WeightEndpoints, NoMembersMeansSkipAndNoAnnouncement) {
  EXPECT_TRUE(is(publish(1), errc::not_ready));
  EXPECT_FALSE(pub->serves_all());
  EXPECT_TRUE(is(pub->announce(1, weight_bytes).error(), errc::not_ready));
}

TEST_F(WeightEndpoints, OpenWithABucketSizeOffTheAlignmentIsRefusedBeforeInit) {
  auto& s1 = add("s1");
  auto err = s1.rx->open(1, comm_id{}, 1, 2, 100);
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_FALSE(s1.comm->ready()) << "no init was attempted";
  EXPECT_EQ(clock.elapsed(), 0s);
}

} // namespace
} // namespace tandem::nccl
