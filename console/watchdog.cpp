#include "console/watchdog.hpp"

#include <algorithm>
#include <limits>

namespace tandem {

const char* to_string(stall_cause c) {
  switch (c) {
    case stall_cause::no_sampler_alive: return "no_sampler_alive";
    case stall_cause::learner_stuck: return "learner_stuck";
    case stall_cause::reward_failing: return "reward_failing";
    case stall_cause::reward_hung: return "reward_hung";
    case stall_cause::weights_behind: return "weights_behind";
    case stall_cause::samplers_waiting_for_weights: return "samplers_waiting_for_weights";
    case stall_cause::staleness_gate_closed: return "staleness_gate_closed";
    case stall_cause::unknown: return "unknown";
  }
  return "?";
}

namespace {

constexpr size_t intervals_kept = 8; // a recent window: the run's pace changes

std::string num(uint64_t v) { return std::to_string(v); }
std::string num(int64_t v) { return std::to_string(v); }

double seconds(registry_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string secs_text(registry_clock::duration d) {
  return std::to_string(static_cast<int64_t>(seconds(d))) + " s";
}

struct role_view {
  std::vector<const actor_health*> alive, dead;
};

role_view role_of(const std::vector<actor_health>& actors, const char* role) {
  role_view v;
  for (auto& a : actors)
    if (a.report.role == role)
      (a.state == actor_state::dead ? v.dead : v.alive).push_back(&a);
  return v;
}

std::optional<diagnosis> learner_check(const role_view& learners,
                                       registry_clock::duration deadline) {
  for (auto* l : learners.alive) {
    auto& r = l->report;
    if (l->state == actor_state::stalled)
      return diagnosis{stall_cause::learner_stuck,
                       "learner " + r.name + " is stalled (no heartbeat for "
                         + secs_text(l->heartbeat_age) + ")", {}};
    if (r.phase && *r.phase != learner_phase::waiting_for_batch && r.phase_age >= deadline)
      return diagnosis{stall_cause::learner_stuck,
                       "learner " + r.name + " has been in " + to_string(*r.phase) + " for "
                         + secs_text(r.phase_age) + " (deadline " + secs_text(deadline) + ")",
                       {}};
  }
  if (learners.alive.empty() && !learners.dead.empty())
    return diagnosis{stall_cause::learner_stuck,
                     "learner " + learners.dead.front()->report.name + " is dead", {}};
  return std::nullopt;
}

std::optional<diagnosis> reward_check(const run_progress& now, const run_progress& base,
                                      registry_clock::duration idle) {
  auto bad = (now.reward_error - base.reward_error) + (now.reward_timeout - base.reward_timeout)
             + (now.reward_invalid - base.reward_invalid);
  auto ok = now.reward_ok - base.reward_ok;
  if (bad > 0 && ok == 0)
    return diagnosis{stall_cause::reward_failing,
                     num(bad) + " scorings failed and none succeeded in " + secs_text(idle)
                       + " (error " + num(now.reward_error - base.reward_error) + ", timeout "
                       + num(now.reward_timeout - base.reward_timeout) + ", invalid "
                       + num(now.reward_invalid - base.reward_invalid) + ")",
                     {}};
  if (now.scoring > 0 && ok == 0 && bad == 0)
    return diagnosis{stall_cause::reward_hung,
                     num(now.scoring) + " group(s) wait in scoring and no scoring ended in "
                       + secs_text(idle),
                     {}};
  return std::nullopt;
}

std::optional<diagnosis> sampler_check(const role_view& samplers, const run_progress& p) {
  int64_t oldest = std::numeric_limits<int64_t>::max();
  size_t waiting = 0;
  for (auto* s : samplers.alive) {
    oldest = std::min(oldest, s->report.version);
    if (s->state == actor_state::waiting_for_weights)
      ++waiting;
  }
  auto n = samplers.alive.size();
  if (waiting > 0 && p.version - oldest > p.max_staleness)
    return diagnosis{stall_cause::weights_behind,
                     "samplers hold versions from v" + num(oldest) + ", the learner is at v"
                       + num(p.version) + " (staleness bound " + num(p.max_staleness)
                       + "): weight delivery is behind",
                     {}};
  if (waiting == n)
    return diagnosis{stall_cause::samplers_waiting_for_weights,
                     "all " + num(static_cast<uint64_t>(n))
                       + " live sampler(s) wait for weights (learner at v" + num(p.version)
                       + ")",
                     {}};
  return std::nullopt;
}

} // namespace

void watchdog::observe(const run_progress& p, registry_time now) {
  if (!at_progress_ || p.version > at_progress_->version) {
    if (at_progress_) {
      intervals_.push_back(now - progress_at_);
      if (intervals_.size() > intervals_kept)
        intervals_.pop_front();
    }
    at_progress_ = p;
    progress_at_ = now;
  }
  last_ = p;
}

registry_clock::duration watchdog::no_progress_after() const {
  registry_clock::duration longest{0};
  for (auto d : intervals_)
    longest = std::max(longest, d);
  return std::max(cfg_.min_no_progress, 5 * longest);
}

std::optional<diagnosis> watchdog::diagnose(const std::vector<actor_health>& actors,
                                            registry_time now) const {
  if (!last_ || last_->finished)
    return std::nullopt;
  auto idle = now - progress_at_;
  auto deadline = no_progress_after();
  if (idle < deadline)
    return std::nullopt;
  auto found = [&]() -> diagnosis {
    auto samplers = role_of(actors, "sampler");
    if (samplers.alive.empty())
      return {stall_cause::no_sampler_alive,
              "no sampler is alive (" + num(static_cast<uint64_t>(samplers.dead.size()))
                + " dead)", {}};
    if (auto d = learner_check(role_of(actors, "learner"), deadline))
      return *d;
    if (auto d = reward_check(*last_, *at_progress_, idle))
      return *d;
    if (auto d = sampler_check(samplers, *last_))
      return *d;
    if (last_->queued == 0 && last_->in_flight == 0 && last_->admit_capacity <= 0)
      return {stall_cause::staleness_gate_closed,
              "the staleness gate admits no group (learner at v" + num(last_->version)
                + ", bound " + num(last_->max_staleness) + ", " + num(last_->scored)
                + " scored waiting)", {}};
    return {stall_cause::unknown,
            "no step for " + secs_text(idle) + ": queued " + num(last_->queued)
              + ", generating " + num(last_->in_flight) + ", scoring " + num(last_->scoring)
              + ", scored " + num(last_->scored) + ", training " + num(last_->training),
            {}};
  }();
  found.since = progress_at_;
  return found;
}

} // namespace tandem
