// broadcast_ranks.cpp: see broadcast_ranks.hpp. Compiled with
// TANDEM_HAVE_NCCL only (bench/CMakeLists.txt).
#include "bench/broadcast_ranks.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "bench/sample_stats.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/device_buffer.hpp"
#include "runtime/nccl/nccl_collective.hpp"
#include "runtime/nccl/raw_broadcast.hpp"
#include "runtime/nccl/weight_transfer.hpp"
#include "runtime/process_launcher.hpp"

namespace tandem {

namespace {

namespace tn = nccl;

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
  broadcast_options o;
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

/// "median [min..max]" of `d` in ms.
std::string ms_spread(const std::vector<tn::duration>& d) {
  std::vector<double> ms;
  for (auto x : d)
    ms.push_back(std::chrono::duration<double, std::milli>(x).count());
  return format_spread(summarize(std::move(ms)), 2);
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
  std::printf("tandem send_version            %8.1f GB/s  (send %.2f ms mean, median [min..max] "
              "%s ms)\n", send, mean_s(v.send) * 1e3, ms_spread(v.send).c_str());
  std::printf("raw ncclBroadcast, 1 op        %8.1f GB/s  (NCCL bus bandwidth)\n", one);
  std::printf("raw ncclBroadcast, %3zu ops     %8.1f GB/s  (bucket-sized ops)\n",
              s.plan.buckets.size(), split);
  std::printf("RATIO send_version / raw 1 op   = %.3f  (goal >= 0.80: %s)\n", send / one,
              send / one >= 0.8 ? "met" : "MISSED");
  std::printf("RATIO send_version / raw %zu ops = %.3f\n", s.plan.buckets.size(), send / split);
  std::printf("WALL  %.3f GiB version on every rank: %.2f ms mean, median [min..max] %s ms"
              "  (goal <= %.1f ms, i.e. 8 GB in 50 ms: %s)\n",
              s.plan.total_bytes / double(size_t{1} << 30), wall_ms, ms_spread(v.wall).c_str(),
              goal_ms, wall_ms <= goal_ms ? "met" : "MISSED");
  std::printf("BENCH-BROADCAST bytes=%zu bucket_mb=%zu depth=%zu send_gbps=%.1f raw_gbps=%.1f "
              "raw_bucket_gbps=%.1f ratio=%.3f wall_ms=%.2f\n",
              s.plan.total_bytes, s.o.bucket_mb, s.o.depth, send, one, split, send / one,
              wall_ms);
}

/// The flags every spawned rank gets (the same run, plus its rank and id).
std::vector<std::string> rank_argv(const broadcast_options& o, int rank, const std::string& hex) {
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

} // namespace

int run_broadcast_rank(const broadcast_options& o, nccl::bucket_plan plan) {
  setenv("NCCL_NVLS_ENABLE", "0", 0); // NVLink multicast stays off (before any NCCL call)
  rank_state s;
  s.o = o;
  s.plan = std::move(plan);
  return s.o.rank == 0 ? run_root(s) : run_receiver(s);
}

} // namespace tandem
