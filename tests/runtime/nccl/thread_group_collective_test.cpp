// thread_group_collective: sums in rank order on every rank whatever the
// thread timing, equal shards, and a dead rank named in a typed error by the
// deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "runtime/error.hpp"
#include "runtime/nccl/thread_group_collective.hpp"

namespace tandem::nccl {
namespace {

using namespace std::chrono_literals;

time_point in(duration d) { return clock_type::now() + d; }

// Runs body(rank) on one thread per rank and joins them all.
void on_every_rank(int n, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back(body, r);
  for (auto& t : threads)
    t.join();
}

TEST(ShardCount, PadsToAMultipleOfTheRanks) {
  EXPECT_EQ(shard_count(10, 4), 3u);
  EXPECT_EQ(padded_count(10, 4), 12u);
  EXPECT_EQ(padded_count(12, 4), 12u);
  EXPECT_EQ(padded_count(0, 3), 0u);
}

// 1e8 + 1 rounds to 1e8 in float32: the order of the additions shows.
TEST(ThreadGroupCollective, AllReduceAddsInRankOrderIdenticallyOnEveryRank) {
  const std::vector<float> values = {1e8f, 1.f, -1e8f, 1.f};
  for (int trial = 0; trial < 20; ++trial) {
    thread_group g(4);
    std::vector<std::vector<float>> out(4);
    on_every_rank(4, [&](int r) {
      out[r] = {values[r], float(r)};
      ASSERT_FALSE(g.member(r).all_reduce_sum({out[r].data(), 2}, in(10s)));
    });
    for (int r = 0; r < 4; ++r) {
      EXPECT_EQ(out[r][0], ((1e8f + 1.f) + -1e8f) + 1.f) << "rank " << r;
      EXPECT_EQ(out[r][1], 6.f);
    }
  }
}

TEST(ThreadGroupCollective, ReduceScatterLeavesEachRankTheSumOfItsShard) {
  thread_group g(3);
  std::vector<std::vector<float>> out(3);
  on_every_rank(3, [&](int r) {
    out[r] = {1.f * r, 2.f * r, 3.f * r, 4.f * r, 5.f * r, 6.f * r};
    ASSERT_FALSE(g.member(r).reduce_scatter_sum({out[r].data(), 6}, in(10s)));
  });
  for (int r = 0; r < 3; ++r) // sum over ranks of k * r = 3k
    for (int i = 0; i < 2; ++i)
      EXPECT_EQ(out[r][2 * r + i], 3.f * (2 * r + i + 1)) << "rank " << r;
}

TEST(ThreadGroupCollective, AllGatherAssemblesTheShardsInRankOrder) {
  thread_group g(3);
  std::vector<std::vector<float>> out(3);
  on_every_rank(3, [&](int r) {
    out[r].assign(6, -1.f);
    out[r][2 * r] = 10.f * r;
    out[r][2 * r + 1] = 10.f * r + 1;
    ASSERT_FALSE(g.member(r).all_gather({out[r].data(), 6}, in(10s)));
  });
  for (int r = 0; r < 3; ++r)
    EXPECT_EQ(out[r], (std::vector<float>{0, 1, 10, 11, 20, 21})) << "rank " << r;
}

TEST(ThreadGroupCollective, PostedOperationsCompleteInOrderWithTheLastTicket) {
  thread_group g(2);
  std::vector<std::vector<float>> a(2), b(2);
  on_every_rank(2, [&](int r) {
    a[r] = {1.f + r};
    b[r] = {10.f * (r + 1), 0.f};
    auto& c = g.member(r);
    auto t0 = c.post(reduce_op::all_reduce, {a[r].data(), 1}, in(10s));
    auto t1 = c.post(reduce_op::reduce_scatter, {b[r].data(), 2}, in(10s));
    ASSERT_TRUE(t0 && t1);
    EXPECT_EQ(*t1, *t0 + 1);
    ASSERT_FALSE(c.wait(*t1, in(10s)));
  });
  EXPECT_EQ(a[0][0], 3.f);
  EXPECT_EQ(a[1][0], 3.f);
  EXPECT_EQ(b[0][0], 30.f);
  EXPECT_EQ(b[1][1], 0.f);
}

TEST(ThreadGroupCollective, UnpaddedShardsAreRefusedWithoutClosing) {
  thread_group g(2);
  std::vector<float> x(3);
  auto t = g.member(0).post(reduce_op::all_gather, {x.data(), 3}, in(1s));
  ASSERT_FALSE(t);
  EXPECT_TRUE(is(t.error(), errc::invalid_argument)) << describe(t.error());
  EXPECT_TRUE(g.member(0).ready());
}

TEST(ThreadGroupCollective, RanksThatPostDifferentCountsGetABackendFailure) {
  thread_group g(2);
  std::vector<float> x(4);
  ASSERT_TRUE(g.member(0).post(reduce_op::all_reduce, {x.data(), 4}, in(1s)));
  auto t = g.member(1).post(reduce_op::all_reduce, {x.data(), 2}, in(1s));
  ASSERT_FALSE(t);
  EXPECT_TRUE(is(t.error(), errc::backend_failure)) << describe(t.error());
  EXPECT_NE(describe(t.error()).find("rank 0"), std::string::npos);
}

TEST(ThreadGroupCollective, ADeadRankIsReportedAsPeerDownNamingItAtOnce) {
  thread_group g(3, death_mode::remote_error);
  g.kill(2);
  std::vector<std::vector<float>> x(2, std::vector<float>(1, 1.f));
  std::vector<caf::error> errs(2);
  const auto start = clock_type::now();
  on_every_rank(2, [&](int r) { errs[r] = g.member(r).all_reduce_sum({x[r].data(), 1}, in(60s)); });
  EXPECT_LT(clock_type::now() - start, 30s); // not the deadline
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(is(errs[r], errc::peer_down)) << describe(errs[r]);
    EXPECT_NE(describe(errs[r]).find("rank 2"), std::string::npos) << describe(errs[r]);
    EXPECT_FALSE(g.member(r).ready());
    EXPECT_EQ(x[r][0], 1.f); // the buffer is not written
  }
}

TEST(ThreadGroupCollective, AHangingDeadRankTimesOutAtTheDeadlineNamingIt) {
  thread_group g(2, death_mode::hang);
  g.kill(1);
  std::vector<float> x(1, 1.f);
  const auto start = clock_type::now();
  auto err = g.member(0).all_reduce_sum({x.data(), 1}, start + 50ms);
  EXPECT_GE(clock_type::now() - start, 50ms);
  EXPECT_TRUE(is(err, errc::collective_timeout)) << describe(err);
  EXPECT_NE(describe(err).find("rank 1"), std::string::npos) << describe(err);
  auto again = g.member(0).post(reduce_op::all_reduce, {x.data(), 1}, in(1s));
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), errc::not_ready));
}

TEST(ThreadGroupCollective, DieAtStopsARankAtItsKthPost) {
  thread_group g(2, death_mode::remote_error);
  g.die_at(1, 1);
  std::vector<std::vector<float>> x(2, std::vector<float>(2, 1.f));
  std::vector<caf::error> second(2);
  on_every_rank(2, [&](int r) {
    auto& c = g.member(r);
    ASSERT_FALSE(c.all_reduce_sum({x[r].data(), 2}, in(10s)));
    second[r] = c.all_reduce_sum({x[r].data(), 2}, in(10s));
  });
  EXPECT_EQ(x[0][0], 2.f); // the first operation completed
  EXPECT_TRUE(is(second[0], errc::peer_down)) << describe(second[0]);
  EXPECT_NE(describe(second[0]).find("rank 1"), std::string::npos);
  EXPECT_TRUE(is(second[1], errc::peer_down)) << describe(second[1]);
}

} // namespace
} // namespace tandem::nccl
