// bench_learner.cpp: `tandem bench learner` (see bench_learner.hpp).
//
// Workload: one fixed random batch from --seed (bench/synthetic_batch.hpp):
// B rows of P prompt + C completion tokens; behaviour log-probs near a random
// policy's, so that the decoupled weights pi_prox / pi_behav are O(1) and the
// first-step loss depends on the forward. Each side runs --warmup untimed
// steps then --steps timed ones, each a whole GRPO step on that batch: prox
// forward without grad, forward + backward per micro-batch, grad clip, AdamW.
// Tokens/s counts prompt + completion tokens, B x (P + C) per step, on both
// sides; tandem's is the mean over the timed steps (as the reference reports
// it), printed with the median and range of its step times.
//
// The reference (a child process, --reference CMD; learner_reference.hpp)
// runs first, while this process holds no device memory; tandem's learner is
// built after it exits.
//
// Thread safety: a command; one thread.
#include "bench/bench_learner.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "bench/bench_learner_ranks.hpp"
#include "bench/learner_reference.hpp"
#include "bench/model_shapes.hpp"
#include "bench/sample_stats.hpp"
#include "bench/synthetic_batch.hpp"
#include "models/learner_core.hpp"
#include "models/policy.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "topology/plan.hpp"

namespace tandem {

namespace {

using clock_type = std::chrono::steady_clock;

caf::error bad_usage(const std::string& what) {
  return make_error(errc::invalid_argument, what);
}

command_line learner_flags() {
  command_line cl("tandem bench learner [flags]",
                  "training tokens/s of tandem's GRPO step on random data, against the same "
                  "step in PyTorch eager when --reference is given, and a first-step loss check");
  cl.text("--shape", "NAME", "model shape with random weights: tiny | qwen2-0.5b", "qwen2-0.5b")
    .text("--model", "DIR", "a Hugging Face checkpoint instead of --shape")
    .integer("--batch-seqs", "sequences per step", 64, 1, 1 << 20)
    .integer("--prompt-len", "prompt tokens per sequence", 128, 1, 1 << 20)
    .integer("--completion-len", "completion tokens per sequence", 384, 1, 1 << 20)
    .integer("--steps", "timed steps", 10, 1, 100000)
    .integer("--warmup", "untimed steps first", 2, 0, 100000)
    .text("--device", "DEV", "cuda | cuda:N | cpu", "cuda")
    .text("--precision", "P", "float32 | bf16_autocast", "bf16_autocast")
    .integer("--micro-batch-tokens", "token budget of a micro-batch (0: whole batch)", 8192, 0,
             int64_t{1} << 40)
    .toggle("--activation-checkpointing", "recompute activations in the backward pass")
    .number("--lr", "AdamW learning rate", 1e-6, 0, 1)
    .integer("--seed", "seed of the weights and the batch", 1, 0, INT64_MAX)
    .integer("--threads", "LibTorch intra-op threads (0: LibTorch's default)", 0, 0, 4096)
    .text("--reference", "CMD",
          "reference command, e.g. \"python3 tests/reference/torch_grpo_step.py\"")
    .integer("--reference-timeout", "seconds the reference may take", 600, 1, 86400)
    .text("--ranks", "LIST",
          "data-parallel rank counts side by side, e.g. 1,2,4 (bench_learner_ranks.hpp: "
          "threads on the CPU, one GPU each over NCCL on CUDA); excludes --reference")
    .text("--zero", "LIST", "ZeRO stages side by side with --ranks, e.g. 0,1,2", "0")
    .integer("--repeats", "interleaved rounds of every --ranks/--zero cell", 3, 1, 1000)
    .integer("--grad-bucket-mb", "gradient bucket size with --ranks", 25, 1, 1 << 20)
    .text("--workdir", "DIR", "where model, batch and reference output go (default: a fresh "
                              "/tmp/tandem-bench-learner-XXXXXX)");
  return cl;
}

caf::expected<learner_bench_options> options_from(const command_line& cl) {
  if (cl.given("--model") && cl.given("--shape"))
    return bad_usage("--shape and --model exclude each other");
  learner_bench_options o;
  o.shape = cl.value("--shape");
  o.model_dir = cl.value("--model");
  o.device = cl.value("--device");
  o.precision = cl.value("--precision");
  o.checkpointing = cl.on("--activation-checkpointing");
  o.reference = cl.value("--reference");
  o.workdir = cl.value("--workdir");
  o.batch_seqs = cl.as_int("--batch-seqs");
  o.prompt_len = cl.as_int("--prompt-len");
  o.completion_len = cl.as_int("--completion-len");
  o.steps = cl.as_int("--steps");
  o.warmup = cl.as_int("--warmup");
  o.micro_batch_tokens = cl.as_int("--micro-batch-tokens");
  o.seed = cl.as_int("--seed");
  o.threads = cl.as_int("--threads");
  o.reference_timeout_s = cl.as_int("--reference-timeout");
  o.lr = cl.as_number("--lr");
  return o;
}

caf::expected<model_config> shape_config(const std::string& name, int64_t seq_len) {
  auto m = named_shape(name);
  if (!m)
    return bad_usage("--shape '" + name + "': expected tiny or qwen2-0.5b");
  m->max_seq_len = static_cast<int32_t>(seq_len);
  m->max_position_embeddings = std::max<int32_t>(m->max_seq_len, 32768);
  return *m;
}

std::vector<train_sequence> make_batch(const learner_bench_options& o, int32_t vocab) {
  return synthetic_grpo_batch({o.batch_seqs, o.prompt_len, o.completion_len, vocab,
                               static_cast<uint64_t>(o.seed)});
}

learner_settings settings_for(const learner_bench_options& o, const model_config& model) {
  learner_settings s;
  s.model = model;
  s.optimizer.lr = o.lr;
  s.max_new_tokens = static_cast<int32_t>(o.completion_len);
  s.seed = static_cast<uint64_t>(o.seed);
  s.device = o.device;
  s.precision = o.precision;
  s.micro_batch_tokens = o.micro_batch_tokens;
  s.activation_checkpointing = o.checkpointing;
  return s;
}

caf::expected<std::unique_ptr<learner_core>> make_learner(const learner_bench_options& o,
                                                          const learner_settings& s) {
  if (o.model_dir.empty())
    return learner_core::make(s);
  hf_load_options opts;
  opts.max_seq_len = static_cast<int32_t>(o.prompt_len + o.completion_len);
  return learner_core::make_from_hf(s, o.model_dir, opts);
}

// --- the tandem side --------------------------------------------------------------

caf::expected<side_result> run_tandem(const learner_bench_options& o, const learner_settings& s,
                                      const std::vector<train_sequence>& batch) {
  auto learner = make_learner(o, s);
  if (!learner)
    return learner.error();
  side_result r;
  std::vector<double> step_s;
  for (int64_t k = 0; k < o.warmup + o.steps; ++k) {
    const auto t0 = clock_type::now();
    auto st = (*learner)->train(batch); // returns once the device is done
    if (!st)
      return st.error();
    if (k >= o.warmup)
      step_s.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
    if (k == 0) {
      r.first_loss = st->front().loss.loss;
      r.first_grad_norm = st->front().grad_norm;
    }
  }
  double timed = 0;
  for (double x : step_s)
    timed += x;
  auto range = summarize(step_s);
  r.step_s = timed / static_cast<double>(o.steps);
  r.step_s_min = range.min, r.step_s_max = range.max;
  r.tokens_per_s = static_cast<double>(o.batch_seqs * (o.prompt_len + o.completion_len))
                   / r.step_s;
  r.about = "LibTorch, " + o.device + ", " + o.precision;
  return r;
}

// --- the report ---------------------------------------------------------------------

void print_side(const char* name, const side_result& r) {
  std::printf("%-26s %12.1f tokens/s  %8.3f s/step", name, r.tokens_per_s, r.step_s);
  if (r.step_s_max > 0)
    std::printf(" [%.3f..%.3f]", r.step_s_min, r.step_s_max);
  std::printf("  first-step loss %.9g  grad norm %.6g  (%s)\n", r.first_loss, r.first_grad_norm,
              r.about.c_str());
}

caf::expected<model_config> model_of(const learner_bench_options& o) {
  if (o.model_dir.empty())
    return shape_config(o.shape, o.prompt_len + o.completion_len);
  hf_load_options opts;
  opts.max_seq_len = static_cast<int32_t>(o.prompt_len + o.completion_len);
  return read_hf_config(o.model_dir, opts);
}

} // namespace

int bench_learner_command(const std::vector<std::string>& a) {
  auto cl = learner_flags();
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto o = options_from(cl);
  auto model = o ? model_of(*o) : caf::expected<model_config>(o.error());
  if (!model) {
    std::cerr << "bench learner: " << describe(model.error()) << "\n";
    return 2;
  }
  if (o->threads > 0)
    policy::set_threads(static_cast<int32_t>(o->threads));
  const auto settings = settings_for(*o, *model);
  if (auto err = learner_core::validate(settings)) { // before a long reference run
    std::cerr << "bench learner: " << describe(err) << "\n";
    return 2;
  }
  const auto batch = make_batch(*o, model->vocab_size);
  rank_scaling_options ranks;
  if (cl.given("--ranks")) {
    auto r = parse_int_list(cl.value("--ranks"), "--ranks", 1, 1024);
    auto z = r ? parse_int_list(cl.value("--zero"), "--zero", 0, 2) : r;
    if (!r || !z || !o->reference.empty()) {
      std::cerr << "bench learner: "
                << (!r ? describe(r.error())
                       : !z ? describe(z.error()) : "--ranks and --reference exclude each other")
                << "\n";
      return 2;
    }
    ranks.ranks = *r;
    ranks.zero = *z;
    ranks.repeats = cl.as_int("--repeats");
    ranks.grad_bucket_mb = cl.as_int("--grad-bucket-mb");
  } else if (cl.given("--zero")) {
    std::cerr << "bench learner: --zero needs --ranks\n";
    return 2;
  }
  std::printf("bench learner: %s (%.1fM parameters), %lld seqs x (%lld + %lld) tokens, "
              "micro-batches <= %lld tokens, %s, %s%s, %lld steps after %lld warm-up; "
              "s/step as mean [min..max]\n",
              o->model_dir.empty() ? o->shape.c_str() : o->model_dir.c_str(),
              parameter_count(*model) / 1e6, (long long) o->batch_seqs,
              (long long) o->prompt_len, (long long) o->completion_len,
              (long long) o->micro_batch_tokens, o->device.c_str(), o->precision.c_str(),
              o->checkpointing ? ", activation checkpointing" : "", (long long) o->steps,
              (long long) o->warmup);
  std::fflush(stdout);
  if (cl.given("--ranks"))
    return run_rank_scaling(*o, ranks, settings, batch);
  caf::expected<side_result> ref = make_error(errc::not_ready, "");
  if (!o->reference.empty())
    ref = run_learner_reference(*o, settings, batch);
  auto mine = run_tandem(*o, settings, batch);
  if (!mine) {
    std::cerr << "bench learner: tandem: " << describe(mine.error()) << "\n";
    return is(mine.error(), errc::invalid_argument) ? 2 : 1;
  }
  print_side("tandem (LibTorch)", *mine);
  if (o->reference.empty()) {
    std::printf("%-26s not run (--reference CMD; needs PyTorch and transformers)\n",
                "reference (PyTorch eager)");
    return 0;
  }
  if (!ref) {
    std::printf("%-26s %s\n", "reference (PyTorch eager)", describe(ref.error()).c_str());
    return 1;
  }
  print_side("reference (PyTorch eager)", *ref);
  return print_comparison(*o, *mine, *ref) ? 0 : 1;
}

} // namespace tandem
