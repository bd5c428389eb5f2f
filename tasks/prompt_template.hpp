// prompt_template.hpp: how a task's question becomes the prompt text, and how
// its completion is expected to look (task.format, task.prompt_template,
// task.system_prompt in the run config).
//
// A template is text holding exactly one "{question}" and at most one
// "{system}"; any other brace is literal. "" means "{question}" (the
// question as it is). Two built-in chat templates are selected by name:
//   qwen    <|im_start|>system\n{system}<|im_end|>\n
//           <|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n
//   llama3  <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n
//           {system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n
//           {question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
// (each line above continues the previous one). A named template drops its
// system turn when the system prompt is empty; a custom template that holds
// "{system}" needs a non-empty system prompt, and a system prompt without a
// "{system}" to go to is refused (it would do nothing).
//
// task_framing is the resolved result the tokenizers use: the text before
// and after the question, the completion format and how answers compare:
//   answer  the prompt ends with the answer tag (the tokenizer adds it); the
//           completion is "X</answer>" (tasks/reward_rules.hpp)
//   r1      the prompt ends where the template ends; the completion is
//           "<think>...</think><answer>X</answer>" (tasks/framed_reward.hpp),
//           its "<think>" already in the prompt when the template ends with
//           it (think_prefilled)
//
// Thread safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace tandem {

/// task.format: the shape the completion is expected in.
enum class task_format : uint8_t { answer, r1 };

/// How an extracted answer is compared with the reference.
enum class answer_check : uint8_t {
  exact, // reward_rules' answers_match: integers canonically, other text trimmed
  math,  // the math grader's answers_equal (tasks/math_grader.hpp)
};

const char* to_string(task_format f);

/// The resolved framing of a task's prompts and completions.
struct task_framing {
  task_format format = task_format::answer;
  answer_check check = answer_check::exact;
  std::string prefix; // template text before the question, {system} filled in
  std::string suffix; // template text after the question
};

bool operator==(const task_framing& a, const task_framing& b);
inline bool operator!=(const task_framing& a, const task_framing& b) { return !(a == b); }

/// The names of the built-in templates: "qwen", "llama3".
const std::vector<std::string>& prompt_template_names();

/// The special tokens a built-in template spells (a tokenizer must know each
/// as one token); empty for any other template text.
std::vector<std::string> prompt_template_tokens(std::string_view name);

struct template_parts {
  std::string prefix;
  std::string suffix;
};

/// True when `tmpl` has a place for a system prompt: a built-in name, or
/// text holding "{system}".
bool prompt_template_takes_system(std::string_view tmpl);

/// Splits `tmpl` (a built-in name, "", or text with one "{question}") at its
/// question with `system` filled in. errc::invalid_config with a message
/// that fits after the field name ("must contain {question} ...").
caf::expected<template_parts> parse_prompt_template(std::string_view tmpl,
                                                    std::string_view system);

/// prefix + question + suffix.
std::string render_question(const task_framing& f, std::string_view question);

/// True when the template's text after the question ends with "<think>"
/// (white space after it aside): the completion then starts inside the
/// thought.
bool think_prefilled(const task_framing& f);

} // namespace tandem
