// reward_rules_test.cpp: the R1-style accuracy + format reward as a table.
#include "tasks/reward_rules.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tandem {
namespace {

struct reward_case {
  std::string completion;
  std::string reference;
  double accuracy;
  double format;
};

TEST(ScoreCompletion, MatchesTheTable) {
  const reward_weights w; // 0.9 accuracy, 0.1 format
  const std::vector<reward_case> table = {
    // well formed
    {"12</answer>", "12", 1, 1},
    {"12</answer><eos>", "12", 1, 1},
    {"-8</answer>", "-8", 1, 1},
    {"-8</answer><eos>", "-8", 1, 1},
    {"012</answer>", "12", 1, 1},
    {"0</answer>", "-0", 1, 1},
    {"13</answer>", "12", 0, 1},
    {"8</answer>", "-8", 0, 1},
    // right answer, wrong shape
    {" 12 </answer>", "12", 1, 0},
    {"12</answer><eos><eos>", "12", 1, 0},
    {"12</answer>5", "12", 1, 0},
    {"12</answer></answer>", "12", 1, 0},
    {"+12</answer>", "12", 1, 0},
    {"12</answer> ", "12", 1, 0},
    // nothing usable
    {"1<answer>2</answer>", "12", 0, 0},
    {"</answer>", "12", 0, 0},
    {"</answer><eos>", "12", 0, 0},
    {"99999", "99999", 0, 0},
    {"12<eos>", "12", 0, 0},
    {"", "12", 0, 0},
    {"-</answer>", "12", 0, 0},
    {"--8</answer>", "-8", 0, 0},
    {"<unk>12</answer>", "12", 0, 0},
    {"1 2</answer>", "12", 0, 0},
    {"12.0</answer>", "12", 0, 0},
    // big values compare as digit strings
    {"123456789012345678901234567890</answer>", "123456789012345678901234567890", 1, 1},
    {"123456789012345678901234567891</answer>", "123456789012345678901234567890", 0, 1},
    {"18446744073709551617</answer>", "1", 0, 1},
    // non-integer references (JSONL) compare as trimmed strings
    {"yes</answer>", "yes", 1, 0},
    {" yes </answer>", " yes", 1, 0},
    {"no</answer>", "yes", 0, 0},
  };
  for (const auto& c : table) {
    auto r = score_completion(c.completion, c.reference, w);
    EXPECT_EQ(r.accuracy, c.accuracy) << '"' << c.completion << "\" vs " << c.reference;
    EXPECT_EQ(r.format, c.format) << '"' << c.completion << "\" vs " << c.reference;
    EXPECT_DOUBLE_EQ(r.total, 0.9 * c.accuracy + 0.1 * c.format) << c.completion;
  }
}

TEST(ScoreCompletion, TotalIsTheWeightedSum) {
  const reward_weights w{2.0, 0.5};
  EXPECT_DOUBLE_EQ(score_completion("7</answer>", "7", w).total, 2.5);
  EXPECT_DOUBLE_EQ(score_completion("6</answer>", "7", w).total, 0.5);
  EXPECT_DOUBLE_EQ(score_completion(" 7</answer>", "7", w).total, 2.0);
  EXPECT_DOUBLE_EQ(score_completion("7", "7", w).total, 0.0);
}

TEST(ExtractAnswer, IsTheTrimmedTextBeforeTheFirstClose) {
  EXPECT_EQ(extract_answer("12</answer>"), "12");
  EXPECT_EQ(extract_answer(" 12 </answer><eos>"), "12");
  EXPECT_EQ(extract_answer("1</answer>2</answer>"), "1");
  EXPECT_EQ(extract_answer("1<answer>2</answer>"), "1<answer>2");
  EXPECT_EQ(extract_answer("</answer>"), "");
  EXPECT_EQ(extract_answer("99999"), "");
  EXPECT_EQ(extract_answer(""), "");
}

TEST(AnswersMatch, ComparesIntegersCanonically) {
  EXPECT_TRUE(answers_match("007", "7"));
  EXPECT_TRUE(answers_match("-0", "0"));
  EXPECT_TRUE(answers_match("-000", "+0"));
  EXPECT_TRUE(answers_match("+5", "5"));
  EXPECT_TRUE(answers_match(" -12 ", "-12"));
  EXPECT_TRUE(answers_match("-0012", "-12"));
  EXPECT_FALSE(answers_match("-12", "12"));
  EXPECT_FALSE(answers_match("1", "10"));
  EXPECT_TRUE(answers_match("000099999999999999999999999", "99999999999999999999999"));
  EXPECT_FALSE(answers_match("99999999999999999999999", "99999999999999999999998"));
}

TEST(AnswersMatch, ComparesNonIntegersAsTrimmedStrings) {
  EXPECT_TRUE(answers_match(" yes ", "yes"));
  EXPECT_TRUE(answers_match("1.5", "1.5"));
  EXPECT_FALSE(answers_match("1.50", "1.5"));
  EXPECT_FALSE(answers_match("12", "12.0")); // integer vs non-integer
  EXPECT_TRUE(answers_match("a b", "a b"));
}

} // namespace
} // namespace tandem

TEST(DigitCredit, DigitsMatchAlignedAtTheUnits) {
  using tandem::digit_match;
  EXPECT_DOUBLE_EQ(digit_match("7", "17"), 0.5);
  EXPECT_DOUBLE_EQ(digit_match("19", "17"), 0.5);
  EXPECT_DOUBLE_EQ(digit_match("117", "17"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(digit_match("17", "17"), 1.0);
  EXPECT_DOUBLE_EQ(digit_match("007", "7"), 1.0);
  EXPECT_DOUBLE_EQ(digit_match("9", "17"), 0.0);
  EXPECT_DOUBLE_EQ(digit_match("-7", "17"), 0.0);
  EXPECT_DOUBLE_EQ(digit_match("-27", "-17"), 0.5);
  EXPECT_DOUBLE_EQ(digit_match("x", "17"), 0.0);
}

TEST(AnswersMatch, AReferenceWithLeadingZerosFixesTheWidth) {
  using tandem::answers_match;
  EXPECT_TRUE(answers_match("07", "07"));
  EXPECT_FALSE(answers_match("7", "07"));
  EXPECT_FALSE(answers_match("007", "07"));
  EXPECT_FALSE(answers_match("17", "07"));
  EXPECT_TRUE(answers_match(" 12 ", "12"));
  EXPECT_TRUE(answers_match("-07", "-07"));
  EXPECT_FALSE(answers_match("-7", "-07"));
  EXPECT_TRUE(answers_match("0", "0"));   // a lone zero is not a padded reference
  EXPECT_TRUE(answers_match("007", "7")); // an unpadded reference keeps integer equality
}

TEST(DigitMatch, AgainstAFixedWidthReferenceComparesTheDigitsAsWritten) {
  using tandem::digit_match;
  EXPECT_DOUBLE_EQ(digit_match("7", "07"), 0.5);
  EXPECT_DOUBLE_EQ(digit_match("17", "07"), 0.5);
  EXPECT_DOUBLE_EQ(digit_match("08", "07"), 0.5);
  EXPECT_DOUBLE_EQ(digit_match("07", "07"), 1.0);
  EXPECT_DOUBLE_EQ(digit_match("-7", "07"), 0.0);
}

TEST(DigitCredit, OnlyAWrongAnswerEarnsItAndAccuracyStaysExact) {
  using namespace tandem;
  reward_weights w{1.0, 0.0, 0.4};
  auto wrong = score_completion("7</answer>", "17", w);
  EXPECT_DOUBLE_EQ(wrong.accuracy, 0.0);
  EXPECT_DOUBLE_EQ(wrong.total, 0.2);
  auto right = score_completion("17</answer>", "17", w);
  EXPECT_DOUBLE_EQ(right.total, 1.0);
  EXPECT_DOUBLE_EQ(score_completion("7", "17", w).total, 0.0) << "no </answer>: no answer";
  EXPECT_DOUBLE_EQ(score_completion("7</answer>", "17", {1.0, 0.0, 0.0}).total, 0.0);
}
