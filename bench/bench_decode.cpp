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
//
// --group-size G lays the batch out as a sampler does: batch / G distinct
// prompts, each G times in a row, so shared-prompt prefill
// (docs/shared-prefill.md) has groups to share. --compare-prefill LENS times,
// for each prompt length, generators with shared prefill on and off in
// alternation (on, off, on, off ...), --repeats rounds: tokens/s of the whole
// batch and prefill time (the first step, which prefills every row and draws
// its first token). Every figure of a side comes from the same batches.
//
// Roofline: a decode step has to read every weight once and the keys and
// values of every context token of every row; bytes / step time is set
// against the card's HBM bandwidth (a table of device names, or --hbm-gbs).
// The context of the mean decode step is prompt + new_tokens / 2 tokens.
#include "bench/bench_decode.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <unistd.h>

#include "bench/decode_roofline.hpp"
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
  int32_t batch = 64, prompt_len = 64, new_tokens = 256, repeats = 3, group_size = 1;
  std::vector<int32_t> compare_lens; // --compare-prefill; empty = no comparison
  double hbm_gbs = 0;                // --hbm-gbs; 0 = from the device name
  device_options dev;
  bool compare_graphs = false;
  bool compare_kernels = false;
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
    .toggle("--no-kernels", "decode with LibTorch's ops instead of tandem's fused CUDA kernels")
    .toggle("--compare-kernels",
            "also time fused kernels on vs off, in alternation, with each side's roofline")
    .integer("--group-size", "completions per prompt (batch / G distinct prompts)", 1, 1,
             1 << 16)
    .toggle("--no-shared-prefill", "prefill every row, even rows with the same prompt")
    .text("--compare-prefill", "LENS",
          "prompt lengths (e.g. 128,512) at which to time shared prefill on vs off "
          "(needs --group-size > 1)")
    .number("--hbm-gbs", "HBM bandwidth in GB/s for the roofline; 0 = by the device's name",
            0, 0, 1e6)
    .text("--reference", "CMD", "reference command, e.g. \"python3 tests/reference/hf_decode.py\"")
    .text("--workdir", "DIR", "where prompts, model and reference output go",
          "/tmp/tandem-bench-decode-PID");
  return cl;
}

/// "128,512" -> {128, 512}; every entry an integer in [1, 2^20].
caf::expected<std::vector<int32_t>> parse_lengths(const std::string& text) {
  std::vector<int32_t> out;
  size_t at = 0;
  while (at <= text.size()) {
    auto end = std::min(text.find(',', at), text.size());
    auto item = text.substr(at, end - at);
    if (item.empty() || item.size() > 7 || item.find_first_not_of("0123456789") != item.npos
        || std::stol(item) < 1 || std::stol(item) > (1 << 20))
      return make_error(errc::invalid_argument, "--compare-prefill '" + text
                                                  + "': expected lengths like 128,512");
    out.push_back(static_cast<int32_t>(std::stol(item)));
    at = end + 1;
  }
  return out;
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
  o.dev.fused_kernels = !cl.on("--no-kernels");
  o.compare_kernels = cl.on("--compare-kernels");
  o.dev.max_rows = o.batch;
  o.group_size = static_cast<int32_t>(cl.as_int("--group-size"));
  o.dev.shared_prefill = !cl.on("--no-shared-prefill");
  o.hbm_gbs = cl.as_number("--hbm-gbs");
  return o;
}

/// Settings that would measure nothing, or a batch the groups do not fill.
caf::error check_options(const command_line& cl, decode_bench_options& o) {
  if (cl.given("--model") && cl.given("--shape"))
    return make_error(errc::invalid_argument, "--shape and --model exclude each other");
  if (o.batch % o.group_size != 0)
    return make_error(errc::invalid_argument, "--batch " + std::to_string(o.batch)
                                                + " is not a multiple of --group-size "
                                                + std::to_string(o.group_size));
  if (!cl.given("--compare-prefill"))
    return caf::none;
  if (o.group_size < 2)
    return make_error(errc::invalid_argument,
                      "--compare-prefill needs --group-size > 1 (no rows to share a prompt)");
  auto lens = parse_lengths(cl.value("--compare-prefill"));
  if (!lens)
    return lens.error();
  o.compare_lens = *lens;
  return caf::none;
}

/// The policy to benchmark with room for `seq` tokens per row (the KV
/// cache's slots): an HF checkpoint, or a named shape with random weights
/// (the same for every `seq`).
caf::expected<std::unique_ptr<policy>> load_policy(const decode_bench_options& o, int32_t seq) {
  if (!o.model_dir.empty())
    return policy::load_hf(o.model_dir, hf_load_options{seq});
  auto shape = named_shape(o.shape);
  if (!shape)
    return make_error(errc::invalid_argument, "bench decode: unknown --shape '" + o.shape
                                                + "' (tiny, qwen2-0.5b)");
  shape->max_seq_len = seq;
  shape->max_position_embeddings = std::max(seq, 32768);
  return policy::make(*shape, 1);
}

/// The main run's policy, saved as an HF checkpoint when a reference needs
/// to load it.
caf::expected<std::unique_ptr<policy>> bench_policy(decode_bench_options& o) {
  const bool save = o.model_dir.empty() && !o.reference.empty();
  auto p = load_policy(o, o.prompt_len + o.new_tokens);
  if (!p || !save)
    return p;
  o.model_dir = o.workdir + "/model";
  if (auto err = (*p)->save_hf(o.model_dir))
    return err;
  return p;
}

/// batch / G random prompts of `len` tokens, each G times in a row.
std::vector<std::vector<int32_t>> make_prompts(const decode_bench_options& o, int32_t len,
                                               int32_t vocab) {
  std::mt19937_64 rng(7);
  std::vector<std::vector<int32_t>> out;
  for (int32_t g = 0; g < o.batch / o.group_size; ++g) {
    std::vector<int32_t> p;
    for (int32_t i = 0; i < len; ++i)
      p.push_back(static_cast<int32_t>(3 + rng() % static_cast<uint64_t>(vocab - 3)));
    out.insert(out.end(), static_cast<size_t>(o.group_size), p);
  }
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
  spread prefill_ms;   // first step of each timed batch: prefill + first token
  int64_t tokens = 0;  // per batch
  double seconds = 0;  // median batch time
  double step_seconds = 0; // median decode step: (batch - first step) / (new_tokens - 1)
  prefill_counts counts;   // of one timed batch
};

/// One batch: the first step prefills every row (batch == max_rows).
struct batch_timing {
  double seconds = 0, prefill_seconds = 0;
  int64_t tokens = 0;
};

caf::expected<batch_timing> time_batch(batch_generator& gen,
                                       const std::vector<std::vector<int32_t>>& prompts,
                                       int32_t new_tokens) {
  sampling_params sp;
  sp.max_new_tokens = new_tokens;
  std::vector<uint64_t> seeds;
  for (size_t i = 0; i < prompts.size(); ++i)
    seeds.push_back(completion_seed(11, static_cast<int32_t>(i)));
  if (auto err = gen.start(prompts, sp, std::move(seeds)))
    return err;
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  batch_timing t;
  for (bool first = true; !gen.done(); first = false) {
    if (auto err = gen.step(0))
      return err;
    if (first) // step() copies the drawn tokens to the host: the GPU is done
      t.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  }
  t.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  t.tokens = gen.tokens_generated();
  return t;
}

/// The figures of a side's timed batches.
decode_figures figures_of(const std::vector<batch_timing>& ts, int32_t new_tokens,
                          prefill_counts counts) {
  std::vector<double> rates, secs, prefill, steps;
  for (auto& t : ts) {
    rates.push_back(static_cast<double>(t.tokens) / t.seconds);
    secs.push_back(t.seconds);
    prefill.push_back(t.prefill_seconds * 1e3);
    if (new_tokens > 1)
      steps.push_back((t.seconds - t.prefill_seconds) / (new_tokens - 1));
  }
  decode_figures f;
  f.rate = summarize(rates);
  f.prefill_ms = summarize(prefill);
  f.tokens = ts.empty() ? 0 : ts[0].tokens;
  f.seconds = summarize(secs).median;
  f.step_seconds = summarize(steps).median;
  f.counts = counts;
  return f;
}

/// A generator for `dev` after one short warm-up batch (CUDA context,
/// cuBLAS handles, graph capture, allocator pools).
caf::expected<std::unique_ptr<batch_generator>>
warm_generator(policy& pol, const device_options& dev,
               const std::vector<std::vector<int32_t>>& prompts, int32_t new_tokens) {
  auto gen = batch_generator::make(pol, dev);
  if (!gen)
    return gen.error();
  if (auto t = time_batch(**gen, prompts, std::min(new_tokens, 16)); !t)
    return t.error();
  return gen;
}

caf::expected<decode_figures> run_side(policy& pol, device_options dev,
                                       const std::vector<std::vector<int32_t>>& prompts,
                                       int32_t new_tokens, int32_t repeats, bool* graphs) {
  auto gen = warm_generator(pol, dev, prompts, new_tokens);
  if (!gen)
    return gen.error();
  *graphs = (*gen)->graph_enabled();
  std::vector<batch_timing> ts;
  auto before = (*gen)->prefill_stats();
  for (int32_t k = 0; k < repeats; ++k) {
    auto t = time_batch(**gen, prompts, new_tokens);
    if (!t)
      return t.error();
    ts.push_back(*t);
  }
  auto after = (*gen)->prefill_stats();
  prefill_counts one{(after.rows - before.rows) / repeats,
                     (after.forward_rows - before.forward_rows) / repeats,
                     (after.forward_tokens - before.forward_tokens) / repeats};
  return figures_of(ts, new_tokens, one);
}

void print_side(const char* name, const decode_figures& f) {
  std::printf("  %-34s %s tokens/s  (%lld tokens per batch, median %.2f s, %zu batches)\n",
              name, format_spread(f.rate, 0).c_str(), static_cast<long long>(f.tokens),
              f.seconds, f.rate.count);
  if (f.prefill_ms.count > 0) // tandem's sides: the first step of each batch
    std::printf("  %-34s prefill %s ms, forward over %lld of %lld rows\n", "",
                format_spread(f.prefill_ms, 2).c_str(),
                static_cast<long long>(f.counts.forward_rows),
                static_cast<long long>(f.counts.rows));
}

/// Bytes a decode step must read, achieved GB/s at `step_seconds`, and the
/// card's HBM bandwidth (0 when unknown).
struct roofline {
  step_bytes bytes;
  double achieved_gbs = 0, hbm_gbs = 0;
  double fraction() const { return hbm_gbs > 0 ? achieved_gbs / hbm_gbs : 0; }
};

roofline roofline_of(const policy& pol, const decode_bench_options& o, double step_seconds) {
  const double elem = o.dev.dtype == "float32" ? 4 : 2;
  roofline r;
  r.bytes = decode_step_bytes(pol.config(), pol.num_parameters(), elem, o.batch,
                              o.prompt_len + o.new_tokens / 2.0);
  r.achieved_gbs = step_seconds > 0 ? r.bytes.total() / step_seconds / 1e9 : 0;
  r.hbm_gbs = o.hbm_gbs > 0 ? o.hbm_gbs : hbm_gbs_of(device_model_name(o.dev.device));
  return r;
}

void print_roofline(const policy& pol, const decode_bench_options& o, const decode_figures& f) {
  if (f.step_seconds <= 0)
    return;
  const auto r = roofline_of(pol, o, f.step_seconds);
  const double elem = o.dev.dtype == "float32" ? 4 : 2;
  // LibTorch's masked attention reads every allocated slot; the fused
  // kernels read each row's live context only.
  const double slots_kv = decode_step_bytes(pol.config(), 0, elem, o.batch,
                                            pol.config().max_seq_len).kv;
  const auto name = device_model_name(o.dev.device);
  std::printf("  roofline: decode step %.3f ms (median) must read %.3f GB (weights %.3f + KV "
              "%.3f; KV of all %d slots %.3f) = %.1f GB/s",
              f.step_seconds * 1e3, r.bytes.total() / 1e9, r.bytes.weights / 1e9,
              r.bytes.kv / 1e9, pol.config().max_seq_len, slots_kv / 1e9, r.achieved_gbs);
  if (r.hbm_gbs > 0)
    std::printf("; %.3f of %s's %.0f GB/s\n", r.fraction(), name.c_str(), r.hbm_gbs);
  else
    std::printf("; no HBM figure for '%s' (pass --hbm-gbs)\n", name.c_str());
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
  decode_figures f;
  f.rate = summarize({*rate});
  f.tokens = static_cast<int64_t>(*rate * *secs + 0.5);
  f.seconds = *secs;
  return f;
}

/// tandem's side, and with --compare-graphs its eager side too.
caf::expected<decode_figures> run_tandem_sides(policy& pol, const decode_bench_options& o,
                                               const std::vector<std::vector<int32_t>>& prompts) {
  bool graphs = false;
  auto ours = run_side(pol, o.dev, prompts, o.new_tokens, o.repeats, &graphs);
  if (!ours)
    return ours;
  print_side(graphs ? "tandem (CUDA graph)" : "tandem (eager)", *ours);
  std::printf("  %-34s fused kernels %s\n", "", o.dev.fused_kernels ? "on" : "off");
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

/// One side of the prefill comparison: its timed batches and the prefill
/// work of one batch.
struct prefill_side {
  std::unique_ptr<batch_generator> gen;
  std::vector<batch_timing> batches;
  prefill_counts counts;
};

caf::error time_round(prefill_side& side, const std::vector<std::vector<int32_t>>& prompts,
                      int32_t new_tokens) {
  auto before = side.gen->prefill_stats();
  auto t = time_batch(*side.gen, prompts, new_tokens);
  if (!t)
    return t.error();
  side.batches.push_back(*t);
  auto after = side.gen->prefill_stats();
  side.counts = {after.rows - before.rows, after.forward_rows - before.forward_rows,
                 after.forward_tokens - before.forward_tokens};
  return caf::none;
}

void print_prefill_side(const char* name, const prefill_side& side, int32_t new_tokens) {
  auto f = figures_of(side.batches, new_tokens, side.counts);
  std::printf("  %-4s forward %4lld of %4lld rows  %s tokens/s  prefill %s ms\n", name,
              static_cast<long long>(f.counts.forward_rows), static_cast<long long>(f.counts.rows),
              format_spread(f.rate, 0).c_str(), format_spread(f.prefill_ms, 2).c_str());
}

/// Shared prefill on vs off at prompt length `len`: two warm generators,
/// timed in alternation so that drift (clocks, heat) hits both alike.
caf::error compare_prefill_at(const decode_bench_options& o, int32_t len) {
  auto pol = load_policy(o, len + o.new_tokens); // outlives the generators below
  if (!pol)
    return pol.error();
  auto prompts = make_prompts(o, len, (*pol)->config().vocab_size);
  prefill_side sides[2];
  for (int s = 0; s < 2; ++s) {
    auto dev = o.dev;
    dev.shared_prefill = s == 0;
    auto g = warm_generator(**pol, dev, prompts, o.new_tokens);
    if (!g)
      return g.error();
    sides[s].gen = std::move(*g);
  }
  for (int32_t k = 0; k < o.repeats; ++k)
    for (auto& side : sides)
      if (auto err = time_round(side, prompts, o.new_tokens))
        return err;
  std::printf("shared-prompt prefill: prompt %d tokens, %d prompts x G = %d, %d rounds on/off "
              "alternating, KV capacity %d; median [min..max]\n",
              len, o.batch / o.group_size, o.group_size, o.repeats, len + o.new_tokens);
  print_prefill_side("on", sides[0], o.new_tokens);
  print_prefill_side("off", sides[1], o.new_tokens);
  auto on = figures_of(sides[0].batches, o.new_tokens, sides[0].counts);
  auto off = figures_of(sides[1].batches, o.new_tokens, sides[1].counts);
  std::printf("  RATIO prefill time off / on = %.2f, tokens/s on / off = %.2f (medians)\n",
              off.prefill_ms.median / on.prefill_ms.median, on.rate.median / off.rate.median);
  return caf::none;
}

/// Fused kernels on vs off (LibTorch's elementwise ops and masked
/// attention), everything else as the main run: two warm generators timed
/// in alternation, each side's decode step against the roofline.
caf::error compare_kernels(policy& pol, const decode_bench_options& o,
                           const std::vector<std::vector<int32_t>>& prompts) {
  prefill_side sides[2];
  for (int s = 0; s < 2; ++s) {
    auto dev = o.dev;
    dev.fused_kernels = s == 0;
    auto g = warm_generator(pol, dev, prompts, o.new_tokens);
    if (!g)
      return g.error();
    if (s == 0 && !(*g)->kernels_enabled())
      return make_error(errc::invalid_argument,
                        "--compare-kernels: the fused kernels are not in use here (they need a "
                        "CUDA build, a CUDA device and a shape they support)");
    sides[s].gen = std::move(*g);
  }
  for (int32_t k = 0; k < o.repeats; ++k)
    for (auto& side : sides)
      if (auto err = time_round(side, prompts, o.new_tokens))
        return err;
  std::printf("fused kernels on vs off: %d rounds alternating; median [min..max]\n", o.repeats);
  double rate[2] = {0, 0};
  for (int s = 0; s < 2; ++s) {
    auto f = figures_of(sides[s].batches, o.new_tokens, sides[s].counts);
    auto r = roofline_of(pol, o, f.step_seconds);
    rate[s] = f.rate.median;
    std::printf("  %-4s %s tokens/s  decode step %.3f ms  %.1f GB/s = %.3f of HBM\n",
                s == 0 ? "on" : "off", format_spread(f.rate, 0).c_str(), f.step_seconds * 1e3,
                r.achieved_gbs, r.fraction());
  }
  std::printf("  RATIO tokens/s on / off = %.2f (medians)\n", rate[0] / rate[1]);
  return caf::none;
}

} // namespace

int bench_decode_command(const std::vector<std::string>& a) {
  auto cl = decode_flags();
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto o = options_from(cl);
  if (auto err = check_options(cl, o))
    return fail(err);
  if (auto err = check_device(o.dev))
    return fail(err);
  std::filesystem::create_directories(o.workdir);
  auto pol = bench_policy(o);
  if (!pol)
    return fail(pol.error());
  auto prompts = make_prompts(o, o.prompt_len, (*pol)->config().vocab_size);
  std::printf("bench decode: %s, %lld parameters, batch %d (G = %d, shared prefill %s), "
              "prompt %d, new tokens %d, KV capacity %d, %s %s; tokens/s as median "
              "[min..max]\n",
              o.model_dir.empty() ? o.shape.c_str() : o.model_dir.c_str(),
              static_cast<long long>((*pol)->num_parameters()), o.batch, o.group_size,
              o.dev.shared_prefill ? "on" : "off", o.prompt_len, o.new_tokens,
              (*pol)->config().max_seq_len, o.dev.device.c_str(), o.dev.dtype.c_str());
  auto ours = run_tandem_sides(**pol, o, prompts);
  if (!ours)
    return fail(ours.error());
  print_roofline(**pol, o, *ours);
  if (o.compare_kernels)
    if (auto err = compare_kernels(**pol, o, prompts))
      return fail(err);
  for (auto len : o.compare_lens)
    if (auto err = compare_prefill_at(o, len))
      return fail(err);
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
