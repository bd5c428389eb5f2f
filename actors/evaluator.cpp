#include "actors/evaluator.hpp"

#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"

namespace tandem {

namespace {

using ev = evaluator_actor_t;

void maybe_start(ev* self);

void queue_step(ev* self) {
  if (self->state.step_queued)
    return;
  self->state.step_queued = true;
  self->send(self, eval_step_atom::value);
}

/// The round ended (done or failed): the schedule moves on, a final
/// request waiting on it is answered, the next due round starts.
void end_round(ev* self, const caf::error& err) {
  auto& st = self->state;
  const auto version = st.round->version();
  st.schedule->ran(version, st.round->plan());
  if (st.round_is_final && st.final) {
    if (err)
      st.final->promise.deliver(err);
    else
      st.final->promise.deliver(version);
    st.final.reset();
  }
  st.round.reset();
  st.round_is_final = false;
  maybe_start(self);
}

void fail_round(ev* self, const caf::error& err) {
  auto& st = self->state;
  ++st.failures;
  const auto why = describe(err);
  std::cerr << "[" << st.settings.name << "] evaluation of v" << st.round->version()
            << " failed: " << why << " (failure " << st.failures << ")\n";
  st.deps.output->failed(st.round->version(), why);
  end_round(self, err);
}

void finish_round(ev* self) {
  auto& st = self->state;
  auto& r = *st.round;
  if (r.plan().eval)
    st.deps.output->figures(r.figures());
  if (r.plan().samples > 0)
    st.deps.output->samples(r.version(), st.settings.items, r.samples());
  end_round(self, caf::none);
}

/// Starts a round at `version` with `weights` when `plan` has work.
void start_round(ev* self, int64_t version, const std::vector<char>& weights,
                 const eval_plan& plan, bool is_final) {
  auto& st = self->state;
  st.round.emplace(st.settings.items, plan, version, st.settings.seed, st.settings.batch_rows,
                   st.deps.check);
  st.round_is_final = is_final;
  if (auto err = st.deps.decoder->load_weights(weights))
    return fail_round(self, make_error(errc::backend_failure,
                                       "cannot load v" + std::to_string(version) + ": "
                                         + describe(err)));
  queue_step(self);
}

void maybe_start(ev* self) {
  auto& st = self->state;
  if (st.round)
    return;
  if (st.final) {
    auto plan = st.schedule->final_plan(st.final->version);
    if (!plan.any()) { // evaluated by a regular round meanwhile
      st.final->promise.deliver(st.final->version);
      st.final.reset();
      return maybe_start(self);
    }
    return start_round(self, st.final->version, st.final->weights, plan, true);
  }
  if (st.held < 0)
    return;
  auto plan = st.schedule->due(st.held);
  if (plan.any())
    start_round(self, st.held, st.held_weights, plan, false);
}

/// One decode job of the round in progress.
void step(ev* self) {
  auto& st = self->state;
  st.step_queued = false;
  if (!st.round)
    return;
  auto job = st.round->next();
  if (!job)
    return st.round->done() ? finish_round(self) : void();
  const auto& params = job->greedy ? st.settings.greedy : st.settings.sampled;
  auto answers = st.deps.decoder->generate(std::move(job->prompts), params,
                                           std::move(job->seeds), st.round->version());
  if (!answers)
    return fail_round(self, answers.error());
  if (auto err = st.round->record(std::move(*answers)))
    return fail_round(self, err);
  if (st.round->done())
    return finish_round(self);
  queue_step(self);
}

void on_chunk(ev* self, const weights_chunk& c) {
  auto& st = self->state;
  auto got = accept_chunk(st.assembler, c, st.settings.name, st.bad_chunks);
  if (!got)
    return;
  if (auto src = caf::actor_cast<caf::actor>(self->current_sender()))
    self->send(src, weights_ack_atom::value, got->version);
  if (got->version <= st.held) {
    st.assembler.recycle(std::move(got->bytes));
    return;
  }
  st.held = got->version;
  std::swap(st.held_weights, got->bytes);
  st.assembler.recycle(std::move(got->bytes)); // the previous version's pages
  maybe_start(self);
}

caf::result<int64_t> on_final(ev* self, int64_t version, std::vector<char>& weights) {
  auto& st = self->state;
  if (!st.schedule->final_plan(version).any())
    return version;
  if (st.final) // a second request replaces the first (the head asks once)
    st.final->promise.deliver(make_error(errc::invalid_argument, "superseded"));
  auto rp = self->make_response_promise<int64_t>();
  st.final = evaluator_state::final_request{version, std::move(weights), rp};
  maybe_start(self);
  return rp;
}

} // namespace

caf::behavior evaluator_actor(ev* self, evaluator_settings settings, evaluator_deps deps) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.deps = std::move(deps);
  st.schedule = std::make_unique<eval_schedule>(st.settings.every, st.settings.samples_every,
                                                st.settings.k, st.settings.samples_count,
                                                st.settings.resume_step);
  if (auto& learner = st.settings.learner) {
    // Joins the weight roster like a sampler, then leaves NCCL at once: a
    // no-op without NCCL, and with it the bytes route for good.
    self->send(learner, sampler_hello{st.settings.name, caf::actor_cast<caf::actor>(self), 0});
    self->send(learner, nccl_leave_atom::value, st.settings.name);
  }
  return {
    [=](const weights_chunk& c) { on_chunk(self, c); },
    [=](eval_step_atom) { step(self); },
    [=](eval_final_atom, int64_t version, std::vector<char>& weights) {
      return on_final(self, version, weights);
    },
    [=](nccl_invite_atom, uint64_t) -> caf::result<nccl_accept_atom, std::string, uint64_t> {
      return make_error(errc::invalid_argument,
                        self->state.settings.name + " takes weights as bytes only");
    },
  };
}

} // namespace tandem
