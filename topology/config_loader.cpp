// config_loader.cpp: the YAML schema (one field table per section) and the
// parse -> bind -> check pipeline. Binding lives in internal/yaml_binder,
// range and consistency rules in internal/config_checks.
#include "topology/config_loader.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "runtime/error.hpp"
#include "topology/internal/config_checks.hpp"
#include "topology/internal/yaml_binder.hpp"
#include "topology/internal/yaml_guard.hpp"

namespace tandem {

namespace {

using internal::field;
using internal::bind_enum;
using internal::bind_section;
using internal::binder_context;
using internal::field_binding;

std::vector<field_binding> run_fields(run_section& r) {
  return {field("name", r.name),
          field("seed", r.seed),
          field("steps", r.steps),
          field("groups_per_step", r.groups_per_step),
          field("group_size", r.group_size),
          field("max_staleness", r.max_staleness),
          field("output_dir", r.output_dir),
          field("target_reward", r.target_reward),
          field("max_requeues", r.max_requeues),
          field("checkpoint_every", r.checkpoint_every),
          field("keep_checkpoints", r.keep_checkpoints),
          field("checkpoint_required", r.checkpoint_required),
          field("max_head_restarts", r.max_head_restarts),
          field("dynamic_sampling", r.dynamic_sampling),
          field("max_filtered_per_step", r.max_filtered_per_step)};
}

std::vector<field_binding> model_fields(run_config& c) {
  auto& m = c.model;
  return {internal::reject("vocab_size", "set from the tokenizer; remove this field"),
          field("hf_path", c.hf_path),
          field("hidden_size", m.hidden_size),
          field("num_layers", m.num_layers),
          field("num_heads", m.num_heads),
          field("num_kv_heads", m.num_kv_heads),
          field("intermediate_size", m.intermediate_size),
          field("max_seq_len", m.max_seq_len),
          field("rope_theta", m.rope_theta),
          field("rms_norm_eps", m.rms_norm_eps),
          field("tie_embeddings", m.tie_embeddings)};
}

std::vector<field_binding> task_fields(task_section& t) {
  return {field("kind", t.kind),
          field("min_operand", t.arithmetic.min_operand),
          field("max_operand", t.arithmetic.max_operand),
          field("ops", t.arithmetic.ops),
          field("seed", t.arithmetic.seed),
          field("answer_width", t.arithmetic.answer_width),
          internal::range_field("numbers", t.countdown.min_numbers, t.countdown.max_numbers),
          field("max_number", t.countdown.max_number),
          field("max_target", t.countdown.max_target),
          internal::range_field("digits", t.multidigit.min_digits, t.multidigit.max_digits),
          field("path", t.jsonl_path),
          field("tokenizer", t.tokenizer_path),
          field("answer_prefix", t.answer_prefix),
          field("stop_tokens", t.stop_tokens),
          field("eval_path", t.eval_path),
          bind_enum("format", t.framing.format,
                    {{"answer", task_format::answer}, {"r1", task_format::r1}}),
          field("prompt_template", t.prompt_template),
          field("system_prompt", t.system_prompt),
          field("max_prompt_tokens", t.max_prompt_tokens)};
}

std::vector<field_binding> sampler_fields(sampler_section& s) {
  return {field("count", s.count),
          field("processes", s.processes),
          field("groups_per_request", s.groups_per_request),
          field("threads", s.threads),
          field("temperature", s.sampling.temperature),
          field("top_p", s.sampling.top_p),
          field("top_k", s.sampling.top_k),
          field("max_new_tokens", s.sampling.max_new_tokens),
          field("simulated_token_ms", s.simulated_token_ms),
          field("device", s.device),
          field("dtype", s.dtype)};
}

std::vector<field_binding> reward_fields(reward_section& r) {
  return {field("accuracy_weight", r.weights.accuracy),
          field("format_weight", r.weights.format),
          field("digit_credit", r.weights.digit_credit),
          field("processes", r.processes),
          bind_enum("kind", r.kind,
                    {{"rules", reward_kind::rules},
                     {"math", reward_kind::math},
                     {"http", reward_kind::http},
                     {"command", reward_kind::command}}),
          field("url", r.url),
          field("concurrency", r.concurrency),
          field("timeout_s", r.timeout_s),
          field("retries", r.retries),
          field("command", r.command),
          field("instances", r.instances),
          field("overlong_buffer", r.overlong_buffer),
          field("overlong_penalty", r.overlong_penalty)};
}

std::vector<field_binding> learner_fields(learner_section& l) {
  auto& g = l.grpo;
  auto& o = l.optimizer;
  return {field("lr", o.lr),
          bind_enum("lr_schedule", o.schedule.kind,
                    {{"constant", lr_schedule_kind::constant},
                     {"linear", lr_schedule_kind::linear},
                     {"cosine", lr_schedule_kind::cosine}}),
          field("warmup_steps", o.schedule.warmup_steps),
          field("min_lr", o.schedule.min_lr),
          field("weight_decay", o.weight_decay),
          field("beta1", o.beta1),
          field("beta2", o.beta2),
          field("grad_clip", o.grad_clip),
          bind_enum("std_scaling", g.scaling,
                    {{"group", std_scaling::group},
                     {"batch", std_scaling::batch},
                     {"none", std_scaling::none},
                     {"batch_residual", std_scaling::batch_residual}}),
          bind_enum("baseline", g.baseline,
                    {{"group", advantage_baseline::group},
                     {"batch", advantage_baseline::batch},
                     {"fixed", advantage_baseline::fixed}}),
          field("baseline_value", g.baseline_value),
          field("advantage_eps", g.advantage_eps),
          field("eps_low", g.eps_low),
          field("eps_high", g.eps_high),
          field("kl_beta", g.kl_beta),
          bind_enum("loss_aggregation", g.aggregation,
                    {{"sequence_mean", loss_aggregation::sequence_mean},
                     {"token_mean", loss_aggregation::token_mean},
                     {"constant_normalizer", loss_aggregation::constant_normalizer}}),
          field("constant_normalizer", g.constant_normalizer),
          field("decoupled", g.decoupled),
          field("behav_weight_cap", g.behav_weight_cap),
          bind_enum("behav_weight_mode", g.behav_weight_mode,
                    {{"truncate", weight_bound_mode::truncate},
                     {"mask", weight_bound_mode::mask}}),
          field("behav_weight_lower", g.behav_weight_lower),
          bind_enum("ratio_level", g.ratio_level,
                    {{"token", importance_level::token},
                     {"sequence", importance_level::sequence}}),
          field("dual_clip", g.dual_clip),
          field("entropy_coef", g.entropy_coef),
          field("entropy_target", g.entropy_target),
          field("entropy_coef_step", g.entropy_coef_step),
          field("entropy_coef_max", g.entropy_coef_max),
          field("mini_batches", l.mini_batches),
          field("threads", l.threads),
          field("device", l.device),
          field("precision", l.precision),
          field("micro_batch_tokens", l.micro_batch_tokens),
          field("activation_checkpointing", l.activation_checkpointing),
          field("nccl_bucket_mb", l.nccl_bucket_mb),
          field("ranks", l.ranks),
          field("zero_stage", l.zero_stage),
          field("grad_bucket_mb", l.grad_bucket_mb)};
}

std::vector<field_binding> timeout_fields(timeout_section& t) {
  return {field("generate_s", t.generate_s),
          field("score_s", t.score_s),
          field("train_s", t.train_s),
          field("connect_s", t.connect_s),
          field("rejoin_s", t.rejoin_s)};
}

std::vector<field_binding> console_fields(console_section& c) {
  return {field("enabled", c.enabled),
          field("bind", c.bind),
          field("port", c.port),
          field("no_progress_s", c.no_progress_s)};
}

std::vector<field_binding> eval_fields(eval_section& e) {
  return {field("every", e.every),
          field("size", e.size),
          field("k", e.k),
          field("samples_every", e.samples_every),
          field("samples_count", e.samples_count)};
}

std::vector<field_binding> schema(run_config& c) {
  return {bind_section("run", run_fields(c.run)),
          bind_section("model", model_fields(c)),
          bind_section("task", task_fields(c.task)),
          bind_section("sampler", sampler_fields(c.sampler)),
          bind_section("reward", reward_fields(c.reward)),
          bind_section("learner", learner_fields(c.learner)),
          bind_section("timeouts", timeout_fields(c.timeouts)),
          bind_section("console", console_fields(c.console)),
          bind_section("eval", eval_fields(c.eval)),
          // Where actors run: parsed and checked by cluster_loader.hpp.
          field_binding{"cluster", [](const YAML::Node&, const std::string&,
                                      binder_context&) {}}};
}

/// The one document of the file, or an undefined node after reporting why.
YAML::Node parse_document(const std::string& text, binder_context& ctx) {
  std::vector<YAML::Node> docs;
  if (auto at = internal::find_stray_flow_entry(text)) {
    ctx.add(*at, "", std::string(internal::stray_flow_entry_message));
    return YAML::Node(YAML::NodeType::Undefined);
  }
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    ctx.add(internal::to_position(e.mark), "", "YAML syntax error: " + e.msg);
    return YAML::Node(YAML::NodeType::Undefined);
  }
  if (docs.size() > 1)
    ctx.add(internal::to_position(docs[1].Mark()), "",
            "a config file holds one YAML document; found " + std::to_string(docs.size()));
  if (docs.empty() || docs[0].IsNull()) {
    ctx.add({1, 1}, "", "empty config; expected a mapping of sections (run, model, "
                        "task, sampler, reward, learner, timeouts)");
    return YAML::Node(YAML::NodeType::Undefined);
  }
  if (!docs[0].IsMap()) {
    ctx.add(internal::to_position(docs[0].Mark()), "",
            "expected a mapping of sections (run, model, task, sampler, reward, "
            "learner, timeouts) at the top level");
    return YAML::Node(YAML::NodeType::Undefined);
  }
  return docs[0];
}

config_result parse_in(const std::string& text, const std::string& name,
                       const std::string& base_dir) {
  config_result result;
  result.config.source_path = name;
  binder_context ctx(name);
  YAML::Node doc = parse_document(text, ctx);
  if (doc.IsDefined()) {
    internal::bind_mapping(doc, "", schema(result.config), ctx);
    internal::check_run_config(result.config, base_dir, ctx);
  }
  result.issues = ctx.take_issues();
  return result;
}

std::string parent_dir(const std::string& path) {
  return std::filesystem::path(path).parent_path().string();
}

} // namespace

std::string config_issue::to_string() const {
  std::string out = file;
  if (line > 0)
    out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!field.empty())
    out += field + ": ";
  return out + message;
}

config_result parse_run_config(const std::string& text, const std::string& name) {
  return parse_in(text, name, parent_dir(name));
}

config_result load_run_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(path, ec)) {
    config_result result;
    result.config.source_path = path;
    result.issues.push_back(config_issue{path, 0, 0, "", "cannot open file"});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_in(text.str(), path, parent_dir(path));
}

caf::expected<run_config> load_run_config_or_error(const std::string& path) {
  auto result = load_run_config(path);
  if (result.ok())
    return std::move(result.config);
  std::string context = std::to_string(result.issues.size()) + " problem(s) in " + path;
  for (const auto& issue : result.issues)
    context += "\n" + issue.to_string();
  return make_error(errc::invalid_config, std::move(context));
}

} // namespace tandem
