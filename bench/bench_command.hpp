// bench_command.hpp: the benchmark and reference-tool commands of the tandem
// executable, the one entry point app/main.cpp calls for them.
//
//   tandem bench pipeline|control|decode|learner|weights|checkpoint|broadcast|staleness|reward [flags]
//   tandem logits ...      tandem tokenize ...
//   tandem sim-worker ...  (hidden: started by `tandem bench control --processes 1`)
//
// Every command parses its flags with runtime/cli_flags.hpp: `--help` lists
// them, an unknown or malformed flag exits 2.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tandem {

/// Runs `cmd` with `args` (the words after it) when it is one of the commands
/// above and answers its exit code (0 success, 1 failure, 2 bad usage);
/// nullopt when `cmd` is none of them.
std::optional<int> run_bench_tool(const std::string& cmd, const std::vector<std::string>& args);

} // namespace tandem
