// worker.cpp: a worker process's samplers, fetcher and reward actors.
#include "wiring/worker.hpp"

#include <caf/all.hpp>

#include "actors/learner_rank.hpp"
#include "actors/reward.hpp"
#include "runtime/transport/socket_collective.hpp"
#include "wiring/reward_plugins.hpp"
#include "actors/sampler_reset.hpp"
#include "wiring/components.hpp"
#include "wiring/data_plane.hpp"
#include "wiring/nccl_endpoints.hpp"

namespace tandem {

namespace {

caf::expected<std::shared_ptr<rollout_outbox>> outbox_for(const worker_plane& wp,
                                                          const std::string& name) {
  if (wp.info.rollouts.empty())
    return std::shared_ptr<rollout_outbox>{};
  return connect_outbox(wp.ctx, wp.info.rollouts, name);
}

/// The weights fetcher of `w`'s samplers when weights come over ZeroMQ.
caf::error spawn_fetcher(caf::actor_system& sys, const process_plan& proc,
                         const worker_plane& wp, worker_actors& w) {
  if (wp.info.weights.empty() || w.samplers.empty())
    return caf::none;
  auto f = spawn_weights_fetcher(sys, wp.ctx, wp.info.weights, proc.name, w.samplers);
  if (!f)
    return f.error();
  w.fetcher = *f;
  return caf::none;
}

/// The process's samplers and their hellos (sent once all are up).
caf::error spawn_samplers(caf::actor_system& sys, const run_config& cfg, const run_plan& plan,
                          const process_plan& proc, const worker_plane& wp, worker_actors& w) {
  const bool fetched = !wp.info.weights.empty();
  for (auto& inst : proc.samplers) {
    auto outbox = outbox_for(wp, inst.name);
    if (!outbox)
      return outbox.error();
    auto s = spawn_sampler(sys, cfg, plan, inst, *outbox);
    if (!s)
      return s.error();
    w.samplers.push_back(*s);
    w.hellos.push_back({inst.name, *s, cfg.sampler.groups_per_request, fetched});
  }
  return spawn_fetcher(sys, proc, wp, w);
}

/// The process's learner ranks, each rank r of learner.ranks on a
/// socket_collective that reaches rank 0 in the head. Built one after
/// another (a seeded init draws from LibTorch's global generator).
caf::error spawn_learner_ranks(caf::actor_system& sys, const run_config& cfg,
                               const process_plan& proc, const worker_plane& wp,
                               worker_actors& w) {
  if (proc.learner_ranks.empty())
    return caf::none;
  const bool gpus = !wp.info.learner_nccl_id.empty();
  if (!gpus && (wp.info.learner_ranks.empty() || !wp.ctx))
    return make_error(errc::invalid_config,
                      "worker " + proc.name + " hosts learner ranks but the head offers no "
                        "learner collective (a head of another config?)");
  for (size_t i = 0; i < proc.learner_ranks.size(); ++i) {
    const auto rank = proc.first_learner_rank + static_cast<int32_t>(i);
    auto ls = make_learner_settings(cfg);
    ls.rank = rank;
    if (gpus) { // one NCCL communicator, made on the first post
      auto coll = make_spread_gpu_collective(rank, cfg.learner.ranks,
                                             proc.learner_ranks[i].device,
                                             wp.info.learner_nccl_id);
      if (!coll)
        return coll.error();
      ls.collective = std::move(*coll);
    } else {
      transport::socket_collective_options o;
      o.rank = rank;
      o.ranks = cfg.learner.ranks;
      o.endpoint = wp.info.learner_ranks;
      o.group = wp.info.learner_group;
      auto coll = transport::socket_collective::make(wp.ctx, o);
      if (!coll)
        return coll.error();
      ls.collective = std::shared_ptr<nccl::reduce_collective>(std::move(*coll));
    }
    auto be = make_rank_trainer(cfg, ls, proc.learner_ranks[i]);
    if (!be)
      return be.error();
    w.learner_ranks.push_back(spawn_learner_rank(sys, *be));
    w.learner_rank_ids.push_back(rank);
  }
  return caf::none;
}

} // namespace

caf::expected<worker_plane> make_worker_plane(data_plane_info info, const std::string& secret) {
  worker_plane wp;
  wp.info = std::move(info);
  if (!wp.info.rollouts.empty() || !wp.info.weights.empty() || !wp.info.learner_ranks.empty()) {
    auto ctx = make_transport_context(secret);
    if (!ctx)
      return ctx.error();
    wp.ctx = *ctx;
  }
  return wp;
}

std::vector<caf::actor> worker_actors::all() const {
  auto out = samplers;
  out.insert(out.end(), rewards.begin(), rewards.end());
  out.insert(out.end(), learner_ranks.begin(), learner_ranks.end());
  return out;
}

caf::expected<worker_actors> spawn_worker(caf::actor_system& sys, const run_config& cfg,
                                          const run_plan& plan, const process_plan& proc,
                                          const caf::actor& controller, const worker_plane& wp) {
  worker_actors w;
  if (auto err = spawn_samplers(sys, cfg, plan, proc, wp, w))
    return err;
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  auto plugin = make_reward_scorer_factory(cfg.reward);
  for (int32_t i = 0; i < proc.rewards; ++i) {
    auto r = spawn_reward(sys, cfg.reward.weights, plugin, *tok,
                          proc.name + "-reward-" + std::to_string(i));
    if (!r)
      return r.error();
    w.rewards.push_back(*r);
  }
  if (auto err = spawn_learner_ranks(sys, cfg, proc, wp, w))
    return err;
  announce_worker(w, controller);
  return w;
}

void announce_worker(const worker_actors& w, const caf::actor& controller) {
  for (auto& h : w.hellos)
    caf::anon_send(controller, h);
  for (auto& r : w.rewards)
    caf::anon_send(controller, join_atom::value, r);
  for (size_t i = 0; i < w.learner_ranks.size(); ++i)
    caf::anon_send(controller, learner_rank_atom::value, w.learner_rank_ids[i],
                   w.learner_ranks[i]);
}

void reset_samplers(const worker_actors& w) {
  for (auto& s : w.samplers)
    caf::anon_send(s, sampler_reset{});
}

caf::error reattach_worker(caf::actor_system& sys, const process_plan& proc, worker_actors& w,
                           worker_plane& wp, const data_plane_info& fresh,
                           const std::string& secret) {
  if (!w.learner_ranks.empty())
    return make_error(errc::invalid_config,
                      "worker " + proc.name + " hosts learner ranks, which belong to the lost "
                        "head's learner; a restarted head needs fresh ones (tandem resume)");
  const bool moved = fresh.rollouts != wp.info.rollouts || fresh.weights != wp.info.weights;
  if (moved) {
    auto plane = make_worker_plane(fresh, secret);
    if (!plane)
      return plane.error();
    wp = std::move(*plane);
  }
  for (size_t i = 0; i < w.samplers.size(); ++i) {
    sampler_reset r;
    if (moved) {
      auto outbox = outbox_for(wp, w.hellos[i].name);
      if (!outbox)
        return outbox.error();
      r.outbox = *outbox;
    }
    w.hellos[i].weights_via_data_plane = !wp.info.weights.empty();
    caf::anon_send(w.samplers[i], std::move(r));
  }
  w.fetcher = nullptr;
  return spawn_fetcher(sys, proc, wp, w);
}

} // namespace tandem
