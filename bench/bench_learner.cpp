// bench_learner.cpp: `tandem bench learner` (see bench_learner.hpp).
//
// Workload: one fixed random batch from --seed: B rows of P prompt + C
// completion tokens, uniform over the vocabulary; behaviour log-probs
// -ln V + N(0, 0.3), near a random policy's, so that the decoupled weights
// pi_prox / pi_behav are O(1) and the first-step loss depends on the forward;
// advantages N(0, 1). Each side runs --warmup untimed steps then --steps timed
// ones, each a whole GRPO step on that batch: prox forward without grad,
// forward + backward per micro-batch, grad clip, AdamW. Tokens/s counts
// prompt + completion tokens, B x (P + C) per step, on both sides.
//
// The reference (a child process, --reference CMD) runs first, while this
// process holds no device memory; tandem's learner is built after it exits.
// Files, in --workdir or a fresh /tmp/tandem-bench-learner-XXXXXX:
//   model/          Hugging Face checkpoint of the --shape weights (save_hf)
//   batch.bin       one JSON header line (settings, sizes), then little-endian
//                   int32 tokens [B, P+C], float32 behav [B, C], float32
//                   advantages [B]
//   reference.json  the script's result
//
// Thread safety: a command; one thread.
#include "bench/bench_learner.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "bench/model_shapes.hpp"
#include "bench/reference_process.hpp"
#include "models/learner_core.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/metrics_sink.hpp"

namespace tandem {

namespace {

using clock_type = std::chrono::steady_clock;

const char* usage =
  "usage: tandem bench learner [--shape tiny|qwen2-0.5b | --model HF_DIR]\n"
  "         [--batch-seqs 64] [--prompt-len 128] [--completion-len 384]\n"
  "         [--steps 10] [--warmup 2] [--device cuda] [--precision bf16_autocast]\n"
  "         [--micro-batch-tokens 8192] [--activation-checkpointing] [--lr 1e-6]\n"
  "         [--seed 1] [--threads N] [--reference CMD] [--reference-timeout 600]\n"
  "         [--workdir DIR]\n";

struct bench_options {
  std::string shape = "qwen2-0.5b";
  std::string model_dir; // --model: a Hugging Face checkpoint instead of --shape
  int64_t batch_seqs = 64, prompt_len = 128, completion_len = 384;
  int64_t steps = 10, warmup = 2;
  std::string device = "cuda", precision = "bf16_autocast";
  int64_t micro_batch_tokens = 8192;
  bool checkpointing = false;
  double lr = 1e-6;
  int64_t seed = 1, threads = 0;
  std::string reference;
  int64_t reference_timeout_s = 600;
  std::string workdir;
};

/// Throughput and first-step numbers of one side.
struct side_result {
  double tokens_per_s = 0, step_s = 0, first_loss = 0, first_grad_norm = 0;
  std::string about; // versions and device, for the report
};

caf::error bad_usage(const std::string& what) {
  return make_error(errc::invalid_argument, what);
}

caf::error parse_int(const args& a, const std::string& flag, int64_t lo, int64_t& out) {
  if (!has_flag(a, flag))
    return caf::none;
  try {
    size_t used = 0;
    const auto text = flag_value(a, flag, "");
    out = std::stoll(text, &used);
    if (used != text.size() || out < lo)
      throw std::invalid_argument(text);
  } catch (const std::exception&) {
    return bad_usage(flag + " needs an integer >= " + std::to_string(lo));
  }
  return caf::none;
}

// A mistyped flag would otherwise be ignored and measure something else.
caf::error check_flags(const args& a) {
  static const char* const with_value[] = {
    "--shape", "--model", "--batch-seqs", "--prompt-len", "--completion-len", "--steps",
    "--warmup", "--device", "--precision", "--micro-batch-tokens", "--lr", "--seed",
    "--threads", "--reference", "--reference-timeout", "--workdir"};
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "--activation-checkpointing")
      continue;
    bool known = false;
    for (const char* f : with_value)
      known = known || a[i] == f;
    if (!known || i + 1 == a.size())
      return bad_usage(known ? a[i] + " needs a value" : "unknown argument '" + a[i] + "'");
    ++i;
  }
  return caf::none;
}

caf::expected<bench_options> parse_options(const args& a) {
  if (auto err = check_flags(a))
    return err;
  bench_options o;
  o.shape = flag_value(a, "--shape", o.shape);
  o.model_dir = flag_value(a, "--model", "");
  o.device = flag_value(a, "--device", o.device);
  o.precision = flag_value(a, "--precision", o.precision);
  o.checkpointing = has_flag(a, "--activation-checkpointing");
  o.reference = flag_value(a, "--reference", "");
  o.workdir = flag_value(a, "--workdir", "");
  const std::pair<const char*, std::pair<int64_t*, int64_t>> ints[] = {
    {"--batch-seqs", {&o.batch_seqs, 1}},   {"--prompt-len", {&o.prompt_len, 1}},
    {"--completion-len", {&o.completion_len, 1}}, {"--steps", {&o.steps, 1}},
    {"--warmup", {&o.warmup, 0}},           {"--micro-batch-tokens", {&o.micro_batch_tokens, 0}},
    {"--seed", {&o.seed, 0}},               {"--threads", {&o.threads, 0}},
    {"--reference-timeout", {&o.reference_timeout_s, 1}}};
  for (const auto& [flag, target] : ints)
    if (auto err = parse_int(a, flag, target.second, *target.first))
      return err;
  try {
    o.lr = std::stod(flag_value(a, "--lr", "1e-6"));
  } catch (const std::exception&) {
    return bad_usage("--lr needs a number");
  }
  if (has_flag(a, "--model") && has_flag(a, "--shape"))
    return bad_usage("--shape and --model exclude each other");
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

int64_t count_parameters(const model_config& m) {
  const int64_t h = m.hidden_size, kv = h / m.num_heads * m.num_kv_heads;
  const int64_t attn = 2 * h * h + 2 * h * kv + (m.attention_bias ? h + 2 * kv : 0);
  const int64_t layer = attn + 3 * h * m.intermediate_size + 2 * h;
  const int64_t embed = int64_t{m.vocab_size} * h;
  return embed * (m.tie_embeddings ? 1 : 2) + m.num_layers * layer + h;
}

std::vector<train_sequence> make_batch(const bench_options& o, int32_t vocab) {
  std::mt19937_64 rng(static_cast<uint64_t>(o.seed));
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  std::normal_distribution<double> noise(0.0, 0.3), adv(0.0, 1.0);
  const double uniform_logp = -std::log(static_cast<double>(vocab));
  std::vector<train_sequence> batch(static_cast<size_t>(o.batch_seqs));
  for (auto& s : batch) {
    for (int64_t i = 0; i < o.prompt_len; ++i)
      s.prompt.push_back(token(rng));
    for (int64_t i = 0; i < o.completion_len; ++i) {
      s.completion.push_back(token(rng));
      s.behav_logprobs.push_back(static_cast<float>(uniform_logp + noise(rng)));
    }
    s.versions.assign(s.completion.size(), 0);
    s.advantage = adv(rng);
  }
  return batch;
}

learner_settings settings_for(const bench_options& o, const model_config& model) {
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

caf::expected<std::unique_ptr<learner_core>> make_learner(const bench_options& o,
                                                          const learner_settings& s) {
  if (o.model_dir.empty())
    return learner_core::make(s);
  hf_load_options opts;
  opts.max_seq_len = static_cast<int32_t>(o.prompt_len + o.completion_len);
  return learner_core::make_from_hf(s, o.model_dir, opts);
}

caf::expected<std::string> make_workdir(const bench_options& o) {
  if (!o.workdir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.workdir, ec);
    if (ec)
      return make_error(errc::io_failure, "cannot create " + o.workdir + ": " + ec.message());
    return o.workdir;
  }
  char tmpl[] = "/tmp/tandem-bench-learner-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    return make_error(errc::io_failure, "cannot create a directory under /tmp");
  return std::string(tmpl);
}

// --- the reference side ---------------------------------------------------------

std::string batch_header(const bench_options& o, const learner_settings& s,
                         const std::string& model_dir) {
  // Rows per micro-batch: for rows of equal length the learner's plan packs
  // floor(budget / row length) rows (learner_step.hpp).
  const int64_t row = o.prompt_len + o.completion_len;
  const int64_t per_micro = o.micro_batch_tokens > 0
                              ? std::max<int64_t>(1, o.micro_batch_tokens / row)
                              : o.batch_seqs;
  const auto& g = s.grpo;
  json_record h;
  h.add("format", std::string("tandem-grpo-batch/1")).add("model_dir", model_dir)
    .add("rows", o.batch_seqs).add("prompt_len", o.prompt_len)
    .add("completion_len", o.completion_len).add("steps", o.steps).add("warmup", o.warmup)
    .add("micro_batch_rows", per_micro).add("device", o.device).add("precision", o.precision)
    .add("activation_checkpointing", int64_t{o.checkpointing}).add("lr", s.optimizer.lr)
    .add("beta1", s.optimizer.beta1).add("beta2", s.optimizer.beta2)
    .add("weight_decay", s.optimizer.weight_decay).add("grad_clip", s.optimizer.grad_clip)
    .add("temperature", s.temperature).add("eps_low", g.eps_low).add("eps_high", g.eps_high)
    .add("decoupled", int64_t{g.decoupled}).add("behav_weight_cap", g.behav_weight_cap)
    .add("aggregation", std::string(to_string(g.aggregation))).add("kl_beta", g.kl_beta)
    .add("entropy_coef", g.entropy_coef);
  return h.str();
}

caf::error write_batch(const std::string& path, const std::string& header,
                       const std::vector<train_sequence>& batch) {
  std::ofstream out(path, std::ios::binary);
  out << header << '\n';
  auto put = [&out](const auto& v) {
    out.write(reinterpret_cast<const char*>(v.data()),
              static_cast<std::streamsize>(v.size() * sizeof(v[0])));
  };
  for (const auto& s : batch) {
    put(s.prompt);
    put(s.completion);
  }
  for (const auto& s : batch)
    put(s.behav_logprobs);
  std::vector<float> adv;
  for (const auto& s : batch)
    adv.push_back(static_cast<float>(s.advantage));
  put(adv);
  out.close();
  if (!out)
    return make_error(errc::io_failure, "cannot write " + path);
  return caf::none;
}

caf::expected<side_result> run_reference_script(const bench_options& o,
                                                const std::string& batch_path,
                                                const std::string& result_path) {
  auto argv = split_command(o.reference);
  argv.insert(argv.end(), {"--batch", batch_path});
  auto doc = run_reference(argv, result_path, std::chrono::seconds(o.reference_timeout_s));
  if (!doc)
    return doc.error();
  side_result r;
  const std::pair<const char*, double*> fields[] = {{"tokens_per_s", &r.tokens_per_s},
                                                    {"step_s", &r.step_s},
                                                    {"first_loss", &r.first_loss},
                                                    {"first_grad_norm", &r.first_grad_norm}};
  for (const auto& [key, target] : fields) {
    auto x = json_number_at(*doc, key, result_path);
    if (!x)
      return x.error();
    *target = *x;
  }
  if (const auto* about = doc->find("about"); about != nullptr && about->as_string() != nullptr)
    r.about = *about->as_string();
  return r;
}

// --- the tandem side --------------------------------------------------------------

caf::expected<side_result> run_tandem(const bench_options& o, const learner_settings& s,
                                      const std::vector<train_sequence>& batch) {
  auto learner = make_learner(o, s);
  if (!learner)
    return learner.error();
  side_result r;
  double timed = 0;
  for (int64_t k = 0; k < o.warmup + o.steps; ++k) {
    const auto t0 = clock_type::now();
    auto st = (*learner)->train(batch); // returns once the device is done
    if (!st)
      return st.error();
    if (k >= o.warmup)
      timed += std::chrono::duration<double>(clock_type::now() - t0).count();
    if (k == 0) {
      r.first_loss = st->front().loss.loss;
      r.first_grad_norm = st->front().grad_norm;
    }
  }
  r.step_s = timed / static_cast<double>(o.steps);
  r.tokens_per_s = static_cast<double>(o.batch_seqs * (o.prompt_len + o.completion_len))
                   / r.step_s;
  r.about = "LibTorch, " + o.device + ", " + o.precision;
  return r;
}

// --- the report ---------------------------------------------------------------------

void print_side(const char* name, const side_result& r) {
  std::printf("%-26s %12.1f tokens/s  %8.3f s/step  first-step loss %.9g  grad norm %.6g  (%s)\n",
              name, r.tokens_per_s, r.step_s, r.first_loss, r.first_grad_norm, r.about.c_str());
}

// The first-step losses agree within a tolerance set by the precision: in
// float32 only summation order differs; under bf16 autocast both sides round
// logits to 8 mantissa bits, in different kernels.
bool print_comparison(const bench_options& o, const side_result& t, const side_result& ref) {
  const bool fp32 = o.precision == "float32";
  const double tol_abs = fp32 ? 1e-4 : 2e-2, tol_rel = fp32 ? 1e-4 : 2e-2;
  const double diff = std::abs(t.first_loss - ref.first_loss);
  const double bound = tol_abs + tol_rel * std::abs(ref.first_loss);
  const bool pass = diff <= bound;
  std::printf("%-26s %12.3f\n", "tandem / reference", t.tokens_per_s / ref.tokens_per_s);
  std::printf("%-26s |diff| %.3g <= %.3g (%s: %g abs + %g rel)  %s\n", "first-step loss check",
              diff, bound, o.precision.c_str(), tol_abs, tol_rel, pass ? "PASS" : "FAIL");
  std::printf("%-26s relative diff %.3g (information only)\n", "first-step grad norm",
              std::abs(t.first_grad_norm - ref.first_grad_norm)
                / std::max(std::abs(ref.first_grad_norm), 1e-12));
  return pass;
}

/// The checkpoint the reference loads: --model, or --shape's seeded weights
/// saved from a CPU learner (no device memory held while the reference runs).
caf::expected<std::string> reference_model_dir(const bench_options& o, learner_settings s,
                                               const std::string& workdir) {
  if (!o.model_dir.empty())
    return o.model_dir;
  s.device = "cpu";
  s.precision = "float32";
  auto cpu = learner_core::make(s);
  if (!cpu)
    return cpu.error();
  const auto dir = workdir + "/model";
  if (auto err = (*cpu)->save_hf(dir))
    return err;
  return dir;
}

caf::expected<side_result> reference_side(const bench_options& o, const learner_settings& s,
                                          const std::vector<train_sequence>& batch) {
  auto workdir = make_workdir(o);
  if (!workdir)
    return workdir.error();
  auto model_dir = reference_model_dir(o, s, *workdir);
  if (!model_dir)
    return model_dir.error();
  const auto batch_path = *workdir + "/batch.bin";
  if (auto err = write_batch(batch_path, batch_header(o, s, *model_dir), batch))
    return err;
  std::printf("reference: %s (work directory %s)\n", o.reference.c_str(), workdir->c_str());
  std::fflush(stdout);
  return run_reference_script(o, batch_path, *workdir + "/reference.json");
}

caf::expected<model_config> model_of(const bench_options& o) {
  if (o.model_dir.empty())
    return shape_config(o.shape, o.prompt_len + o.completion_len);
  hf_load_options opts;
  opts.max_seq_len = static_cast<int32_t>(o.prompt_len + o.completion_len);
  return read_hf_config(o.model_dir, opts);
}

} // namespace

int bench_learner_command(const args& a) {
  auto o = parse_options(a);
  auto model = o ? model_of(*o) : caf::expected<model_config>(o.error());
  if (!model) {
    std::cerr << "bench learner: " << describe(model.error()) << "\n" << usage;
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
  std::printf("bench learner: %s (%.1fM parameters), %lld seqs x (%lld + %lld) tokens, "
              "micro-batches <= %lld tokens, %s, %s%s, %lld steps after %lld warm-up\n",
              o->model_dir.empty() ? o->shape.c_str() : o->model_dir.c_str(),
              count_parameters(*model) / 1e6, (long long) o->batch_seqs,
              (long long) o->prompt_len, (long long) o->completion_len,
              (long long) o->micro_batch_tokens, o->device.c_str(), o->precision.c_str(),
              o->checkpointing ? ", activation checkpointing" : "", (long long) o->steps,
              (long long) o->warmup);
  std::fflush(stdout);
  caf::expected<side_result> ref = make_error(errc::not_ready, "");
  if (!o->reference.empty())
    ref = reference_side(*o, settings, batch);
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
