// controller_reporting.cpp: see controller_reporting.hpp.
#include "actors/internal/controller_reporting.hpp"

#include <algorithm>
#include <chrono>

#include "runtime/metrics_sink.hpp"

namespace tandem {

staleness_policy controller_gate(const controller_state& st) {
  return {st.cfg.max_staleness, st.cfg.groups_per_step};
}

step_record close_step(controller_state& st, const std::vector<scored_group>& batch,
                       const step_metrics& m, int64_t trained_at,
                       caf::actor_clock::time_point now, double elapsed_s) {
  step_record r;
  r.step = st.version;
  r.version = st.version;
  r.rewards = summarize_rewards(batch);
  r.staleness = measure_staleness(batch, trained_at);
  r.learner = m;
  r.times = st.interval;
  r.times.train = m.seconds;
  r.times.wall = std::chrono::duration<double>(now - st.last_step).count();
  r.tokens_generated = st.interval_tokens;
  r.elapsed = elapsed_s;
  auto& c = st.work->counters();
  r.consumed = c.consumed, r.requeued = c.requeued, r.dropped = c.dropped;
  r.stale_refused = st.stale_refused;
  r.samplers = static_cast<int64_t>(st.samplers.size());
  auto filtered = st.filter.take_interval();
  r.filtered = filtered.filtered, r.filter_passed = filtered.passed;
  r.trained_groups = batch.size();
  if (!filtered.groups.empty()) { // the step's rewards cover every group settled in it
    filtered.groups.insert(filtered.groups.end(), batch.begin(), batch.end());
    r.rewards = summarize_rewards(filtered.groups);
  }
  r.reward_ok = st.outcomes.ok - st.outcomes_at_step.ok;
  r.reward_invalid = st.outcomes.invalid - st.outcomes_at_step.invalid;
  r.reward_timeout = st.outcomes.timeout - st.outcomes_at_step.timeout;
  r.reward_error = st.outcomes.error - st.outcomes_at_step.error;
  r.prompts_dropped_long = st.prompts.take_interval();
  r.prompts_dropped_long_total = st.prompts.dropped();
  st.outcomes_at_step = st.outcomes;
  st.interval = {};
  st.interval_tokens = 0;
  st.last_step = now;
  return r;
}

std::string status_json(const controller_state& st, double elapsed_s) {
  auto& c = st.work->counters();
  json_record j;
  j.add("version", st.version).add("samplers", static_cast<int64_t>(st.samplers.serving()))
    .add("draining", static_cast<int64_t>(st.samplers.size() - st.samplers.serving()))
    .add("queued", static_cast<int64_t>(st.work->count(group_state::queued)))
    .add("in_flight", static_cast<int64_t>(st.work->count(group_state::in_flight)))
    .add("scoring", static_cast<int64_t>(st.work->count(group_state::scoring)))
    .add("scored", static_cast<int64_t>(st.work->count(group_state::scored)))
    .add("training", static_cast<int64_t>(st.work->count(group_state::training)))
    .add("consumed", static_cast<int64_t>(c.consumed))
    .add("requeued", static_cast<int64_t>(c.requeued))
    .add("dropped", static_cast<int64_t>(c.dropped))
    .add("filtered", static_cast<int64_t>(c.filtered))
    .add("data_plane_groups", static_cast<int64_t>(st.data_plane_groups))
    .add("data_plane_late", static_cast<int64_t>(st.data_plane_late))
    .add("step", st.version).add("steps", static_cast<int64_t>(st.cfg.steps))
    .add("max_staleness", static_cast<int64_t>(st.cfg.max_staleness))
    .add("admit_capacity",
         admission_capacity(controller_gate(st), st.version, c.admitted, c.dropped + c.filtered))
    .add("stale_refused", static_cast<int64_t>(st.stale_refused))
    .add("elapsed_s", elapsed_s)
    .add("reward_ok", static_cast<int64_t>(st.outcomes.ok))
    .add("reward_invalid", static_cast<int64_t>(st.outcomes.invalid))
    .add("reward_timeout", static_cast<int64_t>(st.outcomes.timeout))
    .add("reward_error", static_cast<int64_t>(st.outcomes.error));
  return j.str();
}

void report_health(const controller_state& st) {
  auto& h = st.health;
  if (!h)
    return;
  h->set_state(st.finished || st.stopping ? actor_state::draining
               : st.learner_busy         ? actor_state::busy
                                         : actor_state::ready);
  h->set_version(st.version);
  h->set_in_flight(st.work->count(group_state::in_flight));
  h->set_queue(0, "groups", st.work->live(), st.work->capacity());
  h->set_queue(1, "scored", st.work->count(group_state::scored),
               static_cast<uint64_t>(st.cfg.groups_per_step));
}

std::string run_summary_json(const controller_state& st, bool ok, const std::string& why,
                             double elapsed_s) {
  auto& c = st.work->counters();
  json_record j;
  j.add("ok", int64_t{ok ? 1 : 0}).add("reason", why).add("steps", st.version)
    .add("interrupted", int64_t{st.stopping ? 1 : 0})
    .add("final_reward_mean", st.rewards.mean())
    .add("elapsed_s", elapsed_s)
    .add("groups_admitted", static_cast<int64_t>(c.admitted))
    .add("groups_consumed", static_cast<int64_t>(c.consumed))
    .add("groups_requeued", static_cast<int64_t>(c.requeued))
    .add("groups_dropped", static_cast<int64_t>(c.dropped))
    .add("groups_filtered", static_cast<int64_t>(c.filtered))
    .add("reports_rejected", static_cast<int64_t>(c.rejected))
    .add("groups_stale_refused", static_cast<int64_t>(st.stale_refused))
    .add("staleness_violations", static_cast<int64_t>(st.staleness_violations))
    .add("max_staleness", static_cast<int64_t>(st.cfg.max_staleness))
    .add("data_plane_groups", static_cast<int64_t>(st.data_plane_groups))
    .add("data_plane_late", static_cast<int64_t>(st.data_plane_late))
    .add("checkpoint_step", st.checkpointed)
    .add("checkpoint_failures", static_cast<int64_t>(st.checkpoint_failures))
    .add("prompts_dropped_long", static_cast<int64_t>(st.prompts.dropped()));
  return j.str();
}

// -- durable runs: the controller's part of a checkpoint (docs/durable-runs.md)

controller_snapshot take_snapshot(const controller_state& st, double elapsed_s) {
  controller_snapshot s;
  s.step = st.version;
  s.problems_drawn = st.problems->drawn();
  s.pending = st.problems->unreplayed();
  for (auto& g : st.work->live_groups())
    s.pending.push_back(g.problem_id);
  s.next_group_id = st.work->next_id();
  s.counters = st.work->counters();
  s.stale_refused = st.stale_refused;
  s.staleness_violations = st.staleness_violations;
  s.skipped_problems = st.skipped_problems;
  s.rewards = st.rewards.values();
  s.elapsed_s = elapsed_s;
  return s;
}

caf::error restore_snapshot(controller_state& st, const controller_snapshot& s) {
  if (auto err = st.problems->restore(s.problems_drawn, s.pending))
    return err;
  // The pending problems are admitted again (with new group ids).
  auto counters = s.counters;
  counters.admitted -= std::min<uint64_t>(counters.admitted, s.pending.size());
  if (auto err = st.work->restore(std::max(s.next_group_id, st.cfg.first_group_id), counters))
    return err;
  st.version = s.step;
  st.checkpointed = s.step;
  st.stale_refused = s.stale_refused;
  st.staleness_violations = s.staleness_violations;
  st.skipped_problems = s.skipped_problems;
  for (auto r : s.rewards)
    st.rewards.add(r);
  st.elapsed_before = s.elapsed_s;
  return caf::none;
}

} // namespace tandem
