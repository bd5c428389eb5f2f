// bench_command.cpp: dispatch of the bench and reference-tool commands
// (bench_command.hpp). Each command owns its flags; this file only routes.
#include "bench/bench_command.hpp"

#include <iostream>

#include "bench/bench_broadcast.hpp"
#include "bench/bench_checkpoint.hpp"
#include "bench/bench_control.hpp"
#include "bench/bench_decode.hpp"
#include "bench/bench_learner.hpp"
#include "bench/bench_staleness.hpp"
#include "bench/bench_reward.hpp"
#include "bench/bench_weights.hpp"
#include "bench/pipeline_bench.hpp"
#include "bench/reference_commands.hpp"

namespace tandem {

namespace {

using args = std::vector<std::string>;

struct subcommand {
  const char* name;
  int (*run)(const args&);
  const char* summary;
};

const subcommand benches[] = {
  {"pipeline", pipeline_bench_command,
   "generation alone, training alone, sync and async pipelines on one fixed workload"},
  {"control", bench_control_command,
   "the real control plane against simulated samplers: dispatch rate, cost per message"},
  {"decode", bench_decode_command,
   "device sampler tokens/s, against transformers' generate() with --reference"},
  {"learner", bench_learner_command,
   "GRPO step tokens/s against PyTorch eager with --reference, first-step loss check"},
  {"weights", bench_weights_command,
   "CPU cost of one weight version on the byte path (checksum, split, reassembly)"},
  {"checkpoint", bench_checkpoint_command,
   "a checkpoint's cost: the learner's snapshot stall vs its step, disk write and load MB/s"},
  {"broadcast", bench_broadcast_command,
   "NCCL weight broadcast GB/s against raw ncclBroadcast (GPU builds)"},
  {"staleness", bench_staleness_command,
   "whole trainings per staleness bound, decoupled objective on/off: time to the target"},
  {"reward", bench_reward_command,
   "completions/s through the rules, the math grader, the http and command plug-ins"},
};

void print_benches(std::ostream& out) {
  out << "usage: tandem bench NAME [flags]   (tandem bench NAME --help lists its flags)\n\n";
  for (const auto& b : benches)
    out << "  " << b.name << std::string(12 - std::string(b.name).size(), ' ') << b.summary
        << "\n";
}

int bench_command(const args& a) {
  if (a.empty() || a[0] == "--help" || a[0] == "-h") {
    print_benches(a.empty() ? std::cerr : std::cout);
    return a.empty() ? 2 : 0;
  }
  for (const auto& b : benches)
    if (a[0] == b.name)
      return b.run(args(a.begin() + 1, a.end()));
  std::cerr << "tandem bench: unknown benchmark '" << a[0] << "'\n\n";
  print_benches(std::cerr);
  return 2;
}

} // namespace

std::optional<int> run_bench_tool(const std::string& cmd, const args& a) {
  if (cmd == "bench")
    return bench_command(a);
  if (cmd == "logits")
    return logits_command(a);
  if (cmd == "tokenize")
    return tokenize_command(a);
  if (cmd == "sim-worker")
    return sim_worker_command(a);
  return std::nullopt;
}

} // namespace tandem
