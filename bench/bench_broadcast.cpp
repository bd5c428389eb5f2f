// bench_broadcast.cpp: `tandem bench broadcast` (header: bench_broadcast.hpp).
//
// Processes. Rank 0 on GPU 0 is the command itself; ranks 1..N-1 on GPUs
// 1..N-1 are this binary again (posix_spawn of /proc/self/exe: a fork after
// CUDA init is undefined), started with the same flags plus the hidden
// --rank R --comm-id HEX (the communicator's id as hex). Every rank derives
// the same weight set and bucket plan from the flags. NCCL_NVLS_ENABLE=0 is
// set before any NCCL call unless already set, and the children inherit it.
//
// Method, all on one communicator:
//   weight set  tensors shaped like an 8B-class transformer in bf16
//               (embedding, per-layer attention with GQA and biases, MLP,
//               norms), cut to exactly --bytes, in one flat device buffer in
//               the plan's layout (packed_memory: one span per bucket).
//   version 1   untimed warm-up (NCCL connects lazily on its first op).
//   versions 2..V+1, timed: barrier, send_version, barrier. "send" is
//               send_version's elapsed time on rank 0; "wall" runs from the
//               first barrier to the second, i.e. until every rank has the
//               whole version.
//   raw         after a barrier, one ncclBroadcast of the whole buffer, V
//               times back to back: the NCCL bus bandwidth (for a broadcast
//               busbw equals algbw); then the same bytes as bucket-sized ops.
//   content     receivers zero their buffer before the last version and
//               check every tensor byte of it afterwards.
// GB/s are 1e9 bytes per second: payload bytes for send_version (--bytes),
// buffer bytes for raw (payload plus < 256 bytes of padding per bucket).
// The goals (ratio >= 0.8 to raw one-op; 8 GB in <= 50 ms) are reported,
// not enforced.
//
// Deadlines: every NCCL wait, barrier and child exit is bounded (constants
// below); a missed one is a typed error. Exit: 0 measured, 1 a typed error on
// any rank (message names the rank), 2 bad usage.
#include "bench/bench_broadcast.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/error.hpp"
#include "runtime/nccl/bucket_plan.hpp"
#include "runtime/nccl/weight_transfer.hpp"

#if TANDEM_HAVE_NCCL
#include <chrono>
#include <memory>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "runtime/nccl/device_buffer.hpp"
#include "runtime/nccl/nccl_collective.hpp"
#include "runtime/nccl/raw_broadcast.hpp"
#include "runtime/process_launcher.hpp"
#endif

namespace tandem {

namespace {

namespace tn = nccl;

const char* usage =
  "usage: tandem bench broadcast [--bytes 8G] [--gpus 2] [--bucket-mb 512] [--versions 5]"
  " [--depth 8]\n"
  "  --bytes      weight set size; K/M/G/T suffixes are powers of 1024\n"
  "  --gpus       ranks, one GPU each (rank 0 on GPU 0 sends), >= 2\n"
  "  --bucket-mb  bucket size in MiB (default: the library's)\n"
  "  --versions   timed versions (plus one untimed warm-up)\n"
  "  --depth      buckets posted ahead (1: unpipelined)\n";

struct bench_options {
  size_t bytes = size_t{8} << 30;
  int gpus = 2;
  size_t bucket_mb = tn::bucket_options{}.bucket_bytes >> 20;
  int versions = 5;
  size_t depth = tn::transfer_options{}.depth;
  int rank = 0;         // hidden: set for the spawned ranks
  std::string comm_hex; // hidden: the communicator id of the spawned ranks
};

caf::expected<size_t> parse_bytes(const std::string& s) {
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits])))
    ++digits;
  std::string suffix = s.substr(digits);
  int shift = suffix.empty() ? 0 : suffix == "K" ? 10 : suffix == "M" ? 20
            : suffix == "G" ? 30 : suffix == "T" ? 40 : -1;
  if (digits == 0 || digits > 12 || shift < 0)
    return make_error(errc::invalid_argument,
                      "--bytes: expected a number with an optional K/M/G/T suffix, got '" + s + "'");
  return static_cast<size_t>(std::stoull(s.substr(0, digits))) << shift;
}

caf::expected<bench_options> parse_options(const args& a) {
  const std::vector<std::string> known{"--bytes", "--gpus", "--bucket-mb", "--versions",
                                       "--depth", "--rank", "--comm-id"};
  for (size_t i = 0; i < a.size(); i += 2)
    if (std::find(known.begin(), known.end(), a[i]) == known.end() || i + 1 == a.size())
      return make_error(errc::invalid_argument, "unknown flag or flag without a value: " + a[i]);
  bench_options o;
  auto bytes = parse_bytes(flag_value(a, "--bytes", "8G"));
  if (!bytes)
    return bytes.error();
  o.bytes = *bytes;
  try {
    o.gpus = std::stoi(flag_value(a, "--gpus", "2"));
    o.bucket_mb = std::stoul(flag_value(a, "--bucket-mb", std::to_string(o.bucket_mb)));
    o.versions = std::stoi(flag_value(a, "--versions", "5"));
    o.depth = std::stoul(flag_value(a, "--depth", std::to_string(o.depth)));
    o.rank = std::stoi(flag_value(a, "--rank", "0"));
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "a flag has a value that is not a number");
  }
  o.comm_hex = flag_value(a, "--comm-id", "");
  if (o.bytes == 0 || o.gpus < 2 || o.bucket_mb < 1 || o.versions < 1 || o.depth < 1
      || o.depth > tn::collective::max_in_flight)
    return make_error(errc::invalid_argument,
                      "need --bytes > 0, --gpus >= 2, --bucket-mb >= 1, --versions >= 1, "
                      "--depth in 1.." + std::to_string(tn::collective::max_in_flight));
  if (o.rank < 0 || o.rank >= o.gpus || (o.rank > 0) == o.comm_hex.empty())
    return make_error(errc::invalid_argument, "--rank and --comm-id go together (spawned ranks)");
  return o;
}

/// Tensor byte sizes shaped like an 8B-class transformer in bf16 (hidden
/// 4096, 8 KV heads of 128, MLP 14336, vocabulary 128256), in checkpoint
/// order, cut to exactly `total` bytes: the last tensor is truncated, and
/// layers repeat for as long as bytes are left.
std::vector<size_t> model_like_sizes(size_t total) {
  const size_t h = 4096, kv = 1024, ffn = 14336, vocab = 128256, bf16 = 2;
  const std::vector<size_t> layer{h,      h * h,   kv * h,  kv * h, h,      kv,
                                  kv,     h * h,   h,       ffn * h, ffn * h, h * ffn};
  std::vector<size_t> out;
  auto take = [&](size_t elements) {
    size_t n = std::min(elements * bf16, total);
    out.push_back(n);
    total -= n;
  };
  take(vocab * h); // embedding
  for (size_t i = 0; total > 0; i = (i + 1) % layer.size())
    take(layer[i]);
  return out;
}

#if TANDEM_HAVE_NCCL

using namespace std::chrono_literals;

// Why these deadlines: setup covers a rank's CUDA start, NCCL init and the
// allocation and clearing of up to tens of GB (seconds on an idle machine);
// a step is one barrier around a version of ~30 ms, so 30 s only ever
// catches a dead or wedged rank; a child's exit waits for its content check
// (a few GB/s through the host).
constexpr auto setup_deadline = 60s;
constexpr auto step_deadline = 30s;
constexpr auto child_exit_deadline = 120s;

struct rank_state {
  bench_options o;
  tn::bucket_plan plan;
  tn::steady_clock_source clock;
  std::unique_ptr<tn::nccl_collective> comm;
  std::unique_ptr<tn::device_buffer> buf;

  tn::time_point in(tn::duration d) const { return clock.now() + d; }
};

int failed(int rank, const caf::error& err) {
  std::fprintf(stderr, "tandem bench broadcast: rank %d: %s\n", rank, describe(err).c_str());
  return 1;
}

/// This rank's GPU and (not yet initialised) collective.
caf::error make_comm(rank_state& s) {
  if (auto e = cudaSetDevice(s.o.rank); e != cudaSuccess)
    return make_error(errc::backend_failure, "cudaSetDevice(" + std::to_string(s.o.rank)
                                               + "): " + cudaGetErrorString(e));
  s.comm = std::make_unique<tn::nccl_collective>(s.clock, tn::nccl_options{s.o.rank});
  return {};
}

/// Joins communicator `id`, allocates the buffer (rank 0: the pattern,
/// others: zeros) and meets the others at a first barrier.
caf::error join(rank_state& s, const tn::comm_id& id) {
  if (auto err = s.comm->init(s.o.rank, s.o.gpus, id, s.in(setup_deadline)))
    return err;
  auto buf = tn::device_buffer::make(s.plan.flat_bytes);
  if (!buf)
    return buf.error();
  s.buf = std::make_unique<tn::device_buffer>(std::move(*buf));
  if (auto err = s.o.rank == 0 ? tn::fill_pattern(*s.buf, 1) : tn::clear(*s.buf))
    return err;
  return tn::barrier(*s.comm, s.in(setup_deadline));
}

struct version_times {
  std::vector<tn::duration> send, wall;
};

/// Version 1 untimed, then o.versions timed; every rank runs this.
caf::expected<version_times> run_versions(rank_state& s) {
  version_times t;
  tn::transfer_options opts;
  opts.depth = s.o.depth;
  tn::packed_memory mem{s.buf->data()};
  tn::version_intake intake;
  for (int v = 1; v <= s.o.versions + 1; ++v) {
    if (s.o.rank > 0 && v == s.o.versions + 1)
      if (auto err = tn::clear(*s.buf)) // the last version must really arrive
        return err;
    if (auto err = tn::barrier(*s.comm, s.in(step_deadline)))
      return err;
    auto start = s.clock.now();
    auto h = tn::make_header(v, 1, s.plan);
    auto moved = s.o.rank == 0
                   ? tn::send_version(*s.comm, s.clock, h, s.plan, mem, opts)
                   : tn::receive_version(*s.comm, s.clock, h, s.plan, mem, intake, true, opts);
    if (!moved)
      return moved.error();
    auto sent = s.clock.now();
    if (auto err = tn::barrier(*s.comm, s.in(step_deadline)))
      return err;
    if (v > 1) {
      t.send.push_back(sent - start);
      t.wall.push_back(s.clock.now() - start);
    }
  }
  return t;
}

struct raw_times {
  tn::duration one_op{}, bucket_ops{};
};

caf::expected<raw_times> run_raw(rank_state& s) {
  auto one = tn::raw_broadcast(*s.comm, s.buf->data(), s.plan.flat_bytes, 1, s.o.versions,
                               s.in(setup_deadline));
  if (!one)
    return one.error();
  auto split = tn::raw_broadcast(*s.comm, s.buf->data(), s.plan.flat_bytes,
                                 s.plan.buckets.size(), s.o.versions, s.in(setup_deadline));
  if (!split)
    return split.error();
  return raw_times{*one, *split};
}

/// Ranks 1..N-1: receive, check the content, then the raw loops.
int run_receiver(rank_state& s) {
  auto id = tn::from_hex(s.o.comm_hex);
  if (!id)
    return failed(s.o.rank, id.error());
  if (auto err = make_comm(s))
    return failed(s.o.rank, err);
  if (auto err = join(s, *id))
    return failed(s.o.rank, err);
  if (auto t = run_versions(s); !t)
    return failed(s.o.rank, t.error());
  if (auto err = tn::check_pattern(s.plan, *s.buf, 1))
    return failed(s.o.rank, err);
  if (auto r = run_raw(s); !r)
    return failed(s.o.rank, r.error());
  s.comm->close(s.in(10s));
  return 0;
}

double mean_s(const std::vector<tn::duration>& d) {
  double sum = 0;
  for (auto x : d)
    sum += std::chrono::duration<double>(x).count();
  return sum / d.size();
}

double max_s(const std::vector<tn::duration>& d) {
  return std::chrono::duration<double>(*std::max_element(d.begin(), d.end())).count();
}

void print_header(const rank_state& s) {
  int version = 0;
  ncclGetVersion(&version);
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, 0);
  std::printf("bench broadcast: %.3f GiB (%zu bytes) in %zu tensors, %zu buckets of <= %zu MiB, "
              "depth %zu, %d ranks on %d x %s, NCCL %d, NCCL_NVLS_ENABLE=%s, %d timed versions\n",
              s.plan.total_bytes / double(size_t{1} << 30), s.plan.total_bytes,
              s.plan.tensor_bytes.size(), s.plan.buckets.size(), s.o.bucket_mb, s.o.depth,
              s.o.gpus, s.o.gpus, p.name, version, std::getenv("NCCL_NVLS_ENABLE"),
              s.o.versions);
}

void print_results(const rank_state& s, const version_times& v, const raw_times& r) {
  double send = s.plan.total_bytes / mean_s(v.send) / 1e9;
  double one = tn::bytes_per_s(s.plan.flat_bytes, s.o.versions, r.one_op) / 1e9;
  double split = tn::bytes_per_s(s.plan.flat_bytes, s.o.versions, r.bucket_ops) / 1e9;
  double wall_ms = mean_s(v.wall) * 1e3;
  // 8 GB (1e9) in 50 ms, scaled to this run's bytes.
  double goal_ms = 50.0 * s.plan.total_bytes / 8e9;
  std::printf("tandem send_version            %8.1f GB/s  (send %.2f ms mean, %.2f ms max)\n",
              send, mean_s(v.send) * 1e3, max_s(v.send) * 1e3);
  std::printf("raw ncclBroadcast, 1 op        %8.1f GB/s  (NCCL bus bandwidth)\n", one);
  std::printf("raw ncclBroadcast, %3zu ops     %8.1f GB/s  (bucket-sized ops)\n",
              s.plan.buckets.size(), split);
  std::printf("RATIO send_version / raw 1 op   = %.3f  (goal >= 0.80: %s)\n", send / one,
              send / one >= 0.8 ? "met" : "MISSED");
  std::printf("RATIO send_version / raw %zu ops = %.3f\n", s.plan.buckets.size(), send / split);
  std::printf("WALL  %.3f GiB version on every rank: %.2f ms mean, %.2f ms max"
              "  (goal <= %.1f ms, i.e. 8 GB in 50 ms: %s)\n",
              s.plan.total_bytes / double(size_t{1} << 30), wall_ms, max_s(v.wall) * 1e3,
              goal_ms, wall_ms <= goal_ms ? "met" : "MISSED");
  std::printf("BENCH-BROADCAST bytes=%zu bucket_mb=%zu depth=%zu send_gbps=%.1f raw_gbps=%.1f "
              "raw_bucket_gbps=%.1f ratio=%.3f wall_ms=%.2f\n",
              s.plan.total_bytes, s.o.bucket_mb, s.o.depth, send, one, split, send / one,
              wall_ms);
}

/// The flags every spawned rank gets (the same run, plus its rank and id).
std::vector<std::string> rank_argv(const bench_options& o, int rank, const std::string& hex) {
  return {"/proc/self/exe", "bench", "broadcast", "--bytes", std::to_string(o.bytes),
          "--gpus", std::to_string(o.gpus), "--bucket-mb", std::to_string(o.bucket_mb),
          "--versions", std::to_string(o.versions), "--depth", std::to_string(o.depth),
          "--rank", std::to_string(rank), "--comm-id", hex};
}

/// Rank 0: spawns the others, measures, reaps them, prints.
int run_root(rank_state& s) {
  int gpus = 0;
  if (auto e = cudaGetDeviceCount(&gpus); e != cudaSuccess || gpus < s.o.gpus) {
    std::fprintf(stderr, "tandem bench broadcast: --gpus %d but %d GPU(s) visible (%s)\n",
                 s.o.gpus, e == cudaSuccess ? gpus : 0, cudaGetErrorString(e));
    return 1;
  }
  if (auto err = make_comm(s))
    return failed(0, err);
  print_header(s);
  std::fflush(stdout);
  auto id = s.comm->make_id();
  if (!id)
    return failed(0, id.error());
  std::vector<std::unique_ptr<child_process>> ranks; // stopped on every return
  for (int r = 1; r < s.o.gpus; ++r) {
    auto child = os_process_launcher{}.launch(rank_argv(s.o, r, tn::to_hex(*id)));
    if (!child)
      return failed(0, child.error());
    ranks.push_back(std::move(*child));
  }
  if (auto err = join(s, *id))
    return failed(0, err);
  auto versions = run_versions(s);
  if (!versions)
    return failed(0, versions.error());
  auto raw = run_raw(s);
  if (!raw)
    return failed(0, raw.error());
  s.comm->close(s.in(10s));
  int bad = 0;
  for (size_t r = 0; r < ranks.size(); ++r) {
    bool exited = wait_exit(*ranks[r], child_exit_deadline);
    if (!exited || ranks[r]->exit_code() != 0) {
      std::fprintf(stderr, "tandem bench broadcast: rank %zu %s (exit code %d)\n", r + 1,
                   exited ? "failed" : "did not exit in time; stopped", ranks[r]->exit_code());
      ++bad;
    }
  }
  print_results(s, *versions, *raw);
  std::printf("content: %s\n", bad ? "NOT verified (a rank failed)"
                                   : "every receiver held every tensor byte of the last version");
  return bad ? 1 : 0;
}

#endif // TANDEM_HAVE_NCCL

} // namespace

int bench_broadcast_command(const args& a) {
  auto o = parse_options(a);
  if (!o) {
    std::cerr << "tandem bench broadcast: " << describe(o.error()) << "\n" << usage;
    return 2;
  }
  auto plan = nccl::plan_buckets(model_like_sizes(o->bytes), {o->bucket_mb << 20, 256});
  if (!plan) {
    std::cerr << "tandem bench broadcast: " << describe(plan.error()) << "\n";
    return 2;
  }
#if TANDEM_HAVE_NCCL
  setenv("NCCL_NVLS_ENABLE", "0", 0); // NVLink multicast stays off (before any NCCL call)
  rank_state s;
  s.o = *o;
  s.plan = std::move(*plan);
  return s.o.rank == 0 ? run_root(s) : run_receiver(s);
#else
  std::cerr << "tandem bench broadcast: this tandem was built without NCCL (tandem_nccl); "
               "configure with CUDA and NCCL found (-DTANDEM_WITH_NCCL=ON, see "
               "runtime/nccl/CMakeLists.txt) to run it\n";
  return 1;
#endif
}

} // namespace tandem
