// config_checks.cpp: one small function per section plus the cross-section
// rules (prompt length vs. max_seq_len, mini-batches vs. batch size). The
// model and its sources (model.hf_path, task.tokenizer) are checked in
// model_source_checks.cpp, the data-parallel learner keys in
// learner_checks.cpp, prompt framing in prompt_checks.cpp.
#include "topology/internal/config_checks.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <initializer_list>

#include "models/device_name.hpp"
#include "runtime/error.hpp"
#include "topology/internal/config_checker.hpp"
#include "topology/internal/learner_checks.hpp"
#include "topology/internal/model_source_checks.hpp"
#include "topology/internal/prompt_checks.hpp"

namespace tandem::internal {

namespace {

void check_run(const run_config& c, checker& k) {
  const auto& r = c.run;
  k.at_least("run.steps", r.steps, 1);
  k.at_least("run.groups_per_step", r.groups_per_step, 1);
  k.require(r.group_size >= 2, "run.group_size",
            "must be >= 2 (got " + num(r.group_size)
              + "): GRPO's baseline is the mean reward of a group");
  k.require(r.max_staleness >= 0 && r.max_staleness <= 64, "run.max_staleness",
            "must be in [0, 64] (got " + num(r.max_staleness) + ")");
  k.at_least("run.target_reward", r.target_reward, 0.0);
  double best = c.reward.weights.accuracy + c.reward.weights.format;
  k.require(r.target_reward <= best, "run.target_reward",
            "can never be reached: the highest reward is reward.accuracy_weight + "
            "reward.format_weight = " + num(best) + " (got " + num(r.target_reward) + ")",
            {"reward.accuracy_weight", "reward.format_weight"});
  k.at_least("run.max_requeues", r.max_requeues, 0);
  k.at_least("run.checkpoint_every", r.checkpoint_every, 0);
  k.at_least("run.keep_checkpoints", r.keep_checkpoints, 1);
  k.at_least("run.max_head_restarts", r.max_head_restarts, 0);
  k.at_least("run.max_filtered_per_step", r.max_filtered_per_step, 0);
  k.no_effect("run.max_filtered_per_step", !r.dynamic_sampling, "run.dynamic_sampling false");
  k.require(!r.dynamic_sampling || c.learner.grpo.baseline == advantage_baseline::group,
            "run.dynamic_sampling",
            std::string("filters groups whose rewards are all equal, but with learner.baseline ")
              + to_string(c.learner.grpo.baseline)
              + " such a group has a non-zero advantage; use one or the other",
            {"learner.baseline"});
  k.require(!r.output_dir.empty(), "run.output_dir", "must not be empty");
}

void check_arithmetic(const task_section& t, checker& k) {
  const auto& a = t.arithmetic;
  k.at_least("task.min_operand", a.min_operand, int64_t{0});
  k.require(a.max_operand <= 1000000000, "task.max_operand",
            "must be <= 1000000000 (got " + num(a.max_operand) + ")");
  k.require(a.min_operand <= a.max_operand, "task.min_operand",
            "must be <= task.max_operand (" + num(a.min_operand) + " > "
              + num(a.max_operand) + ")",
            {"task.max_operand"});
  k.require(!a.ops.empty(), "task.ops", "must name at least one of + - *");
  for (size_t i = 0; i < a.ops.size(); ++i) {
    char op = a.ops[i];
    k.require(std::string("+-*").find(op) != std::string::npos, "task.ops",
              std::string("unknown operator '") + op + "'; use any of + - *");
    k.require(a.ops.find(op) == i, "task.ops",
              std::string("operator '") + op + "' is listed twice");
  }
  k.at_least("task.answer_width", a.answer_width, int64_t{0});
  // 19 digits hold every int64 result; wider pads would only add zeros.
  k.require(a.answer_width <= 19, "task.answer_width",
            "must be <= 19 (got " + num(a.answer_width) + ")");
  if (a.answer_width > 0 && !a.ops.empty() && a.min_operand <= a.max_operand)
    k.require(a.answer_width >= widest_arithmetic_result_digits(a), "task.answer_width",
              "is narrower than the widest answer (" + num(widest_arithmetic_result_digits(a))
                + " digits for operands up to " + num(a.max_operand) + ")",
              {"task.max_operand", "task.ops"});
}

// Reports a generated task's own range rules (countdown_task::check, ...) at
// their fields; a field with an issue is marked invalid so that the rules
// reading it (the prompt length) stay quiet.
void report_task_issues(const std::vector<task_config_issue>& issues, checker& k) {
  for (const auto& issue : issues) {
    const auto field = "task." + issue.field;
    k.require(false, field, issue.message);
    k.ctx().mark_invalid(field);
  }
}

void check_countdown(task_section& t, checker& k) {
  t.countdown.seed = t.arithmetic.seed; // task.seed binds there for every kind
  report_task_issues(countdown_task::check(t.countdown), k);
}

void check_multidigit(task_section& t, checker& k) {
  t.multidigit.seed = t.arithmetic.seed; // task.seed and task.ops bind there
  t.multidigit.ops = t.arithmetic.ops;
  report_task_issues(multidigit_task::check(t.multidigit), k);
}

// Task keys and the kinds that read them; any other kind reports the key as
// having no effect.
void check_task_keys_used(const task_section& t, checker& k) {
  static const std::vector<std::pair<const char*, std::vector<std::string>>> readers = {
    {"task.min_operand", {"arithmetic"}},
    {"task.max_operand", {"arithmetic"}},
    {"task.answer_width", {"arithmetic"}},
    {"task.ops", {"arithmetic", "multidigit"}},
    {"task.numbers", {"countdown"}},
    {"task.max_number", {"countdown"}},
    {"task.max_target", {"countdown"}},
    {"task.digits", {"multidigit"}},
    {"task.path", {"jsonl", "gsm8k"}},
    {"task.eval_path", {"jsonl"}},
  };
  for (const auto& [field, kinds] : readers) {
    const bool read = std::find(kinds.begin(), kinds.end(), t.kind) != kinds.end();
    k.no_effect(field, !read, "task.kind: " + t.kind);
  }
}

void check_jsonl(task_section& t, const std::string& base_dir, checker& k) {
  if (k.ctx().invalid("task.path"))
    return;
  k.require(!t.jsonl_path.empty(), "task.path", "required with task.kind: " + t.kind);
  if (t.jsonl_path.empty())
    return;
  t.jsonl_path = resolve(t.jsonl_path, base_dir);
  std::error_code ec;
  k.require(std::filesystem::is_regular_file(t.jsonl_path, ec), "task.path",
            "file not found: " + t.jsonl_path);
  if (t.eval_path.empty() || k.ctx().invalid("task.eval_path"))
    return;
  t.eval_path = resolve(t.eval_path, base_dir);
  k.require(std::filesystem::is_regular_file(t.eval_path, ec), "task.eval_path",
            "file not found: " + t.eval_path);
}

void check_task(task_section& t, const std::string& base_dir, checker& k) {
  const std::vector<std::string> kinds = {"arithmetic", "countdown", "multidigit", "jsonl",
                                          "gsm8k"};
  if (std::find(kinds.begin(), kinds.end(), t.kind) == kinds.end()) {
    std::string hint = closest_name(t.kind, kinds);
    return k.require(false, "task.kind",
                     "unknown task kind '" + t.kind + "'; "
                       + (hint.empty() ? "use arithmetic, countdown, multidigit, jsonl or gsm8k"
                                       : "did you mean '" + hint + "'?"));
  }
  check_task_keys_used(t, k);
  if (t.kind == "arithmetic")
    return check_arithmetic(t, k);
  if (t.kind == "countdown")
    return check_countdown(t, k);
  if (t.kind == "multidigit")
    return check_multidigit(t, k);
  check_jsonl(t, base_dir, k); // jsonl and gsm8k
}

void check_sampler(const sampler_section& s, checker& k) {
  k.at_least("sampler.count", s.count, 0);
  k.at_least("sampler.processes", s.processes, 0);
  k.require(s.count < 0 || s.processes < 0 || s.count + s.processes >= 1, "sampler.count",
            "no samplers: sampler.count + sampler.processes must be >= 1",
            {"sampler.processes"});
  k.at_least("sampler.groups_per_request", s.groups_per_request, 1);
  k.at_least("sampler.threads", s.threads, 1);
  k.positive("sampler.temperature", s.sampling.temperature);
  k.require(s.sampling.top_p > 0 && s.sampling.top_p <= 1, "sampler.top_p",
            "must be in (0, 1] (got " + num(s.sampling.top_p) + ")");
  k.at_least("sampler.max_new_tokens", s.sampling.max_new_tokens, 1);
  k.require(valid_device_name(s.device), "sampler.device",
            "must be cpu, cuda or cuda:N (got '" + s.device + "')");
  k.require(s.dtype == "float32" || s.dtype == "bfloat16" || s.dtype == "float16",
            "sampler.dtype", "must be float32, bfloat16 or float16 (got '" + s.dtype + "')");
}

// Bytes of the longest question of a generated task; -1 for jsonl and gsm8k,
// whose prompts are known only once the file is read (wiring checks them
// then).
int64_t longest_question_bytes(const task_section& t) {
  if (t.kind == "arithmetic")
    return longest_arithmetic_question_bytes(t.arithmetic.max_operand);
  if (t.kind == "countdown")
    return countdown_task::longest_question_bytes(t.countdown);
  if (t.kind == "multidigit")
    return multidigit_task::longest_question_bytes(t.multidigit);
  return -1;
}

void check_prompt_fits(const run_config& c, checker& k) {
  int64_t room = c.model.max_seq_len;
  int64_t gen = c.sampler.sampling.max_new_tokens;
  // With task.max_prompt_tokens longer prompts are dropped at run time
  // (prompt_checks.cpp checks that the limit itself fits).
  if (c.task.max_prompt_tokens > 0 || k.ctx().invalid("task.prompt_template"))
    return;
  if (const int64_t question = longest_question_bytes(c.task); question >= 0) {
    // <bos> template question template <answer> with the built-in
    // tokenizer; byte-level BPE has at most one token per byte.
    const bool bpe = !c.task.tokenizer_path.empty();
    const int64_t prompt = prompt_frame_tokens(c.task, bpe) + question;
    k.require(prompt + gen <= room, "model.max_seq_len",
              std::string("too short: the longest prompt has ") + (bpe ? "up to " : "")
                + num(prompt)
                + " tokens and sampler.max_new_tokens is " + num(gen) + ", needing "
                + num(prompt + gen) + " (got " + num(room) + ")",
              {"task.max_operand", "task.numbers", "task.max_number", "task.max_target",
               "task.digits", "sampler.max_new_tokens"});
  } else {
    k.require(gen < room, "model.max_seq_len",
              "must leave room for a prompt: sampler.max_new_tokens is " + num(gen)
                + " (got " + num(room) + ")",
              {"sampler.max_new_tokens"});
  }
}

void check_reward(const reward_section& r, checker& k) {
  k.at_least("reward.accuracy_weight", r.weights.accuracy, 0.0);
  k.at_least("reward.format_weight", r.weights.format, 0.0);
  k.require(r.weights.digit_credit == 0
              || (r.weights.digit_credit > 0 && r.weights.digit_credit < r.weights.accuracy),
            "reward.digit_credit",
            "must be in [0, reward.accuracy_weight): a partial answer may not earn as much "
            "as a right one (got " + num(r.weights.digit_credit) + ")",
            {"reward.accuracy_weight"});
  k.no_effect("reward.digit_credit", r.kind != reward_kind::rules, "a reward.kind other than rules");
  k.require(r.weights.accuracy != 0 || r.weights.format != 0, "reward.accuracy_weight",
            "reward.accuracy_weight and reward.format_weight are both 0: every reward "
            "would be 0",
            {"reward.format_weight"});
  k.require(r.processes == 0 || r.processes == 1, "reward.processes",
            "must be 0 (in the head process) or 1 (own process) (got "
              + num(r.processes) + ")");
  bool http = r.kind == reward_kind::http;
  bool command = r.kind == reward_kind::command;
  k.require(!http || !r.url.empty(), "reward.kind",
            "is http: reward.url (http://host:port/path) is required", {"reward.url"});
  k.require(http || r.url.empty(), "reward.url", "is used only with reward.kind: http");
  k.require(!http || r.url.empty() || r.url.rfind("http://", 0) == 0
              || r.url.rfind("https://", 0) == 0,
            "reward.url", "must start with http:// or https:// (got '" + r.url + "')");
  k.require(!command || !r.command.empty(), "reward.kind",
            "is command: reward.command (the program and its arguments, a list) is required",
            {"reward.command"});
  k.require(command || r.command.empty(), "reward.command",
            "is used only with reward.kind: command");
  k.no_effect("reward.concurrency", !http, "reward.kind other than http");
  k.no_effect("reward.retries", !http, "reward.kind other than http");
  k.no_effect("reward.instances", !command, "reward.kind other than command");
  k.no_effect("reward.timeout_s", !http && !command, "reward.kind rules or math");
  k.at_least("reward.concurrency", r.concurrency, int32_t{1});
  k.at_least("reward.retries", r.retries, int32_t{0});
  k.at_least("reward.instances", r.instances, int32_t{1});
  k.positive("reward.timeout_s", r.timeout_s);
}

// A plug-in's own deadline (with its retries) must end before the
// controller's, or the controller counts every slow call as its timeout.
void check_reward_deadline(const run_config& c, checker& k) {
  auto& r = c.reward;
  if (r.kind != reward_kind::http && r.kind != reward_kind::command)
    return;
  // http: every retry; command: the first call to a started program gets
  // twice the deadline (its start-up, tasks/command_scorer.hpp).
  int32_t calls = r.kind == reward_kind::http ? r.retries + 1 : 2;
  double worst = r.timeout_s * calls;
  k.require(worst < c.timeouts.score_s, "reward.timeout_s",
            "times its calls (" + num(calls) + ") is " + num(worst)
              + " s, not below timeouts.score_s = " + num(c.timeouts.score_s)
              + ": the controller would give up first",
            {"timeouts.score_s", "reward.retries"});
}

void check_learner(const run_config& c, checker& k) {
  k.require(valid_device_name(c.learner.device),
            "learner.device", "must be cpu, cuda or cuda:N (got '" + c.learner.device + "')");
  k.require(c.learner.precision == "float32" || c.learner.precision == "bf16_autocast",
            "learner.precision",
            "must be float32 or bf16_autocast (got '" + c.learner.precision + "')");
  k.at_least("learner.micro_batch_tokens", c.learner.micro_batch_tokens, int64_t{0});
  // Buckets of 1 MiB .. 4 GiB: below, NCCL's per-operation cost dominates;
  // above, one bucket's deadline and staging memory grow past use.
  k.require(c.learner.nccl_bucket_mb >= 1 && c.learner.nccl_bucket_mb <= 4096,
            "learner.nccl_bucket_mb",
            "must be in 1..4096 (got " + std::to_string(c.learner.nccl_bucket_mb) + ")");
  const auto& o = c.learner.optimizer;
  const auto& g = c.learner.grpo;
  k.positive("learner.lr", o.lr);
  k.at_least("learner.weight_decay", o.weight_decay, 0.0);
  for (auto [field, v] : {std::pair{"learner.beta1", o.beta1}, {"learner.beta2", o.beta2}})
    k.require(v >= 0 && v < 1, field, "must be in [0, 1) (got " + num(v) + ")");
  k.at_least("learner.grad_clip", o.grad_clip, 0.0);
  k.at_least("learner.advantage_eps", g.advantage_eps, 0.0);
  k.no_effect("learner.advantage_eps", g.scaling == std_scaling::none,
              "learner.std_scaling: none");
  k.require(g.eps_low > 0 && g.eps_low < 1, "learner.eps_low",
            "must be in (0, 1) (got " + num(g.eps_low) + ")");
  k.positive("learner.eps_high", g.eps_high);
  k.at_least("learner.kl_beta", g.kl_beta, 0.0);
  k.at_least("learner.constant_normalizer", g.constant_normalizer, 0);
  k.no_effect("learner.constant_normalizer",
              g.aggregation != loss_aggregation::constant_normalizer,
              std::string("learner.loss_aggregation: ") + to_string(g.aggregation)
                + " (only constant_normalizer uses it)");
  k.positive("learner.behav_weight_cap", g.behav_weight_cap);
  k.no_effect("learner.behav_weight_cap", !g.decoupled, "learner.decoupled: false");
  k.at_least("learner.entropy_coef", g.entropy_coef, 0.0);
  k.at_least("learner.entropy_target", g.entropy_target, 0.0);
  const bool steered = g.entropy_target > 0;
  k.no_effect("learner.entropy_coef_step", !steered, "learner.entropy_target: 0");
  k.no_effect("learner.entropy_coef_max", !steered, "learner.entropy_target: 0");
  if (steered) {
    k.positive("learner.entropy_coef_step", g.entropy_coef_step);
    k.require(g.entropy_coef_max >= g.entropy_coef, "learner.entropy_coef_max",
              "must be >= learner.entropy_coef (the starting coefficient): got "
                + num(g.entropy_coef_max) + " < " + num(g.entropy_coef),
              {"learner.entropy_coef"});
  }
  k.at_least("sampler.simulated_token_ms", c.sampler.simulated_token_ms, 0.0);
  k.require(!(g.baseline != advantage_baseline::group && g.scaling == std_scaling::group),
            "learner.baseline",
            std::string("baseline: ") + to_string(g.baseline)
              + " needs std_scaling: batch, batch_residual or none (a group whose "
                "rewards are all equal has no group std)",
            {"learner.std_scaling"});
  k.require(std::isfinite(g.baseline_value), "learner.baseline_value", "must be a finite number");
  k.no_effect("learner.baseline_value", g.baseline != advantage_baseline::fixed,
              std::string("learner.baseline: ") + to_string(g.baseline)
                + " (only fixed uses it)");
  int64_t batch = int64_t{c.run.groups_per_step} * c.run.group_size;
  k.at_least("learner.mini_batches", c.learner.mini_batches, 1);
  k.require(c.learner.mini_batches <= batch || batch < 1, "learner.mini_batches",
            "must be <= run.groups_per_step * run.group_size = " + num(batch)
              + " sequences (got " + num(c.learner.mini_batches) + ")",
            {"run.groups_per_step", "run.group_size"});
  k.at_least("learner.threads", c.learner.threads, 1);
}

// The off-policy / objective variants of docs/grpo.md §2.1, §2.2, §5.1.
void check_objective_variants(const grpo_config& g, checker& k) {
  k.no_effect("learner.behav_weight_mode", !g.decoupled, "learner.decoupled: false");
  const bool mask = g.behav_weight_mode == weight_bound_mode::mask;
  k.no_effect("learner.behav_weight_lower", g.decoupled && !mask,
              "learner.behav_weight_mode: truncate (only mask uses a lower bound)");
  k.no_effect("learner.behav_weight_lower", !g.decoupled, "learner.decoupled: false");
  k.require(g.behav_weight_lower >= 0 && g.behav_weight_lower < g.behav_weight_cap,
            "learner.behav_weight_lower",
            "must be in [0, learner.behav_weight_cap = " + num(g.behav_weight_cap)
              + ") (got " + num(g.behav_weight_lower) + ")",
            {"learner.behav_weight_cap"});
  k.require(g.dual_clip == 0 || g.dual_clip > 1, "learner.dual_clip",
            "must be 0 (off) or > 1 (got " + num(g.dual_clip) + "); 3 is usual");
  k.require(g.ratio_level == importance_level::token
              || g.aggregation == loss_aggregation::sequence_mean,
            "learner.ratio_level",
            "sequence (GSPO) averages the objective over sequences: set "
            "learner.loss_aggregation: sequence_mean (got "
              + std::string(to_string(g.aggregation)) + ")",
            {"learner.loss_aggregation"});
}

// DAPO's overlong penalty needs room below sampler.max_new_tokens.
void check_overlong(const run_config& c, checker& k) {
  const auto& r = c.reward;
  const int32_t limit = c.sampler.sampling.max_new_tokens;
  k.require(r.overlong_buffer >= 0 && r.overlong_buffer <= limit, "reward.overlong_buffer",
            "must be in [0, sampler.max_new_tokens = " + num(limit) + "] (got "
              + num(r.overlong_buffer) + ")",
            {"sampler.max_new_tokens"});
  k.no_effect("reward.overlong_penalty", r.overlong_buffer == 0,
              "reward.overlong_buffer: 0");
  k.positive("reward.overlong_penalty", r.overlong_penalty);
}

void check_timeouts(const timeout_section& t, checker& k) {
  k.positive("timeouts.generate_s", t.generate_s);
  k.positive("timeouts.score_s", t.score_s);
  k.positive("timeouts.train_s", t.train_s);
  k.positive("timeouts.connect_s", t.connect_s);
  k.positive("timeouts.rejoin_s", t.rejoin_s);
}

void check_eval(const eval_section& e, checker& k) {
  k.at_least("eval.every", e.every, 0);
  k.at_least("eval.size", e.size, 1);
  k.at_least("eval.k", e.k, 1);
  k.at_least("eval.samples_every", e.samples_every, 0);
  k.at_least("eval.samples_count", e.samples_count, 1);
  // eval.size and eval.k also set `tandem eval`'s defaults: not checked
  // against eval.every. samples_count is read by nothing else.
  k.no_effect("eval.samples_count", e.samples_every == 0, "eval.samples_every: 0");
}

void check_console(const console_section& c, checker& k) {
  k.require(c.port >= 0 && c.port <= 65535, "console.port",
            "must be a port in 0..65535 (0: ephemeral; got " + std::to_string(c.port) + ")");
  k.require(!c.bind.empty(), "console.bind", "must name an address (127.0.0.1 by default)");
  k.positive("console.no_progress_s", c.no_progress_s);
}

} // namespace

int64_t longest_arithmetic_question_bytes(int64_t max_operand) {
  int64_t digits = 1;
  for (int64_t x = max_operand; x >= 10; x /= 10)
    ++digits;
  return 2 * digits + 1 + 1;
}

int64_t longest_arithmetic_prompt(int64_t max_operand) {
  return 1 + longest_arithmetic_question_bytes(max_operand) + 1;
}

void check_run_config(run_config& cfg, const std::string& base_dir,
                      binder_context& ctx) {
  checker k(ctx);
  check_run(cfg, k);
  check_model_source(cfg, base_dir, k);
  check_task(cfg.task, base_dir, k);
  check_tokenizer(cfg, base_dir, k);
  check_sampler(cfg.sampler, k);
  check_prompt_settings(cfg, ctx);
  check_prompt_fits(cfg, k);
  check_reward(cfg.reward, k);
  check_reward_deadline(cfg, k);
  check_learner(cfg, k);
  check_learner_parallel(cfg, ctx);
  check_objective_variants(cfg.learner.grpo, k);
  check_overlong(cfg, k);
  check_timeouts(cfg.timeouts, k);
  check_console(cfg.console, k);
  check_eval(cfg.eval, k);
}

} // namespace tandem::internal
