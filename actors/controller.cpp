#include "actors/controller.hpp"

#include <chrono>
#include <cstdio>
#include <functional>

#include <caf/all.hpp>

#include "actors/internal/controller_reporting.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

using ctl = controller_actor_t;

// Fires `connect_timeout` after the pool became empty (or at start).
using sampler_check_atom = caf::atom_constant<caf::atom("smpcheck")>;
// Fires payload_timeout after a via_data_plane reply: requeues what is missing.
using payload_check_atom = caf::atom_constant<caf::atom("paycheck")>;

double seconds_between(caf::actor_clock::time_point a, caf::actor_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

staleness_policy gate(const ctl* self) {
  return controller_gate(self->state);
}

void dispatch(ctl* self);
void maybe_train(ctl* self);
void requeue_missing(ctl* self, const std::string& name, const std::vector<uint64_t>& ids);

double elapsed(const ctl* self) {
  return self->state.elapsed_before + seconds_between(self->state.started, self->clock().now());
}

/// Tells the recorder what was issued and never trained, then reports.
void finish(ctl* self, bool ok, const std::string& why) {
  auto& st = self->state;
  if (st.finished)
    return;
  st.finished = true;
  if (st.deps.recorder)
    self->send(st.deps.recorder,
               journal_finish{ok, st.work->take_issued(), st.work->take_dropped(),
                              st.work->live_groups(), st.problems->drawn()});
  self->send(st.deps.observer, finished_atom::value, ok,
             run_summary_json(st, ok, why, elapsed(self)));
  self->quit();
}

void admit(ctl* self) {
  auto& st = self->state;
  auto& c = st.work->counters();
  auto cap = admission_capacity(gate(self), st.version, c.admitted, c.dropped + c.filtered);
  // Never admit past what the remaining steps can consume.
  auto needed = static_cast<int64_t>(st.cfg.steps) * st.cfg.groups_per_step
                - static_cast<int64_t>(c.consumed + st.work->live());
  for (int64_t i = 0; i < std::min(cap, needed); ++i) {
    auto d = st.prompts.draw(*st.problems, *st.tokenizer, st.skipped_problems);
    if (!d)
      return finish(self, false, "no usable prompt: " + describe(d.error()));
    if (!st.work->admit(d->p.id, std::move(d->ids), d->p.answer, st.cfg.group_size))
      break; // buffer full: wait for consumption
  }
}

void on_scored(ctl* self, uint64_t id, scored_group& g, double secs) {
  auto& st = self->state;
  st.interval.score += secs;
  apply_overlong_penalty(g, st.cfg.overlong);
  if (st.work->state_of(id) == group_state::scoring && st.filter.should_filter(g)) {
    st.work->mark_scored(id, std::move(g));
    st.work->filter(id);
    return dispatch(self); // admits a prompt in its place
  }
  if (st.work->mark_scored(id, std::move(g)))
    return; // requeued or consumed meanwhile: counted as rejected
  maybe_train(self);
}

/// A failed scoring: invalid (the reward refused the group), timeout, or
/// error (anything else: the reward actor died, its process is gone, ...).
void count_outcome(ctl* self, const caf::error& err) {
  auto& o = self->state.outcomes;
  if (is(err, errc::malformed_message) || is(err, errc::invalid_argument))
    ++o.invalid;
  else if (err == caf::sec::request_timeout || is(err, errc::timeout))
    ++o.timeout; // the controller's deadline, or a reward plug-in's own
  else
    ++o.error;
  if (auto& h = self->state.health)
    h->record_error("scoring failed: " + describe(err));
}

void score(ctl* self, rollout_group g) {
  auto& st = self->state;
  auto reward = st.deps.rewards[st.next_reward++ % st.deps.rewards.size()];
  auto id = g.group_id;
  auto t0 = self->clock().now();
  self->request(reward, st.cfg.score_timeout, std::move(g))
    .then([=](scored_group& s) {
            ++self->state.outcomes.ok;
            on_scored(self, id, s, seconds_between(t0, self->clock().now()));
          },
          [=](caf::error& err) {
            count_outcome(self, err);
            if (self->state.work->state_of(id) == group_state::scoring)
              self->state.work->requeue(id);
            dispatch(self);
          });
}

// Draining samplers that became idle leave the pool and are told to stop.
void retire_drained(ctl* self) {
  for (auto& s : self->state.samplers.take_drained())
    self->send_exit(s.handle, caf::exit_reason::user_shutdown);
}

// Reward actors leaving the rotation get no new groups at once and are
// stopped after score_timeout, when every request they hold has been answered
// or has timed out (then requeued): nothing is lost, nothing counted twice.
using retire_atom = caf::atom_constant<caf::atom("retire")>;

caf::result<std::string> scale_rewards(ctl* self, int32_t n) {
  auto& st = self->state;
  auto& rw = st.deps.rewards;
  auto serving = static_cast<int32_t>(rw.size());
  if (n < serving) {
    for (int32_t i = n; i < serving; ++i)
      self->delayed_send(self, st.cfg.score_timeout, retire_atom::value, rw[i]);
    rw.resize(static_cast<size_t>(n));
    return "retiring " + std::to_string(serving - n) + " reward actor(s)";
  }
  if (n == serving)
    return "already " + std::to_string(n) + " reward actor(s)";
  if (!st.deps.scaler)
    return make_error(errc::not_ready, "this head has no scaler to start reward actors");
  auto rp = self->make_response_promise<std::string>();
  self->request(st.deps.scaler, st.cfg.connect_timeout, scale_atom::value, std::string{"reward"},
                n - serving)
    .then([rp](std::string& s) mutable { rp.deliver(std::move(s)); },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

caf::result<std::string> on_scale(ctl* self, const std::string& role, int32_t n) {
  auto& st = self->state;
  if (role == "reward" && n >= 1 && n <= 1024)
    return scale_rewards(self, n);
  if (role != "sampler")
    return make_error(errc::invalid_argument,
                      "only samplers and rewards scale, to 1..1024 (got '" + role + "')");
  // An upper bound that catches typos (sampler=10000) before processes start.
  constexpr int32_t max_samplers = 1024;
  if (n < 1 || n > max_samplers)
    return make_error(errc::invalid_argument, "sampler count must be in 1.." + std::to_string(max_samplers));
  auto serving = static_cast<int32_t>(st.samplers.serving());
  if (n < serving) {
    auto names = st.samplers.drain(static_cast<size_t>(serving - n));
    retire_drained(self);
    std::string list;
    for (auto& x : names)
      list += (list.empty() ? "" : ", ") + x;
    return "retiring " + std::to_string(names.size()) + " sampler(s): " + list;
  }
  if (n == serving)
    return "already " + std::to_string(n) + " sampler(s)";
  if (!st.deps.scaler)
    return make_error(errc::not_ready, "this head has no scaler to start samplers");
  auto rp = self->make_response_promise<std::string>();
  self->request(st.deps.scaler, st.cfg.connect_timeout, scale_atom::value, role, n - serving)
    .then([rp](std::string& s) mutable { rp.deliver(std::move(s)); },
          [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

void on_generated(ctl* self, const std::string& name, const std::vector<uint64_t>& ids,
                  generate_result& res) {
  auto& st = self->state;
  if (auto s = st.samplers.find(name)) {
    --s->outstanding;
    ++s->completed_requests;
    s->busy_seconds += res.seconds;
    s->tokens += res.tokens;
  }
  st.interval.generate += res.seconds;
  st.interval_tokens += res.tokens;
  for (auto& g : res.groups)
    if (!st.work->mark_generated(g.group_id, name))
      score(self, std::move(g));
  if (res.via_data_plane)
    self->delayed_send(self, st.cfg.payload_timeout, payload_check_atom::value, name, ids);
  else
    requeue_missing(self, name, ids); // anything not returned goes back
  retire_drained(self);
  dispatch(self);
}

/// Groups that arrived over the ZeroMQ data plane. The holder is the sampler
/// named in each group; a group that is not in flight there any more (timed
/// out, requeued, duplicate) is rejected by the work buffer, not counted.
void on_data_plane(ctl* self, generate_result& res) {
  auto& st = self->state;
  for (auto& g : res.groups) {
    auto holder = g.sampler;
    if (st.work->mark_generated(g.group_id, holder)) {
      ++st.data_plane_late;
      continue;
    }
    ++st.data_plane_groups;
    score(self, std::move(g));
  }
}

void requeue_missing(ctl* self, const std::string& name, const std::vector<uint64_t>& ids) {
  auto& st = self->state;
  for (auto id : ids)
    if (st.work->state_of(id) == group_state::in_flight && st.work->holder_of(id) == name)
      st.work->requeue(id);
}

void on_generate_failed(ctl* self, const std::string& name, const std::vector<uint64_t>& ids) {
  auto& st = self->state;
  if (auto s = st.samplers.find(name)) {
    --s->outstanding;
    ++s->failed_requests;
  }
  requeue_missing(self, name, ids);
  retire_drained(self);
  dispatch(self);
}

void dispatch(ctl* self) {
  auto& st = self->state;
  if (st.finished || st.stopping || st.deps.rewards.empty())
    return; // nothing can be scored yet: wait for a reward actor to join
  if (!st.dispatch_open && st.samplers.size() < static_cast<size_t>(st.cfg.expected_samplers))
    return; // the launched samplers are still coming up
  st.dispatch_open = true;
  admit(self);
  if (st.finished)
    return; // admit found no usable prompt
  while (st.work->count(group_state::queued) > 0) {
    auto* s = st.samplers.pick();
    if (s == nullptr)
      return;
    auto tasks = st.work->take_for_dispatch(static_cast<size_t>(s->max_groups), s->name,
                                            st.version, st.cfg.seed);
    std::vector<uint64_t> ids;
    for (auto& t : tasks)
      ids.push_back(t.group_id);
    ++s->outstanding;
    auto name = s->name;
    self->request(s->handle, st.cfg.generate_timeout, generate_request{std::move(tasks)})
      .then([=](generate_result& r) { on_generated(self, name, ids, r); },
            [=](caf::error&) { on_generate_failed(self, name, ids); });
  }
}

// -- durable runs: journal and checkpoints (docs/durable-runs.md) -------------

void on_durability_failed(ctl* self, const std::string& what, const caf::error& err) {
  auto& st = self->state;
  ++st.checkpoint_failures;
  auto line = what + " failed: " + describe(err);
  if (st.deps.progress)
    st.deps.progress(line);
  std::fprintf(stderr, "\n[controller] %s\n", line.c_str());
  if (st.cfg.checkpoint_required)
    finish(self, false, line + " (run.checkpoint_required)");
}

/// Records step `version`'s groups in the journal (before any checkpoint
/// that refers to them: the recorder handles its mailbox in order).
void journal(ctl* self, const std::vector<scored_group>& batch) {
  auto& st = self->state;
  if (!st.deps.recorder)
    return;
  journal_step j{st.version, st.version, st.work->take_issued(), {}, st.work->take_dropped()};
  for (auto& g : batch)
    j.consumed.push_back({g.rollout.group_id, g.rollout.problem_id});
  self->request(st.deps.recorder, st.cfg.checkpoint_timeout, std::move(j))
    .then([](int64_t) {}, [=](caf::error& err) {
      // Without the journal exactly-once cannot be shown: the run stops.
      finish(self, false, "cannot record step in the journal: " + describe(err));
    });
}

/// The learner's snapshot plus this controller's, written by the recorder;
/// `then` runs once it is written or failed.
void checkpoint(ctl* self, std::function<void()> then) {
  auto& st = self->state;
  if (!st.deps.recorder || st.checkpointed == st.version)
    return then();
  auto snap = to_json(take_snapshot(self->state, elapsed(self)));
  auto step = st.version;
  auto fail = [=](const caf::error& err) {
    on_durability_failed(self, "checkpoint of step " + std::to_string(step), err);
    then();
  };
  self->request(st.deps.learner, st.cfg.checkpoint_timeout, snapshot_atom::value)
    .then(
      [=](learner_snapshot& ls) {
        if (ls.version != step)
          return fail(make_error(errc::version_mismatch, "learner at v" + std::to_string(ls.version)));
        checkpoint_write w{step, {{"weights.bin", std::move(ls.weights)},
                                  {"learner_state.bin", std::move(ls.state)},
                                  {"controller.json", std::vector<char>(snap.begin(), snap.end())}}};
        self->request(self->state.deps.recorder, self->state.cfg.checkpoint_timeout, std::move(w))
          .then(
            [=](const std::string&) {
              self->state.checkpointed = std::max(self->state.checkpointed, step);
              then();
            },
            [=](caf::error& err) { fail(err); });
      },
      [=](caf::error& err) { fail(err); });
}

bool checkpoint_due(const ctl* self) {
  auto& st = self->state;
  return st.cfg.checkpoint_every > 0 && st.version % st.cfg.checkpoint_every == 0;
}

/// Stop: the step in training (if any) has ended; checkpoint, then finish.
void stop_now(ctl* self) {
  checkpoint(self, [=] { finish(self, false, "interrupted"); });
}

void on_trained(ctl* self, const std::vector<scored_group>& batch,
                const std::vector<uint64_t>& ids, int64_t trained_at, train_report& rep) {
  auto& st = self->state;
  st.learner_busy = false;
  st.train_failures = 0;
  st.work->commit(ids);
  if (st.deps.on_consumed)
    st.deps.on_consumed(ids);
  if (rep.steps.empty())
    return finish(self, false, "learner returned no step");
  st.version = rep.steps.back().version;
  auto rec = close_step(st, batch, rep.steps.back(), trained_at, self->clock().now(),
                        elapsed(self));
  if (rec.staleness.max > st.cfg.max_staleness)
    st.staleness_violations += 1;
  st.rewards.add(rec.rewards.reward_mean);
  if (st.deps.metrics)
    if (auto err = st.deps.metrics->write(to_json(rec)))
      return finish(self, false, "cannot record step " + std::to_string(st.version)
                                   + " in the metrics: " + describe(err));
  if (st.deps.progress)
    st.deps.progress(progress_line(rec, st.cfg.steps));
  journal(self, batch);
  if (st.stopping)
    return stop_now(self);
  // The last step is always checkpointed (resume and export start there),
  // and the run reports only once that checkpoint is written or failed.
  if (st.version >= st.cfg.steps)
    return checkpoint(self, [=] { finish(self, true, "trained all steps"); });
  if (st.cfg.target_reward > 0 && st.rewards.full() && st.rewards.mean() >= st.cfg.target_reward)
    return checkpoint(self, [=] { finish(self, true, "target reward reached"); });
  if (checkpoint_due(self))
    checkpoint(self, [] {});
  dispatch(self);
  maybe_train(self);
}

void on_train_failed(ctl* self, const std::vector<uint64_t>& ids, const caf::error& err) {
  auto& st = self->state;
  st.learner_busy = false;
  st.work->rollback(ids);
  if (st.stopping)
    return stop_now(self);
  if (++st.train_failures > st.cfg.max_train_failures)
    return finish(self, false, "learner failed " + std::to_string(st.train_failures)
                                 + " times in a row: " + describe(err));
  maybe_train(self);
}

void maybe_train(ctl* self) {
  auto& st = self->state;
  auto b = static_cast<size_t>(st.cfg.groups_per_step);
  if (st.finished || st.stopping || st.learner_busy
      || st.work->count(group_state::scored) < b)
    return;
  std::vector<uint64_t> stale;
  auto batch = st.work->take_batch(b, min_start_version(gate(self), st.version), &stale);
  st.stale_refused += stale.size();
  std::vector<uint64_t> ids;
  for (auto& g : batch)
    ids.push_back(g.rollout.group_id);
  if (batch.size() < b) {
    st.work->rollback(ids);
    return dispatch(self);
  }
  st.learner_busy = true;
  auto at = st.version;
  self->request(st.deps.learner, st.cfg.train_timeout, train_batch{batch, at})
    .then([=](train_report& rep) { on_trained(self, batch, ids, at, rep); },
          [=](caf::error& err) { on_train_failed(self, ids, err); });
}

void on_join(ctl* self, sampler_hello& hello) {
  auto& st = self->state;
  if (!hello.handle)
    return;
  self->monitor(hello.handle);
  st.samplers.add(hello.name, hello.handle, hello.max_groups);
  self->send(st.deps.learner, hello); // its weight roster picks the route
  dispatch(self);
}

void on_down(ctl* self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (auto name = st.samplers.remove(dm.source)) {
    st.work->requeue_holder(*name);
    if (st.samplers.size() == 0)
      self->delayed_send(self, st.cfg.connect_timeout, sampler_check_atom::value);
    return dispatch(self);
  }
  if (dm.source == st.deps.learner.address())
    return finish(self, false, "learner died: " + describe(dm.reason));
  auto& rw = st.deps.rewards;
  rw.erase(std::remove_if(rw.begin(), rw.end(),
                          [&](const caf::actor& a) { return a.address() == dm.source; }),
           rw.end());
  if (rw.empty())
    finish(self, false, "no reward actor left");
}

caf::result<std::string> drain_sampler(ctl* self, const std::string& name) {
  auto* s = self->state.samplers.find(name);
  if (s == nullptr)
    return make_error(errc::not_found, "no sampler named '" + name
                                         + "' (only samplers can be drained; reward "
                                           "actors are retired by scaling)");
  if (s->draining)
    return name + " is already draining";
  s->draining = true;
  retire_drained(self);
  dispatch(self);
  return "draining " + name + ": it stops once its requests are answered";
}

/// The state from the settings, and from the checkpoint when resuming.
caf::error init_state(ctl* self, const controller_settings& cfg, controller_deps deps) {
  auto& st = self->state;
  st.cfg = cfg;
  st.filter = group_filter{cfg.filter};
  st.deps = std::move(deps);
  st.tokenizer = st.deps.tokenizer;
  if (!st.tokenizer)
    st.tokenizer = std::make_shared<char_tokenizer>();
  // Live groups stay below (eta + 2) * B by the staleness gate; twice that
  // leaves headroom while still catching a runaway admission bug.
  st.work = std::make_unique<work_buffer>(
    static_cast<size_t>(2 * (cfg.max_staleness + 2) * cfg.groups_per_step), cfg.max_requeues);
  st.rewards = reward_window{cfg.reward_window};
  st.started = st.last_step = self->clock().now();
  st.problems = std::make_unique<problem_cursor>(st.deps.problems);
  st.prompts = prompt_filter{static_cast<size_t>(std::max(cfg.max_prompt_tokens, 0))};
  return st.deps.resume ? restore_snapshot(st, *st.deps.resume)
                        : st.work->restore(cfg.first_group_id, {});
}

} // namespace

caf::behavior controller_actor(ctl* self, controller_settings cfg, controller_deps deps) {
  if (auto err = init_state(self, cfg, std::move(deps))) {
    finish(self, false, "cannot resume: " + describe(err));
    return {};
  }
  auto& st = self->state;
  st.health = enlist_health(self->home_system(), "controller", "controller",
                            caf::actor_cast<caf::actor>(self));
  report_health(self->state);
  self->monitor(st.deps.learner);
  for (auto& r : st.deps.rewards)
    self->monitor(r);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  self->delayed_send(self, cfg.connect_timeout, sampler_check_atom::value);
  return {
    [=](sampler_check_atom) {
      if (!self->state.dispatch_open) {
        self->state.dispatch_open = true; // start with whoever joined
        dispatch(self);
      }
      if (self->state.samplers.size() == 0)
        finish(self, false, "no sampler connected for "
                              + std::to_string(std::chrono::duration<double>(
                                self->state.cfg.connect_timeout).count())
                              + " s");
    },
    [=](sampler_hello& hello) { on_join(self, hello); },
    [=](join_atom, const caf::actor& reward) {
      if (!reward)
        return;
      self->monitor(reward);
      self->state.deps.rewards.push_back(reward);
      dispatch(self);
    },
    [=](stop_atom) {
      auto& st = self->state;
      if (st.stopping || st.finished)
        return;
      st.stopping = true;
      if (!st.learner_busy)
        stop_now(self);
    },
    [=](scale_atom, const std::string& role, int32_t n) { return on_scale(self, role, n); },
    [=](retire_atom, const caf::actor& reward) {
      self->demonitor(reward);
      self->send_exit(reward, caf::exit_reason::user_shutdown);
    },
    [=](status_atom) {
      report_health(self->state);
      return status_json(self->state, elapsed(self));
    },
    [=](health_atom) { return self->state.deps.monitor; },
    [=](drain_atom, const std::string& name) { return drain_sampler(self, name); },
    [=](data_plane_atom) { return self->state.cfg.data_plane; },
    [=](learner_rank_atom, int32_t rank, const caf::actor& handle) {
      if (self->state.cfg.on_learner_rank && handle)
        self->state.cfg.on_learner_rank(rank, handle);
    },
    [=](rollouts_atom, generate_result& r) {
      on_data_plane(self, r);
      dispatch(self);
    },
    [=](payload_check_atom, const std::string& name, const std::vector<uint64_t>& ids) {
      requeue_missing(self, name, ids);
      dispatch(self);
    },
  };
}

} // namespace tandem
