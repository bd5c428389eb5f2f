// head.cpp: spawning the head's actors in dependency order.
#include "wiring/head.hpp"

#include <caf/all.hpp>

#include "actors/reward.hpp"
#include "wiring/reward_plugins.hpp"
#include "runtime/error.hpp"
#include "runtime/messages.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {

std::vector<caf::actor> head_graph::all() const {
  std::vector<caf::actor> out{controller, learner, broadcaster};
  if (evaluator)
    out.push_back(evaluator);
  out.insert(out.end(), samplers.begin(), samplers.end());
  out.insert(out.end(), rewards.begin(), rewards.end());
  return out;
}

namespace {

caf::actor spawn_learner(caf::actor_system& sys, const head_settings& s, const head_parts& p,
                         const caf::actor& broadcaster) {
  weight_routes routes{broadcaster, p.weights_mirror};
  if (s.detached)
    return sys.spawn<caf::detached>(learner_actor, s.grpo, p.trainer, routes, p.nccl);
  return sys.spawn(learner_actor, s.grpo, p.trainer, routes, p.nccl);
}

controller_deps deps_of(const head_parts& p, const head_graph& g) {
  controller_deps d;
  d.problems = p.problems;
  d.metrics = p.metrics;
  d.progress = p.progress;
  d.learner = p.learner_front ? p.learner_front(g.learner) : g.learner;
  d.rewards = g.rewards;
  d.observer = p.observer;
  d.scaler = p.scaler;
  d.on_consumed = p.on_consumed;
  d.tokenizer = p.tokenizer;
  d.recorder = p.recorder;
  d.resume = p.resume;
  d.monitor = p.monitor;
  return d;
}

} // namespace

caf::expected<head_graph> spawn_head(caf::actor_system& sys, const head_settings& s,
                                     const head_parts& p) {
  if (!p.problems || !p.trainer)
    return make_error(errc::invalid_argument, "spawn_head: problems and trainer are required");
  if (!s.samplers.empty() && !p.spawn_sampler)
    return make_error(errc::invalid_argument, "spawn_head: samplers placed but no spawner");
  head_graph g;
  g.broadcaster = sys.spawn(weight_broadcaster_actor, s.broadcaster);
  g.learner = spawn_learner(sys, s, p, g.broadcaster);
  if (p.spawn_evaluator) {
    auto e = p.spawn_evaluator(g.learner);
    if (!e) {
      for (auto& h : g.all())
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
      return e.error();
    }
    g.evaluator = *e;
  }
  auto tok = p.tokenizer ? p.tokenizer
                         : std::shared_ptr<const text_tokenizer>{std::make_shared<char_tokenizer>()};
  g.rewards = p.rewards;
  for (int32_t i = 0; i < s.rewards; ++i) {
    auto r = spawn_reward(sys, s.reward, s.reward_plugin, tok, "reward-" + std::to_string(i),
                          s.detached);
    if (!r) {
      for (auto& h : g.all())
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
      return r.error();
    }
    g.rewards.push_back(*r);
  }
  g.controller = sys.spawn(controller_actor, s.controller, deps_of(p, g));
  for (auto& inst : s.samplers) {
    auto a = p.spawn_sampler(inst);
    if (!a) {
      for (auto& h : g.all())
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
      return a.error();
    }
    g.samplers.push_back(*a);
    caf::anon_send(g.controller, sampler_hello{inst.name, *a, s.sampler_max_groups});
  }
  return g;
}

} // namespace tandem
