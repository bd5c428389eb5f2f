// bench_checkpoint.cpp: see bench_checkpoint.hpp.
//
// One learner of --shape (seeded random weights) trains on one fixed
// synthetic batch (bench/synthetic_batch.hpp). After --warmup untimed steps
// (at least one: AdamW holds no moments before its first step), each of
// --repeats rounds times, in this order:
//   step    learner_core::train on the batch (returns once the device is done);
//   stall   export_weights() + export_state(): what the learner actor does
//           between two steps when the controller asks for its snapshot
//           (actors/learner.cpp, snapshot_atom); training waits for it;
//   write   checkpoint_store::write of what the controller hands the
//           recorder: weights.bin, learner_state.bin and 4 KiB stand-ins for
//           controller.json and config.yaml, into a fresh directory under
//           --dir, keep 1 (temp dir, fsync of every file and directory,
//           rename, prune of the previous round's);
//   read    load_newest(), which reads every file and checks its checksum,
//           as a restarted head does (app/run_dir.cpp), after the files'
//           clean pages were dropped from the page cache (posix_fadvise
//           DONTNEED; the fraction still resident is printed, mincore);
//   import  import_weights + import_state into a second learner of the same
//           shape (--load-into second), or into the measured one (same: its
//           own snapshot, which changes nothing, for one model's memory less).
// Ratios (stall / step, stall / (every x step)) are taken per round; every
// figure is printed as median [min..max] over the rounds.
//
// Sanity checks (a failure exits 1): weights.bin holds 4 bytes per parameter
// and learner_state.bin at least twice as many (two moments); no rate above
// memcpy's, measured here on the snapshot's size (x 1.25 for noise); the
// importing learner's weights and state equal the snapshot afterwards
// (checksums, first round).
//
// Thread safety: a command; one thread.
#include "bench/bench_checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/model_shapes.hpp"
#include "bench/sample_stats.hpp"
#include "bench/synthetic_batch.hpp"
#include "bench/timing.hpp"
#include "models/learner_core.hpp"
#include "models/policy.hpp"
#include "runtime/checkpoint_store.hpp"
#include "runtime/checksum.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/file_system.hpp"
#include "topology/plan.hpp"

namespace tandem {

namespace {

namespace stdfs = std::filesystem;

struct options {
  std::string shape, device, precision, dir, load_into;
  int64_t batch_seqs = 0, prompt_len = 0, completion_len = 0, micro_batch_tokens = 0;
  int64_t repeats = 0, warmup = 0, every = 0, seed = 0, threads = 0;
};

/// One round's measurements (seconds; `resident` a fraction).
struct round_figures {
  double step = 0, weights = 0, state = 0, write = 0, read = 0, import = 0;
  double resident = 0; // of the checkpoint's pages, in the page cache before the read
  double stall() const { return weights + state; }
};

struct checkpoint_bytes {
  double weights = 0, state = 0, other = 0;
  double total() const { return weights + state + other; }
};

command_line checkpoint_flags() {
  command_line cl("tandem bench checkpoint [flags]",
                  "what a checkpoint costs: the learner's snapshot stall against its GRPO step "
                  "(and amortized over --every steps), the disk write with fsync and the "
                  "load, in MB/s, the bytes of one checkpoint");
  cl.text("--shape", "NAME", "model shape with random weights: tiny | qwen2-0.5b", "tiny")
    .text("--device", "DEV", "cpu | cuda | cuda:N", "cpu")
    .text("--precision", "P", "float32 | bf16_autocast (default: bf16_autocast on CUDA, "
                              "float32 on the CPU)")
    .integer("--batch-seqs", "sequences per step", 8, 1, 1 << 20)
    .integer("--prompt-len", "prompt tokens per sequence", 32, 1, 1 << 20)
    .integer("--completion-len", "completion tokens per sequence", 96, 1, 1 << 20)
    .integer("--micro-batch-tokens", "token budget of a micro-batch (0: whole batch)", 8192, 0,
             int64_t{1} << 40)
    .integer("--repeats", "timed rounds (median and range printed)", 5, 1, 10000)
    .integer("--warmup", "untimed steps first (at least one: AdamW's state exists only after "
                         "the first step)", 1, 1, 10000)
    .integer("--every", "checkpoint every N steps, for the amortized stall", 50, 1, 1 << 30)
    .text("--dir", "DIR", "where checkpoints are written: a fresh "
                          "tandem-bench-checkpoint-XXXXXX under DIR, removed at the end", "/tmp")
    .text("--load-into", "WHICH", "second: a second learner of the shape imports the "
                                  "checkpoint (what a resume does); same: the measured one "
                                  "(one model's memory less)", "second")
    .integer("--seed", "seed of the weights and the batch", 1, 0, INT64_MAX)
    .integer("--threads", "LibTorch intra-op threads (0: LibTorch's default)", 0, 0, 4096);
  return cl;
}

caf::expected<options> options_from(const command_line& cl) {
  options o;
  o.shape = cl.value("--shape");
  o.device = cl.value("--device");
  o.precision = cl.value("--precision");
  if (o.precision.empty())
    o.precision = o.device.rfind("cuda", 0) == 0 ? "bf16_autocast" : "float32";
  o.dir = cl.value("--dir");
  o.load_into = cl.value("--load-into");
  if (o.load_into != "second" && o.load_into != "same")
    return make_error(errc::invalid_argument,
                      "--load-into '" + o.load_into + "': expected second or same");
  o.batch_seqs = cl.as_int("--batch-seqs");
  o.prompt_len = cl.as_int("--prompt-len");
  o.completion_len = cl.as_int("--completion-len");
  o.micro_batch_tokens = cl.as_int("--micro-batch-tokens");
  o.repeats = cl.as_int("--repeats");
  o.warmup = cl.as_int("--warmup");
  o.every = cl.as_int("--every");
  o.seed = cl.as_int("--seed");
  o.threads = cl.as_int("--threads");
  return o;
}

caf::expected<learner_settings> settings_for(const options& o) {
  auto m = named_shape(o.shape);
  if (!m)
    return make_error(errc::invalid_argument,
                      "--shape '" + o.shape + "': expected tiny or qwen2-0.5b");
  m->max_seq_len = static_cast<int32_t>(o.prompt_len + o.completion_len);
  m->max_position_embeddings = std::max<int32_t>(m->max_seq_len, 32768);
  learner_settings s;
  s.model = *m;
  s.optimizer.lr = 1e-6; // small: a long bench stays finite
  s.max_new_tokens = static_cast<int32_t>(o.completion_len);
  s.seed = static_cast<uint64_t>(o.seed);
  s.device = o.device;
  s.precision = o.precision;
  s.micro_batch_tokens = o.micro_batch_tokens;
  if (auto err = learner_core::validate(s))
    return err;
  return s;
}

// --- the page cache ---------------------------------------------------------------

/// Drops the pages of every file in `dir` from the page cache (they are
/// clean: the store fsynced them) and returns the fraction still resident
/// (mincore on a mapping that is never touched); -1 when it cannot be told.
double evict_page_cache(const std::string& dir) {
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t pages = 0, resident = 0;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0)
      return -1;
    struct stat st {};
    bool ok = ::fstat(fd, &st) == 0;
    ok = ok && ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
    const auto size = static_cast<size_t>(st.st_size);
    if (ok && size > 0) {
      void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      std::vector<unsigned char> in_core((size + page - 1) / page);
      ok = m != MAP_FAILED && ::mincore(m, size, in_core.data()) == 0;
      for (auto c : in_core)
        resident += c & 1;
      pages += in_core.size();
      if (m != MAP_FAILED)
        ::munmap(m, size);
    }
    ::close(fd);
    if (!ok)
      return -1;
  }
  return ec || pages == 0 ? -1 : static_cast<double>(resident) / static_cast<double>(pages);
}

/// memcpy in bytes per second, the best of three over `bytes` (capped at
/// 1 GiB: past the caches the rate no longer depends on the size).
struct copy_rates {
  double warm = 0;  // between two buffers already touched: the bound of every rate
  double fresh = 0; // into a newly allocated, zero-filled buffer, as each export does
};

copy_rates memcpy_rates(size_t bytes) {
  bytes = std::clamp<size_t>(bytes, 1 << 16, size_t{1} << 30);
  std::vector<char> a(bytes, 1), b(bytes, 2);
  copy_rates r;
  for (int i = 0; i < 3; ++i) {
    auto t0 = bench_clock::now();
    std::memcpy(b.data(), a.data(), bytes);
    r.warm = std::max(r.warm, static_cast<double>(bytes) / since(t0));
    t0 = bench_clock::now();
    std::vector<char> c(bytes); // what export_weights() fills: zeroed, then copied into
    std::memcpy(c.data(), a.data(), bytes);
    r.fresh = std::max(r.fresh, static_cast<double>(bytes) / since(t0));
    a[i] = static_cast<char>(b[bytes - 1 - i] + c[i]); // keeps the copies observable
  }
  return r;
}

// --- one round ----------------------------------------------------------------------

struct bench {
  options opts;
  model_config model;
  std::unique_ptr<learner_core> learner, second; // second: --load-into second
  std::vector<train_sequence> batch;
  std::unique_ptr<checkpoint_store> store;
  checkpoint_bytes bytes;
  std::vector<std::string> problems; // failed sanity checks

  learner_core& loader() { return second ? *second : *learner; }
};

std::vector<char> stand_in(const char* what) {
  std::vector<char> out(4096, ' ');
  std::memcpy(out.data(), what, std::strlen(what));
  return out;
}

/// The first round checks that the import reproduced the snapshot exactly.
void check_round_trip(bench& b, uint64_t weights_sum, uint64_t state_sum) {
  auto w = b.loader().export_weights();
  if (fast_checksum64(w.data(), w.size()) != weights_sum)
    b.problems.push_back("the imported weights differ from the snapshot");
  w = b.loader().export_state();
  if (fast_checksum64(w.data(), w.size()) != state_sum)
    b.problems.push_back("the imported learner state differs from the snapshot");
}

/// Load: read + verify (after eviction), then import; frees each file once
/// imported (a 0.5B model's checkpoint is 6 GB).
caf::error load_round(bench& b, int64_t step, int64_t version, round_figures& f) {
  auto t0 = bench_clock::now();
  auto ck = b.store->load_newest();
  f.read = since(t0);
  if (!ck)
    return ck.error();
  if (ck->step != step)
    return make_error(errc::malformed_message, "loaded step " + std::to_string(ck->step)
                                               + ", wrote " + std::to_string(step));
  t0 = bench_clock::now();
  auto& w = ck->files["weights.bin"];
  if (auto err = b.loader().import_weights(w.data(), w.size(), version))
    return err;
  std::vector<char>().swap(w);
  auto& s = ck->files["learner_state.bin"];
  if (auto err = b.loader().import_state(s.data(), s.size()))
    return err;
  f.import = since(t0);
  return caf::none;
}

caf::expected<round_figures> run_round(bench& b, int64_t step, bool verify) {
  round_figures f;
  auto t0 = bench_clock::now();
  if (auto st = b.learner->train(b.batch); !st)
    return st.error();
  f.step = since(t0);
  t0 = bench_clock::now();
  auto weights = b.learner->export_weights();
  f.weights = since(t0);
  t0 = bench_clock::now();
  auto state = b.learner->export_state();
  f.state = since(t0);
  if (weights.empty() || state.empty())
    return make_error(errc::backend_failure, "the learner's snapshot came back empty");
  const auto version = b.learner->version();
  const uint64_t wsum = verify ? fast_checksum64(weights.data(), weights.size()) : 0;
  const uint64_t ssum = verify ? fast_checksum64(state.data(), state.size()) : 0;
  b.bytes = {static_cast<double>(weights.size()), static_cast<double>(state.size()),
             2 * 4096.0};
  std::vector<checkpoint_file> files; // moved in: a braced list would copy 6 GB at 0.5B
  files.push_back({"weights.bin", std::move(weights)});
  files.push_back({"learner_state.bin", std::move(state)});
  files.push_back({"controller.json", stand_in("{\"stand_in\":true}")});
  files.push_back({"config.yaml", stand_in("# stand-in")});
  t0 = bench_clock::now();
  auto dir = b.store->write(step, files, 1);
  f.write = since(t0);
  if (!dir)
    return dir.error();
  files.clear();
  f.resident = evict_page_cache(*dir);
  if (auto err = load_round(b, step, version, f))
    return err;
  if (verify)
    check_round_trip(b, wsum, ssum);
  return f;
}

// --- setup and report ---------------------------------------------------------------

caf::error build(bench& b, const learner_settings& s) {
  b.model = s.model;
  auto l = learner_core::make(s);
  if (!l)
    return l.error();
  b.learner = std::move(*l);
  if (b.opts.load_into == "second") {
    auto other = s;
    other.seed = s.seed + 1; // other weights: the import must replace them
    auto l2 = learner_core::make(other);
    if (!l2)
      return l2.error();
    b.second = std::move(*l2);
  }
  const auto& o = b.opts;
  b.batch = synthetic_grpo_batch({o.batch_seqs, o.prompt_len, o.completion_len,
                                  s.model.vocab_size, static_cast<uint64_t>(o.seed)});
  std::error_code ec;
  stdfs::create_directories(o.dir, ec);
  std::string tmpl = (stdfs::path(o.dir) / "tandem-bench-checkpoint-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    return make_error(errc::io_failure, "cannot create a directory under " + o.dir + ": "
                                          + std::strerror(errno));
  b.store = std::make_unique<checkpoint_store>(real_file_system(), tmpl + "/checkpoints");
  return caf::none;
}

using figure_of = double (*)(const round_figures&, const bench&);

spread over(const std::vector<round_figures>& rounds, const bench& b, figure_of f) {
  std::vector<double> xs;
  for (const auto& r : rounds)
    xs.push_back(f(r, b));
  return summarize(std::move(xs));
}

void line(const char* what, const spread& s, int decimals, const char* unit,
          const std::string& note = {}) {
  std::printf("  %-26s %28s %-4s %s\n", what, format_spread(s, decimals).c_str(), unit,
              note.c_str());
}

using rate_list = std::vector<std::pair<const char*, spread>>;

/// The sizes, and the rates against memcpy's (x 1.25 for noise): above it
/// is a timing bug.
void check_bounds(bench& b, const rate_list& rates, double memcpy_mb_s) {
  const double w = b.bytes.weights;
  const auto params = static_cast<double>(parameter_count(b.model));
  if (w != 4 * params)
    b.problems.push_back("weights.bin holds " + std::to_string(w) + " bytes for "
                         + std::to_string(params) + " parameters");
  if (b.bytes.state < 2 * w)
    b.problems.push_back("learner_state.bin is smaller than two moments of the weights");
  for (const auto& [name, s] : rates)
    if (s.max > 1.25 * memcpy_mb_s)
      b.problems.push_back(std::string(name) + " peaks at " + std::to_string(s.max)
                           + " MB/s, above memcpy's " + std::to_string(memcpy_mb_s));
}

/// The learner's side: step, stall, ratios. Returns the copy rate.
spread report_stall(const bench& b, const std::vector<round_figures>& r) {
  line("GRPO step", over(r, b, [](auto& f, auto&) { return 1e3 * f.step; }), 2, "ms");
  line("snapshot stall", over(r, b, [](auto& f, auto&) { return 1e3 * f.stall(); }), 2, "ms",
       "export_weights " + format_spread(over(r, b, [](auto& f, auto&) {
         return 1e3 * f.weights; }), 2) + " + export_state " + format_spread(over(r, b,
         [](auto& f, auto&) { return 1e3 * f.state; }), 2) + " ms");
  auto copy = over(r, b, [](auto& f, auto& x) { return (x.bytes.weights + x.bytes.state)
                                                       / f.stall() / 1e6; });
  line("  snapshot copy rate", copy, 0, "MB/s");
  line("stall / step", over(r, b, [](auto& f, auto&) { return 100 * f.stall() / f.step; }), 3,
       "%");
  auto amortized = over(r, b, [](auto& f, auto& x) {
    return 100 * f.stall() / (static_cast<double>(x.opts.every) * f.step); });
  char name[64];
  std::snprintf(name, sizeof name, "stall / (%lld x step)", (long long) b.opts.every);
  line(name, amortized, 4, "%", amortized.median < 5 ? "goal < 5 %: met (median)"
                                                      : "goal < 5 %: NOT met (median)");
  return copy;
}

/// The recorder's and a resume's side: write, read, import. Returns their rates.
rate_list report_disk(const bench& b, const std::vector<round_figures>& r) {
  auto write = over(r, b, [](auto& f, auto& x) { return x.bytes.total() / f.write / 1e6; });
  line("disk write (fsync)", over(r, b, [](auto& f, auto&) { return 1e3 * f.write; }), 2, "ms",
       "= " + format_spread(write, 1) + " MB/s");
  auto read = over(r, b, [](auto& f, auto& x) { return x.bytes.total() / f.read / 1e6; });
  auto resident = over(r, b, [](auto& f, auto&) { return 100 * f.resident; });
  line("load: read + verify", over(r, b, [](auto& f, auto&) { return 1e3 * f.read; }), 2, "ms",
       "= " + format_spread(read, 1) + " MB/s; in the page cache before it: "
         + (resident.min < 0 ? std::string("unknown") : format_spread(resident, 0) + " %"));
  auto import = over(r, b, [](auto& f, auto& x) {
    return (x.bytes.weights + x.bytes.state) / f.import / 1e6; });
  line("load: import", over(r, b, [](auto& f, auto&) { return 1e3 * f.import; }), 2, "ms",
       "= " + format_spread(import, 1) + " MB/s (into the " + b.opts.load_into + " learner)");
  line("load total", over(r, b, [](auto& f, auto& x) {
    return x.bytes.total() / (f.read + f.import) / 1e6; }), 1, "MB/s");
  return {{"disk write", write}, {"read + verify", read}, {"import", import}};
}

int report(bench& b, const std::vector<round_figures>& r) {
  const auto& k = b.bytes;
  std::printf("  %-26s %10.2f MB: weights.bin %.2f MB, learner_state.bin %.2f MB, "
              "stand-ins %.0f KB\n", "bytes per checkpoint", k.total() / 1e6, k.weights / 1e6,
              k.state / 1e6, k.other / 1e3);
  auto copy = report_stall(b, r);
  auto rates = report_disk(b, r);
  rates.emplace_back("snapshot copy", copy);
  const auto mem = memcpy_rates(static_cast<size_t>(k.weights + k.state));
  std::printf("  %-26s %28.0f MB/s between touched buffers (the bound of every rate above);\n"
              "  %-26s %28.0f MB/s into a fresh zeroed buffer (as each export allocates)\n",
              "memcpy", mem.warm / 1e6, "", mem.fresh / 1e6);
  check_bounds(b, rates, mem.warm / 1e6);
  if (b.problems.empty()) {
    std::printf("sanity: ok (4 bytes per parameter, state >= 2 x weights, rates <= memcpy, "
                "import reproduces the snapshot)\n");
    return 0;
  }
  for (const auto& p : b.problems)
    std::printf("sanity: FAILED: %s\n", p.c_str());
  return 1;
}

} // namespace

int bench_checkpoint_command(const std::vector<std::string>& a) {
  auto cl = checkpoint_flags();
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto o = options_from(cl);
  auto s = o ? settings_for(*o) : caf::expected<learner_settings>(o.error());
  if (!s) {
    std::cerr << "bench checkpoint: " << describe(s.error()) << "\n";
    return 2;
  }
  if (o->threads > 0)
    policy::set_threads(static_cast<int32_t>(o->threads));
  bench b;
  b.opts = *o;
  if (auto err = build(b, *s)) {
    std::cerr << "bench checkpoint: " << describe(err) << "\n";
    return 1;
  }
  const auto root = stdfs::path(b.store->root()).parent_path();
  std::printf("bench checkpoint: %s (%.1fM parameters), %s, %s, %lld seqs x (%lld + %lld) "
              "tokens, %lld rounds after %lld warm-up step(s), checkpoints in %s; "
              "median [min..max]\n", o->shape.c_str(), parameter_count(s->model) / 1e6,
              o->device.c_str(), o->precision.c_str(), (long long) o->batch_seqs,
              (long long) o->prompt_len, (long long) o->completion_len,
              (long long) o->repeats, (long long) o->warmup, root.c_str());
  std::fflush(stdout);
  int rc = 1;
  std::vector<round_figures> rounds;
  caf::error err;
  for (int64_t k = 0; k < o->warmup && !err; ++k)
    if (auto st = b.learner->train(b.batch); !st)
      err = st.error();
  for (int64_t k = 0; k < o->repeats && !err; ++k) {
    auto f = run_round(b, k + 1, k == 0);
    if (f)
      rounds.push_back(*f);
    else
      err = f.error();
  }
  if (err)
    std::cerr << "bench checkpoint: " << describe(err) << "\n";
  else
    rc = report(b, rounds);
  real_file_system()->remove_tree(root.string()); // not std::filesystem::remove_all: file_system.hpp
  return rc;
}

} // namespace tandem
