// bench_learner_ranks.cpp: `tandem bench learner --ranks ... --zero ...`
// (see bench_learner_ranks.hpp).
#include "bench/bench_learner_ranks.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "bench/sample_stats.hpp"
#include "models/learner_core_memory.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/thread_group_collective.hpp"
#include "topology/plan.hpp"

#ifdef TANDEM_HAVE_NCCL
#include "runtime/nccl/nccl_collective.hpp"
#endif

namespace tandem {

namespace {

using clock_type = std::chrono::steady_clock;

struct cell {
  int ranks = 1;
  int zero = 0;
};

struct cell_samples {
  std::vector<double> step_s;   // one per round: mean of the timed steps
  std::vector<double> peak_mib; // one per round: the largest CUDA peak of a rank
  std::vector<double> kept_mib; // one per round: the most state a rank kept after its steps
};

bool on_cuda(const learner_bench_options& o) { return o.device.rfind("cuda", 0) == 0; }

// One communicator per cell and round: ranks as threads on one host.
caf::expected<std::vector<std::shared_ptr<nccl::reduce_collective>>>
make_collectives(const learner_bench_options& o, int n) {
  std::vector<std::shared_ptr<nccl::reduce_collective>> out;
  if (n == 1)
    return std::vector<std::shared_ptr<nccl::reduce_collective>>(1);
  if (!on_cuda(o)) {
    auto group = std::make_shared<nccl::thread_group>(n);
    for (int r = 0; r < n; ++r)
      out.push_back(nccl::thread_group::share(group, r));
    return out;
  }
#ifdef TANDEM_HAVE_NCCL
  static nccl::steady_clock_source clock; // stateless
  std::vector<std::shared_ptr<nccl::nccl_collective>> comms;
  for (int r = 0; r < n; ++r) {
    nccl::nccl_options opts{r};
    opts.after_legacy_stream = true; // ordered after LibTorch's stream: no host sync per bucket
    comms.push_back(std::make_shared<nccl::nccl_collective>(clock, opts));
  }
  auto id = comms[0]->make_id();
  if (!id)
    return id.error();
  std::vector<caf::error> errs(n);
  std::vector<std::thread> threads; // init is a rendezvous: every rank at once
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      errs[r] = comms[r]->init(r, n, *id, clock.now() + std::chrono::seconds(60));
    });
  for (auto& t : threads)
    t.join();
  for (int r = 0; r < n; ++r) {
    if (errs[r])
      return errs[r];
    out.push_back(comms[r]);
  }
  return out;
#else
  return make_error(errc::not_ready, "this build has no NCCL (TANDEM_WITH_NCCL)");
#endif
}

// Builds the cell's learners (in turn: the seeded init is a global draw),
// then trains warmup + steps on every rank at once; rank 0's clock times it.
caf::error run_cell(const learner_bench_options& o, const rank_scaling_options& ro,
                    const learner_settings& base, const std::vector<train_sequence>& batch,
                    const cell& c, cell_samples& out) {
  auto comms = make_collectives(o, c.ranks);
  if (!comms)
    return comms.error();
  std::vector<std::unique_ptr<learner_core>> learners;
  for (int r = 0; r < c.ranks; ++r) {
    auto s = base;
    s.ranks = c.ranks;
    s.rank = r;
    s.zero_stage = c.zero;
    s.grad_bucket_bytes = ro.grad_bucket_mb << 20;
    s.collective = (*comms)[static_cast<size_t>(r)];
    if (on_cuda(o))
      s.device = "cuda:" + std::to_string(r);
    auto l = learner_core::make(s);
    if (!l)
      return l.error();
    learners.push_back(std::move(*l));
    if (on_cuda(o))
      reset_cuda_peak(r);
  }
  const int threads_per_rank =
    o.threads > 0 ? std::max<int>(1, static_cast<int>(o.threads) / c.ranks)
                  : std::max<int>(1, static_cast<int>(std::thread::hardware_concurrency()) / c.ranks);
  std::vector<caf::error> errs(static_cast<size_t>(c.ranks));
  double timed = 0;
  std::vector<std::thread> threads;
  for (int r = 0; r < c.ranks; ++r)
    threads.emplace_back([&, r] {
      policy::set_threads(threads_per_rank); // OpenMP keeps the count per thread
      for (int64_t k = 0; k < o.warmup + o.steps; ++k) {
        const auto t0 = clock_type::now();
        auto st = learners[static_cast<size_t>(r)]->train(batch);
        if (!st) {
          errs[static_cast<size_t>(r)] = st.error();
          return;
        }
        if (r == 0 && k >= o.warmup)
          timed += std::chrono::duration<double>(clock_type::now() - t0).count();
      }
    });
  for (auto& t : threads)
    t.join();
  for (auto& e : errs)
    if (e)
      return e;
  out.step_s.push_back(timed / static_cast<double>(o.steps));
  double peak = 0;
  if (on_cuda(o))
    for (int r = 0; r < c.ranks; ++r)
      peak = std::max(peak, static_cast<double>(cuda_peak_bytes(r)) / (1 << 20));
  out.peak_mib.push_back(peak);
  double kept = 0; // measured: learner_core::training_state_bytes
  for (const auto& l : learners)
    kept = std::max(kept, static_cast<double>(l->training_state_bytes()) / (1 << 20));
  out.kept_mib.push_back(kept);
  return {};
}

// The cells to run, with a line for each one skipped.
std::vector<cell> plan_cells(const learner_bench_options& o, const rank_scaling_options& ro) {
  const int gpus = on_cuda(o) ? cuda_device_count() : 0;
  std::vector<cell> cells;
  for (int n : ro.ranks)
    for (int z : ro.zero) {
      if (n == 1 && z > 0) {
        std::printf("ranks %d zero %d: skipped (ZeRO shards across ranks; needs ranks > 1)\n", n, z);
        continue;
      }
      if (on_cuda(o) && n > gpus) {
        std::printf("ranks %d zero %d: skipped (%d GPU(s) visible, one per rank needed)\n", n, z,
                    gpus);
        continue;
      }
      cells.push_back({n, z});
    }
  return cells;
}

void print_table(const learner_bench_options& o, const model_config& model,
                 const std::vector<cell>& cells, std::map<std::pair<int, int>, cell_samples>& got) {
  const double tokens = static_cast<double>(o.batch_seqs * (o.prompt_len + o.completion_len));
  const double params = static_cast<double>(parameter_count(model));
  auto tokens_per_s = [tokens](const cell_samples& s) {
    std::vector<double> tps;
    for (double x : s.step_s)
      tps.push_back(tokens / x);
    return summarize(tps);
  };
  double base_tps = 0;
  if (auto it = got.find({1, 0}); it != got.end())
    base_tps = tokens_per_s(it->second).median;
  std::printf("%-6s %-5s %-30s %-26s %-10s %-16s %-16s %s\n", "ranks", "zero",
              "tokens/s median [min..max]", "s/step median [min..max]", "efficiency",
              "state MiB/rank", "kept MiB/rank", "CUDA peak MiB/rank");
  for (const auto& c : cells) {
    auto& s = got[{c.ranks, c.zero}];
    const auto t = tokens_per_s(s);
    char eff[32] = "-";
    if (base_tps > 0)
      std::snprintf(eff, sizeof eff, "%.3f", t.median / (base_tps * c.ranks));
    char peak[48] = "-";
    if (on_cuda(o))
      std::snprintf(peak, sizeof peak, "%s", format_spread(summarize(s.peak_mib), 0).c_str());
    const double kept =
      s.kept_mib.empty() ? 0 : *std::max_element(s.kept_mib.begin(), s.kept_mib.end());
    std::printf("%-6d %-5d %-30s %-26s %-10s %-16.1f %-16.1f %s\n", c.ranks, c.zero,
                format_spread(t, 1).c_str(), format_spread(summarize(s.step_s), 3).c_str(), eff,
                state_bytes_per_param(c.ranks, c.zero) * params / (1 << 20), kept, peak);
  }
  std::printf("efficiency: tokens/s / (ranks x tokens/s of ranks 1 zero 0); state MiB/rank: "
              "weights, .grad (views into the flat gradient), weight shard and AdamW moments "
              "by docs/data-parallel.md's table, before activations; kept MiB/rank: the same "
              "measured (distinct tensor storages a rank keeps after its steps; no reference "
              "model counted)\n");
}

} // namespace

caf::expected<std::vector<int>> parse_int_list(const std::string& text, const std::string& flag,
                                               int lo, int hi) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || end == nullptr || *end != '\0' || v < lo || v > hi)
      return make_error(errc::invalid_argument, flag + " '" + text + "': expected a list like "
                                                  + std::to_string(lo) + ",... of integers in ["
                                                  + std::to_string(lo) + ", "
                                                  + std::to_string(hi) + "]");
    out.push_back(static_cast<int>(v));
  }
  if (out.empty())
    return make_error(errc::invalid_argument, flag + " is empty");
  return out;
}

int run_rank_scaling(const learner_bench_options& o, const rank_scaling_options& ro,
                     const learner_settings& base, const std::vector<train_sequence>& batch) {
  const auto cells = plan_cells(o, ro);
  std::map<std::pair<int, int>, cell_samples> got;
  for (int64_t round = 0; round < ro.repeats; ++round)
    for (const auto& c : cells) {
      if (auto err = run_cell(o, ro, base, batch, c, got[{c.ranks, c.zero}])) {
        std::fprintf(stderr, "bench learner: ranks %d zero %d: %s\n", c.ranks, c.zero,
                     describe(err).c_str());
        return is(err, errc::invalid_argument) ? 2 : 1;
      }
    }
  print_table(o, base.model, cells, got);
  return 0;
}

} // namespace tandem
