// inspect_commands.cpp: `tandem validate` and `tandem plan` — a run file
// checked and resolved by load_run(), exactly as `tandem run` would.
#include <iostream>

#include "app/commands.hpp"
#include "app/input_checks.hpp"
#include "runtime/cli_flags.hpp"
#include "topology/plan.hpp"
#include "topology/run_loader.hpp"

namespace tandem {

namespace {

// Whether the run file's issues leave what the datasets and the checkpoint
// are read with (task, model and sampler settings) as the run would see them.
bool inputs_checkable(const std::vector<config_issue>& issues) {
  for (const auto& i : issues) {
    if (i.field.empty())
      return false; // a syntax error: nothing is known
    for (const char* section : {"task", "model", "sampler"})
      if (i.field.rfind(section, 0) == 0)
        return false;
  }
  return true;
}

// Every problem of the files a run of `path` reads besides the run file, as
// far as the run file's own issues allow knowing them.
std::vector<std::string> input_problems(const std::string& path, const loaded_run& run) {
  if (run.ok())
    return check_run_inputs(run.config);
  if (!inputs_checkable(run.issues))
    return {};
  auto file = load_run_config(path); // the config as checked, despite its issues
  return inputs_checkable(file.issues) ? check_run_inputs(file.config)
                                       : std::vector<std::string>{};
}

} // namespace

int validate_command(const args& a) {
  command_line cl("tandem validate CONFIG...",
                  "check run files and everything a run of them reads (datasets line by line, "
                  "tokenizer.json, the checkpoint's config.json and safetensors headers); print "
                  "every problem as FILE:LINE[:COL]: field: message (exit 2 if any)");
  cl.positional("CONFIG", "run files", 1, -1);
  if (auto code = parse_or_exit(cl, a))
    return *code;
  bool all_ok = true;
  for (auto& path : cl.positionals()) {
    auto run = load_run(path);
    for (auto& i : run.issues)
      std::cerr << i.to_string() << "\n";
    // Read what the run would read (datasets, weights).
    auto inputs = input_problems(path, run);
    for (auto& problem : inputs)
      std::cerr << problem << "\n";
    const bool ok = run.ok() && inputs.empty();
    if (ok)
      std::cout << path << ": ok\n";
    all_ok &= ok;
  }
  return all_ok ? 0 : 2;
}

int plan_command(const args& a) {
  command_line cl("tandem plan CONFIG",
                  "what `tandem run CONFIG` starts: the processes and their actors, the "
                  "placement table and memory estimates");
  cl.positional("CONFIG", "the run file");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  auto run = load_run(cl.positionals()[0]);
  // A placement that cannot fit is still shown, with the numbers that refuse it.
  if (run.resolved)
    std::cout << format_plan(make_plan(run.cluster, run.config)) << describe_processes(run.plan);
  for (auto& i : run.issues)
    std::cerr << i.to_string() << "\n";
  return run.ok() ? 0 : 2;
}

} // namespace tandem
