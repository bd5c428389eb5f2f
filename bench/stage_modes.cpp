// stage_modes.cpp: generation alone and training alone (pipeline_modes.hpp).
#include <algorithm>
#include <chrono>
#include <memory>

#include <caf/all.hpp>

#include "actors/learner.hpp"
#include "actors/reward.hpp"
#include "actors/weight_broadcaster.hpp"
#include "wiring/actor_system.hpp"
#include "wiring/components.hpp"
#include "bench/pipeline_modes.hpp"
#include "bench/timing.hpp"
#include "bench/request_replayer.hpp"
#include "runtime/error.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem {

namespace {

using clock_type = bench_clock;

void stop_all(const std::vector<caf::actor>& actors) {
  for (auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

/// The samplers of a generation-alone run, holding version 0.
caf::expected<std::vector<caf::actor>> spawn_loaded_samplers(caf::actor_system& sys,
                                                             caf::scoped_actor& self,
                                                             const run_config& cfg,
                                                             const run_plan& plan,
                                                             const std::vector<char>& weights) {
  std::vector<caf::actor> samplers;
  for (auto& inst : plan.head().samplers) {
    auto s = spawn_sampler(sys, cfg, plan, inst);
    if (!s) {
      stop_all(samplers);
      return s.error();
    }
    samplers.push_back(*s);
  }
  auto chunks = split_weights(0, weights);
  for (auto& s : samplers)
    for (auto& c : chunks)
      self->send(s, c);
  size_t acked = 0;
  bool late = false;
  while (acked < samplers.size() && !late)
    self->receive([&](weights_ack_atom, int64_t) { ++acked; },
                  caf::after(seconds(cfg.timeouts.generate_s)) >> [&] { late = true; });
  if (late) {
    stop_all(samplers);
    return make_error(errc::timeout, "generation alone: samplers did not load version 0");
  }
  return samplers;
}

/// Replays `requests` on `samplers` and waits for all answers.
caf::expected<replay_outcome> replay(caf::actor_system& sys, caf::scoped_actor& self,
                                     const std::vector<caf::actor>& samplers,
                                     std::vector<generate_request> requests,
                                     const run_config& cfg) {
  auto out = std::make_shared<replay_outcome>();
  auto limit = seconds(cfg.timeouts.generate_s * static_cast<double>(requests.size() + 1));
  sys.spawn(request_replayer_actor, samplers, std::move(requests),
            seconds(cfg.timeouts.generate_s), out, caf::actor_cast<caf::actor>(self));
  bool done = false;
  self->receive([&](replay_done_atom) { done = true; }, caf::after(limit) >> [] {});
  if (!done)
    return make_error(errc::timeout, "generation alone: replay deadline passed");
  if (!out->error.empty())
    return make_error(errc::process_failure, "generation alone: " + out->error);
  return std::move(*out);
}

/// Scores every group of `results` with the run's reward, in group order.
caf::error score_all(const run_config& cfg, const std::vector<generate_result>& results,
                     std::vector<scored_group>* scored) {
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  for (auto& r : results)
    for (auto& g : r.groups) {
      auto s = score_group(g, **tok, cfg.reward.weights);
      if (!s)
        return s.error();
      scored->push_back(std::move(*s));
    }
  std::sort(scored->begin(), scored->end(), [](const scored_group& a, const scored_group& b) {
    return a.rollout.group_id < b.rollout.group_id;
  });
  return caf::none;
}

} // namespace

caf::expected<mode_result> run_generation(const run_config& cfg, const run_plan& plan,
                                          const pipeline_workload& w,
                                          std::vector<scored_group>* scored) {
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor self{sys};
  auto samplers = spawn_loaded_samplers(sys, self, cfg, plan, w.weights);
  if (!samplers)
    return samplers.error();
  auto split = w.requests.begin() + static_cast<std::ptrdiff_t>(w.warmup_requests);
  auto warm = replay(sys, self, *samplers, {w.requests.begin(), split}, cfg);
  auto timed = warm ? replay(sys, self, *samplers, {split, w.requests.end()}, cfg) : warm;
  stop_all(*samplers);
  if (!timed)
    return timed.error();
  mode_result m{0, 0, -1};
  int64_t timed_groups = 0;
  for (auto& r : timed->results)
    timed_groups += static_cast<int64_t>(r.groups.size());
  for (auto* o : {&*warm, &*timed})
    for (auto& r : o->results)
      m.generated_tokens += r.tokens;
  m.samples_per_s = static_cast<double>(timed_groups) * cfg.run.group_size / timed->seconds;
  if (auto err = score_all(cfg, warm->results, scored))
    return err;
  if (auto err = score_all(cfg, timed->results, scored))
    return err;
  return m;
}

caf::expected<mode_result> run_training(const run_config& cfg, const run_plan& plan,
                                        const std::vector<scored_group>& scored,
                                        int32_t warmup_steps) {
  auto trainer = make_trainer(cfg, plan.head().learner);
  if (!trainer)
    return trainer.error();
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor self{sys};
  broadcaster_settings bs;
  bs.ack_timeout = seconds(cfg.timeouts.generate_s);
  auto broadcaster = sys.spawn(weight_broadcaster_actor, bs);
  auto learner = sys.spawn<caf::detached>(learner_actor, cfg.learner.grpo, *trainer,
                                          weight_routes{broadcaster}, learner_nccl{});
  auto b = static_cast<size_t>(cfg.run.groups_per_step);
  mode_result m{0, -1, 0};
  int64_t version = 0, timed_steps = 0;
  caf::error err;
  clock_type::time_point t0;
  for (size_t k = 0; (k + 1) * b <= scored.size() && !err; ++k) {
    if (k == static_cast<size_t>(warmup_steps))
      t0 = clock_type::now();
    train_batch batch{{scored.begin() + k * b, scored.begin() + (k + 1) * b}, version};
    self->request(learner, seconds(cfg.timeouts.train_s), std::move(batch))
      .receive(
        [&](train_report& rep) {
          version = rep.steps.empty() ? version : rep.steps.back().version;
          for (auto& s : rep.steps)
            m.trained_tokens += s.tokens;
        },
        [&](caf::error& e) { err = e; });
    timed_steps += k >= static_cast<size_t>(warmup_steps) ? 1 : 0;
  }
  auto secs = since(t0);
  stop_all({learner, broadcaster});
  if (err)
    return err;
  if (timed_steps == 0)
    return make_error(errc::invalid_argument, "training alone: no step after the warm-up");
  m.samples_per_s = static_cast<double>(timed_steps * b) * cfg.run.group_size / secs;
  return m;
}

} // namespace tandem
