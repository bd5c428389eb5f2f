// eval_split_test: the problems a policy is evaluated on (tasks/eval_split.hpp).
#include "tasks/eval_split.hpp"

#include <set>

#include <gtest/gtest.h>

#include "tasks/countdown_task.hpp"

namespace tandem {
namespace {

TEST(EvalSplit, TheArithmeticTableHoldsEveryProblemTheTaskCanDraw) {
  arithmetic_config cfg{2, 5, "+-*", 9};
  auto table = arithmetic_table(cfg, 1000);
  ASSERT_EQ(table.size(), 4u * 4u * 3u);
  EXPECT_EQ(arithmetic_table_size(cfg), 48u);
  std::set<std::pair<std::string, std::string>> all;
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(table[i].id, i);
    all.insert({table[i].question, table[i].answer});
  }
  EXPECT_EQ(all.size(), table.size()) << "no problem twice";
  auto task = arithmetic_task::make(cfg);
  ASSERT_TRUE(task);
  for (int i = 0; i < 2000; ++i) {
    auto p = (*task)->next();
    EXPECT_TRUE(all.count({p.question, p.answer})) << p.question << p.answer;
  }
  EXPECT_EQ(table.front().question, "2+2=");
  EXPECT_EQ(table[1].question, "2-2=");
  EXPECT_EQ(table[2].answer, "4"); // 2*2
}

TEST(EvalSplit, ALargeTableIsSampledEvenlyUpToSize) {
  arithmetic_config cfg{0, 999, "+", 1};
  auto table = arithmetic_table(cfg, 10);
  ASSERT_EQ(table.size(), 10u);
  EXPECT_EQ(table[0].question, "0+0=");
  EXPECT_EQ(table[5].question, "500+0="); // index 5 * 10^6 / 10
  arithmetic_config huge{0, 1000000000, "+-*", 1};
  EXPECT_EQ(arithmetic_table(huge, 3).size(), 3u) << "no overflow past 2^64 / 3";
}

TEST(EvalSplit, JsonlTailIsTheLastTenthSpreadToSize) {
  std::vector<problem> rows(25);
  for (size_t i = 0; i < rows.size(); ++i)
    rows[i].question = std::to_string(i);
  auto tail = tail_split(rows, 100);
  ASSERT_EQ(tail.size(), 3u); // ceil(25 / 10)
  EXPECT_EQ(tail[0].question, "22");
  EXPECT_EQ(tail[2].question, "24");
  EXPECT_EQ(tail[2].id, 2u);
  EXPECT_EQ(tail_split(rows, 1).size(), 1u);
  EXPECT_EQ(spread_evenly(rows, 5).back().question, "20");
  EXPECT_TRUE(tail_split({}, 4).empty());
}

TEST(EvalSplit, GeneratedTasksEvaluateOnAnotherSeed) {
  for (uint64_t s : {0ull, 1ull, 7ull, ~0ull})
    EXPECT_NE(held_out_seed(s), s);
  EXPECT_EQ(held_out_seed(7), held_out_seed(7));
  countdown_config c;
  c.seed = 7;
  auto train = countdown_task::make(c);
  c.seed = held_out_seed(7);
  auto held = countdown_task::make(c);
  ASSERT_TRUE(train && held);
  auto a = take_problems(**train, 20), b = take_problems(**held, 20);
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i)
    same += a[i].question == b[i].question ? 1 : 0;
  EXPECT_LT(same, 3u);
  EXPECT_EQ(b[19].id, 19u);
}

} // namespace
} // namespace tandem
