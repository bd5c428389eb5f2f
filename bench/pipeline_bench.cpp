// pipeline_bench.cpp: `tandem bench pipeline` (method: pipeline_bench.hpp):
// flags, the configs of the modes, the rounds and the report.
#include "bench/pipeline_bench.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <thread>

#include "bench/pipeline_figures.hpp"
#include "bench/pipeline_modes.hpp"
#include "topology/run_loader.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "topology/config_loader.hpp"

namespace tandem {

namespace {

struct bench_settings {
  std::string path;
  int32_t rounds = 0, steps = 0, warmup = 0, samplers = 0;
  int32_t eta = 1; // the async pipeline's
  bool nccl = false;
  bool console = false; // also the async pipeline with the console on
};

command_line pipeline_flags() {
  command_line cl("tandem bench pipeline CONFIG [flags]",
                  "generation alone, training alone, the sync and the async pipeline on one "
                  "fixed workload, interleaved over rounds; median and range of every figure");
  cl.positional("CONFIG", "a run config (e.g. configs/basic/run.yaml)")
    .integer("--rounds", "rounds of (generation, training, sync, async)", 15, 1, 1000)
    .integer("--steps", "timed steps of every mode in every round", 30, 1, 100000)
    .integer("--warmup", "untimed steps before them", 5, 0, 100000)
    .integer("--samplers", "samplers, one OS thread each", 1, 1, 1024)
    .text("--weights", "caf|nccl", "nccl: also the async pipeline with NCCL weights (GPU "
                                   "builds)", "caf")
    .toggle("--console", "also the async pipeline with the monitoring console on and a page "
                         "open on it (its cost: the ratio to the async pipeline)");
  return cl;
}

/// The config and plan of one mode, through topology's overrides and
/// one-process plan (the bench writes no run_config itself). A fixed
/// workload: one process, the run stops after warmup + steps steps, and the
/// policy is frozen (a learning rate > 0, as required, that changes no
/// weight), since a policy that learns shortens its completions within a few
/// dozen steps.
struct mode_setup {
  run_config cfg;
  run_plan plan;
};

mode_setup mode_config(const run_config& loaded, const bench_settings& s, int32_t eta,
                       bool nccl) {
  run_overrides o;
  o.learning_rate = 1e-12;
  o.steps = s.warmup + s.steps;
  o.target_reward = 0;
  o.max_staleness = eta;
  auto cfg = with_overrides(loaded, o, "bench pipeline").config;
  auto plan = single_process_plan(cfg, s.samplers, nccl ? "nccl" : "caf");
  return {std::move(cfg), std::move(plan)};
}

/// Compares a mode's token counts with the record pass's; "" when equal.
std::string workload_mismatch(const char* what, const mode_result& m, const pipeline_workload& w) {
  std::string out;
  if (m.generated_tokens >= 0 && m.generated_tokens != w.generated_tokens)
    out += std::string(what) + " generated " + std::to_string(m.generated_tokens) + " tokens, ";
  if (m.trained_tokens >= 0 && m.trained_tokens != w.trained_tokens)
    out += std::string(what) + " trained " + std::to_string(m.trained_tokens) + " tokens, ";
  return out;
}

enum class mode { generation, training, sync, async, async_nccl, async_console };

const char* name_of(mode m) {
  const char* names[] = {"generation", "training", "sync", "async", "async NCCL",
                         "async with the console"};
  return names[static_cast<int>(m)];
}

/// The modes of round `k` (0-based): generation, training, sync, async
/// (, async NCCL), reversed in every second round so that a steady drift of
/// the machine's speed during the bench favours no mode.
std::vector<mode> order_of(int32_t k, bool nccl, bool console) {
  std::vector<mode> out{mode::generation, mode::training, mode::sync, mode::async};
  if (nccl)
    out.push_back(mode::async_nccl);
  if (console)
    out.push_back(mode::async_console);
  if (k % 2 == 1)
    std::reverse(out.begin(), out.end());
  return out;
}

/// The inputs every round shares.
struct round_inputs {
  const run_config& loaded;
  const bench_settings& s;
  const pipeline_workload& w;
  const std::vector<scored_group>& scored; // training alone's batches
};

caf::expected<mode_result> run_mode(mode m, const round_inputs& in) {
  auto sync = mode_config(in.loaded, in.s, 0, false);
  std::vector<scored_group> unused;
  switch (m) {
    case mode::generation:
      return run_generation(sync.cfg, sync.plan, in.w, &unused);
    case mode::training:
      return run_training(sync.cfg, sync.plan, in.scored, in.s.warmup);
    case mode::sync:
      return run_pipeline(sync.cfg, sync.plan, in.s.warmup);
    case mode::async: {
      auto async = mode_config(in.loaded, in.s, in.s.eta, false);
      return run_pipeline(async.cfg, async.plan, in.s.warmup);
    }
    case mode::async_console: {
      auto async = mode_config(in.loaded, in.s, in.s.eta, false);
      return run_pipeline(async.cfg, async.plan, in.s.warmup, true);
    }
    default: {
      auto nccl = mode_config(in.loaded, in.s, in.s.eta, true);
      return run_pipeline(nccl.cfg, nccl.plan, in.s.warmup);
    }
  }
}

/// Round `k`: every mode once. `mismatches` collects workload differences.
caf::expected<round_rates> run_round(int32_t k, const round_inputs& in, std::string* mismatches) {
  round_rates r;
  double* rate_of[] = {&r.gen, &r.train, &r.sync, &r.async, &r.async_nccl, &r.async_console};
  for (auto m : order_of(k, in.s.nccl, in.s.console)) {
    auto res = run_mode(m, in);
    if (!res)
      return make_error(errc::process_failure,
                        std::string(name_of(m)) + ": " + describe(res.error()));
    *rate_of[static_cast<int>(m)] = res->samples_per_s;
    *mismatches += workload_mismatch(name_of(m), *res, in.w);
  }
  return r;
}

void print_header(const bench_settings& s, const mode_setup& m, const pipeline_workload& w) {
  const auto& cfg = m.cfg;
  std::printf("bench pipeline: %s; %d rounds of generation alone, training alone, sync (eta=0), "
              "async (eta=%d)%s, in reverse order every second round; every mode %d warm-up + "
              "%d timed steps x %d groups x %d "
              "completions; %d sampler(s) x %d thread(s), learner %d thread(s), %u hardware "
              "threads; policy frozen (lr 1e-12)\n",
              s.path.c_str(), s.rounds, s.eta, s.nccl ? ", async with NCCL weights" : "",
              s.warmup, s.steps, cfg.run.groups_per_step, cfg.run.group_size, s.samplers,
              m.plan.head().samplers.at(0).threads, m.plan.head().learner.threads,
              std::thread::hardware_concurrency());
  std::printf("workload (recorded from the controller, untimed): %zu requests of <= %d groups, "
              "%lld groups, %lld completion tokens generated, %lld trained; every mode is "
              "checked against these counts\n",
              w.requests.size(), cfg.sampler.groups_per_request, static_cast<long long>(w.groups),
              static_cast<long long>(w.generated_tokens), static_cast<long long>(w.trained_tokens));
  std::fflush(stdout);
}

caf::expected<bench_settings> settings_from(const command_line& cl, const run_config& loaded) {
  bench_settings s;
  s.path = cl.positionals().front();
  s.rounds = static_cast<int32_t>(cl.as_int("--rounds"));
  s.steps = static_cast<int32_t>(cl.as_int("--steps"));
  s.warmup = static_cast<int32_t>(cl.as_int("--warmup"));
  s.samplers = static_cast<int32_t>(cl.as_int("--samplers"));
  s.eta = std::max(1, loaded.run.max_staleness);
  auto weights = cl.value("--weights");
  if (weights != "caf" && weights != "nccl")
    return make_error(errc::invalid_argument, "--weights: caf or nccl (got '" + weights + "')");
  s.nccl = weights == "nccl";
  s.console = cl.on("--console");
  return s;
}

} // namespace

int pipeline_bench_command(const std::vector<std::string>& a) {
  auto cl = pipeline_flags();
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto loaded = load_run_config_or_error(cl.positionals().front());
  auto s = loaded ? settings_from(cl, *loaded) : caf::expected<bench_settings>(loaded.error());
  if (!s) {
    std::cerr << "bench pipeline: " << describe(s.error()) << "\n";
    return 2;
  }
  const auto sync = mode_config(*loaded, *s, 0, false);
  auto w = record_workload(sync.cfg, sync.plan, s->warmup);
  if (!w) {
    std::cerr << "bench pipeline: record pass: " << describe(w.error()) << "\n";
    return 1;
  }
  // Training alone's batches: the scored groups of one untimed generation
  // (every generation of the workload decodes the same completions).
  std::vector<scored_group> scored;
  if (auto g = run_generation(sync.cfg, sync.plan, *w, &scored); !g) {
    std::cerr << "bench pipeline: generation: " << describe(g.error()) << "\n";
    return 1;
  }
  print_header(*s, sync, *w);
  round_inputs in{*loaded, *s, *w, scored};
  std::vector<round_rates> rounds;
  std::string mismatches;
  for (int32_t k = 0; k < s->rounds; ++k) {
    auto r = run_round(k, in, &mismatches);
    if (!r) {
      std::cerr << "bench pipeline: round " << k + 1 << ": " << describe(r.error()) << "\n";
      return 1;
    }
    print_round(rounds.size(), *r);
    rounds.push_back(*r);
  }
  print_figures(summarize_rounds(rounds));
  if (mismatches.empty())
    std::printf("workload check: every mode of every round generated and trained exactly the "
                "recorded tokens\n");
  else
    std::printf("WARNING: the modes did not all process the recorded workload: %s\n",
                mismatches.c_str());
  return 0;
}

} // namespace tandem
