// socket_collective_test: learner ranks' reductions over real ZeroMQ sockets
// (tcp://127.0.0.1, CURVE), one thread per rank: the same bits as the thread
// group, refusals that change nothing, and a missing, departed or foreign
// rank named in a typed error by the deadline. Only the hang tests wait for
// a deadline to pass (300 ms).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "runtime/error.hpp"
#include "runtime/nccl/thread_group_collective.hpp"
#include "runtime/transport/socket_collective.hpp"

namespace tandem::transport {
namespace {

using namespace std::chrono_literals;
using nccl::float_span;
using nccl::reduce_op;

constexpr char secret[] = "socket collective test secret 0123";

nccl::time_point in(nccl::duration d) { return nccl::clock_type::now() + d; }

std::string text(const caf::error& e) { return describe(e); }

void on_every_rank(int n, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back(body, r);
  for (auto& t : threads)
    t.join();
}

struct group {
  std::shared_ptr<transport_context> ctx;
  std::vector<std::unique_ptr<socket_collective>> ranks;
};

socket_collective_options options(int rank, int n, std::string endpoint, uint64_t id = 7) {
  socket_collective_options o;
  o.rank = rank;
  o.ranks = n;
  o.endpoint = std::move(endpoint);
  o.group = id;
  o.log = [](const std::string&) {};
  return o;
}

group make_group(int n) {
  group g;
  auto ctx = transport_context::with_secret(secret);
  EXPECT_TRUE(ctx) << text(ctx.error());
  g.ctx = *ctx;
  auto root = socket_collective::make(g.ctx, options(0, n, "tcp://127.0.0.1:*"));
  EXPECT_TRUE(root) << text(root.error());
  const auto ep = (*root)->endpoint();
  g.ranks.push_back(std::move(*root));
  for (int r = 1; r < n; ++r) {
    auto m = socket_collective::make(g.ctx, options(r, n, ep));
    EXPECT_TRUE(m) << text(m.error());
    g.ranks.push_back(std::move(*m));
  }
  return g;
}

// Values of very different magnitudes: the order of the additions shows.
std::vector<float> values(int rank, size_t count) {
  std::mt19937 gen(1234u + static_cast<unsigned>(rank));
  std::uniform_real_distribution<float> unit(-1.f, 1.f);
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i)
    v[i] = unit(gen) * (i % 3 == 0 ? 1e8f : i % 3 == 1 ? 1.f : 1e-7f);
  return v;
}

struct results {
  std::vector<std::vector<float>> sum, scatter, gather; // by rank
};

// all_reduce, reduce_scatter and all_gather posted back to back, one wait for
// the last: the pipelined path, on `coll(r)` for rank r.
results run_three(int n, const std::function<nccl::reduce_collective&(int)>& coll) {
  results out;
  out.sum.resize(n);
  out.scatter.resize(n);
  out.gather.resize(n);
  on_every_rank(n, [&](int r) {
    auto& c = coll(r);
    out.sum[r] = values(r, 1001);
    out.scatter[r] = values(r + 10, 12 * static_cast<size_t>(n));
    out.gather[r] = values(r + 20, 5 * static_cast<size_t>(n));
    auto a = c.post(reduce_op::all_reduce, {out.sum[r].data(), out.sum[r].size()}, in(10s));
    auto b = c.post(reduce_op::reduce_scatter,
                    {out.scatter[r].data(), out.scatter[r].size()}, in(10s));
    auto g = c.post(reduce_op::all_gather, {out.gather[r].data(), out.gather[r].size()},
                    in(10s));
    ASSERT_TRUE(a && b && g);
    auto err = c.wait(*g, in(10s));
    ASSERT_FALSE(err) << "rank " << r << ": " << text(err);
    // reduce_scatter: only this rank's shard is specified.
    const size_t shard = out.scatter[r].size() / static_cast<size_t>(n);
    out.scatter[r] = std::vector<float>(out.scatter[r].begin() + r * shard,
                                        out.scatter[r].begin() + (r + 1) * shard);
  });
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(SocketCollective, GivesTheThreadGroupsResultsBitForBit) {
  for (int n : {2, 3, 4}) {
    auto sockets = make_group(n);
    nccl::thread_group threads(n);
    auto got = run_three(n, [&](int r) -> nccl::reduce_collective& { return *sockets.ranks[r]; });
    auto want = run_three(n, [&](int r) -> nccl::reduce_collective& { return threads.member(r); });
    for (int r = 0; r < n; ++r) {
      EXPECT_TRUE(same_bits(got.sum[r], want.sum[r])) << n << " ranks, rank " << r;
      EXPECT_TRUE(same_bits(got.sum[r], got.sum[0])) << n << " ranks, rank " << r;
      EXPECT_TRUE(same_bits(got.scatter[r], want.scatter[r])) << n << " ranks, rank " << r;
      EXPECT_TRUE(same_bits(got.gather[r], want.gather[r])) << n << " ranks, rank " << r;
      EXPECT_EQ(sockets.ranks[r]->stats().operations, 3u);
    }
    // A gather copies: every rank holds every rank's shard as it was sent.
    for (int q = 0; q < n; ++q) {
      auto shard = values(q + 20, 5 * static_cast<size_t>(n));
      EXPECT_EQ(0, std::memcmp(got.gather[0].data() + 5 * q, shard.data() + 5 * q,
                               5 * sizeof(float)));
    }
  }
}

// 1e8 + 1 rounds to 1e8 in float32: rank order or bust.
TEST(SocketCollective, AddsInRankOrderWhateverTheArrivalOrder) {
  auto g = make_group(4);
  const std::vector<float> xs = {1e8f, 1.f, -1e8f, 1.f};
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<std::vector<float>> out(4);
    on_every_rank(4, [&](int r) {
      if (r == trial % 4) // one rank comes late each time
        std::this_thread::yield();
      out[r] = {xs[r]};
      auto err = g.ranks[r]->all_reduce_sum({out[r].data(), 1}, in(10s));
      ASSERT_FALSE(err) << text(err);
    });
    for (int r = 0; r < 4; ++r)
      EXPECT_EQ(out[r][0], ((1e8f + 1.f) + -1e8f) + 1.f) << "rank " << r;
  }
}

TEST(SocketCollective, RefusesAnUnpaddedCountAndStaysOpen) {
  auto g = make_group(2);
  std::vector<float> five(5, 1.f);
  auto t = g.ranks[1]->post(reduce_op::reduce_scatter, {five.data(), 5}, in(1s));
  ASSERT_FALSE(t);
  EXPECT_TRUE(is(t.error(), errc::invalid_argument)) << text(t.error());
  EXPECT_TRUE(g.ranks[1]->ready());
  std::vector<std::vector<float>> out(2, std::vector<float>{2.f});
  on_every_rank(2, [&](int r) {
    ASSERT_FALSE(g.ranks[r]->all_reduce_sum({out[r].data(), 1}, in(10s)));
  });
  EXPECT_EQ(out[1][0], 4.f);
}

TEST(SocketCollective, RanksPostingDifferentOperationsBothFail) {
  auto g = make_group(2);
  std::vector<caf::error> errs(2);
  on_every_rank(2, [&](int r) {
    std::vector<float> buf(r == 0 ? 4 : 6, 1.f);
    errs[r] = g.ranks[r]->all_reduce_sum({buf.data(), buf.size()}, in(10s));
  });
  EXPECT_TRUE(is(errs[0], errc::backend_failure)) << text(errs[0]);
  EXPECT_NE(text(errs[0]).find("rank 1 posted all_reduce of 6"), std::string::npos)
    << text(errs[0]);
  EXPECT_TRUE(is(errs[1], errc::backend_failure)) << text(errs[1]);
  EXPECT_FALSE(g.ranks[0]->ready());
  EXPECT_FALSE(g.ranks[1]->ready());
}

// Rank 2 never posts. Rank 0 names it at its deadline; rank 1, whose own
// deadline is far off, learns it from rank 0 at once.
TEST(SocketCollective, AHungRankIsNamedByTheDeadline) {
  auto g = make_group(3);
  std::vector<caf::error> errs(2);
  std::vector<nccl::duration> took(2);
  on_every_rank(2, [&](int r) {
    std::vector<float> buf(8, 1.f);
    const auto start = nccl::clock_type::now();
    errs[r] = g.ranks[r]->all_reduce_sum({buf.data(), buf.size()}, in(r == 0 ? 300ms : 20s));
    took[r] = nccl::clock_type::now() - start;
  });
  EXPECT_TRUE(is(errs[0], errc::collective_timeout)) << text(errs[0]);
  EXPECT_NE(text(errs[0]).find("rank 2 did not join by the deadline"), std::string::npos)
    << text(errs[0]);
  EXPECT_GE(took[0], 300ms);
  EXPECT_LT(took[0], 5s);
  EXPECT_TRUE(is(errs[1], errc::collective_timeout)) << text(errs[1]);
  EXPECT_NE(text(errs[1]).find("rank 2"), std::string::npos) << text(errs[1]);
  EXPECT_LT(took[1], 10s);
  // Closed after the error: nothing more is posted.
  std::vector<float> one{1.f};
  auto t = g.ranks[1]->post(reduce_op::all_reduce, {one.data(), 1}, in(1s));
  ASSERT_FALSE(t);
  EXPECT_TRUE(is(t.error(), errc::not_ready));
}

// Rank 2's learner closed (its process is ending): the others stop at once
// with peer_down naming it, long before their deadline.
TEST(SocketCollective, ADepartedRankGivesPeerDownAtOnce) {
  auto g = make_group(3);
  g.ranks[2].reset();
  std::vector<caf::error> errs(2);
  const auto start = nccl::clock_type::now();
  on_every_rank(2, [&](int r) {
    std::vector<float> buf(8, 1.f);
    errs[r] = g.ranks[r]->all_reduce_sum({buf.data(), buf.size()}, in(30s));
  });
  EXPECT_LT(nccl::clock_type::now() - start, 10s);
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(is(errs[r], errc::peer_down)) << text(errs[r]);
    EXPECT_NE(text(errs[r]).find("rank 2 left"), std::string::npos) << text(errs[r]);
  }
}

// Rank 1's process was SIGKILLed (no leave note); the head learns it from
// CAF and tells rank 0's collective, whose wait ends long before its
// deadline with that error naming rank 1, and rank 2 hears it from rank 0.
TEST(SocketCollective, AnAbortFromOutsideEndsTheWaitsAtOnce) {
  auto g = make_group(3);
  // One step together first: every rank is connected to rank 0 (a rank that
  // is not yet gets no relay and stops at its own deadline).
  on_every_rank(3, [&](int r) {
    std::vector<float> buf(8, 1.f);
    ASSERT_FALSE(g.ranks[r]->all_reduce_sum({buf.data(), buf.size()}, in(10s)));
  });
  std::vector<caf::error> errs(3);
  const auto start = nccl::clock_type::now();
  std::thread head([&] {
    g.ranks[0]->abort_from_outside(1, make_error(errc::peer_down, "rank 1's process is gone"));
  });
  on_every_rank(3, [&](int r) {
    if (r == 1)
      return; // dead
    std::vector<float> buf(8, 1.f);
    errs[r] = g.ranks[r]->all_reduce_sum({buf.data(), buf.size()}, in(30s));
  });
  head.join();
  EXPECT_LT(nccl::clock_type::now() - start, 10s);
  for (int r : {0, 2}) {
    EXPECT_TRUE(is(errs[r], errc::peer_down)) << text(errs[r]);
    EXPECT_NE(text(errs[r]).find("rank 1's process is gone"), std::string::npos)
      << text(errs[r]);
  }
  EXPECT_FALSE(g.ranks[0]->ready());
}

// A rank whose rank 0 never waits (its process hangs or was SIGKILLed).
TEST(SocketCollective, AMissingRankZeroIsNamedByTheDeadline) {
  auto g = make_group(2);
  std::vector<float> buf(8, 1.f);
  const auto start = nccl::clock_type::now();
  auto err = g.ranks[1]->all_reduce_sum({buf.data(), buf.size()}, in(300ms));
  EXPECT_GE(nccl::clock_type::now() - start, 300ms);
  EXPECT_TRUE(is(err, errc::collective_timeout)) << text(err);
  EXPECT_NE(text(err).find("rank 0 did not answer"), std::string::npos) << text(err);
  EXPECT_FALSE(g.ranks[1]->ready());
}

// A member of another group (a stale rank of an earlier learner) is ignored:
// rank 0 counts its message as dropped and names rank 1 as missing.
TEST(SocketCollective, IgnoresAnotherGroupsRank) {
  auto ctx = transport_context::with_secret(secret);
  ASSERT_TRUE(ctx);
  auto root = socket_collective::make(*ctx, options(0, 2, "tcp://127.0.0.1:*", 7));
  ASSERT_TRUE(root);
  auto stranger = socket_collective::make(*ctx, options(1, 2, (*root)->endpoint(), 8));
  ASSERT_TRUE(stranger);
  std::vector<float> mine{1.f}, theirs{2.f};
  ASSERT_TRUE((*stranger)->post(reduce_op::all_reduce, {theirs.data(), 1}, in(1s)));
  auto err = (*root)->all_reduce_sum({mine.data(), 1}, in(1s));
  EXPECT_TRUE(is(err, errc::collective_timeout)) << text(err);
  EXPECT_NE(text(err).find("rank 1 did not join"), std::string::npos) << text(err);
  EXPECT_GE((*root)->stats().dropped, 1u);
  EXPECT_EQ(mine[0], 1.f);
}

TEST(SocketCollective, RefusesImpossibleRanks) {
  auto ctx = transport_context::with_secret(secret);
  ASSERT_TRUE(ctx);
  for (auto [r, n] : {std::pair{0, 1}, std::pair{2, 2}, std::pair{-1, 3}}) {
    auto c = socket_collective::make(*ctx, options(r, n, "tcp://127.0.0.1:*"));
    ASSERT_FALSE(c);
    EXPECT_TRUE(is(c.error(), errc::invalid_argument));
  }
}

} // namespace
} // namespace tandem::transport
