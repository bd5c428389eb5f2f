// countdown_task_test.cpp: the seeded Countdown source: golden problems,
// every target reachable by its own construction, and config validation.
#include "tasks/countdown_task.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "runtime/error.hpp"
#include "tasks/countdown_verifier.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {
namespace {

std::unique_ptr<countdown_task> make_task(const countdown_config& cfg) {
  auto task = countdown_task::make(cfg);
  EXPECT_TRUE(task) << describe(task.error());
  return task ? std::move(*task) : nullptr;
}

countdown_config seeded(uint64_t seed) {
  countdown_config cfg;
  cfg.seed = seed;
  return cfg;
}

TEST(CountdownTask, GoldenFirstProblemsForSeed1PinCrossPlatformDeterminism) {
  auto task = make_task(seeded(1));
  ASSERT_TRUE(task);
  struct golden {
    const char* question;
    const char* answer;
  };
  const std::vector<golden> want = {
    {"Use 91,62,6,21 to make 14:", "countdown:14;91,62,6,21"},
    {"Use 15,7,6,4 to make 19:", "countdown:19;15,7,6,4"},
    {"Use 81,82,5 to make 4:", "countdown:4;81,82,5"},
    {"Use 9,10,3,69 to make 67:", "countdown:67;9,10,3,69"},
    {"Use 4,3,4,68 to make 64:", "countdown:64;4,3,4,68"},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    auto p = task->next();
    EXPECT_EQ(p.id, i);
    EXPECT_EQ(p.question, want[i].question) << "problem " << i;
    EXPECT_EQ(p.answer, want[i].answer) << "problem " << i;
  }
}

TEST(CountdownTask, GoldenSolutionsForSeed1) {
  auto task = make_task(seeded(1));
  ASSERT_TRUE(task);
  const std::vector<std::string> want = {"((91+6)-62)-21", "(7*4)-(15-6)", "81-(82-5)",
                                         "(69-9)+(10-3)", "(68-4)*(4-3)"};
  for (const auto& s : want)
    EXPECT_EQ(task->next_instance().solution, s);
}

TEST(CountdownTask, EveryTargetIsReachedByItsOwnConstruction) {
  countdown_config cfg = seeded(1);
  auto task = make_task(cfg);
  ASSERT_TRUE(task);
  const auto longest = countdown_task::longest_question_bytes(cfg);
  size_t with_three = 0;
  for (int k = 0; k < 10000; ++k) {
    auto inst = task->next_instance();
    ASSERT_GE(inst.numbers.size(), 3u);
    ASSERT_LE(inst.numbers.size(), 4u);
    with_three += inst.numbers.size() == 3;
    for (auto n : inst.numbers)
      ASSERT_TRUE(n >= 1 && n <= cfg.max_number) << n;
    ASSERT_TRUE(inst.target >= 1 && inst.target <= cfg.max_target) << inst.target;
    auto v = verify_countdown(inst.solution, inst.target, inst.numbers);
    ASSERT_TRUE(v.correct()) << "problem " << k << ": " << inst.solution << " -> "
                             << inst.target << ": " << v.reason;
    ASSERT_LE(static_cast<int64_t>(countdown_question(inst).size()), longest);
  }
  // Both sizes are drawn, about equally often.
  EXPECT_GT(with_three, 4500u);
  EXPECT_LT(with_three, 5500u);
}

TEST(CountdownTask, WiderConfigsStayReachable) {
  countdown_config cfg;
  cfg.min_numbers = 2;
  cfg.max_numbers = 6;
  cfg.max_number = 1000;
  cfg.max_target = 1000000;
  cfg.seed = 42;
  auto task = make_task(cfg);
  ASSERT_TRUE(task);
  for (int k = 0; k < 2000; ++k) {
    auto inst = task->next_instance();
    ASSERT_TRUE(verify_countdown(inst.solution, inst.target, inst.numbers).correct())
      << inst.solution;
  }
}

TEST(CountdownTask, SameSeedSameStreamOtherSeedOtherStream) {
  auto a = make_task(seeded(3));
  auto b = make_task(seeded(3));
  auto c = make_task(seeded(4));
  bool differs = false;
  for (int k = 0; k < 50; ++k) {
    auto pa = a->next();
    auto pb = b->next();
    auto pc = c->next();
    EXPECT_EQ(pa.question, pb.question);
    EXPECT_EQ(pa.answer, pb.answer);
    differs = differs || pa.question != pc.question;
  }
  EXPECT_TRUE(differs);
}

TEST(CountdownTask, QuestionsEncodeWithTheBuiltInTokenizer) {
  char_tokenizer tok;
  auto task = make_task(seeded(1));
  for (int k = 0; k < 100; ++k) {
    auto p = task->next();
    EXPECT_TRUE(tok.encode(p.question)) << p.question;
    EXPECT_TRUE(parse_countdown_reference(p.answer)) << p.answer;
  }
}

TEST(CountdownTask, LongestQuestionBound) {
  countdown_config cfg; // 4 numbers of up to 3 digits, targets up to 3 digits
  // "Use 100,100,100,100 to make 100:"
  EXPECT_EQ(countdown_task::longest_question_bytes(cfg), 32);
}

TEST(CountdownTask, ConfigOutOfRangeIsRefusedPerField) {
  auto issues = [](countdown_config cfg) { return countdown_task::check(cfg); };
  countdown_config cfg;
  EXPECT_TRUE(issues(cfg).empty());
  cfg.min_numbers = 1;
  ASSERT_EQ(issues(cfg).size(), 1u);
  EXPECT_EQ(issues(cfg)[0].field, "numbers");
  EXPECT_EQ(issues(cfg)[0].message, "must lie in 2..6 (got 1..4)");
  cfg = {};
  cfg.max_numbers = 7;
  EXPECT_EQ(issues(cfg)[0].message, "must lie in 2..6 (got 3..7)");
  cfg = {};
  cfg.min_numbers = 4;
  cfg.max_numbers = 3;
  EXPECT_EQ(issues(cfg)[0].message, "the range 4..3 is empty (lower bound above upper)");
  cfg = {};
  cfg.max_number = 0;
  EXPECT_EQ(issues(cfg)[0].field, "max_number");
  cfg = {};
  cfg.max_number = 500;
  ASSERT_EQ(issues(cfg).size(), 1u);
  EXPECT_EQ(issues(cfg)[0].field, "max_target");
  EXPECT_NE(issues(cfg)[0].message.find("must be >= max_number 500"), std::string::npos);
  cfg.max_target = 2000000000;
  EXPECT_NE(issues(cfg)[0].message.find("must be <= 1000000000"), std::string::npos);
  auto made = countdown_task::make(cfg);
  ASSERT_FALSE(made);
  EXPECT_TRUE(is(made.error(), errc::invalid_config));
  EXPECT_NE(describe(made.error()).find("countdown max_target"), std::string::npos)
    << describe(made.error());
}

TEST(CountdownTask, DescribeNamesItsRanges) {
  EXPECT_EQ(make_task(seeded(1))->describe(),
            "countdown 3..4 numbers in [1,100], targets in [1,100]");
}

} // namespace
} // namespace tandem
