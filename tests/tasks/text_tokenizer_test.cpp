// text_tokenizer_test: the task framing behind text_tokenizer, for the
// built-in char tokenizer (identical to the free functions it wraps) and for
// a Hugging Face tokenizer.json (bpe_task_tokenizer on the Qwen2 fixture):
// prompt formatting, stop tokens, and the R1 reward on decoded text.
#include "tasks/bpe_task_tokenizer.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/error.hpp"
#include "tasks/jsonl_dataset.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {
namespace {

const std::string qwen2_json = TANDEM_TEST_DATA_DIR "/hf/tokenizer-qwen2/tokenizer.json";

std::unique_ptr<bpe_task_tokenizer> qwen2(bpe_task_options opts = {}) {
  if (opts.stop_tokens.empty())
    opts.stop_tokens = {"<|endoftext|>", "<|im_end|>"};
  auto tok = bpe_task_tokenizer::load(qwen2_json, opts);
  EXPECT_TRUE(tok) << describe(tok.error());
  return tok ? std::move(*tok) : nullptr;
}

std::vector<int32_t> ids(const text_tokenizer& tok, const std::string& text) {
  auto out = tok.encode(text);
  EXPECT_TRUE(out) << describe(out.error());
  return out ? *out : std::vector<int32_t>{};
}

std::vector<int32_t> plus(std::vector<int32_t> a, std::vector<int32_t> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string c_decode(const std::vector<int32_t>& ids) {
  return char_tokenizer{}.decode(ids);
}

TEST(CharTokenizerAsTextTokenizer, PromptStopsAndRewardEqualTheFreeFunctions) {
  char_tokenizer c;
  const text_tokenizer& tok = c;
  EXPECT_EQ(*tok.prompt_ids("3+4="), *format_prompt(c, "3+4="));
  EXPECT_EQ(tok.stop_ids(), stop_tokens());
  EXPECT_EQ(tok.vocab_size(), 79);
  const reward_weights w;
  const std::vector<std::vector<int32_t>> completions = {
    ids(tok, "7</answer>"), plus(ids(tok, "7</answer>"), {char_tokenizer::eos_id}),
    ids(tok, "8</answer>"), ids(tok, "7"), ids(tok, "x7</answer>"), {}};
  for (const auto& completion : completions) {
    auto expected = score_completion(c_decode(completion), "7", w);
    auto got = tok.score(completion, "7", w);
    EXPECT_EQ(got.total, expected.total) << c_decode(completion);
    EXPECT_EQ(got.format, expected.format) << c_decode(completion);
  }
}

TEST(BpeTaskTokenizer, PromptIsTheQuestionFollowedByTheAnswerPrefix) {
  auto tok = qwen2();
  ASSERT_TRUE(tok);
  auto prompt = tok->prompt_ids("3+4=");
  ASSERT_TRUE(prompt);
  EXPECT_EQ(*prompt, ids(*tok, "3+4=<answer>"));
  EXPECT_EQ(tok->decode(*prompt), "3+4=<answer>");
  bpe_task_options opts;
  opts.answer_prefix = " Answer: <answer>";
  auto custom = qwen2(opts);
  ASSERT_TRUE(custom);
  EXPECT_EQ(custom->decode(*custom->prompt_ids("3+4=")), "3+4= Answer: <answer>");
}

TEST(BpeTaskTokenizer, StopTokensAreTheNamedSpecialTokens) {
  auto tok = qwen2();
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->stop_ids(), (std::vector<int32_t>{0, 2})); // <|endoftext|>, <|im_end|>
  bpe_task_options opts;
  opts.stop_tokens = {"<|im_end|>", "<|nope|>"};
  auto bad = bpe_task_tokenizer::load(qwen2_json, opts);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::invalid_config));
  EXPECT_NE(describe(bad.error()).find("'<|nope|>' is not a token"), std::string::npos)
    << describe(bad.error());
}

TEST(BpeTaskTokenizer, VocabSizeIsTheModelsAndMustHoldEveryTokenId) {
  EXPECT_EQ(qwen2()->vocab_size(), 384); // 0: the tokenizer's id bound
  bpe_task_options padded;
  padded.vocab_size = 512; // checkpoints often pad their embedding
  EXPECT_EQ(qwen2(padded)->vocab_size(), 512);
  bpe_task_options small;
  small.stop_tokens = {"<|endoftext|>"};
  small.vocab_size = 300;
  auto bad = bpe_task_tokenizer::load(qwen2_json, small);
  ASSERT_FALSE(bad);
  EXPECT_NE(describe(bad.error()).find("vocabulary of 300"), std::string::npos)
    << describe(bad.error());
}

struct bpe_reward_case {
  std::string text;   // decoded completion before its end
  bool stopped;       // followed by <|im_end|>
  double accuracy;
  double format;
};

TEST(BpeTaskTokenizer, RewardIsTheR1RuleOnTheDecodedCompletion) {
  bpe_task_options opts;
  opts.vocab_size = 400;
  auto tok = qwen2(opts);
  ASSERT_TRUE(tok);
  const reward_weights w; // 0.9 accuracy + 0.1 format
  const std::vector<bpe_reward_case> table = {
    {"7</answer>", true, 1, 1},
    {"7</answer>", false, 1, 1},       // cut at max_new_tokens right after the tag
    {"-0007</answer>", true, 0, 1},    // an integer, just not 7
    {" 7 </answer>", true, 1, 0},      // right answer, wrong shape
    {"7</answer>7", true, 1, 0},       // text after the tag (no text-level stop)
    {"7</answer><eos>", true, 1, 0},   // "<eos>" is just text in a BPE completion
    {"8</answer>", true, 0, 1},
    {"7", true, 0, 0},
    {"", true, 0, 0},
  };
  for (const auto& c : table) {
    auto completion = ids(*tok, c.text);
    if (c.stopped)
      completion.push_back(2);
    auto r = tok->score(completion, "7", w);
    EXPECT_EQ(r.accuracy, c.accuracy) << "'" << c.text << "'";
    EXPECT_EQ(r.format, c.format) << "'" << c.text << "'";
    EXPECT_DOUBLE_EQ(r.total, 0.9 * c.accuracy + 0.1 * c.format) << "'" << c.text << "'";
  }
  // A special token that is not a stop token is part of the text.
  auto r = tok->score(plus(ids(*tok, "7</answer>"), {1}), "7", w);
  EXPECT_EQ(r.format, 0);
  EXPECT_EQ(r.accuracy, 1);
  // Ids past the tokenizer's (padding rows of the model) decode to nothing.
  EXPECT_EQ(tok->score(plus(ids(*tok, "7"), plus({390}, ids(*tok, "</answer>"))), "7", w).total,
            1.0);
}

TEST(BpeTaskTokenizer, StopTextCheckFiresWhenTheClosingTagIsComplete) {
  auto tok = qwen2();
  ASSERT_TRUE(tok);
  auto check = tok->stop_text_check();
  ASSERT_TRUE(check);
  auto done = ids(*tok, "42</answer>");
  ASSERT_GT(done.size(), 2u); // the tag spans several tokens here
  for (size_t n = 1; n < done.size(); ++n)
    EXPECT_FALSE(check(std::vector<int32_t>(done.begin(), done.begin() + n))) << n;
  EXPECT_TRUE(check(done));
  // A long completion: only its end is looked at, and it still fires.
  auto long_one = plus(ids(*tok, std::string(200, 'x')), done);
  EXPECT_TRUE(check(long_one));
  EXPECT_FALSE(check(ids(*tok, std::string(200, 'x') + "</answ")));
  EXPECT_FALSE(char_tokenizer{}.stop_text_check()) << "the char tokenizer stops on ids";
}

TEST(BpeTaskTokenizer, AnswerTextStopsAtTheFirstStopToken) {
  auto tok = qwen2();
  ASSERT_TRUE(tok);
  auto completion = plus(ids(*tok, "12</answer>"), plus({0}, ids(*tok, "34")));
  EXPECT_EQ(tok->answer_text(completion), "12</answer>");
  EXPECT_EQ(tok->score(completion, "12", reward_weights{}).total, 1.0);
}

TEST(BpeTaskTokenizer, LoadsAJsonlDatasetWithAnyUtf8Prompt) {
  auto tok = qwen2();
  ASSERT_TRUE(tok);
  auto ds = jsonl_dataset::load(TANDEM_TEST_DATA_DIR "/tiny.jsonl", *tok, 7);
  ASSERT_TRUE(ds) << describe(ds.error());
  EXPECT_GT((*ds)->size(), 0u);
}

TEST(ScoreAnswerText, DiffersFromScoreCompletionOnlyInTheEosTag) {
  const reward_weights w;
  EXPECT_EQ(score_answer_text("7</answer>", "7", w).total, 1.0);
  EXPECT_EQ(score_completion("7</answer><eos>", "7", w).format, 1.0);
  EXPECT_EQ(score_answer_text("7</answer><eos>", "7", w).format, 0.0);
  EXPECT_EQ(score_answer_text("7</answer><eos>", "7", w).accuracy, 1.0);
}

} // namespace
} // namespace tandem
