// prompt_filter_test.cpp: over-long prompts are dropped and counted (per
// step and in all), questions the tokenizer cannot encode are skipped, and
// a source with no usable prompt ends in an error after a bounded number of
// draws instead of spinning.
#include "actors/internal/prompt_filter.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/error.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {
namespace {

// Serves `questions` in a cycle.
class cycle_source : public problem_source {
public:
  explicit cycle_source(std::vector<std::string> questions) : questions_(std::move(questions)) {}
  problem next() override {
    problem p;
    p.id = n_;
    p.question = questions_[n_++ % questions_.size()];
    p.answer = "1";
    return p;
  }
  std::string describe() const override { return "cycle"; }

private:
  std::vector<std::string> questions_;
  uint64_t n_ = 0;
};

problem_cursor cursor(std::vector<std::string> questions) {
  return problem_cursor{std::make_shared<cycle_source>(std::move(questions))};
}

// With the char tokenizer a prompt is <bos> + question + <answer>.
TEST(PromptFilter, DropsAndCountsPromptsOverTheLimit) {
  char_tokenizer tok;
  auto problems = cursor({"1+1=", "11111+1=", "2+2="}); // 6, 10, 6 tokens
  prompt_filter filter{8};
  uint64_t skipped = 0;
  auto a = filter.draw(problems, tok, skipped);
  ASSERT_TRUE(a) << describe(a.error());
  EXPECT_EQ(a->p.question, "1+1=");
  EXPECT_EQ(a->ids.size(), 6u);
  auto b = filter.draw(problems, tok, skipped);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->p.question, "2+2=");
  EXPECT_EQ(b->p.id, 2u); // problem 1 was drawn and dropped
  EXPECT_EQ(filter.dropped(), 1u);
  EXPECT_EQ(skipped, 0u);
  EXPECT_EQ(problems.drawn(), 3u);
  // Per step: the drops since the previous step; the total stays.
  EXPECT_EQ(filter.take_interval(), 1u);
  EXPECT_EQ(filter.take_interval(), 0u);
  ASSERT_TRUE(filter.draw(problems, tok, skipped));
  ASSERT_TRUE(filter.draw(problems, tok, skipped));
  EXPECT_EQ(filter.take_interval(), 1u);
  EXPECT_EQ(filter.dropped(), 2u);
}

TEST(PromptFilter, NoLimitAdmitsEveryEncodablePrompt) {
  char_tokenizer tok;
  auto problems = cursor({std::string(500, '1')});
  prompt_filter filter;
  uint64_t skipped = 0;
  auto d = filter.draw(problems, tok, skipped);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->ids.size(), 502u);
  EXPECT_EQ(filter.dropped(), 0u);
}

TEST(PromptFilter, UnencodableQuestionsAreSkippedNotDropped) {
  char_tokenizer tok;
  auto problems = cursor({"1$1", "1+1="});
  prompt_filter filter{100};
  uint64_t skipped = 0;
  auto d = filter.draw(problems, tok, skipped);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->p.question, "1+1=");
  EXPECT_EQ(skipped, 1u);
  EXPECT_EQ(filter.dropped(), 0u);
}

TEST(PromptFilter, EveryPromptTooLongEndsInAnErrorAfterBoundedDraws) {
  char_tokenizer tok;
  auto problems = cursor({"123456789=", "1234567="});
  prompt_filter filter{5, 50};
  uint64_t skipped = 0;
  auto d = filter.draw(problems, tok, skipped);
  ASSERT_FALSE(d);
  EXPECT_TRUE(is(d.error(), errc::invalid_config));
  const auto text = describe(d.error());
  EXPECT_NE(text.find("50 problems in a row"), std::string::npos) << text;
  EXPECT_NE(text.find("longer than the prompt limit of 5 tokens (the shortest had 10"),
            std::string::npos) << text;
  EXPECT_NE(text.find("task.max_prompt_tokens"), std::string::npos) << text;
  EXPECT_EQ(problems.drawn(), 50u);
  EXPECT_EQ(filter.dropped(), 50u);
}

TEST(PromptFilter, NothingEncodableEndsInAnErrorToo) {
  char_tokenizer tok;
  auto problems = cursor({"$"});
  prompt_filter filter{0, 20};
  uint64_t skipped = 0;
  auto d = filter.draw(problems, tok, skipped);
  ASSERT_FALSE(d);
  EXPECT_NE(describe(d.error()).find("20 could not be encoded"), std::string::npos)
    << describe(d.error());
  EXPECT_EQ(skipped, 20u);
}

} // namespace
} // namespace tandem
