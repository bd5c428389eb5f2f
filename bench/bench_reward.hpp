// bench_reward.hpp: `tandem bench reward` — completions scored per second by
// the built-in rules, the math grader, the HTTP plug-in and the command
// plug-in, side by side on one fixed workload (method in bench_reward.cpp).
#pragma once

#include <string>
#include <vector>

namespace tandem {

/// tandem bench reward [--rounds N] [--completions N] [--batch G]
///   [--concurrency C] [--instances I] [--seed S] [--command ARGV] [--url URL]
int bench_reward_command(const std::vector<std::string>& a);

} // namespace tandem
