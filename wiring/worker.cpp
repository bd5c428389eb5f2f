// worker.cpp: a worker process's samplers, fetcher and reward actors.
#include "wiring/worker.hpp"

#include <caf/all.hpp>

#include "actors/reward.hpp"
#include "wiring/components.hpp"
#include "wiring/data_plane.hpp"

namespace tandem {

namespace {

caf::expected<std::shared_ptr<rollout_outbox>> outbox_for(const worker_plane& wp,
                                                          const std::string& name) {
  if (wp.info.rollouts.empty())
    return std::shared_ptr<rollout_outbox>{};
  return connect_outbox(wp.ctx, wp.info.rollouts, name);
}

/// The process's samplers and their hellos (sent once all are up).
caf::error spawn_samplers(caf::actor_system& sys, const run_config& cfg, const run_plan& plan,
                          const process_plan& proc, const worker_plane& wp,
                          std::vector<caf::actor>& mine, std::vector<sampler_hello>& hellos) {
  const bool fetched = !wp.info.weights.empty();
  for (auto& inst : proc.samplers) {
    auto outbox = outbox_for(wp, inst.name);
    if (!outbox)
      return outbox.error();
    auto s = spawn_sampler(sys, cfg, plan, inst, *outbox);
    if (!s)
      return s.error();
    mine.push_back(*s);
    hellos.push_back({inst.name, *s, cfg.sampler.groups_per_request, fetched});
  }
  if (fetched && !mine.empty()) {
    auto f = spawn_weights_fetcher(sys, wp.ctx, wp.info.weights, proc.name, mine);
    if (!f)
      return f.error();
  }
  return caf::none;
}

} // namespace

caf::expected<std::vector<caf::actor>> spawn_worker(caf::actor_system& sys,
                                                    const run_config& cfg,
                                                    const run_plan& plan,
                                                    const process_plan& proc,
                                                    const caf::actor& controller,
                                                    const worker_plane& wp) {
  std::vector<caf::actor> mine;
  std::vector<sampler_hello> hellos;
  if (auto err = spawn_samplers(sys, cfg, plan, proc, wp, mine, hellos))
    return err;
  for (auto& h : hellos)
    caf::anon_send(controller, std::move(h));
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  for (int32_t i = 0; i < proc.rewards; ++i) {
    mine.push_back(sys.spawn(tokenized_reward_actor, cfg.reward.weights, *tok));
    caf::anon_send(controller, join_atom::value, mine.back());
  }
  return mine;
}

} // namespace tandem
