// main.cpp: tandem's command-line entry point.
#include <iostream>

#include "app/commands.hpp"
#include "bench/bench_command.hpp"
#include "console/top_command.hpp"
#include "runtime/cpu_budget.hpp"

namespace {

const char* usage =
  "tandem: asynchronous GRPO for language models, as cooperating actors\n"
  "\n"
  "usage:\n"
  "  tandem run CONFIG [--steps N] [--output DIR] [--overwrite] [--quiet]\n"
  "      train a run described by a YAML config (see configs/basic/run.yaml); a\n"
  "      supervisor restarts its head from the newest checkpoint if it dies\n"
  "  tandem resume RUN_DIR [--quiet]\n"
  "      continue a stopped or crashed run from its newest valid checkpoint\n"
  "  tandem chaos CONFIG --minutes M [--kill-worker-every S] [--kill-head-every S] [--seed N]\n"
  "      run CONFIG while killing its processes; report detection, recovery and losses\n"
  "  tandem validate CONFIG...\n"
  "      check config files and print every problem (exit 2 if any)\n"
  "  tandem plan CONFIG\n"
  "      placement table (node, process, device, role, instances) and memory estimates\n"
  "  tandem bench pipeline CONFIG [--rounds 15] [--steps 30] [--samplers 1] [--weights caf|nccl]\n"
  "      generation alone, training alone, sync and async pipelines on one fixed workload,\n"
  "      interleaved over rounds: median and range of every figure, with its bound\n"
  "  tandem bench control [--samplers 1024] [--steps 200] [--processes 0|1] [--rounds 3] ...\n"
  "      the real control plane against simulated samplers: dispatch rate, cost per message\n"
  "  tandem bench decode [--shape qwen2-0.5b | --model HF_DIR] [--batch 64] [--new-tokens 256]\n"
  "                      [--device cuda] [--dtype bfloat16] [--repeats 3] [--reference CMD]\n"
  "      device sampler tokens/s, against transformers' generate() when --reference is given\n"
  "  tandem bench learner [--shape tiny|qwen2-0.5b | --model HF_DIR] [--device cuda] [--reference CMD] ...\n"
  "      training tokens/s of the GRPO step vs PyTorch eager, and a first-step loss check\n"
  "  tandem bench weights [--mb 100] [--repeats 5]\n"
  "      CPU cost of one weight version on the byte path (checksum, split, reassembly)\n"
  "  tandem bench checkpoint [--shape tiny|qwen2-0.5b] [--device cpu|cuda] [--every 50] [--repeats 5]\n"
  "      a checkpoint's cost: the learner's snapshot stall against its step (and amortized\n"
  "      over --every steps), disk write (fsync) and load MB/s, bytes per checkpoint\n"
  "  tandem bench broadcast [--bytes 8G] [--gpus 2] [--bucket-mb 512] [--versions 5]\n"
  "      NCCL weight broadcast GB/s against the raw ncclBroadcast bus bandwidth (GPU builds)\n"
  "  tandem logits --model HF_DIR --ids 1,2,3 [--device cuda --dtype bfloat16 --prefill K] --out F\n"
  "      logits of a checkpoint as raw float32 (reference checks against transformers)\n"
  "  tandem tokenize --tokenizer tokenizer.json --input texts.json --out ids.json\n"
  "      token ids of a JSON list of strings (reference checks against tokenizers)\n"
  "  tandem scale HOST:PORT sampler=N (--run-dir DIR | --secret-file F | --secret-env NAME)\n"
  "      add or retire samplers of a running head (address: RUN_DIR/head.address,\n"
  "      secret: RUN_DIR/secret unless the config names one)\n"
  "  tandem status HOST:PORT (--run-dir DIR | --secret-file F | --secret-env NAME)\n"
  "      one line of JSON: version, samplers, groups per state\n"
  "  tandem node CONFIG --node NAME\n"
  "      start the worker processes a cluster: section places on node NAME\n"
  "  tandem worker --config CONFIG --head HOST:PORT (--process NAME | --role sampler|reward --name NAME)\n"
  "      [--run-dir DIR]  run one actor in this process and join a head (started by `tandem run`;\n"
  "      its secret: the config's, else DIR/secret, DIR = run.output_dir by default)\n"
  "  tandem audit RUN_DIR [--json]\n"
  "      check a run's journal: every prompt trained at most once, none skipped or lost,\n"
  "      across head restarts (exit 0 holds, 1 broken, 2 not a run)\n"
  "  tandem export RUN_DIR --out DIR [--step N]\n"
  "      a checkpoint's policy (the newest valid one, or step N) as a Hugging Face\n"
  "      directory: config.json, model.safetensors and the run's tokenizer files\n"
  "  tandem generate CHECKPOINT --prompt TEXT [--n K --max-new-tokens N --temperature T ...]\n"
  "      completions by a checkpoint (step-N dir), a run's newest one or a Hugging Face dir\n"
  "  tandem eval CHECKPOINT CONFIG [--split N --k K --n N]\n"
  "      greedy accuracy and pass@k on the held-out split of CONFIG's task (one JSON line)\n"
  "  tandem grade FILE.jsonl\n"
  "      grade lines {\"completion\", \"answer\"} with the math grader: one JSON line each\n"
  "  tandem top HEAD_OR_RUN_DIR [--interval MS] [--once] [--token T]\n"
  "      live, htop-like view of a running head's console (RUN_DIR/console.url): actors,\n"
  "      reward sparkline, the watchdog's cause\n"
  "  tandem bench NAME --help, tandem logits --help, tandem tokenize --help\n"
  "      every flag of a bench or reference tool\n"
  "  tandem --version\n"
  "  tandem COMMAND --help    the flags of one command\n";

} // namespace


int main(int argc, char** argv) {
  tandem::pin_blas_to_caller_threads();
  tandem::args a(argv + 1, argv + argc);
  if (a.empty() || a[0] == "--help" || a[0] == "-h" || a[0] == "help") {
    std::cout << usage;
    return a.empty() ? 2 : 0;
  }
  if (a[0] == "--version" || a[0] == "version") {
    std::cout << "tandem " << TANDEM_VERSION << "\n";
    return 0;
  }
  auto cmd = a[0];
  tandem::args rest(a.begin() + 1, a.end());
  if (cmd == "run")
    return tandem::run_command(rest);
  if (cmd == "resume")
    return tandem::resume_command(rest);
  if (cmd == "chaos")
    return tandem::chaos_command(rest);
  if (cmd == "head")
    return tandem::head_command(rest);
  if (cmd == "validate")
    return tandem::validate_command(rest);
  if (cmd == "plan")
    return tandem::plan_command(rest);
  if (cmd == "scale")
    return tandem::scale_command(rest);
  if (cmd == "status")
    return tandem::status_command(rest);
  if (cmd == "node")
    return tandem::node_command(rest);
  if (cmd == "worker")
    return tandem::worker_command(rest);
  if (cmd == "audit")
    return tandem::audit_command(rest);
  if (cmd == "export")
    return tandem::export_command(rest);
  if (cmd == "grade")
    return tandem::grade_command(rest);
  if (cmd == "generate")
    return tandem::generate_command(rest);
  if (cmd == "eval")
    return tandem::eval_command(rest);
  if (cmd == "top")
    return tandem::top_command(rest);
  if (auto rc = tandem::run_bench_tool(cmd, rest)) // bench, logits, tokenize, sim-worker
    return *rc;
  std::cerr << "tandem: unknown command '" << cmd << "'\n\n" << usage;
  return 2;
}
