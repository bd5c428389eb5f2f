// bench_decode.cpp: see bench_decode.hpp.
//
// Both sides sample every token from the full distribution (temperature 1,
// top_p 1, no top-k) and generate exactly --new-tokens per sequence (no stop
// token), so they do the same work. Each side runs one short warm-up batch
// first (CUDA context, cuBLAS handles, graph capture, allocator pools); each
// of tandem's --repeats timed batches then covers prefill plus every decode
// step, including the copy of each step's tokens to the host that a sampler
// needs anyway. tandem's rate is the median over those batches, with its
// range; the reference reports one timed batch.
#include "bench/bench_decode.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <unistd.h>

#include "bench/model_shapes.hpp"
#include "bench/sample_stats.hpp"
#include "bench/reference_process.hpp"
#include "models/batch_generator.hpp"
#include "models/policy.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

struct decode_bench_options {
  std::string model_dir, shape, reference, workdir;
  int32_t batch = 64, prompt_len = 64, new_tokens = 256, repeats = 3;
  device_options dev;
  bool compare_graphs = false;
};

command_line decode_flags() {
  command_line cl("tandem bench decode [flags]",
                  "tokens/s of tandem's device sampler, against transformers' generate() on "
                  "the same weights and prompts when --reference is given");
  cl.text("--shape", "NAME", "model shape with random weights: tiny | qwen2-0.5b", "qwen2-0.5b")
    .text("--model", "DIR", "a Hugging Face checkpoint instead of --shape")
    .integer("--batch", "sequences decoded together", 64, 1, 1 << 16)
    .integer("--prompt-len", "random prompt tokens per sequence", 64, 1, 1 << 20)
    .integer("--new-tokens", "tokens generated per sequence (no stop token)", 256, 1, 1 << 20)
    .integer("--repeats", "timed batches of tandem's side (median and range printed)", 3, 1,
             1000)
    .text("--device", "DEV", "cuda | cuda:N | cpu", "cuda")
    .text("--dtype", "TYPE", "bfloat16 | float16 | float32", "bfloat16")
    .toggle("--no-graphs", "decode without CUDA graphs")
    .toggle("--compare-graphs", "also time eager decoding and print graph / eager")
    .text("--reference", "CMD", "reference command, e.g. \"python3 tests/reference/hf_decode.py\"")
    .text("--workdir", "DIR", "where prompts, model and reference output go",
          "/tmp/tandem-bench-decode-PID");
  return cl;
}

decode_bench_options options_from(const command_line& cl) {
  decode_bench_options o;
  o.model_dir = cl.value("--model");
  o.shape = cl.value("--shape");
  o.reference = cl.value("--reference");
  o.workdir = cl.given("--workdir") ? cl.value("--workdir")
                                    : "/tmp/tandem-bench-decode-" + std::to_string(::getpid());
  o.batch = static_cast<int32_t>(cl.as_int("--batch"));
  o.prompt_len = static_cast<int32_t>(cl.as_int("--prompt-len"));
  o.new_tokens = static_cast<int32_t>(cl.as_int("--new-tokens"));
  o.repeats = static_cast<int32_t>(cl.as_int("--repeats"));
  o.dev.device = cl.value("--device");
  o.dev.dtype = cl.value("--dtype");
  o.dev.cuda_graphs = !cl.on("--no-graphs");
  o.compare_graphs = cl.on("--compare-graphs");
  o.dev.max_rows = o.batch;
  return o;
}

/// The policy to benchmark: an HF checkpoint, or a named shape with random
/// weights (saved as an HF checkpoint when a reference needs to load it).
caf::expected<std::unique_ptr<policy>> bench_policy(decode_bench_options& o) {
  const int32_t seq = o.prompt_len + o.new_tokens;
  if (!o.model_dir.empty())
    return policy::load_hf(o.model_dir, hf_load_options{seq});
  auto shape = named_shape(o.shape);
  if (!shape)
    return make_error(errc::invalid_argument, "bench decode: unknown --shape '" + o.shape
                                                + "' (tiny, qwen2-0.5b)");
  shape->max_seq_len = seq;
  shape->max_position_embeddings = std::max(seq, 32768);
  auto p = policy::make(*shape, 1);
  if (!p || o.reference.empty())
    return p;
  o.model_dir = o.workdir + "/model";
  if (auto err = (*p)->save_hf(o.model_dir))
    return err;
  return p;
}

std::vector<std::vector<int32_t>> make_prompts(const decode_bench_options& o, int32_t vocab) {
  std::mt19937_64 rng(7);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(o.batch));
  for (auto& p : out)
    for (int32_t i = 0; i < o.prompt_len; ++i)
      p.push_back(static_cast<int32_t>(3 + rng() % static_cast<uint64_t>(vocab - 3)));
  return out;
}

caf::error write_prompts(const std::string& path, const std::vector<std::vector<int32_t>>& ps) {
  std::ofstream f(path);
  f << "{\"prompts\":[";
  for (size_t i = 0; i < ps.size(); ++i) {
    f << (i ? ",[" : "[");
    for (size_t j = 0; j < ps[i].size(); ++j)
      f << (j ? "," : "") << ps[i][j];
    f << "]";
  }
  f << "]}\n";
  return f ? caf::none : make_error(errc::io_failure, "cannot write " + path);
}

struct decode_figures {
  spread rate;         // tokens/s over the timed batches
  int64_t tokens = 0;  // per batch
  double seconds = 0;  // median batch time
};

caf::expected<decode_figures> run_side(policy& pol, device_options dev,
                                       const std::vector<std::vector<int32_t>>& prompts,
                                       int32_t new_tokens, int32_t repeats, bool* graphs) {
  auto gen = batch_generator::make(pol, dev);
  if (!gen)
    return gen.error();
  *graphs = (*gen)->graph_enabled();
  sampling_params sp;
  std::vector<double> rates, secs;
  int64_t tokens = 0;
  for (int32_t k = -1; k < repeats; ++k) { // k = -1: the short warm-up batch
    sp.max_new_tokens = k < 0 ? std::min(new_tokens, 16) : new_tokens;
    std::vector<uint64_t> seeds;
    for (size_t i = 0; i < prompts.size(); ++i)
      seeds.push_back(completion_seed(11, static_cast<int32_t>(i)));
    if (auto err = (*gen)->start(prompts, sp, std::move(seeds)))
      return err;
    auto t0 = std::chrono::steady_clock::now();
    while (!(*gen)->done())
      if (auto err = (*gen)->step(0))
        return err;
    auto s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens = (*gen)->tokens_generated();
    if (k >= 0) {
      rates.push_back(static_cast<double>(tokens) / s);
      secs.push_back(s);
    }
  }
  return decode_figures{summarize(rates), tokens, summarize(secs).median};
}

void print_side(const char* name, const decode_figures& f) {
  std::printf("  %-34s %s tokens/s  (%lld tokens per batch, median %.2f s, %zu batches)\n",
              name, format_spread(f.rate, 0).c_str(), static_cast<long long>(f.tokens),
              f.seconds, f.rate.count);
}

int fail(const caf::error& err) {
  std::cerr << "bench decode: " << describe(err) << "\n";
  return is(err, errc::invalid_argument) ? 2 : 1;
}

/// transformers' generate() on the same prompts (its one timed batch).
caf::expected<decode_figures> run_reference_side(const decode_bench_options& o,
                                                 const std::vector<std::vector<int32_t>>& prompts) {
  auto prompts_file = o.workdir + "/prompts.json";
  if (auto err = write_prompts(prompts_file, prompts))
    return err;
  auto argv = split_command(o.reference);
  for (auto x : {"--model", o.model_dir.c_str(), "--prompts", prompts_file.c_str(), "--device",
                 o.dev.device.c_str(), "--dtype", o.dev.dtype.c_str()})
    argv.push_back(x);
  argv.push_back("--new-tokens");
  argv.push_back(std::to_string(o.new_tokens));
  auto ref = run_reference(argv, o.workdir + "/reference.json", std::chrono::seconds{1800});
  if (!ref)
    return ref.error();
  auto rate = json_number_at(*ref, "tokens_per_s", "reference");
  auto secs = json_number_at(*ref, "seconds", "reference");
  if (!rate || !secs)
    return !rate ? rate.error() : secs.error();
  return decode_figures{summarize({*rate}), static_cast<int64_t>(*rate * *secs + 0.5), *secs};
}

/// tandem's side, and with --compare-graphs its eager side too.
caf::expected<decode_figures> run_tandem_sides(policy& pol, const decode_bench_options& o,
                                               const std::vector<std::vector<int32_t>>& prompts) {
  bool graphs = false;
  auto ours = run_side(pol, o.dev, prompts, o.new_tokens, o.repeats, &graphs);
  if (!ours)
    return ours;
  print_side(graphs ? "tandem (CUDA graph)" : "tandem (eager)", *ours);
  if (o.compare_graphs && graphs) {
    auto eager_dev = o.dev;
    eager_dev.cuda_graphs = false;
    bool g = false;
    auto eager = run_side(pol, eager_dev, prompts, o.new_tokens, o.repeats, &g);
    if (!eager)
      return eager;
    print_side("tandem (eager)", *eager);
    std::printf("  RATIO graph / eager = %.2f (medians)\n",
                ours->rate.median / eager->rate.median);
  }
  return ours;
}

} // namespace

int bench_decode_command(const std::vector<std::string>& a) {
  auto cl = decode_flags();
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  if (cl.given("--model") && cl.given("--shape"))
    return fail(make_error(errc::invalid_argument, "--shape and --model exclude each other"));
  auto o = options_from(cl);
  if (auto err = check_device(o.dev))
    return fail(err);
  std::filesystem::create_directories(o.workdir);
  auto pol = bench_policy(o);
  if (!pol)
    return fail(pol.error());
  auto prompts = make_prompts(o, (*pol)->config().vocab_size);
  std::printf("bench decode: %s, %lld parameters, batch %d, prompt %d, new tokens %d, %s %s; "
              "tokens/s as median [min..max]\n",
              o.model_dir.empty() ? o.shape.c_str() : o.model_dir.c_str(),
              static_cast<long long>((*pol)->num_parameters()), o.batch, o.prompt_len,
              o.new_tokens, o.dev.device.c_str(), o.dev.dtype.c_str());
  auto ours = run_tandem_sides(**pol, o, prompts);
  if (!ours)
    return fail(ours.error());
  if (o.reference.empty())
    return 0;
  auto theirs = run_reference_side(o, prompts);
  if (!theirs)
    return fail(theirs.error());
  print_side("transformers generate()", *theirs);
  std::printf("  RATIO tandem / transformers = %.2f (tandem's median)\n",
              ours->rate.median / theirs->rate.median);
  return 0;
}

} // namespace tandem
