// bench_decode.cpp: see bench_decode.hpp.
//
// Both sides sample every token from the full distribution (temperature 1,
// top_p 1, no top-k) and generate exactly --new-tokens per sequence (no stop
// token), so they do the same work. Each side runs one short warm-up batch
// first (CUDA context, cuBLAS handles, graph capture, allocator pools); the
// timed batch then covers prefill plus every decode step, including the copy
// of each step's tokens to the host that a sampler needs anyway.
#include "bench/bench_decode.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <unistd.h>

#include "bench/model_shapes.hpp"
#include "bench/reference_process.hpp"
#include "models/batch_generator.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

struct decode_bench_options {
  std::string model_dir, shape = "qwen2-0.5b", reference, workdir;
  int32_t batch = 64, prompt_len = 64, new_tokens = 256;
  device_options dev;
  bool compare_graphs = false;
};

caf::expected<decode_bench_options> parse(const args& a) {
  decode_bench_options o;
  try {
    o.model_dir = flag_value(a, "--model", "");
    o.shape = flag_value(a, "--shape", o.shape);
    o.reference = flag_value(a, "--reference", "");
    o.workdir = flag_value(a, "--workdir", "/tmp/tandem-bench-decode-" + std::to_string(::getpid()));
    o.batch = std::stoi(flag_value(a, "--batch", "64"));
    o.prompt_len = std::stoi(flag_value(a, "--prompt-len", "64"));
    o.new_tokens = std::stoi(flag_value(a, "--new-tokens", "256"));
    o.dev.device = flag_value(a, "--device", "cuda");
    o.dev.dtype = flag_value(a, "--dtype", "bfloat16");
    o.dev.cuda_graphs = !has_flag(a, "--no-graphs");
    o.compare_graphs = has_flag(a, "--compare-graphs");
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "bench decode: --batch/--prompt-len/--new-tokens need integers");
  }
  if (o.batch < 1 || o.prompt_len < 1 || o.new_tokens < 1)
    return make_error(errc::invalid_argument, "bench decode: sizes must be >= 1");
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
  double seconds = 0;
  int64_t tokens = 0;
  double rate() const { return seconds > 0 ? double(tokens) / seconds : 0; }
};

caf::expected<decode_figures> run_side(policy& pol, device_options dev,
                                       const std::vector<std::vector<int32_t>>& prompts,
                                       int32_t new_tokens, bool* graphs) {
  auto gen = batch_generator::make(pol, dev);
  if (!gen)
    return gen.error();
  *graphs = (*gen)->graph_enabled();
  sampling_params sp;
  auto run_batch = [&](int32_t n) -> caf::expected<decode_figures> {
    sp.max_new_tokens = n;
    if (auto err = (*gen)->start(prompts, sp, 11))
      return err;
    auto t0 = std::chrono::steady_clock::now();
    while (!(*gen)->done())
      if (auto err = (*gen)->step(0))
        return err;
    decode_figures f;
    f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    f.tokens = (*gen)->tokens_generated();
    return f;
  };
  if (auto w = run_batch(std::min(new_tokens, 16)); !w)
    return w.error();
  return run_batch(new_tokens);
}

void print_side(const char* name, const decode_figures& f) {
  std::printf("  %-34s %9.0f tokens/s  (%lld tokens in %.2f s)\n", name, f.rate(),
              static_cast<long long>(f.tokens), f.seconds);
}

int fail(const caf::error& err) {
  std::cerr << "bench decode: " << describe(err) << "\n";
  return is(err, errc::invalid_argument) ? 2 : 1;
}

} // namespace

int bench_decode_command(const args& a) {
  auto o = parse(a);
  if (!o)
    return fail(o.error());
  if (auto err = check_device(o->dev))
    return fail(err);
  std::filesystem::create_directories(o->workdir);
  auto pol = bench_policy(*o);
  if (!pol)
    return fail(pol.error());
  auto prompts = make_prompts(*o, (*pol)->config().vocab_size);
  std::printf("bench decode: %s, %lld parameters, batch %d, prompt %d, new tokens %d, %s %s\n",
              o->model_dir.empty() ? o->shape.c_str() : o->model_dir.c_str(),
              static_cast<long long>((*pol)->num_parameters()), o->batch, o->prompt_len,
              o->new_tokens, o->dev.device.c_str(), o->dev.dtype.c_str());
  bool graphs = false;
  auto ours = run_side(**pol, o->dev, prompts, o->new_tokens, &graphs);
  if (!ours)
    return fail(ours.error());
  print_side(graphs ? "tandem (CUDA graph)" : "tandem (eager)", *ours);
  if (o->compare_graphs && graphs) {
    auto eager_dev = o->dev;
    eager_dev.cuda_graphs = false;
    bool g = false;
    auto eager = run_side(**pol, eager_dev, prompts, o->new_tokens, &g);
    if (!eager)
      return fail(eager.error());
    print_side("tandem (eager)", *eager);
    std::printf("  RATIO graph / eager = %.2f\n", ours->rate() / eager->rate());
  }
  if (o->reference.empty())
    return 0;
  auto prompts_file = o->workdir + "/prompts.json";
  if (auto err = write_prompts(prompts_file, prompts))
    return fail(err);
  auto argv = split_command(o->reference);
  for (auto x : {"--model", o->model_dir.c_str(), "--prompts", prompts_file.c_str(), "--device",
                 o->dev.device.c_str(), "--dtype", o->dev.dtype.c_str()})
    argv.push_back(x);
  argv.push_back("--new-tokens");
  argv.push_back(std::to_string(o->new_tokens));
  auto ref = run_reference(argv, o->workdir + "/reference.json", std::chrono::seconds{1800});
  if (!ref)
    return fail(ref.error());
  auto rate = json_number_at(*ref, "tokens_per_s", "reference");
  auto secs = json_number_at(*ref, "seconds", "reference");
  if (!rate || !secs)
    return fail(!rate ? rate.error() : secs.error());
  decode_figures theirs{*secs, static_cast<int64_t>(*rate * *secs + 0.5)};
  print_side("transformers generate()", theirs);
  std::printf("  RATIO tandem / transformers = %.2f\n", ours->rate() / *rate);
  return 0;
}

} // namespace tandem
