// nccl_reduce_gpu_test.cpp: nccl_collective's reductions (reduce_collective:
// all_reduce, reduce_scatter, all_gather; float32, in place) on two GPUs,
// ranks as two threads of this process. Not a GoogleTest: a GPU check run by
// hand or by ctest on a machine with two GPUs.
//   A  values: each operation on a buffer of padded length, every rank's
//      result checked element for element against the host computation;
//      an odd length refused without closing the collective.
//   B  deadline: rank 1 posts nothing; rank 0's all_reduce must fail with
//      errc::collective_timeout naming itself within its 2 s deadline plus
//      slack, its communicator aborted.
// Exit: 0 all passed, 1 a check failed, 77 fewer than 2 GPUs (ctest: skip).
// NCCL_NVLS_ENABLE=0 is set before any NCCL call unless already set.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <cuda_runtime_api.h>

#include "runtime/error.hpp"
#include "runtime/nccl/nccl_collective.hpp"

namespace tn = tandem::nccl;
using namespace std::chrono_literals;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok)
    ++failures;
}

struct rank {
  tn::steady_clock_source clock;
  std::unique_ptr<tn::nccl_collective> comm;
  float* dev = nullptr;
  std::vector<float> host;
};

// Runs body(r) on two threads, each with its GPU selected.
template <class Body>
void both(Body body) {
  std::thread t0([&] { cudaSetDevice(0); body(0); });
  std::thread t1([&] { cudaSetDevice(1); body(1); });
  t0.join();
  t1.join();
}

// rank r's input: x[i] = (r + 1) * (i + 1) / 8 (exact in float32 sums).
float input(int r, size_t i) { return float(r + 1) * float(i + 1) / 8.f; }

void run_op(rank& k, int r, tn::reduce_op op, size_t n, caf::error& err) {
  k.host.assign(n, 0.f);
  for (size_t i = 0; i < n; ++i)
    k.host[i] = op == tn::reduce_op::all_gather && i / (n / 2) != size_t(r) ? -1.f : input(r, i);
  cudaMemcpy(k.dev, k.host.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  err = k.comm->run(op, {k.dev, n}, k.clock.now() + 30s);
  cudaMemcpy(k.host.data(), k.dev, n * sizeof(float), cudaMemcpyDeviceToHost);
}

void phase_a(std::vector<rank>& ranks) {
  const size_t n = 2 * 1000003; // odd halves: not a multiple of anything nice
  for (auto op : {tn::reduce_op::all_reduce, tn::reduce_op::reduce_scatter,
                  tn::reduce_op::all_gather}) {
    caf::error errs[2];
    both([&](int r) { run_op(ranks[r], r, op, n, errs[r]); });
    for (int r = 0; r < 2; ++r) {
      check(!errs[r], std::string("A: ") + to_string(op) + " on rank " + std::to_string(r)
                        + (errs[r] ? ": " + tandem::describe(errs[r]) : ""));
      size_t bad = 0;
      for (size_t i = 0; i < n; ++i) {
        const bool mine = i / (n / 2) == size_t(r);
        float want = 0;
        if (op == tn::reduce_op::all_gather)
          want = input(int(i / (n / 2)), i);
        else if (op == tn::reduce_op::all_reduce || mine)
          want = input(0, i) + input(1, i);
        else
          continue; // reduce_scatter: the other shard is unspecified
        bad += ranks[r].host[i] != want;
      }
      check(bad == 0, std::string("A: ") + to_string(op) + " values on rank " + std::to_string(r)
                        + " (" + std::to_string(bad) + " wrong)");
    }
  }
  auto t = ranks[0].comm->post(tn::reduce_op::reduce_scatter, {ranks[0].dev, 3},
                               ranks[0].clock.now() + 1s);
  check(!t && tandem::is(t.error(), tandem::errc::invalid_argument) && ranks[0].comm->ready(),
        "A: an odd reduce_scatter is refused, the collective stays ready");
}

void phase_b(std::vector<rank>& ranks) {
  std::vector<float> one(1, 1.f);
  cudaSetDevice(0);
  const auto start = std::chrono::steady_clock::now();
  auto err = ranks[0].comm->all_reduce_sum({ranks[0].dev, 1}, ranks[0].clock.now() + 2s);
  const auto took = std::chrono::steady_clock::now() - start;
  check(tandem::is(err, tandem::errc::collective_timeout),
        "B: a silent peer is collective_timeout: " + tandem::describe(err));
  check(tandem::describe(err).find("rank 0/2") != std::string::npos, "B: the error names rank 0");
  check(took >= 2s && took < 8s, "B: within the deadline plus slack ("
                                   + std::to_string(std::chrono::duration<double>(took).count())
                                   + " s)");
  check(!ranks[0].comm->ready(), "B: rank 0's communicator is aborted");
  cudaSetDevice(1);
  ranks[1].comm->abort();
}

} // namespace

int main() {
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus < 2) {
    std::printf("nccl_reduce_gpu_test: %d GPU(s) visible, 2 needed: skipped\n", gpus);
    return 77;
  }
  std::vector<rank> ranks(2);
  for (int r = 0; r < 2; ++r)
    ranks[r].comm = std::make_unique<tn::nccl_collective>(ranks[r].clock, tn::nccl_options{r});
  auto id = ranks[0].comm->make_id();
  check(bool(id), "make_id");
  if (!id)
    return 1;
  caf::error init[2];
  both([&](int r) {
    init[r] = ranks[r].comm->init(r, 2, *id, ranks[r].clock.now() + 60s);
    cudaMalloc(&ranks[r].dev, 2 * 1000003 * sizeof(float));
  });
  check(!init[0] && !init[1], "init of both ranks");
  if (init[0] || init[1])
    return 1;
  phase_a(ranks);
  phase_b(ranks);
  for (int r = 0; r < 2; ++r) {
    cudaSetDevice(r);
    cudaFree(ranks[r].dev);
  }
  std::printf("nccl_reduce_gpu_test: %s\n", failures == 0 ? "passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
