// fake_collective and poll_until: deadlines expire at exact fake times, a
// dead peer hangs or errors, and every failure leaves the collective closed.
#include <gtest/gtest.h>

#include <chrono>
#include <numeric>

#include "runtime/error.hpp"
#include "runtime/nccl/fake_collective.hpp"
#include "runtime/nccl/manual_clock.hpp"
#include "runtime/nccl/poll.hpp"

namespace tandem::nccl {
namespace {

using namespace std::chrono_literals;

TEST(PollUntil, ProbesAtLeastOnceEvenPastTheDeadline) {
  manual_clock clock;
  int probes = 0;
  auto state = poll_until(clock, clock.now() - 1s, [&] {
    ++probes;
    return poll_state::done;
  });
  EXPECT_EQ(state, poll_state::done);
  EXPECT_EQ(probes, 1);
}

TEST(PollUntil, GivesUpAtTheFirstTickAtOrAfterTheDeadline) {
  manual_clock clock;
  auto state = poll_until(clock, clock.now() + 3s, [] { return poll_state::pending; });
  EXPECT_EQ(state, poll_state::pending);
  EXPECT_GE(clock.elapsed(), 3s);
  EXPECT_LT(clock.elapsed(), 3s + 1ms + 1us);
}

TEST(PollUntil, StopsAtTheFirstFailure) {
  manual_clock clock;
  int probes = 0;
  auto state = poll_until(clock, clock.now() + 1s, [&] {
    return ++probes == 3 ? poll_state::failed : poll_state::pending;
  });
  EXPECT_EQ(state, poll_state::failed);
  EXPECT_EQ(probes, 3);
}

struct two_ranks {
  manual_clock clock;
  fake_fabric fabric;
  fake_collective root{fabric, clock};
  fake_collective peer{fabric, clock};
  comm_id id;

  explicit two_ranks(death_mode mode = death_mode::hang) : fabric(mode) {
    id = *root.make_id();
  }
  void init_both() {
    ASSERT_FALSE(peer.init(1, 2, id, clock.now() + 1s));
    ASSERT_FALSE(root.init(0, 2, id, clock.now() + 1s));
  }
};

TEST(FakeCollective, BroadcastCopiesTheRootsBytesIntoTheReceiver) {
  two_ranks t;
  t.init_both();
  std::vector<uint8_t> a(100), b(100, 0);
  std::iota(a.begin(), a.end(), 1);
  ASSERT_FALSE(broadcast(t.root, a.data(), a.size(), 0, t.clock.now() + 1s));
  ASSERT_FALSE(broadcast(t.peer, b.data(), b.size(), 0, t.clock.now() + 1s));
  EXPECT_EQ(a, b);
  EXPECT_EQ(t.fabric.broadcasts(t.id), 1u);
  EXPECT_EQ(t.clock.elapsed(), 0s);
}

TEST(FakeCollective, MakesADifferentIdEachTime) {
  two_ranks t;
  EXPECT_NE(*t.root.make_id(), *t.root.make_id());
}

TEST(FakeCollective, RootInitTimesOutWhenAPeerNeverJoins) {
  two_ranks t;
  auto err = t.root.init(0, 2, t.id, t.clock.now() + 30s);
  EXPECT_TRUE(is(err, errc::collective_timeout)) << describe(err);
  EXPECT_GE(t.clock.elapsed(), 30s);
  EXPECT_LT(t.clock.elapsed(), 30s + 2ms);
  EXPECT_FALSE(t.root.ready());
  EXPECT_EQ(t.root.aborts(), 1u);
}

TEST(FakeCollective, DeadPeerHangsTheRootUntilTheDeadlineThenAborts) {
  two_ranks t;
  t.init_both();
  t.peer.crash();
  std::vector<uint8_t> a(10);
  auto err = broadcast(t.root, a.data(), a.size(), 0, t.clock.now() + 2s);
  EXPECT_TRUE(is(err, errc::collective_timeout)) << describe(err);
  EXPECT_GE(t.clock.elapsed(), 2s);
  EXPECT_LT(t.clock.elapsed(), 2s + 2ms);
  EXPECT_FALSE(t.root.ready());
  EXPECT_EQ(t.root.aborts(), 1u);
  // closed: a further call is refused at once, without waiting
  EXPECT_TRUE(is(broadcast(t.root, a.data(), 10, 0, t.clock.now() + 2s),
                 errc::not_ready));
}

TEST(FakeCollective, DeadPeerIsPeerDownAtOnceWhenTheTransportNotices) {
  two_ranks t{death_mode::remote_error};
  t.init_both();
  t.peer.crash();
  std::vector<uint8_t> a(10);
  auto err = broadcast(t.root, a.data(), a.size(), 0, t.clock.now() + 2s);
  EXPECT_TRUE(is(err, errc::peer_down)) << describe(err);
  EXPECT_EQ(t.clock.elapsed(), 0s);
  EXPECT_FALSE(t.root.ready());
}

TEST(FakeCollective, ReceiverTimesOutWhenTheRootNeverSends) {
  two_ranks t;
  t.init_both();
  std::vector<uint8_t> b(10);
  auto err = broadcast(t.peer, b.data(), b.size(), 0, t.clock.now() + 5s);
  EXPECT_TRUE(is(err, errc::collective_timeout));
  EXPECT_GE(t.clock.elapsed(), 5s);
}

TEST(FakeCollective, ScriptedHangTimesOutOnlyThatCall) {
  two_ranks t;
  t.init_both();
  t.root.hang_at_broadcast(1);
  std::vector<uint8_t> a(10);
  EXPECT_FALSE(broadcast(t.root, a.data(), 10, 0, t.clock.now() + 1s));
  EXPECT_TRUE(is(broadcast(t.root, a.data(), 10, 0, t.clock.now() + 1s),
                 errc::collective_timeout));
}

TEST(FakeCollective, SlowLinkMissesADeadlineShorterThanTheTransfer) {
  two_ranks t;
  t.fabric.set_link_bytes_per_s(1e6); // 1 MB/s: 10 MB take 10 s
  t.init_both();
  std::vector<uint8_t> a(10'000'000);
  EXPECT_TRUE(is(broadcast(t.root, a.data(), a.size(), 0, t.clock.now() + 5s),
                 errc::collective_timeout));
}

TEST(FakeCollective, PostReturnsAtOnceAndTicketsCompleteInPostingOrder) {
  two_ranks t;
  t.fabric.set_link_bytes_per_s(1000); // 1000 bytes: 1 s
  t.init_both();
  std::vector<uint8_t> a(1000, 7), b(2000, 8), c(1000), d(2000);
  auto t0 = t.root.post({{a.data(), a.size()}}, 0, t.clock.now() + 1s);
  auto t1 = t.root.post({{b.data(), b.size()}}, 0, t.clock.now() + 1s);
  ASSERT_TRUE(t0 && t1);
  EXPECT_EQ(t.clock.elapsed(), 0s);
  EXPECT_EQ(t.root.in_flight(), 2u);
  ASSERT_FALSE(t.root.wait(*t1, t.clock.now() + 5s)) << "the later ticket first";
  EXPECT_EQ(t.clock.elapsed(), 3s) << "back to back: 1 s, then 2 s";
  EXPECT_EQ(t.root.in_flight(), 0u);
  EXPECT_FALSE(t.root.wait(*t0, t.clock.now())) << "done already: no wait";
  auto r0 = t.peer.post({{c.data(), c.size()}}, 0, t.clock.now() + 1s);
  auto r1 = t.peer.post({{d.data(), d.size()}}, 0, t.clock.now() + 1s);
  ASSERT_FALSE(t.peer.wait(*r1, t.clock.now() + 1s));
  EXPECT_EQ(c, a);
  EXPECT_EQ(d, b);
}

TEST(FakeCollective, WaitForATicketNotPostedSinceInitIsRefused) {
  two_ranks t;
  t.init_both();
  std::vector<uint8_t> a(10);
  auto posted = t.root.post({{a.data(), a.size()}}, 0, t.clock.now() + 1s);
  ASSERT_TRUE(posted);
  EXPECT_TRUE(is(t.root.wait(*posted + 1, t.clock.now() + 1s), errc::invalid_argument));
  EXPECT_TRUE(t.root.ready()) << "a refusal changes nothing";
}

TEST(FakeCollective, PostingPastTheInFlightBoundIsRefusedWithoutClosing) {
  two_ranks t;
  t.init_both();
  std::vector<uint8_t> a(1);
  for (size_t i = 0; i < collective::max_in_flight; ++i)
    ASSERT_TRUE(t.root.post({{a.data(), 1}}, 0, t.clock.now() + 1s));
  auto over = t.root.post({{a.data(), 1}}, 0, t.clock.now() + 1s);
  EXPECT_TRUE(is(over.error(), errc::capacity_exceeded));
  EXPECT_TRUE(t.root.ready());
}

TEST(FakeCollective, CrashAtAFutureTimeStopsOnlyTheOpsEndingAfterIt) {
  two_ranks t;
  t.fabric.set_link_bytes_per_s(1000);
  t.init_both();
  t.peer.crash_at(t.clock.now() + 1500ms);
  std::vector<uint8_t> a(1000);
  auto t0 = t.root.post({{a.data(), a.size()}}, 0, t.clock.now() + 1s);
  auto t1 = t.root.post({{a.data(), a.size()}}, 0, t.clock.now() + 1s);
  ASSERT_FALSE(t.root.wait(*t0, t.clock.now() + 5s));
  EXPECT_EQ(t.clock.elapsed(), 1s);
  EXPECT_TRUE(is(t.root.wait(*t1, t.clock.now() + 5s), errc::collective_timeout));
  EXPECT_EQ(t.fabric.broadcasts(t.id), 1u);
  EXPECT_EQ(t.root.in_flight(), 0u);
}

TEST(FakeCollective, RefusesInitWhileReadyAndRanksOutOfRange) {
  two_ranks t;
  t.init_both();
  EXPECT_TRUE(is(t.root.init(0, 2, t.id, t.clock.now() + 1s), errc::invalid_argument));
  fake_collective other{t.fabric, t.clock};
  EXPECT_TRUE(is(other.init(2, 2, t.id, t.clock.now() + 1s), errc::invalid_argument));
  EXPECT_TRUE(is(other.init(1, 2, t.id, t.clock.now() + 1s), errc::invalid_argument))
    << "rank 1 is taken";
}

TEST(FakeCollective, CloseIsGracefulAndCountedApartFromAbort) {
  two_ranks t;
  t.init_both();
  t.root.close(t.clock.now() + 1s);
  EXPECT_FALSE(t.root.ready());
  EXPECT_EQ(t.root.closes(), 1u);
  EXPECT_EQ(t.root.aborts(), 0u);
}

} // namespace
} // namespace tandem::nccl
