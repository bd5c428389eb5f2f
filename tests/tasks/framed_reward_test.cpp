// framed_reward_test.cpp: the R1 format's reward (format of the tags,
// accuracy of the last answer) as a table, the answer format with the math
// check, a template that pre-fills <think>, Countdown under R1, and the
// linear-time bound on adversarial text.
#include "tasks/framed_reward.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace tandem {
namespace {

struct r1_case {
  std::string text;
  std::string reference;
  double accuracy;
  double format;
};

task_framing r1(answer_check check = answer_check::exact) {
  task_framing f;
  f.format = task_format::r1;
  f.check = check;
  return f;
}

TEST(R1Reward, MatchesTheTable) {
  const reward_weights w; // 0.9 accuracy, 0.1 format
  const std::vector<r1_case> table = {
    // well formed
    {"<think>3+4 is 7</think><answer>7</answer>", "7", 1, 1},
    {"<think></think><answer>7</answer>", "7", 1, 1},
    {"  <think>\nx\n</think>\n\n<answer> 7 </answer>\n", "7", 1, 1},
    {"<think>a</think><answer>007</answer>", "7", 1, 1},
    {"<think>a</think><answer>8</answer>", "7", 0, 1},
    {"<think>a</think><answer>seven</answer>", "7", 0, 1},
    // right answer, wrong shape
    {"<answer>7</answer>", "7", 1, 0},
    {"7</answer>", "7", 0, 0}, // the answer format's shape: no opening tag
    {"<think>a<answer>7</answer>", "7", 1, 0},
    {"<think>a</think>x<answer>7</answer>", "7", 1, 0},
    {"<think>a</think><answer>7</answer>x", "7", 1, 0},
    {"<think>a</think><answer>7</answer><eos>", "7", 1, 0}, // allowed only for char
    {"<think><think>a</think><answer>7</answer>", "7", 1, 0},
    {"<think>a</think></think><answer>7</answer>", "7", 1, 0},
    {"<think><answer>6</answer></think><answer>7</answer>", "7", 1, 0},
    {"<think>a</think><answer>6</answer><answer>7</answer>", "7", 1, 0},
    {"x<think>a</think><answer>7</answer>", "7", 1, 0},
    // the last answer decides
    {"<think>a</think><answer>7</answer><answer>8</answer>", "7", 0, 0},
    // nothing usable
    {"<think>a</think><answer> </answer>", "7", 0, 0},
    {"<think>a</think><answer>7", "7", 0, 0},
    {"<think>a</think>", "7", 0, 0},
    {"", "7", 0, 0},
    {"</answer>7<answer>", "7", 0, 0},
  };
  for (const auto& c : table) {
    auto r = score_framed(c.text, c.reference, w, r1(), false);
    EXPECT_EQ(r.accuracy, c.accuracy) << "'" << c.text << "'";
    EXPECT_EQ(r.format, c.format) << "'" << c.text << "'";
    EXPECT_DOUBLE_EQ(r.total, 0.9 * c.accuracy + 0.1 * c.format) << "'" << c.text << "'";
  }
}

TEST(R1Reward, TheCharTokenizersEndTagIsAllowedOnlyWhereAsked) {
  const std::string text = "<think>a</think><answer>7</answer><eos>";
  EXPECT_TRUE(r1_well_formed(text, true));
  EXPECT_FALSE(r1_well_formed(text, false));
  EXPECT_FALSE(r1_well_formed(text + "<eos>", true));
  EXPECT_TRUE(r1_well_formed("<think>a</think><answer>7</answer>", true));
}

TEST(R1Reward, LastAnswerIsExtractedTrimmed) {
  EXPECT_EQ(r1_answer("<answer> 12 </answer>"), "12");
  EXPECT_EQ(r1_answer("<answer>1</answer> <answer>2</answer>"), "2");
  EXPECT_EQ(r1_answer("<answer>1<answer>2</answer>"), "2");
  EXPECT_FALSE(r1_answer("12</answer>"));
  EXPECT_FALSE(r1_answer("<answer>12"));
  EXPECT_FALSE(r1_answer("<answer>\n</answer>"));
}

TEST(R1Reward, MathCheckComparesLikeTheGrader) {
  const reward_weights w;
  auto f = r1(answer_check::math);
  EXPECT_EQ(score_framed("<think>x</think><answer>\\frac{1}{2}</answer>", "0.5", w, f, false)
              .accuracy, 1);
  EXPECT_EQ(score_framed("<think>x</think><answer>1,250</answer>", "1250", w, f, false).accuracy,
            1);
  // The exact check compares integers only.
  EXPECT_EQ(score_framed("<think>x</think><answer>1,250</answer>", "1250", w, r1(), false)
              .accuracy, 0);
}

TEST(R1Reward, APrefilledThinkIsPutBackBeforeTheRules) {
  const reward_weights w;
  auto f = r1();
  f.suffix = " <think>\n";
  auto r = score_framed("3 and 4 make 7</think><answer>7</answer>", "7", w, f, false);
  EXPECT_EQ(r.accuracy, 1);
  EXPECT_EQ(r.format, 1);
  // Opening it again is a second <think>.
  EXPECT_EQ(score_framed("<think>x</think><answer>7</answer>", "7", w, f, false).format, 0);
}

TEST(R1Reward, CountdownAnswersAreVerified) {
  const reward_weights w;
  auto r = score_framed("<think>try</think><answer>(3+4)*2</answer>", "countdown:14;2,3,4", w,
                        r1(), false);
  EXPECT_EQ(r.accuracy, 1);
  EXPECT_EQ(r.format, 1);
  EXPECT_EQ(score_framed("<think>t</think><answer>3+4</answer>", "countdown:14;2,3,4", w, r1(),
                         false).accuracy, 0);
}

TEST(AnswerFormat, DefaultFramingIsTodaysRule) {
  const reward_weights w;
  const task_framing f;
  for (std::string text : {"12</answer>", " 12</answer>", "12</answer><eos>", "1</answer>"}) {
    auto a = score_framed(text, "12", w, f, true);
    auto b = score_completion(text, "12", w);
    EXPECT_EQ(a.total, b.total) << text;
    auto c = score_framed(text, "12", w, f, false);
    auto d = score_answer_text(text, "12", w);
    EXPECT_EQ(c.total, d.total) << text;
  }
}

TEST(AnswerFormat, MathCheckFormatWantsTidyTextBeforeTheTag) {
  const reward_weights w;
  task_framing f;
  f.check = answer_check::math;
  auto ok = score_framed("x = 5</answer>", "5", w, f, false);
  EXPECT_EQ(ok.accuracy, 1);
  EXPECT_EQ(ok.format, 1);
  auto padded = score_framed(" 5</answer>", "5", w, f, false);
  EXPECT_EQ(padded.accuracy, 1);
  EXPECT_EQ(padded.format, 0);
  EXPECT_EQ(score_framed("5</answer>x", "5", w, f, false).format, 0);
  EXPECT_EQ(score_framed("5</answer><eos>", "5", w, f, true).format, 1);
  EXPECT_EQ(score_framed("5</answer><eos>", "5", w, f, false).format, 0);
  EXPECT_EQ(score_framed("</answer>", "5", w, f, false).total, 0);
  EXPECT_EQ(score_framed("5", "5", w, f, false).total, 0);
}

// Linear time: 10 MB of tag fragments and nested tags score well under the
// bound (a backtracking matcher would take quadratic time or worse).
TEST(R1Reward, AdversarialTextScoresInLinearTime) {
  std::string text = "<think>";
  while (text.size() < 10'000'000)
    text += "<think</think <answer><answer</answer";
  const reward_weights w;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = score_framed(text, "7", w, r1(answer_check::math), false);
  const double s =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.format, 0);
  EXPECT_LT(s, 0.5);
}

} // namespace
} // namespace tandem
