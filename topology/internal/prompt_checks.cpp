// prompt_checks.cpp: prompt framing, prompt length limit, top-k and the
// learning-rate schedule (prompt_checks.hpp).
#include "topology/internal/prompt_checks.hpp"

#include <string>

#include "runtime/error.hpp"
#include "tasks/tokenizer.hpp"
#include "topology/internal/config_checker.hpp"

namespace tandem::internal {

namespace {

void report(binder_context& ctx, const std::string& field, const std::string& message) {
  ctx.add(ctx.where(field), field, message);
  ctx.mark_invalid(field);
}

bool is_named(const std::string& tmpl) {
  return !prompt_template_tokens(tmpl).empty();
}

// A template that is neither a name nor holds "{question}": perhaps a
// misspelt name.
std::string template_hint(const std::string& tmpl) {
  if (tmpl.find('{') != std::string::npos)
    return "";
  auto near = closest_name(tmpl, prompt_template_names());
  return near.empty() ? "" : "; did you mean '" + near + "'?";
}

void resolve_template(run_config& c, binder_context& ctx) {
  auto& t = c.task;
  if (ctx.invalid("task.prompt_template") || ctx.invalid("task.system_prompt"))
    return;
  auto parts = parse_prompt_template(t.prompt_template, t.system_prompt);
  if (!parts)
    return report(ctx, "task.prompt_template",
                  error_text(parts.error()) + template_hint(t.prompt_template));
  t.framing.prefix = std::move(parts->prefix);
  t.framing.suffix = std::move(parts->suffix);
  if (ctx.present("task.system_prompt") && !prompt_template_takes_system(t.prompt_template))
    report(ctx, "task.system_prompt",
           "has no effect: task.prompt_template has no {system} (use qwen, llama3 or a "
           "template holding {system})");
  if (!t.tokenizer_path.empty() || ctx.invalid("task.prompt_template"))
    return;
  if (is_named(t.prompt_template))
    return report(ctx, "task.prompt_template",
                  t.prompt_template + " needs task.tokenizer (a tokenizer.json that knows "
                    "its chat tokens); the built-in character tokenizer has none");
  // The built-in tokenizer: the template's own text must use its alphabet.
  if (auto ids = char_tokenizer{t.framing}.encode(t.framing.prefix + t.framing.suffix); !ids)
    report(ctx, "task.prompt_template",
           "the built-in tokenizer cannot encode it: " + error_text(ids.error()));
}

void check_format(run_config& c, binder_context& ctx) {
  auto& t = c.task;
  const bool r1 = t.framing.format == task_format::r1;
  t.framing.check = t.kind == "gsm8k" || (t.kind == "jsonl" && r1) ? answer_check::math
                                                                    : answer_check::exact;
  if (r1 && ctx.present("task.answer_prefix"))
    report(ctx, "task.answer_prefix",
           "has no effect with task.format: r1 (the prompt does not pre-fill the answer; "
           "the policy writes <think>...</think><answer>...</answer>); remove it");
}

void check_prompt_limit(const run_config& c, binder_context& ctx) {
  const auto n = c.task.max_prompt_tokens;
  if (ctx.invalid("task.max_prompt_tokens"))
    return;
  if (n < 0)
    return report(ctx, "task.max_prompt_tokens",
                  "must be >= 0 (0: what model.max_seq_len leaves after "
                  "sampler.max_new_tokens; got " + std::to_string(n) + ")");
  if (n == 0 || ctx.invalid("model.max_seq_len") || ctx.invalid("sampler.max_new_tokens"))
    return;
  const int64_t need = int64_t{n} + c.sampler.sampling.max_new_tokens;
  if (need > c.model.max_seq_len)
    report(ctx, "task.max_prompt_tokens",
           std::to_string(n) + " + sampler.max_new_tokens " +
             std::to_string(c.sampler.sampling.max_new_tokens) + " = " + std::to_string(need)
             + " exceeds model.max_seq_len " + std::to_string(c.model.max_seq_len));
}

void check_top_k(const run_config& c, binder_context& ctx) {
  const auto k = c.sampler.sampling.top_k;
  if (!ctx.invalid("sampler.top_k") && k < 0)
    report(ctx, "sampler.top_k", "must be >= 0 (0 = off; got " + std::to_string(k) + ")");
}

void check_schedule(const run_config& c, binder_context& ctx) {
  const auto& o = c.learner.optimizer;
  const auto& s = o.schedule;
  if (ctx.invalid("learner.lr_schedule"))
    return;
  // A warmup as long as the run is allowed: a short trial run of a config
  // (--steps 3) keeps its schedule and simply ends inside the warmup.
  if (!ctx.invalid("learner.warmup_steps") && s.warmup_steps < 0)
    report(ctx, "learner.warmup_steps",
           "must be >= 0 (got " + std::to_string(s.warmup_steps) + ")");
  if (ctx.invalid("learner.min_lr") || !ctx.present("learner.min_lr"))
    return;
  if (s.kind == lr_schedule_kind::constant)
    return report(ctx, "learner.min_lr",
                  "has no effect with learner.lr_schedule: constant (linear and cosine "
                  "decay to it); remove it");
  if (!(s.min_lr >= 0) || (!(s.min_lr <= o.lr) && !ctx.invalid("learner.lr")))
    report(ctx, "learner.min_lr",
           "must be in [0, learner.lr] (got " + std::to_string(s.min_lr) + ")");
}

} // namespace

void check_prompt_settings(run_config& cfg, binder_context& ctx) {
  check_format(cfg, ctx);
  resolve_template(cfg, ctx);
  // The built-in tokenizer grows <think> and </think> with the r1 format.
  if (cfg.task.tokenizer_path.empty() && cfg.hf_path.empty())
    if (auto v = char_tokenizer{cfg.task.framing}.vocab_size(); v != char_tokenizer{}.vocab_size())
      cfg.model.vocab_size = v;
  check_prompt_limit(cfg, ctx);
  check_top_k(cfg, ctx);
  check_schedule(cfg, ctx);
}

void check_template_tokens(const run_config& cfg, const bpe_tokenizer& tok,
                           binder_context& ctx) {
  const auto& tmpl = cfg.task.prompt_template;
  if (ctx.invalid("task.prompt_template"))
    return;
  for (const auto& name : prompt_template_tokens(tmpl))
    if (!tok.token_to_id(name))
      return report(ctx, "task.prompt_template",
                    tmpl + " spells '" + name + "', which is not a token of "
                      + cfg.task.tokenizer_path + " (is it the right template for "
                        "this model?)");
  if (auto ids = tok.encode(tmpl + cfg.task.system_prompt); !ids)
    report(ctx, "task.prompt_template", error_text(ids.error()));
}

int64_t prompt_frame_tokens(const task_section& t, bool bpe) {
  const bool answer = t.framing.format == task_format::answer;
  const std::string frame = t.framing.prefix + t.framing.suffix;
  auto bound = static_cast<int64_t>(frame.size());
  if (!bpe)
    return 1 + bound + (answer ? 1 : 0); // <bos> ... <answer>
  // A built-in template's special tokens are one token each, not a byte each.
  for (const auto& special : prompt_template_tokens(t.prompt_template))
    for (size_t at = frame.find(special); at != std::string::npos;
         at = frame.find(special, at + special.size()))
      bound -= static_cast<int64_t>(special.size()) - 1;
  return bound + (answer ? static_cast<int64_t>(t.answer_prefix.size()) : 0);
}

} // namespace tandem::internal
