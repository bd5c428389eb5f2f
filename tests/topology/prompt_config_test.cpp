// prompt_config_test: task.format, task.prompt_template, task.system_prompt,
// task.max_prompt_tokens, task.kind: gsm8k, sampler.top_k and the
// learning-rate schedule in a run config: what they bind to (the resolved
// framing), and every mistake at FILE:LINE:COL with its field.
#include "topology/config_loader.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tandem {
namespace {

// Parsed as if it were a file in tests/data, so that relative paths resolve
// against the fixtures.
const std::string config_name = TANDEM_TEST_DATA_DIR "/inline.yaml";

config_result parse(const std::string& text) {
  return parse_run_config(text, config_name);
}

std::string all_issues(const config_result& r) {
  std::string out;
  for (const auto& i : r.issues)
    out += i.to_string() + "\n";
  return out;
}

void expect_single(const config_result& r, const std::string& field, const std::string& text,
                   int line) {
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r);
  const auto& i = r.issues[0];
  EXPECT_EQ(i.field, field) << i.to_string();
  EXPECT_NE(i.message.find(text), std::string::npos) << i.to_string();
  EXPECT_EQ(i.line, line) << i.to_string();
  EXPECT_GT(i.column, 0) << i.to_string();
}

const std::string qwen_model =
  "model:\n  hf_path: hf/tiny-qwen2\n  max_seq_len: 64\n"
  "sampler:\n  max_new_tokens: 8\n"
  "task:\n"
  "  tokenizer: hf/tokenizer-qwen2/tokenizer.json\n"
  "  stop_tokens: [\"<|im_end|>\"]\n";

TEST(PromptConfig, DefaultsAreTodaysFraming) {
  auto r = parse("run:\n  steps: 3\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  const auto& t = r.config.task;
  EXPECT_EQ(t.framing, task_framing{});
  EXPECT_EQ(t.max_prompt_tokens, 0);
  EXPECT_EQ(r.config.model.vocab_size, 0); // the built-in tokenizer's 79
  EXPECT_EQ(r.config.sampler.sampling.top_k, 0);
  EXPECT_EQ(r.config.learner.optimizer.schedule.kind, lr_schedule_kind::constant);
  EXPECT_EQ(prompt_token_limit(r.config), 64 - 8);
}

TEST(PromptConfig, R1WithTheBuiltInTokenizerGrowsTheVocabulary) {
  auto r = parse("task:\n  format: r1\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.task.framing.format, task_format::r1);
  EXPECT_EQ(r.config.task.framing.check, answer_check::exact);
  EXPECT_EQ(r.config.model.vocab_size, 81);
  expect_single(parse("task:\n  format: R1\n"), "task.format", "expected one of answer, r1", 2);
}

TEST(PromptConfig, QwenTemplateResolvesAroundTheQuestion) {
  auto r = parse(qwen_model + "  format: r1\n  prompt_template: qwen\n"
                              "  system_prompt: Think, then answer.\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  const auto& f = r.config.task.framing;
  EXPECT_EQ(f.prefix, "<|im_start|>system\nThink, then answer.<|im_end|>\n<|im_start|>user\n");
  EXPECT_EQ(f.suffix, "<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(r.config.model.vocab_size, 384); // the checkpoint's, not the char tokenizer's
}

TEST(PromptConfig, TemplateMistakesSitAtTheTemplate) {
  expect_single(parse(qwen_model + "  prompt_template: qwn\n"), "task.prompt_template",
                "did you mean 'qwen'?", 9);
  expect_single(parse(qwen_model + "  prompt_template: \"Q: {question} {question}\"\n"),
                "task.prompt_template", "holds {question} 2 times", 9);
  expect_single(parse(qwen_model + "  prompt_template: llama3\n"), "task.prompt_template",
                "'<|begin_of_text|>', which is not a token of", 9);
  expect_single(parse("task:\n  prompt_template: qwen\n"), "task.prompt_template",
                "qwen needs task.tokenizer", 2);
  expect_single(parse("task:\n  prompt_template: \"Q; {question}\"\n"),
                "task.prompt_template", "the built-in tokenizer cannot encode it", 2);
  expect_single(parse("task:\n  prompt_template: \"{system} {question}\"\n"),
                "task.prompt_template", "task.system_prompt must be set", 2);
}

TEST(PromptConfig, ASystemPromptNeedsAPlaceToGo) {
  expect_single(parse("task:\n  system_prompt: be brief\n"), "task.system_prompt",
                "has no effect", 2);
  expect_single(parse("task:\n  prompt_template: \"Q {question}\"\n  system_prompt: x\n"),
                "task.system_prompt", "has no {system}", 3);
  auto ok = parse("task:\n  prompt_template: \"{system} Q: {question}\"\n  system_prompt: Be brief\n");
  ASSERT_TRUE(ok.ok()) << all_issues(ok);
  EXPECT_EQ(ok.config.task.framing.prefix, "Be brief Q: ");
}

TEST(PromptConfig, AnswerPrefixDoesNothingWithR1) {
  expect_single(parse(qwen_model + "  format: r1\n  answer_prefix: \"<answer>\"\n"),
                "task.answer_prefix", "has no effect with task.format: r1", 10);
}

TEST(PromptConfig, TheTemplateCountsTowardsThePromptLength) {
  // <bos> "Question: " 1234+1234= " Answer:" <answer> = 1 + 10 + 10 + 8 + 1 = 30 tokens.
  const std::string head = "model:\n  max_seq_len: 37\nsampler:\n  max_new_tokens: 8\n"
                           "task:\n  max_operand: 1234\n";
  expect_single(parse(head + "  prompt_template: \"Question: {question} Answer:\"\n"),
                "model.max_seq_len", "the longest prompt has 30 tokens", 2);
  EXPECT_TRUE(parse(head + "  prompt_template: \"Q: {question} A:\"\n").ok());
}

TEST(PromptConfig, MaxPromptTokensMustLeaveRoomToGenerate) {
  auto r = parse("task:\n  max_prompt_tokens: 20\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(prompt_token_limit(r.config), 20);
  expect_single(parse("task:\n  max_prompt_tokens: 60\n"), "task.max_prompt_tokens",
                "60 + sampler.max_new_tokens 8 = 68 exceeds model.max_seq_len 64", 2);
  expect_single(parse("task:\n  max_prompt_tokens: -1\n"), "task.max_prompt_tokens",
                "must be >= 0", 2);
  // With a limit, prompts over it are dropped at run time instead of the
  // config being refused for its longest generated question.
  EXPECT_TRUE(parse("model:\n  max_seq_len: 20\ntask:\n  max_operand: 99999\n"
                    "  max_prompt_tokens: 12\n").ok());
}

TEST(PromptConfig, Gsm8kReadsItsPathAndGradesLikeMath) {
  auto r = parse("task:\n  kind: gsm8k\n  path: gsm8k_tiny.jsonl\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.task.framing.check, answer_check::math);
  EXPECT_EQ(r.config.task.jsonl_path, TANDEM_TEST_DATA_DIR "/gsm8k_tiny.jsonl");
  expect_single(parse("task:\n  kind: gsm8k\n"), "task.path", "required with task.kind: gsm8k", 2);
  expect_single(parse("task:\n  kind: gsm8\n"), "task.kind", "did you mean 'gsm8k'?", 2);
  auto jsonl_r1 = parse("task:\n  kind: jsonl\n  path: tiny.jsonl\n  format: r1\n");
  ASSERT_TRUE(jsonl_r1.ok()) << all_issues(jsonl_r1);
  EXPECT_EQ(jsonl_r1.config.task.framing.check, answer_check::math);
  auto jsonl = parse("task:\n  kind: jsonl\n  path: tiny.jsonl\n");
  EXPECT_EQ(jsonl.config.task.framing.check, answer_check::exact); // as before
}

TEST(PromptConfig, TopKMustNotBeNegative) {
  auto r = parse("sampler:\n  top_k: 20\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.sampler.sampling.top_k, 20);
  expect_single(parse("sampler:\n  top_k: -2\n"), "sampler.top_k", "must be >= 0", 2);
}

TEST(PromptConfig, LrScheduleKeys) {
  auto r = parse("run:\n  steps: 50\nlearner:\n  lr: 0.001\n  lr_schedule: cosine\n"
                 "  warmup_steps: 5\n  min_lr: 0.0001\n");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  const auto& s = r.config.learner.optimizer.schedule;
  EXPECT_EQ(s.kind, lr_schedule_kind::cosine);
  EXPECT_EQ(s.warmup_steps, 5);
  EXPECT_EQ(s.min_lr, 0.0001);
  EXPECT_EQ(make_learner_settings(r.config).optimizer.schedule.total_steps, 50);
  expect_single(parse("learner:\n  lr_schedule: cosin\n"), "learner.lr_schedule",
                "expected one of constant, linear, cosine", 2);
  expect_single(parse("learner:\n  min_lr: 0.0001\n"), "learner.min_lr",
                "has no effect with learner.lr_schedule: constant", 2);
  expect_single(parse("learner:\n  lr: 0.001\n  lr_schedule: linear\n  min_lr: 0.01\n"),
                "learner.min_lr", "must be in [0, learner.lr]", 4);
  EXPECT_TRUE(parse("run:\n  steps: 10\nlearner:\n  warmup_steps: 20\n").ok());
  expect_single(parse("learner:\n  warmup_steps: -1\n"), "learner.warmup_steps",
                "must be >= 0", 2);
}

} // namespace
} // namespace tandem
