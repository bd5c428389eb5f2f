// countdown_verifier_test.cpp: the Countdown verifier's verdict table, its
// bounds (length, nesting, 64-bit range), answer extraction, the reference
// encoding and the reward routed to it through tasks/reward_rules.
#include "tasks/countdown_verifier.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tasks/reward_rules.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {
namespace {

using r = countdown_result;

const std::vector<int64_t> numbers = {15, 7, 6, 4};
constexpr int64_t target = 19;

struct row {
  std::string expression;
  countdown_result result;
  std::string reason; // a part of the verdict's reason
};

TEST(CountdownVerifier, VerdictTable) {
  const std::vector<row> table = {
    {"(7*4)-(15-6)", r::correct, ""},
    {" ( 7 * 4 ) - ( 15 - 6 ) ", r::correct, ""},
    {"7*4-15+6", r::correct, ""},
    {"4*7-(15-6)", r::correct, ""},
    {"15+7+6+4", r::wrong_value, "makes 32, not 19"},
    {"15/6*(7-4)", r::wrong_value, "makes 15/2, not 19"},
    {"7*4-15+6+15", r::bad_numbers, "15 is used more often than it is given"},
    {"7*4-(15-6)*7", r::bad_numbers, "7 is used more often than it is given"},
    {"7*4-15", r::bad_numbers, "6 is not used"},
    {"7*4-15+6-2+2", r::bad_numbers, "2 is not among the numbers"},
    {"19", r::bad_numbers, "19 is not among the numbers"},
    {"15+7/(6-6)+4", r::bad_numbers, "6 is used more often"},
    {"", r::unparsable, "empty expression"},
    {"   ", r::unparsable, "empty expression"},
    {"hello", r::unparsable, "expected a number or '(' at offset 0, got 'h'"},
    {"15+7+", r::unparsable, "at the end"},
    {"(15+7", r::unparsable, "'(' at offset 0 is not closed"},
    {"15+7)", r::unparsable, "unexpected ')' at offset 4"},
    {"15 7", r::unparsable, "unexpected '7' at offset 3"},
    {"-15+7*4+6", r::unparsable, "got '-'"},
    {"+15", r::unparsable, "got '+'"},
    {"7*4-15+6=19", r::unparsable, "unexpected '='"},
    {"7x4-15+6", r::unparsable, "unexpected 'x'"},
    {"7*4-15+6.0", r::unparsable, "unexpected '.'"},
    {"()", r::unparsable, "got ')'"},
    {"7*4-15+6\x01", r::unparsable, "byte 0x01"},
  };
  for (const auto& t : table) {
    auto v = verify_countdown(t.expression, target, numbers);
    EXPECT_EQ(v.result, t.result) << '"' << t.expression << "\": " << to_string(v.result)
                                  << " (" << v.reason << ")";
    EXPECT_NE(v.reason.find(t.reason), std::string::npos)
      << '"' << t.expression << "\": " << v.reason;
    EXPECT_EQ(v.correct(), t.result == r::correct);
    if (t.result == r::correct) {
      EXPECT_EQ(v.reason, "");
    }
  }
}

TEST(CountdownVerifier, DivisionByZeroIsInvalidOnceTheNumbersAreRight) {
  auto v = verify_countdown("5/(3-3)", 5, {3, 3, 5});
  EXPECT_EQ(v.result, r::invalid);
  EXPECT_EQ(v.reason, "division by zero");
  // Undefined inside a larger expression stays undefined.
  EXPECT_EQ(verify_countdown("5/(3-3)*0+1", 1, {3, 3, 5, 0, 1}).result, r::invalid);
}

TEST(CountdownVerifier, FractionsOnTheWayAreExact) {
  EXPECT_TRUE(verify_countdown("6/4*2", 3, {6, 4, 2}).correct());
  EXPECT_TRUE(verify_countdown("(1/3+1/6)*2", 1, {1, 3, 1, 6, 2}).correct());
  // 1/3 is not 0.333..., and no rounding makes 3*(1/3) anything but 1.
  EXPECT_TRUE(verify_countdown("3*(1/3)", 1, {3, 1, 3}).correct());
  auto v = verify_countdown("1/3", 0, {1, 3});
  EXPECT_EQ(v.result, r::wrong_value);
  EXPECT_EQ(v.reason, "makes 1/3, not 0");
  EXPECT_EQ(verify_countdown("2-7", 5, {2, 7}).reason, "makes -5, not 5");
}

TEST(CountdownVerifier, NumbersAreAMultiset) {
  EXPECT_TRUE(verify_countdown("4*4+3", 19, {4, 3, 4}).correct());
  EXPECT_TRUE(verify_countdown("007+3", 10, {7, 3}).correct()); // a literal is its value
  EXPECT_EQ(verify_countdown("4*4", 16, {4, 3, 4}).reason, "3 is not used");
  EXPECT_EQ(verify_countdown("4*4*4+3", 67, {4, 3, 4}).reason,
            "4 is used more often than it is given");
}

TEST(CountdownVerifier, ValuesBeyondInt64AreInvalidNotWrapped) {
  const int64_t big = 999999999999999999; // 18 digits: the longest literal
  auto v = verify_countdown("999999999999999999*999999999999999999", 1, {big, big});
  EXPECT_EQ(v.result, r::invalid);
  EXPECT_NE(v.reason.find("64-bit range"), std::string::npos);
  EXPECT_EQ(verify_countdown("999999999999999999*9+999999999999999999", 1, {big, 9, big})
              .result,
            r::invalid);
  EXPECT_TRUE(verify_countdown("999999999999999999-999999999999999999+1", 1, {big, big, 1})
                .correct());
  auto long_literal = verify_countdown("1234567890123456789", 1, {1});
  EXPECT_EQ(long_literal.result, r::unparsable);
  EXPECT_NE(long_literal.reason.find("more than 18 digits"), std::string::npos);
}

std::string nested(int depth, const std::string& core) {
  return std::string(static_cast<size_t>(depth), '(') + core
         + std::string(static_cast<size_t>(depth), ')');
}

TEST(CountdownVerifier, NestingIsBoundedExplicitly) {
  EXPECT_TRUE(verify_countdown(nested(countdown_max_depth, "3+4"), 7, {3, 4}).correct());
  auto deep = verify_countdown(nested(countdown_max_depth + 1, "3+4"), 7, {3, 4});
  EXPECT_EQ(deep.result, r::unparsable);
  EXPECT_NE(deep.reason.find("nested deeper than 16"), std::string::npos);
  // Depth counts open parentheses, not how many there are in all.
  std::string wide = "3";
  for (int i = 0; i < 20; ++i)
    wide += "+((0))";
  std::vector<int64_t> zeros(20, 0);
  zeros.push_back(3);
  EXPECT_TRUE(verify_countdown(wide, 3, zeros).correct());
}

TEST(CountdownVerifier, HundredThousandNestedParenthesesAreRefusedWithoutRecursion) {
  auto v = verify_countdown(nested(100000, "3+4"), 7, {3, 4});
  EXPECT_EQ(v.result, r::unparsable);
  EXPECT_NE(v.reason.find("longer than 256 bytes"), std::string::npos);
  // Just under the length bound the depth limit refuses it.
  const int depth = static_cast<int>((countdown_max_expression_bytes - 3) / 2);
  auto at_bound = verify_countdown(nested(depth, "3+4"), 7, {3, 4});
  EXPECT_EQ(at_bound.result, r::unparsable);
  EXPECT_NE(at_bound.reason.find("nested deeper"), std::string::npos);
}

TEST(CountdownVerifier, TenMegabytesTakeBoundedTime) {
  const std::string huge(10 * 1024 * 1024, '1');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(verify_countdown(huge, 7, {3, 4}).result, r::unparsable);
  const std::string completion = std::string(10 * 1024 * 1024, '(') + "3+4</answer>";
  const auto scored = score_completion(completion, "countdown:7;3,4", reward_weights{});
  EXPECT_EQ(scored.total, 0.0);
  const std::string no_tag(10 * 1024 * 1024, '<');
  EXPECT_EQ(score_completion(no_tag, "countdown:7;3,4", reward_weights{}).total, 0.0);
  EXPECT_FALSE(extract_answer_tag(no_tag));
  // Linear scans of 30 MB: milliseconds; the bound only catches a blow-up.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(CountdownVerifier, ExtractsTheLastAnswerPairOrThePrefilledAnswer) {
  EXPECT_EQ(extract_answer_tag("3+4</answer><eos>"), "3+4");
  EXPECT_EQ(extract_answer_tag(" 3 + 4 </answer>"), "3 + 4");
  EXPECT_EQ(extract_answer_tag("<think>3*4? no</think><answer>3+4</answer>"), "3+4");
  EXPECT_EQ(extract_answer_tag("<answer>1</answer> then <answer>3+4</answer>"), "3+4");
  EXPECT_EQ(extract_answer_tag("<answer></answer>"), "");
  EXPECT_FALSE(extract_answer_tag("<answer>3+4"));
  EXPECT_FALSE(extract_answer_tag(""));
}

TEST(CountdownReference, RoundTripsAndRefusesMalformedText) {
  countdown_reference ref{98, {44, 19, 35}};
  EXPECT_EQ(format_countdown_reference(ref), "countdown:98;44,19,35");
  auto back = parse_countdown_reference("countdown:98;44,19,35");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->target, 98);
  EXPECT_EQ(back->numbers, (std::vector<int64_t>{44, 19, 35}));
  for (const char* bad : {"98;44,19", "countdown:", "countdown:98", "countdown:98;",
                          "countdown:98;44,", "countdown:;1", "countdown:-3;1,2",
                          "countdown:9x;1", "countdown:1;1 ,2",
                          "countdown:1;1234567890123456789"})
    EXPECT_FALSE(parse_countdown_reference(bad)) << bad;
  EXPECT_TRUE(is_countdown_reference("countdown:anything"));
  EXPECT_FALSE(is_countdown_reference("42"));
}

TEST(CountdownReward, ReferenceRoutesTheR1RuleToTheVerifier) {
  const std::string ref = "countdown:19;15,7,6,4";
  const reward_weights w{0.9, 0.1};
  struct want {
    std::string completion;
    double accuracy, format;
  };
  const std::vector<want> table = {
    {"(7*4)-(15-6)</answer><eos>", 1, 1},
    {"(7*4)-(15-6)</answer>", 1, 1},
    {"15+7+6+4</answer><eos>", 0, 1},   // parses, wrong value: format only
    {"15+15</answer><eos>", 0, 1},      // parses, wrong numbers
    {"(7*4)-(15-6)", 0, 0},             // no closing tag
    {"(7*4)-(15-6)</answer>x", 1, 0},   // trailing text
    {"hello</answer><eos>", 0, 0},
    {"19</answer><eos>", 0, 1},         // the target alone is not an answer
  };
  for (const auto& t : table) {
    auto got = score_completion(t.completion, ref, w);
    EXPECT_EQ(got.accuracy, t.accuracy) << t.completion;
    EXPECT_EQ(got.format, t.format) << t.completion;
    EXPECT_DOUBLE_EQ(got.total, 0.9 * t.accuracy + 0.1 * t.format) << t.completion;
  }
  // BPE text ends before its stop token: "<eos>" would be spelled text.
  EXPECT_EQ(score_answer_text("(7*4)-(15-6)</answer>", ref, w).format, 1.0);
  EXPECT_EQ(score_answer_text("(7*4)-(15-6)</answer><eos>", ref, w).format, 0.0);
  // A malformed Countdown reference scores nothing.
  EXPECT_EQ(score_completion("3+4</answer>", "countdown:7", w).total, 0.0);
  // Integer references keep the arithmetic rule.
  EXPECT_EQ(score_completion("7</answer><eos>", "7", w).total, 1.0);
}

TEST(CountdownReward, CharTokenizerScoresThroughTheVerifier) {
  char_tokenizer tok;
  auto ids = tok.encode("(7*4)-(15-6)</answer>");
  ASSERT_TRUE(ids);
  ids->push_back(char_tokenizer::eos_id);
  auto got = tok.score(*ids, "countdown:19;15,7,6,4", reward_weights{0.9, 0.1});
  EXPECT_DOUBLE_EQ(got.total, 1.0);
}

} // namespace
} // namespace tandem
