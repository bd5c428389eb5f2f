// inspect_commands.cpp: `tandem validate` and `tandem plan` — a run file
// checked and resolved by load_run(), exactly as `tandem run` would.
#include <iostream>

#include "app/commands.hpp"
#include "app/input_checks.hpp"
#include "runtime/cli_flags.hpp"
#include "topology/plan.hpp"
#include "topology/run_loader.hpp"

namespace tandem {

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
    // A valid run file: read what the run would read (datasets, weights).
    auto inputs = run.ok() ? check_run_inputs(run.config) : std::vector<std::string>{};
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
  for (auto& i : run.issues)
    std::cerr << i.to_string() << "\n";
  if (!run.ok())
    return 2;
  std::cout << format_plan(make_plan(run.cluster, run.config)) << describe_processes(run.plan);
  return 0;
}

} // namespace tandem
