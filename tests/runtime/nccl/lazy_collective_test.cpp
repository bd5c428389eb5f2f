// lazy_collective: the shape answered before the real collective exists,
// one make on the first post (by its deadline), a failed make closing it.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "runtime/error.hpp"
#include "runtime/nccl/lazy_collective.hpp"
#include "runtime/nccl/thread_group_collective.hpp"

namespace tandem::nccl {
namespace {

using namespace std::chrono_literals;

time_point in(duration d) { return clock_type::now() + d; }

TEST(LazyCollective, AnswersItsShapeThenMakesItsCollectiveOnTheFirstPost) {
  auto group = std::make_shared<thread_group>(2);
  std::vector<int> makes(2, 0);
  std::vector<time_point> asked(2);
  std::vector<std::unique_ptr<lazy_collective>> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.push_back(std::make_unique<lazy_collective>(
      lazy_collective::shape{r, 2, false, false},
      [&, r](time_point until) -> caf::expected<std::shared_ptr<reduce_collective>> {
        ++makes[r];
        asked[r] = until;
        return thread_group::share(group, r);
      }));
  EXPECT_TRUE(ranks[1]->ready());
  EXPECT_EQ(ranks[1]->rank(), 1);
  EXPECT_EQ(ranks[1]->ranks(), 2);
  EXPECT_FALSE(ranks[1]->made());
  const auto until = in(10s);
  std::vector<std::vector<float>> out(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      for (int k = 0; k < 2; ++k) {
        out[r] = {1.f + r};
        ASSERT_FALSE(ranks[r]->all_reduce_sum({out[r].data(), 1}, until));
      }
    });
  for (auto& t : threads)
    t.join();
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(out[r][0], 3.f);
    EXPECT_EQ(makes[r], 1);
    EXPECT_EQ(asked[r], until);
    EXPECT_TRUE(ranks[r]->made());
  }
}

TEST(LazyCollective, AFailedMakeClosesItWithItsError) {
  int makes = 0;
  lazy_collective c({0, 2, true, true}, [&](time_point) {
    ++makes;
    return caf::expected<std::shared_ptr<reduce_collective>>{
      make_error(errc::collective_timeout, "rank 1 did not init by the deadline")};
  });
  EXPECT_TRUE(c.device_memory());
  EXPECT_TRUE(c.device_ordered());
  std::vector<float> x{1.f};
  auto t = c.post(reduce_op::all_reduce, {x.data(), 1}, in(1s));
  ASSERT_FALSE(t);
  EXPECT_TRUE(is(t.error(), errc::collective_timeout)) << describe(t.error());
  EXPECT_FALSE(c.ready());
  EXPECT_EQ(c.ranks(), 0);
  auto again = c.post(reduce_op::all_reduce, {x.data(), 1}, in(1s));
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), errc::not_ready));
  EXPECT_EQ(makes, 1);
}

TEST(LazyCollective, ACollectiveOfAnotherShapeIsRefused) {
  auto group = std::make_shared<thread_group>(2);
  lazy_collective c({0, 2, false, false}, [&](time_point) {
    return caf::expected<std::shared_ptr<reduce_collective>>{thread_group::share(group, 1)};
  });
  std::vector<float> x{1.f};
  auto t = c.post(reduce_op::all_reduce, {x.data(), 1}, in(1s));
  ASSERT_FALSE(t);
  EXPECT_TRUE(is(t.error(), errc::backend_failure)) << describe(t.error());
  EXPECT_FALSE(c.ready());
}

} // namespace
} // namespace tandem::nccl
