#include "actors/sampler.hpp"

#include <chrono>
#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"

namespace tandem {

namespace {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

int64_t required_version(const generate_request& req) {
  int64_t v = 0;
  for (auto& g : req.groups)
    v = std::max(v, g.min_version);
  return v;
}

void finish_active(sampler_actor_t* self);

/// The sampler's line on the console: decoding = busy; requests held back
/// for a newer version = waiting_for_weights.
void report(sampler_actor_t* self) {
  auto& st = self->state;
  if (st.health)
    report_sampler(*st.health, st.active.has_value(), st.queue.size(),
                   static_cast<size_t>(st.settings.max_queued), st.version);
}

// The newest complete version, installed. The first one after a reset may
// be older than the one the sampler forgot: it says so, once; the very first
// one is said too (a worker's log shows when its sampler can generate).
void installed(sampler_actor_t* self, int64_t version) {
  auto& st = self->state;
  if (st.was_reset)
    std::cerr << "[" << st.settings.name << "] took v" << version << " after its reset\n";
  else if (st.version < 0)
    std::cerr << "[" << st.settings.name << "] took its first weights, v" << version << "\n";
  st.was_reset = false;
  st.version = version;
  report(self);
}

// One decode chain at a time: a step still queued from a batch that a reset
// dropped drives the next batch instead of starting a second chain.
void schedule_decode(sampler_actor_t* self) {
  if (self->state.decode_queued)
    return;
  self->state.decode_queued = true;
  self->send(self, decode_atom::value);
}

// Starts the next queued batch if none is active and the weights are new enough.
void try_start(sampler_actor_t* self) {
  auto& st = self->state;
  if (st.active || st.queue.empty() || st.version < 0
      || st.version < required_version(st.queue.front().request))
    return;
  st.active = std::move(st.queue.front());
  st.queue.pop_front();
  st.active_started = now_seconds();
  auto err = st.backend->start(expand_prompts(st.active->request),
                               expand_seeds(st.active->request));
  if (err) {
    st.active->promise.deliver(err);
    st.active.reset();
    return try_start(self);
  }
  schedule_decode(self);
}

void decode_step(sampler_actor_t* self) {
  auto& st = self->state;
  st.decode_queued = false;
  if (st.health)
    st.health->touch();
  if (!st.active)
    return;
  if (auto err = st.backend->step(st.version)) {
    st.active->promise.deliver(err);
    st.active.reset();
    st.backend->take_results();
    return try_start(self);
  }
  if (st.backend->done())
    return finish_active(self);
  schedule_decode(self);
}

void finish_active(sampler_actor_t* self) {
  auto& st = self->state;
  auto res = fold_results(st.active->request, st.backend->take_results(),
                          st.settings.name);
  if (res) {
    res->seconds = now_seconds() - st.active_started;
    st.tokens_generated += res->tokens;
    if (st.health)
      st.health->add_tokens(static_cast<uint64_t>(res->tokens));
    if (auto err = divert_to_outbox(st.settings.outbox.get(), *res))
      st.active->promise.deliver(err); // the controller requeues the groups
    else
      st.active->promise.deliver(std::move(*res));
  } else {
    st.active->promise.deliver(res.error());
  }
  st.active.reset();
  try_start(self);
  report(self);
}

void on_chunk(sampler_actor_t* self, const weights_chunk& c) {
  auto& st = self->state;
  auto got = accept_chunk(st.assembler, c, st.settings.name, st.bad_chunks);
  if (!got)
    return;
  auto& w = *got;
  auto src = caf::actor_cast<caf::actor>(self->current_sender());
  if (w.version <= st.version) { // NCCL already brought it (or a newer one)
    st.assembler.recycle(std::move(w.bytes));
    if (src)
      self->send(src, weights_ack_atom::value, w.version);
    return;
  }
  if (auto err = st.backend->load_weights(w.bytes)) {
    ++st.bad_chunks;
    std::cerr << "[" << st.settings.name << "] cannot load v" << w.version << ": "
              << describe(err) << "\n";
    if (st.health)
      st.health->record_error("cannot load v" + std::to_string(w.version) + ": "
                              + describe(err));
    return;
  }
  installed(self, w.version);
  st.assembler.recycle(std::move(w.bytes)); // the next version reuses these pages
  if (src)
    self->send(src, weights_ack_atom::value, w.version);
  try_start(self);
}

/// sampler_reset.hpp: the work and the version of a lost head go.
void reset(sampler_actor_t* self, sampler_reset& r) {
  auto& st = self->state;
  auto gone = make_error(errc::peer_down, st.settings.name + " was reset: its head is gone");
  size_t dropped = st.queue.size();
  if (st.active) {
    st.backend->take_results(); // partial completions of the lost head's batch
    st.active->promise.deliver(gone);
    st.active.reset();
    ++dropped;
  }
  for (auto& p : st.queue)
    p.promise.deliver(gone);
  st.queue.clear();
  if (dropped > 0 || st.version >= 0)
    std::cerr << "[" << st.settings.name << "] reset: dropped " << dropped
              << " request(s), forgot v" << st.version << "\n";
  st.version = -1;
  st.was_reset = true;
  st.assembler = weights_assembler{};
  if (r.outbox)
    st.settings.outbox = std::move(r.outbox);
  report(self);
}

void log_nccl(sampler_actor_t* self, const std::string& what) {
  std::cerr << "[" << self->state.settings.name << "] nccl: " << what << "\n";
  if (auto& h = self->state.health)
    h->record_error("nccl: " + what);
}

/// A failed init or receive. A missed deadline is what healthy members see
/// when a peer dies, and a version for an epoch it already left follows
/// from that; both just await the next invite (the learner's own deadline
/// ends the epoch). Any other failure is this member's own (its GPU or NCCL
/// is broken), so it leaves NCCL for good and keeps getting bytes, instead
/// of failing every epoch it is invited to.
void on_nccl_failure(sampler_actor_t* self, const caf::error& err) {
  auto& st = self->state;
  if (is(err, errc::collective_timeout) && st.health)
    st.health->add_deadline_breach();
  if (is(err, errc::collective_timeout) || is(err, errc::version_mismatch))
    return log_nccl(self, describe(err) + " (keeping v" + std::to_string(st.version)
                            + "; waiting for the next epoch)");
  log_nccl(self, describe(err) + " (keeping v" + std::to_string(st.version)
                   + "; leaving NCCL, weights as bytes from now on)");
  if (auto learner = caf::actor_cast<caf::actor>(self->current_sender()))
    self->send(learner, nccl_leave_atom::value, st.settings.name);
  st.settings.nccl.reset();
}

void on_nccl_open(sampler_actor_t* self, const nccl_open& o) {
  auto& rx = self->state.settings.nccl;
  auto id = nccl::from_bytes(o.id);
  if (!id)
    return log_nccl(self, "epoch " + std::to_string(o.epoch) + ": " + describe(id.error()));
  if (auto err = rx->open(o.epoch, *id, o.rank, o.nranks, o.bucket_bytes))
    return on_nccl_failure(self, err);
  if (auto& h = self->state.health)
    h->set_nccl_epoch(o.epoch);
}

/// Takes part in the broadcast of `h`; installs it when newer than held.
void on_nccl_version(sampler_actor_t* self, const nccl::version_header& h) {
  auto& st = self->state;
  auto buf = st.backend->receive_buffer();
  if (!buf) // it cannot take part: leave rather than stall every broadcast
    return on_nccl_failure(self, buf.error());
  auto got = st.settings.nccl->receive(h, buf->data, buf->bytes);
  if (!got)
    return on_nccl_failure(self, got.error());
  if (h.version <= st.version)
    return;
  if (auto err = st.backend->install_received()) {
    ++st.bad_chunks;
    return log_nccl(self, "cannot install v" + std::to_string(h.version) + ": "
                            + describe(err));
  }
  installed(self, h.version);
  try_start(self);
}

} // namespace

std::vector<std::vector<int32_t>> expand_prompts(const generate_request& req) {
  std::vector<std::vector<int32_t>> out;
  for (auto& g : req.groups)
    for (int32_t i = 0; i < g.group_size; ++i)
      out.push_back(g.prompt);
  return out;
}

std::vector<uint64_t> expand_seeds(const generate_request& req) {
  std::vector<uint64_t> out;
  for (auto& g : req.groups)
    for (int32_t i = 0; i < g.group_size; ++i)
      out.push_back(completion_seed(g.seed, i));
  return out;
}

caf::expected<generate_result> fold_results(const generate_request& req,
                                            std::vector<generated_sequence> seqs,
                                            const std::string& sampler_name) {
  size_t expected = 0;
  for (auto& g : req.groups)
    expected += static_cast<size_t>(g.group_size);
  if (seqs.size() != expected)
    return make_error(errc::backend_failure,
                      "backend returned " + std::to_string(seqs.size())
                        + " completions, expected " + std::to_string(expected));
  generate_result out;
  size_t k = 0;
  for (auto& g : req.groups) {
    rollout_group r;
    r.group_id = g.group_id;
    r.problem_id = g.problem_id;
    r.prompt = g.prompt;
    r.answer = g.answer;
    r.sampler = sampler_name;
    for (int32_t i = 0; i < g.group_size; ++i, ++k) {
      auto& s = seqs[k];
      out.tokens += static_cast<int64_t>(s.tokens.size());
      r.completions.push_back(completion_record{std::move(s.tokens), std::move(s.logprobs),
                                                std::move(s.versions), s.finished});
    }
    out.groups.push_back(std::move(r));
  }
  return out;
}

caf::behavior sampler_actor(sampler_actor_t* self, sampler_settings settings,
                            std::shared_ptr<generation_backend> backend) {
  self->state.settings = std::move(settings);
  self->state.backend = std::move(backend);
  self->state.health = enlist_health(self->home_system(), "sampler", self->state.settings.name,
                                     caf::actor_cast<caf::actor>(self));
  report(self);
  return {
    [=](generate_request& req) -> caf::result<generate_result> {
      auto& st = self->state;
      if (req.groups.empty())
        return make_error(errc::invalid_argument, "empty generate request");
      if (st.queue.size() >= static_cast<size_t>(st.settings.max_queued))
        return make_error(errc::capacity_exceeded, st.settings.name + " queue is full");
      auto rp = self->make_response_promise();
      st.queue.push_back({std::move(req), rp});
      try_start(self);
      report(self);
      return caf::delegated<generate_result>{};
    },
    [=](const weights_chunk& c) { on_chunk(self, c); },
    [=](decode_atom) { decode_step(self); },
    [=](sampler_reset& r) { reset(self, r); },
    [=](nccl_invite_atom, uint64_t epoch)
      -> caf::result<nccl_accept_atom, std::string, uint64_t> {
      auto& st = self->state;
      if (!st.settings.nccl)
        return make_error(errc::invalid_argument, st.settings.name + " has no NCCL endpoint");
      st.settings.nccl->invite(epoch);
      return {nccl_accept_atom::value, st.settings.name, epoch};
    },
    [=](const nccl_open& o) {
      if (self->state.settings.nccl)
        on_nccl_open(self, o);
    },
    [=](nccl_version_atom, const nccl::version_header& h) {
      if (self->state.settings.nccl)
        on_nccl_version(self, h);
    },
    [=](status_atom) {
      auto& st = self->state;
      return caf::make_message(st.settings.name, st.version, st.tokens_generated,
                               static_cast<int64_t>(st.queue.size()) + (st.active ? 1 : 0));
    },
  };
}

} // namespace tandem
