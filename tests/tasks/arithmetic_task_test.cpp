// arithmetic_task_test.cpp: determinism, correctness and validation of the
// seeded arithmetic source, and the unbiased draw underneath it.
#include <cstdint>
#include <memory>

#include "tasks/arithmetic_task.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "runtime/error.hpp"
#include "tasks/internal/splitmix64.hpp"

namespace tandem {
namespace {

std::unique_ptr<arithmetic_task> make_task(int64_t min, int64_t max,
                                           std::string ops, uint64_t seed) {
  arithmetic_config cfg;
  cfg.min_operand = min;
  cfg.max_operand = max;
  cfg.ops = std::move(ops);
  cfg.seed = seed;
  auto task = arithmetic_task::make(cfg);
  EXPECT_TRUE(task) << describe(task.error());
  return task ? std::move(*task) : nullptr;
}

std::vector<problem> take(problem_source& src, size_t n) {
  std::vector<problem> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(src.next());
  return out;
}

struct parsed {
  int64_t a;
  char op;
  int64_t b;
};

parsed parse_question(const std::string& q) {
  // operands are non-negative, so the op is the first non-digit
  size_t i = q.find_first_not_of("0123456789");
  parsed p{std::stoll(q.substr(0, i)), q[i], std::stoll(q.substr(i + 1))};
  EXPECT_EQ(q.back(), '=') << q;
  return p;
}

TEST(Splitmix64, MatchesTheReferenceStream) {
  // First outputs of Vigna's splitmix64.c with x = 0.
  uint64_t state = 0;
  EXPECT_EQ(internal::splitmix64_next(state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(internal::splitmix64_next(state), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(internal::splitmix64_next(state), 0x06C45D188009454Full);
}

TEST(ArithmeticTask, GoldenFirstProblemsForSeed7PinCrossPlatformDeterminism) {
  auto task = make_task(0, 9, "+", 7);
  ASSERT_TRUE(task);
  const std::vector<std::pair<std::string, std::string>> golden = {
    {"7+4=", "11"}, {"6+3=", "9"}, {"4+5=", "9"}, {"8+2=", "10"}, {"5+5=", "10"},
  };
  for (size_t i = 0; i < golden.size(); ++i) {
    auto p = task->next();
    EXPECT_EQ(p.id, i);
    EXPECT_EQ(p.question, golden[i].first) << "problem " << i;
    EXPECT_EQ(p.answer, golden[i].second) << "problem " << i;
  }
}

TEST(ArithmeticTask, GoldenMixedOpsForSeed7) {
  auto task = make_task(0, 99, "+-*", 7);
  ASSERT_TRUE(task);
  const std::vector<std::pair<std::string, std::string>> golden = {
    {"87+4=", "91"}, {"3+74=", "77"}, {"98*82=", "8036"}, {"25-83=", "-58"},
    {"90+44=", "134"},
  };
  for (const auto& [q, a] : golden) {
    auto p = task->next();
    EXPECT_EQ(p.question, q);
    EXPECT_EQ(p.answer, a);
  }
}

TEST(ArithmeticTask, SameSeedGivesTheSameSequence) {
  auto x = make_task(0, 99, "+-*", 42);
  auto y = make_task(0, 99, "+-*", 42);
  auto px = take(*x, 100);
  auto py = take(*y, 100);
  for (size_t i = 0; i < px.size(); ++i) {
    EXPECT_EQ(px[i].id, i);
    EXPECT_EQ(px[i].id, py[i].id);
    EXPECT_EQ(px[i].question, py[i].question);
    EXPECT_EQ(px[i].answer, py[i].answer);
  }
}

TEST(ArithmeticTask, DifferentSeedsGiveDifferentSequences) {
  auto x = make_task(0, 99, "+-*", 1);
  auto y = make_task(0, 99, "+-*", 2);
  auto px = take(*x, 100);
  auto py = take(*y, 100);
  size_t differing = 0;
  for (size_t i = 0; i < px.size(); ++i)
    differing += px[i].question != py[i].question;
  EXPECT_GT(differing, 90u);
}

TEST(ArithmeticTask, AnswersAreCorrectAndOperandsStayInRange) {
  auto task = make_task(3, 17, "+-*", 5);
  for (const auto& p : take(*task, 2000)) {
    auto q = parse_question(p.question);
    EXPECT_GE(q.a, 3);
    EXPECT_LE(q.a, 17);
    EXPECT_GE(q.b, 3);
    EXPECT_LE(q.b, 17);
    int64_t expected = q.op == '+' ? q.a + q.b : q.op == '-' ? q.a - q.b : q.a * q.b;
    EXPECT_EQ(p.answer, std::to_string(expected)) << p.question;
  }
}

TEST(ArithmeticTask, EveryOpAndBothRangeEndsAppear) {
  auto task = make_task(0, 9, "+-*", 11);
  std::set<char> ops;
  std::set<int64_t> operands;
  bool negative = false;
  for (const auto& p : take(*task, 1000)) {
    auto q = parse_question(p.question);
    ops.insert(q.op);
    operands.insert(q.a);
    operands.insert(q.b);
    negative |= p.answer.front() == '-';
  }
  EXPECT_EQ(ops, (std::set<char>{'+', '-', '*'}));
  EXPECT_EQ(operands.size(), 10u);
  EXPECT_TRUE(negative) << "subtraction should yield negative answers like \"-8\"";
}

TEST(ArithmeticTask, SingleValueRangeAlwaysGivesThatValue) {
  auto task = make_task(5, 5, "*", 3);
  for (const auto& p : take(*task, 10)) {
    EXPECT_EQ(p.question, "5*5=");
    EXPECT_EQ(p.answer, "25");
  }
}

TEST(ArithmeticTask, LargestOperandsDoNotOverflow) {
  auto task = make_task(1000000000, 1000000000, "*", 3);
  EXPECT_EQ(task->next().answer, "1000000000000000000");
}

TEST(ArithmeticTask, DescribeNamesRangeAndOps) {
  auto task = make_task(0, 9, "+-", 1);
  EXPECT_EQ(task->describe(), "arithmetic a,b in [0,9] ops +-");
}

TEST(ArithmeticTask, MakeRejectsBadConfigsNamingTheField) {
  struct bad_case {
    int64_t min, max;
    std::string ops;
    std::string field;
  };
  for (const auto& c : std::vector<bad_case>{
         {0, 9, "", "ops"},
         {0, 9, "+/", "ops"},
         {0, 9, "++", "ops"},
         {5, 4, "+", "min_operand"},
         {-1, 4, "+", "min_operand"},
         {0, 2000000000, "+", "max_operand"},
       }) {
    arithmetic_config cfg;
    cfg.min_operand = c.min;
    cfg.max_operand = c.max;
    cfg.ops = c.ops;
    auto task = arithmetic_task::make(cfg);
    ASSERT_FALSE(task) << c.field;
    EXPECT_TRUE(is(task.error(), errc::invalid_config));
    EXPECT_NE(describe(task.error()).find(c.field), std::string::npos)
      << describe(task.error());
  }
}

TEST(ArithmeticTask, AnswerWidthZeroPadsEveryAnswer) {
  arithmetic_config cfg;
  cfg.min_operand = 0;
  cfg.max_operand = 9;
  cfg.answer_width = 2;
  auto task = arithmetic_task::make(cfg);
  ASSERT_TRUE(task) << describe(task.error());
  std::set<std::string> answers;
  for (int i = 0; i < 2000; ++i) {
    auto p = (*task)->next();
    ASSERT_EQ(p.answer.size(), 2u) << p.question << p.answer;
    answers.insert(p.answer);
  }
  EXPECT_EQ(answers.size(), 19u); // "00" .. "18"
  EXPECT_EQ(answers.count("07"), 1u);
  EXPECT_EQ(answers.count("18"), 1u);
}

TEST(ArithmeticTask, PadIntegerKeepsTheSignInFrontAndNeverTruncates) {
  EXPECT_EQ(pad_integer(7, 2), "07");
  EXPECT_EQ(pad_integer(-7, 3), "-007");
  EXPECT_EQ(pad_integer(123, 2), "123");
  EXPECT_EQ(pad_integer(0, 0), "0");
  EXPECT_EQ(pad_integer(INT64_MIN, 1), "-9223372036854775808");
}

TEST(ArithmeticTask, WidestResultDigitsCoverEveryOp) {
  arithmetic_config cfg;
  cfg.min_operand = 0;
  cfg.max_operand = 9;
  cfg.ops = "+";
  EXPECT_EQ(widest_arithmetic_result_digits(cfg), 2);
  cfg.ops = "-";
  EXPECT_EQ(widest_arithmetic_result_digits(cfg), 1);
  cfg.ops = "-*";
  cfg.max_operand = 99;
  EXPECT_EQ(widest_arithmetic_result_digits(cfg), 4);
}

TEST(UniformBelow, HasNoModuloBias) {
  // bound 3 with 2^64 % 3 == 1 would be biased (tiny) under plain modulo; the
  // loose check catches gross errors: chi-square over 10k draws into 7 bins.
  for (uint64_t bound : {3ull, 7ull, 10ull}) {
    uint64_t state = 12345;
    std::vector<double> counts(bound, 0);
    const int draws = 10000;
    for (int i = 0; i < draws; ++i) {
      auto x = internal::uniform_below(state, bound);
      ASSERT_LT(x, bound);
      counts[x] += 1;
    }
    const double expected = static_cast<double>(draws) / bound;
    double chi2 = 0;
    for (double c : counts)
      chi2 += (c - expected) * (c - expected) / expected;
    // p = 0.001 critical value for 9 degrees of freedom is 27.9.
    EXPECT_LT(chi2, 30.0) << "bound " << bound;
  }
}

TEST(UniformBelow, RejectsTheBiasedTailForHugeBounds) {
  // bound = 2^63 + 1: plain modulo would map almost half the raw values to
  // [0, 2^63 - 1), so the lower half would be hit ~3/4 of the time. Unbiased,
  // the top and bottom halves are equally likely.
  const uint64_t bound = (1ull << 63) + 1;
  uint64_t state = 99;
  int low = 0;
  const int draws = 10000;
  for (int i = 0; i < draws; ++i)
    low += internal::uniform_below(state, bound) < bound / 2;
  EXPECT_NEAR(low, draws / 2, 300);
}

} // namespace
} // namespace tandem
