// prompt_template.cpp: built-in chat templates and the split of a template
// at its question. Placeholders are found by plain substring search, so
// parsing is linear in the template's length.
#include "tasks/prompt_template.hpp"

#include "runtime/error.hpp"

namespace tandem {

namespace {

constexpr std::string_view question_mark = "{question}";
constexpr std::string_view system_mark = "{system}";

struct named_template {
  const char* name;
  const char* system_turn; // holds {system}; dropped when there is none
  const char* rest;        // the user turn ({question}) and the assistant header
  std::vector<std::string> tokens;
};

const std::vector<named_template>& named() {
  static const std::vector<named_template> all = {
    {"qwen", "<|im_start|>system\n{system}<|im_end|>\n",
     "<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n",
     {"<|im_start|>", "<|im_end|>"}},
    {"llama3", "<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>",
     "<|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\n",
     {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}},
  };
  return all;
}

const named_template* find_named(std::string_view name) {
  for (const auto& t : named())
    if (name == t.name)
      return &t;
  return nullptr;
}

size_t count(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + what.size()))
    ++n;
  return n;
}

// `text` with its one `mark` (if any) replaced by `value`.
std::string fill(std::string_view text, std::string_view mark, std::string_view value) {
  const size_t at = text.find(mark);
  if (at == std::string_view::npos)
    return std::string(text);
  return std::string(text.substr(0, at)) + std::string(value)
         + std::string(text.substr(at + mark.size()));
}

// The full text of a named template for `system` (its system turn dropped
// when `system` is empty).
std::string expand(const named_template& t, std::string_view system) {
  std::string out = t.name == std::string_view("llama3") ? "<|begin_of_text|>" : "";
  if (!system.empty())
    out += t.system_turn;
  return out + t.rest;
}

caf::error bad(std::string message) {
  return make_error(errc::invalid_config, std::move(message));
}

} // namespace

const char* to_string(task_format f) {
  return f == task_format::r1 ? "r1" : "answer";
}

bool operator==(const task_framing& a, const task_framing& b) {
  return a.format == b.format && a.check == b.check && a.prefix == b.prefix
         && a.suffix == b.suffix;
}

const std::vector<std::string>& prompt_template_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& t : named())
      out.emplace_back(t.name);
    return out;
  }();
  return names;
}

std::vector<std::string> prompt_template_tokens(std::string_view name) {
  const auto* t = find_named(name);
  return t ? t->tokens : std::vector<std::string>{};
}

bool prompt_template_takes_system(std::string_view tmpl) {
  return find_named(tmpl) != nullptr || tmpl.find(system_mark) != std::string_view::npos;
}

caf::expected<template_parts> parse_prompt_template(std::string_view tmpl,
                                                    std::string_view system) {
  if (tmpl.empty())
    return template_parts{};
  std::string text;
  if (const auto* t = find_named(tmpl)) {
    text = expand(*t, system);
  } else {
    text = std::string(tmpl);
    if (const auto q = count(text, question_mark); q != 1)
      return bad(q == 0 ? "must contain {question} (where the question goes) or name a "
                          "built-in template (qwen, llama3)"
                        : "holds {question} " + std::to_string(q) + " times; it must "
                          "hold it exactly once");
    if (const auto s = count(text, system_mark); s > 1)
      return bad("holds {system} " + std::to_string(s) + " times; at most once");
    if (text.find(system_mark) != std::string::npos && system.empty())
      return bad("uses {system}: task.system_prompt must be set (and not empty)");
  }
  const size_t q = text.find(question_mark);
  template_parts out;
  out.prefix = text.substr(0, q);
  out.suffix = text.substr(q + question_mark.size());
  // {system} is filled in after the split, so a system prompt that itself
  // holds "{question}" stays literal text.
  out.prefix = fill(out.prefix, system_mark, system);
  out.suffix = fill(out.suffix, system_mark, system);
  return out;
}

std::string render_question(const task_framing& f, std::string_view question) {
  std::string out;
  out.reserve(f.prefix.size() + question.size() + f.suffix.size());
  out.append(f.prefix).append(question).append(f.suffix);
  return out;
}

bool think_prefilled(const task_framing& f) {
  constexpr std::string_view think = "<think>";
  std::string_view s = f.suffix;
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t'
                        || s.back() == '\r'))
    s.remove_suffix(1);
  return s.size() >= think.size() && s.substr(s.size() - think.size()) == think;
}

} // namespace tandem
