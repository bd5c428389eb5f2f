// input_checks.cpp: see input_checks.hpp. The checks are the ones a run
// makes when it loads the same files (jsonl_dataset, read_hf_weights), run
// here up front and reported in full instead of stopping at the first.
#include "app/input_checks.hpp"

#include "models/hf_checkpoint.hpp"
#include "models/hf_export.hpp"
#include "runtime/error.hpp"
#include "tasks/jsonl_dataset.hpp"
#include "wiring/components.hpp"

namespace tandem {

namespace {

// An error's own text, without the errc name describe() puts first.
std::string text_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return describe(err);
}

void check_datasets(const run_config& cfg, std::vector<std::string>& out) {
  const bool jsonl = cfg.task.kind == "jsonl" || cfg.task.kind == "gsm8k";
  if (!jsonl && cfg.task.eval_path.empty())
    return;
  auto tok = task_tokenizer(cfg);
  if (!tok) {
    out.push_back(text_of(tok.error()));
    return;
  }
  if (!cfg.task.eval_path.empty())
    for (auto& p : check_jsonl_file(cfg.task.eval_path, **tok))
      out.push_back(std::move(p));
  if (!jsonl)
    return;
  auto schema = cfg.task.kind == "gsm8k" ? jsonl_schema::gsm8k : jsonl_schema::prompt_answer;
  auto problems = check_jsonl_file(cfg.task.jsonl_path, **tok, schema);
  if (problems.empty()) { // every line reads: do the run's own load (prompts fit the model)
    if (auto source = make_problem_source(cfg); !source)
      problems.push_back(text_of(source.error()));
  }
  for (auto& p : problems)
    out.push_back(std::move(p));
}

void check_checkpoint(const run_config& cfg, std::vector<std::string>& out) {
  if (cfg.hf_path.empty())
    return;
  for (const auto& err : check_hf_weights(cfg.hf_path, policy_tensor_specs(policy_model(cfg))))
    out.push_back(text_of(err));
}

} // namespace

std::vector<std::string> check_run_inputs(const run_config& cfg) {
  std::vector<std::string> out;
  check_datasets(cfg, out);
  check_checkpoint(cfg, out);
  return out;
}

} // namespace tandem
