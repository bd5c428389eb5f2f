// prompt_template_test.cpp: task.prompt_template parsing (built-in chat
// templates, custom text, errors), the rendered prompt, and the framing the
// tokenizers apply (char tokenizer with the r1 format, the Qwen2 fixture's
// tokenizer.json with the qwen template).
#include "tasks/prompt_template.hpp"

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "tasks/bpe_task_tokenizer.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {
namespace {

const std::string qwen2_json = TANDEM_TEST_DATA_DIR "/hf/tokenizer-qwen2/tokenizer.json";

std::string message(const caf::error& err) {
  const auto& ctx = err.context();
  return ctx.size() == 1 && ctx.match_element<std::string>(0) ? ctx.get_as<std::string>(0)
                                                              : describe(err);
}

task_framing framing_of(const std::string& tmpl, const std::string& system,
                        task_format format = task_format::answer) {
  auto parts = parse_prompt_template(tmpl, system);
  EXPECT_TRUE(parts) << message(parts.error());
  task_framing f;
  f.format = format;
  if (parts) {
    f.prefix = parts->prefix;
    f.suffix = parts->suffix;
  }
  return f;
}

TEST(PromptTemplate, EmptyIsTheQuestionAsItIs) {
  auto f = framing_of("", "");
  EXPECT_EQ(render_question(f, "3+4="), "3+4=");
}

TEST(PromptTemplate, QwenWithAndWithoutASystemPrompt) {
  EXPECT_EQ(render_question(framing_of("qwen", "Be brief."), "3+4="),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n3+4=<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(render_question(framing_of("qwen", ""), "3+4="),
            "<|im_start|>user\n3+4=<|im_end|>\n<|im_start|>assistant\n");
}

TEST(PromptTemplate, Llama3WithAndWithoutASystemPrompt) {
  EXPECT_EQ(render_question(framing_of("llama3", "Be brief."), "3+4="),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n3+4=<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(render_question(framing_of("llama3", ""), "3+4="),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n3+4=<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(PromptTemplate, CustomTextWithSystemAndLiteralBraces) {
  auto f = framing_of("[{system}] Q: {question} {x} A:", "sys {question}");
  // {system} is filled after the split: a system prompt holding
  // "{question}" stays text.
  EXPECT_EQ(render_question(f, "1+1="), "[sys {question}] Q: 1+1= {x} A:");
}

TEST(PromptTemplate, BadTemplatesSayWhy) {
  auto none = parse_prompt_template("Q: {questoin}", "");
  ASSERT_FALSE(none);
  EXPECT_TRUE(is(none.error(), errc::invalid_config));
  EXPECT_NE(message(none.error()).find("must contain {question}"), std::string::npos);
  auto twice = parse_prompt_template("{question} {question}", "");
  ASSERT_FALSE(twice);
  EXPECT_NE(message(twice.error()).find("holds {question} 2 times"), std::string::npos);
  auto systems = parse_prompt_template("{system}{system}{question}", "s");
  ASSERT_FALSE(systems);
  EXPECT_NE(message(systems.error()).find("holds {system} 2 times"), std::string::npos);
  auto no_system = parse_prompt_template("{system}: {question}", "");
  ASSERT_FALSE(no_system);
  EXPECT_NE(message(no_system.error()).find("task.system_prompt must be set"),
            std::string::npos);
}

TEST(PromptTemplate, NamesTokensAndSystemSlots) {
  EXPECT_EQ(prompt_template_names(), (std::vector<std::string>{"qwen", "llama3"}));
  EXPECT_EQ(prompt_template_tokens("qwen"),
            (std::vector<std::string>{"<|im_start|>", "<|im_end|>"}));
  EXPECT_EQ(prompt_template_tokens("llama3").size(), 4u);
  EXPECT_TRUE(prompt_template_tokens("{question}").empty());
  EXPECT_TRUE(prompt_template_takes_system("qwen"));
  EXPECT_TRUE(prompt_template_takes_system("{system} {question}"));
  EXPECT_FALSE(prompt_template_takes_system("{question}"));
  EXPECT_FALSE(prompt_template_takes_system(""));
}

TEST(PromptTemplate, ThinkIsPrefilledWhenTheTemplateEndsWithIt) {
  EXPECT_TRUE(think_prefilled(framing_of("{question} <think>", "")));
  EXPECT_TRUE(think_prefilled(framing_of("{question}<think>\n", "")));
  EXPECT_FALSE(think_prefilled(framing_of("<think>{question}", "")));
  EXPECT_FALSE(think_prefilled(framing_of("qwen", "")));
}

TEST(CharTokenizerFraming, R1AddsThinkTagsAndLeavesTheAnswerOpen) {
  char_tokenizer plain;
  EXPECT_EQ(plain.vocab_size(), 79);
  EXPECT_FALSE(plain.encode("<think>"));
  EXPECT_EQ(plain.decode({79}), "<unk>");
  task_framing r1;
  r1.format = task_format::r1;
  char_tokenizer tok{r1};
  EXPECT_EQ(tok.vocab_size(), 81);
  EXPECT_EQ(*tok.encode("<think>1</think>"),
            (std::vector<int32_t>{char_tokenizer::think_open_id, *plain.encode("1")->begin(),
                                  char_tokenizer::think_close_id}));
  EXPECT_EQ(tok.decode({79, 80, 3, 4}), "<think></think><answer></answer>");
  // <bos> question, no <answer>: the policy opens its own tags.
  auto ids = tok.prompt_ids("3+4=");
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, (std::vector<int32_t>{char_tokenizer::bos_id, *plain.encode("3")->begin(),
                                        *plain.encode("+")->begin(), *plain.encode("4")->begin(),
                                        *plain.encode("=")->begin()}));
  EXPECT_EQ(tok.stop_ids(), stop_tokens());
  const reward_weights w;
  auto good = tok.score(*tok.encode("<think>3+4</think><answer>7</answer>"), "7", w);
  EXPECT_DOUBLE_EQ(good.total, 1.0);
  auto answer_only = tok.score(*tok.encode("7</answer>"), "7", w);
  EXPECT_DOUBLE_EQ(answer_only.total, 0.0); // today's shape is not the R1 shape
  EXPECT_NE(tok.describe().find("r1"), std::string::npos);
}

TEST(CharTokenizerFraming, TemplateTextWrapsTheQuestion) {
  char_tokenizer plain;
  task_framing f = framing_of("Q: {question} A:", "");
  char_tokenizer tok{f};
  auto ids = tok.prompt_ids("1+1=");
  ASSERT_TRUE(ids);
  auto body = plain.encode("Q: 1+1= A:");
  std::vector<int32_t> want{char_tokenizer::bos_id};
  want.insert(want.end(), body->begin(), body->end());
  want.push_back(char_tokenizer::answer_open_id);
  EXPECT_EQ(*ids, want);
  // The default framing is exactly format_prompt.
  EXPECT_EQ(*plain.prompt_ids("1+1="), *format_prompt(plain, "1+1="));
}

TEST(BpeTokenizerFraming, QwenTemplateEncodesItsChatTokensAsSingleIds) {
  bpe_task_options opts;
  opts.stop_tokens = {"<|im_end|>"};
  opts.framing = framing_of("qwen", "Be brief.", task_format::r1);
  auto tok = bpe_task_tokenizer::load(qwen2_json, opts);
  ASSERT_TRUE(tok) << describe(tok.error());
  auto ids = (*tok)->prompt_ids("3+4=");
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, *(*tok)->encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
                                  "3+4=<|im_end|>\n<|im_start|>assistant\n"));
  const int32_t im_start = *(*tok)->encode("<|im_start|>")->begin();
  EXPECT_EQ((*tok)->encode("<|im_start|>")->size(), 1u);
  EXPECT_EQ(ids->front(), im_start);
  // r1: no answer prefix; the completion is scored by the R1 rules up to
  // its stop token.
  const reward_weights w;
  auto completion = *(*tok)->encode("<think>3 and 4</think><answer>7</answer><|im_end|>");
  EXPECT_DOUBLE_EQ((*tok)->score(completion, "7", w).total, 1.0);
  auto wrong = *(*tok)->encode("<think></think> <answer>8</answer><|im_end|>");
  auto r = (*tok)->score(wrong, "7", w);
  EXPECT_EQ(r.accuracy, 0);
  EXPECT_EQ(r.format, 1);
}

TEST(BpeTokenizerFraming, AnswerFormatAppendsTheAnswerPrefixAfterTheTemplate) {
  bpe_task_options opts;
  opts.stop_tokens = {"<|im_end|>"};
  opts.framing = framing_of("qwen", "");
  auto tok = bpe_task_tokenizer::load(qwen2_json, opts);
  ASSERT_TRUE(tok) << describe(tok.error());
  EXPECT_EQ(*(*tok)->prompt_ids("3+4="),
            *(*tok)->encode("<|im_start|>user\n3+4=<|im_end|>\n<|im_start|>assistant\n<answer>"));
}

} // namespace
} // namespace tandem
