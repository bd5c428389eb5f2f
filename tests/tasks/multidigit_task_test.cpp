// multidigit_task_test.cpp: the seeded multi-digit arithmetic source: golden
// problems, digit counts, exact answers at the widest operands, and the
// refusal of configs whose answers could overflow int64.
#include "tasks/multidigit_task.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/error.hpp"

namespace tandem {
namespace {

std::unique_ptr<multidigit_task> make_task(int32_t lo, int32_t hi, std::string ops,
                                           uint64_t seed) {
  multidigit_config cfg;
  cfg.min_digits = lo;
  cfg.max_digits = hi;
  cfg.ops = std::move(ops);
  cfg.seed = seed;
  auto task = multidigit_task::make(cfg);
  EXPECT_TRUE(task) << describe(task.error());
  return task ? std::move(*task) : nullptr;
}

struct parsed {
  std::string a;
  char op;
  std::string b;
};

parsed split(const std::string& q) {
  EXPECT_EQ(q.back(), '=') << q;
  const size_t i = q.find_first_not_of("0123456789");
  return {q.substr(0, i), q[i], q.substr(i + 1, q.size() - i - 2)};
}

TEST(MultidigitTask, GoldenFirstProblemsForSeed1PinCrossPlatformDeterminism) {
  auto task = make_task(2, 5, "+-*", 1);
  ASSERT_TRUE(task);
  const std::vector<std::pair<std::string, std::string>> golden = {
    {"719+2235=", "2954"},   {"55-820=", "-765"},     {"170-92=", "78"},
    {"49555+714=", "50269"}, {"8644+276=", "8920"},   {"34709*32231=", "1118705779"},
  };
  for (size_t i = 0; i < golden.size(); ++i) {
    auto p = task->next();
    EXPECT_EQ(p.id, i);
    EXPECT_EQ(p.question, golden[i].first) << "problem " << i;
    EXPECT_EQ(p.answer, golden[i].second) << "problem " << i;
  }
}

TEST(MultidigitTask, OperandsHaveTheDrawnDigitCountsAndAnswersAreExact) {
  auto task = make_task(2, 5, "+-*", 9);
  ASSERT_TRUE(task);
  std::vector<int> by_digits(6, 0);
  for (int k = 0; k < 4000; ++k) {
    auto p = task->next();
    auto q = split(p.question);
    for (const auto& operand : {q.a, q.b}) {
      ASSERT_TRUE(operand.size() >= 2 && operand.size() <= 5) << p.question;
      ASSERT_NE(operand[0], '0') << p.question; // exactly that many digits
      ++by_digits[operand.size()];
    }
    const int64_t a = std::stoll(q.a), b = std::stoll(q.b);
    const int64_t want = q.op == '+' ? a + b : q.op == '-' ? a - b : a * b;
    ASSERT_EQ(p.answer, std::to_string(want)) << p.question;
  }
  // Each digit count is drawn equally often (8000 operands over 4 counts).
  for (int d = 2; d <= 5; ++d) {
    EXPECT_GT(by_digits[static_cast<size_t>(d)], 1800) << d;
    EXPECT_LT(by_digits[static_cast<size_t>(d)], 2200) << d;
  }
}

TEST(MultidigitTask, SingleDigitOperandsIncludeZero) {
  auto task = make_task(1, 1, "+", 3);
  bool zero = false;
  for (int k = 0; k < 500; ++k)
    zero = zero || task->next().question.find('0') != std::string::npos;
  EXPECT_TRUE(zero);
}

TEST(MultidigitTask, WidestProductsAreExact) {
  auto task = make_task(9, 9, "*", 5);
  ASSERT_TRUE(task);
  for (int k = 0; k < 1000; ++k) {
    auto p = task->next();
    auto q = split(p.question);
    const __int128 want = static_cast<__int128>(std::stoll(q.a)) * std::stoll(q.b);
    ASSERT_EQ(p.answer, std::to_string(static_cast<int64_t>(want))) << p.question;
    ASSERT_LT(want, static_cast<__int128>(1000000000000000000));
  }
  auto sums = make_task(18, 18, "+-", 5);
  ASSERT_TRUE(sums);
  for (int k = 0; k < 1000; ++k) {
    auto q = split(sums->next().question);
    ASSERT_EQ(q.a.size(), 18u);
  }
}

TEST(MultidigitTask, ConfigsThatCouldOverflowAreRefused) {
  auto issue = [](int32_t lo, int32_t hi, std::string ops) {
    multidigit_config cfg;
    cfg.min_digits = lo;
    cfg.max_digits = hi;
    cfg.ops = std::move(ops);
    auto issues = multidigit_task::check(cfg);
    return issues.empty() ? std::string{} : issues[0].field + ": " + issues[0].message;
  };
  EXPECT_EQ(issue(2, 9, "+-*"), "");
  EXPECT_EQ(issue(2, 10, "+-*"),
            "digits: at most 9 digits with '*', or a result could overflow int64 (got 2..10)");
  EXPECT_EQ(issue(2, 18, "+-"), "");
  EXPECT_EQ(issue(2, 19, "+"),
            "digits: at most 18 digits with + and -, or a result could overflow int64 "
            "(got 2..19)");
  EXPECT_EQ(issue(0, 3, "+"), "digits: must be >= 1 (got 0..3)");
  EXPECT_EQ(issue(4, 3, "+"), "digits: the range 4..3 is empty (lower bound above upper)");
  EXPECT_EQ(issue(2, 3, "+/"), "ops: unknown operator '/'; use any of + - *");
  EXPECT_EQ(issue(2, 3, "++"), "ops: operator '+' is listed twice");
  EXPECT_EQ(issue(2, 3, ""), "ops: must name at least one of + - *");
  multidigit_config cfg;
  cfg.max_digits = 12;
  cfg.ops = "*";
  auto made = multidigit_task::make(cfg);
  ASSERT_FALSE(made);
  EXPECT_TRUE(is(made.error(), errc::invalid_config));
  EXPECT_NE(describe(made.error()).find("multidigit digits"), std::string::npos);
}

TEST(MultidigitTask, LongestQuestionAndDescribe) {
  multidigit_config cfg;
  EXPECT_EQ(multidigit_task::longest_question_bytes(cfg), 12); // "99999+99999="
  EXPECT_EQ(make_task(2, 5, "+-", 1)->describe(), "multidigit 2..5 digits ops +-");
}

} // namespace
} // namespace tandem
