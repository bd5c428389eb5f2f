// bench_command.cpp: `tandem bench pipeline CONFIG` — generation alone,
// training alone, the synchronous and the asynchronous pipeline, measured one
// after the other in one process, printed as samples/s and ratios.
//
// Thread budget: each sampler and the learner own one OS thread with
// `threads` intra-op threads each, as they would own their GPUs; the bench
// runs `--samplers N` samplers (default 1) so that on a 2-core machine
// generation and training each have one core.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include <caf/all.hpp>

#include "actors/backends.hpp"
#include "actors/internal/batch_builder.hpp"
#include "actors/reward.hpp"
#include "actors/sampler.hpp"
#include "bench/bench_broadcast.hpp"
#include "bench/bench_control.hpp"
#include "bench/bench_learner.hpp"
#include "bench/bench_decode.hpp"
#include "bench/bench_weights.hpp"
#include "app/commands.hpp"
#include "app/pipeline.hpp"
#include "runtime/error.hpp"
#include "topology/config_loader.hpp"

namespace tandem {

namespace {

using clock_type = std::chrono::steady_clock;

// Steps (batches) left out of every rate: the first ones pay for lazy
// allocations and thread start-up, which a long run amortises.
constexpr int32_t warmup_steps = 5;

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// One batch of groups_per_step groups, as the controller would dispatch it.
generate_request make_request(const run_config& cfg, const text_tokenizer& tok,
                              problem_source& src, uint64_t first_id) {
  generate_request req;
  for (int32_t i = 0; i < cfg.run.groups_per_step; ++i) {
    auto p = src.next();
    group_task t;
    t.group_id = first_id + i;
    t.problem_id = p.id;
    t.prompt = *tok.prompt_ids(p.question);
    t.answer = p.answer;
    t.group_size = cfg.run.group_size;
    t.seed = first_id * 7919 + i;
    req.groups.push_back(std::move(t));
  }
  return req;
}

caf::expected<generate_result> generate(generation_backend& be, const generate_request& req) {
  if (auto err = be.start(expand_prompts(req), req.groups.front().seed))
    return err;
  while (!be.done())
    if (auto err = be.step(0))
      return err;
  return fold_results(req, be.take_results(), "bench");
}

struct stage_result {
  double samples_per_s = 0;
  std::string error;
};

/// Generation alone: every sampler decodes `steps` batches on its own thread.
stage_result bench_generation(const run_config& cfg, const std::vector<char>& weights,
                              int32_t samplers, int32_t steps,
                              std::vector<scored_group>* scored_out) {
  std::vector<std::thread> threads;
  std::vector<std::vector<scored_group>> outs(samplers);
  std::vector<std::string> errors(samplers);
  auto tok = task_tokenizer(cfg);
  auto sampling = sampling_with_stops(cfg);
  if (!tok || !sampling)
    return {0, describe(!tok ? tok.error() : sampling.error())};
  const auto& params = *sampling;
  std::vector<clock_type::time_point> warm(samplers);
  for (int32_t s = 0; s < samplers; ++s)
    threads.emplace_back([&, s] {
      auto be = make_torch_generation_backend(policy_model(cfg), params, cfg.sampler.threads,
                                              sampler_device(cfg));
      auto src = make_problem_source(cfg);
      if (!be || !src || (*be)->load_weights(weights)) {
        errors[s] = "cannot set up a sampler";
        return;
      }
      for (int32_t k = 0; k < steps + warmup_steps; ++k) {
        if (k == warmup_steps)
          warm[s] = clock_type::now();
        auto r = generate(**be, make_request(cfg, **tok, **src, uint64_t(s) * 100000 + k * 1000));
        if (!r) {
          errors[s] = describe(r.error());
          return;
        }
        for (auto& g : r->groups)
          outs[s].push_back(*score_group(g, **tok, cfg.reward.weights));
      }
    });
  for (auto& t : threads)
    t.join();
  auto secs = since(*std::min_element(warm.begin(), warm.end()));
  for (auto& e : errors)
    if (!e.empty())
      return {0, e};
  double samples = double(samplers) * steps * cfg.run.groups_per_step * cfg.run.group_size;
  for (auto& o : outs)
    scored_out->insert(scored_out->end(), o.begin(), o.end());
  return {samples / secs, {}};
}

/// Training alone: the learner trains on pre-generated batches.
stage_result bench_training(const run_config& cfg, const std::vector<scored_group>& data,
                            int32_t steps) {
  auto be = make_trainer(cfg);
  if (!be)
    return {0, describe(be.error())};
  auto b = static_cast<size_t>(cfg.run.groups_per_step);
  double secs = 0;
  for (int32_t k = 0; k < steps + warmup_steps; ++k) {
    auto first = (k * b) % std::max<size_t>(1, data.size() - b + 1);
    std::vector<scored_group> batch(data.begin() + first, data.begin() + first + b);
    auto built = build_train_batch(batch, cfg.learner.grpo);
    if (!built)
      return {0, describe(built.error())};
    auto t0 = clock_type::now();
    auto r = (*be)->train(built->sequences);
    if (k >= warmup_steps)
      secs += since(t0);
    if (!r)
      return {0, describe(r.error())};
  }
  return {double(steps) * b * cfg.run.group_size / secs, {}};
}

/// "elapsed_s" of one metrics record (seconds since the run started).
double elapsed_at(const std::string& json_line) {
  auto pos = json_line.find("\"elapsed_s\":");
  return pos == std::string::npos ? 0.0 : std::stod(json_line.substr(pos + 12));
}

/// The real actor pipeline for `steps` steps with the given staleness bound.
stage_result bench_pipeline(run_config cfg, int32_t eta, int32_t steps) {
  cfg.run.max_staleness = eta;
  cfg.run.steps = steps + warmup_steps;
  cfg.run.target_reward = 0;
  auto metrics = std::make_shared<memory_sink>();
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor self{sys};
  pipeline_options opts;
  opts.observer = self;
  opts.metrics = metrics;
  auto p = spawn_pipeline(sys, cfg, opts);
  if (!p)
    return {0, describe(p.error())};
  stage_result out;
  auto limit = std::chrono::duration<double>(steps * (cfg.timeouts.generate_s + cfg.timeouts.train_s));
  self->receive(
    [&](finished_atom, bool ok, const std::string& summary) {
      double samples = double(steps) * cfg.run.groups_per_step * cfg.run.group_size;
      auto secs = elapsed_at(metrics->lines.back()) - elapsed_at(metrics->lines[warmup_steps - 1]);
      out = ok ? stage_result{samples / secs, {}} : stage_result{0, summary};
    },
    caf::after(std::chrono::duration_cast<caf::timespan>(limit)) >> [&] {
      out = {0, "pipeline deadline passed"};
    });
  for (auto& h : p->all())
    self->send_exit(h, caf::exit_reason::user_shutdown);
  return out;
}

void print_row(const char* name, const stage_result& r) {
  if (r.error.empty())
    std::printf("%-28s %10.1f samples/s\n", name, r.samples_per_s);
  else
    std::printf("%-28s failed: %s\n", name, r.error.c_str());
  std::fflush(stdout);
}

int bench_pipeline_command(const args& a) {
  if (a.empty()) {
    std::cerr << "usage: tandem bench pipeline CONFIG [--steps N] [--samplers N] [--weights caf|nccl]\n";
    return 2;
  }
  auto loaded = load_run_config_or_error(a[0]);
  if (!loaded) {
    std::cerr << describe(loaded.error()) << "\n";
    return 2;
  }
  auto cfg = *loaded;
  auto steps = std::stoi(flag_value(a, "--steps", "30"));
  auto weights = flag_value(a, "--weights", "caf");
  if (weights != "caf" && weights != "nccl") {
    std::cerr << "--weights: caf or nccl (got '" << weights << "')\n";
    return 2;
  }
  cfg.sampler.count = std::stoi(flag_value(a, "--samplers", "1"));
  cfg.sampler.processes = 0;
  cfg.reward.processes = 0;
  // A fixed workload for all four measurements: a policy that learns shortens
  // its completions within a few dozen steps, which would make the pipeline
  // runs look faster than the stages measured alone. With a frozen policy every stage
  // still does all of its work (forward, backward, optimizer, broadcast).
  cfg.learner.optimizer.lr = 1e-12; // > 0 is required; this small changes nothing
  hf_load_options hf_opts;
  hf_opts.max_seq_len = cfg.model.max_seq_len;
  auto init = cfg.hf_path.empty() ? policy::make(policy_model(cfg), cfg.run.seed)
                                  : policy::load_hf(cfg.hf_path, hf_opts);
  if (!init) {
    std::cerr << describe(init.error()) << "\n";
    return 1;
  }
  std::printf("bench pipeline: %s, %d steps x %d groups x %d completions, %d sampler(s) x %d "
              "thread(s), learner %d thread(s), %u hardware threads; policy frozen (lr 1e-12, fixed workload)\n",
              a[0].c_str(), steps, cfg.run.groups_per_step, cfg.run.group_size,
              cfg.sampler.count, cfg.sampler.threads, cfg.learner.threads,
              std::thread::hardware_concurrency());
  std::vector<scored_group> data;
  auto gen = bench_generation(cfg, (*init)->export_weights(), cfg.sampler.count,
                              (steps + cfg.sampler.count - 1) / cfg.sampler.count, &data);
  print_row("generation alone", gen);
  auto train = data.empty() ? stage_result{0, "no data"} : bench_training(cfg, data, steps);
  print_row("training alone", train);
  auto sync = bench_pipeline(cfg, 0, steps);
  print_row("sync pipeline (eta=0)", sync);
  auto eta = std::max(1, cfg.run.max_staleness);
  auto async = bench_pipeline(cfg, eta, steps);
  std::string label = "async pipeline (eta=" + std::to_string(eta) + ")";
  print_row(label.c_str(), async);
  // --weights nccl: the same async run again with weights over NCCL, side
  // by side with the byte path above (both ran in this process).
  stage_result async_nccl{0, {}};
  if (weights == "nccl") {
    auto nc = cfg;
    nc.weights_transport = "nccl";
    async_nccl = bench_pipeline(nc, eta, steps);
    label = "async pipeline, NCCL weights";
    print_row(label.c_str(), async_nccl);
  }
  if (!gen.error.empty() || !train.error.empty() || !sync.error.empty() || !async.error.empty()
      || !async_nccl.error.empty())
    return 1;
  auto bound = std::min(gen.samples_per_s, train.samples_per_s);
  std::printf("async/sync speedup           %10.2f\n", async.samples_per_s / sync.samples_per_s);
  std::printf("overlap_efficiency           %10.2f\n", async.samples_per_s / bound);
  if (weights == "nccl") {
    std::printf("overlap_efficiency (NCCL)    %10.2f\n", async_nccl.samples_per_s / bound);
    std::printf("NCCL/bytes async speedup     %10.2f\n",
                async_nccl.samples_per_s / async.samples_per_s);
  }
  return 0;
}

} // namespace

int bench_command(const args& a) {
  if (!a.empty() && a[0] == "control")
    return bench_control_command(args(a.begin() + 1, a.end()));
  if (!a.empty() && a[0] == "learner")
    return bench_learner_command(args(a.begin() + 1, a.end()));
  if (!a.empty() && a[0] == "weights")
    return bench_weights_command(args(a.begin() + 1, a.end()));
  if (!a.empty() && a[0] == "decode")
    return bench_decode_command(args(a.begin() + 1, a.end()));
  if (!a.empty() && a[0] == "broadcast")
    return bench_broadcast_command(args(a.begin() + 1, a.end()));
  if (a.empty() || a[0] != "pipeline") {
    std::cerr << "usage: tandem bench pipeline CONFIG [--steps N] [--samplers N] [--weights caf|nccl]\n"
                 "       tandem bench broadcast [--bytes 8G] [--gpus 2] [--bucket-mb 512]"
                 " [--versions 5] [--depth 8]\n";
    return 2;
  }
  return bench_pipeline_command(args(a.begin() + 1, a.end()));
}

} // namespace tandem
