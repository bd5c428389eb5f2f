#include "actors/learner.hpp"

#include <chrono>
#include <iostream>

#include <caf/all.hpp>

#include "actors/internal/batch_builder.hpp"
#include "runtime/checkpoint.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

step_metrics to_metrics(const train_step_stats& s, const built_batch& b, double seconds) {
  step_metrics m;
  m.version = s.version;
  auto& l = s.loss;
  m.loss = l.loss, m.pg_loss = l.pg_loss, m.kl = l.kl, m.entropy = l.entropy;
  m.clip_low = l.clip_low, m.clip_high = l.clip_high, m.clip_region = l.clip_region;
  m.ratio_mean = l.ratio_mean, m.ratio_min = l.ratio_min, m.ratio_max = l.ratio_max;
  m.behav_weight_mean = l.behav_weight_mean;
  m.behav_weight_truncated = l.behav_weight_truncated;
  m.behav_approx_kl = l.behav_approx_kl;
  m.sampler_logp_abs_diff = s.sampler_logp_abs_diff;
  m.mismatch_logp_abs = s.mismatch_logp_abs;
  m.mismatch_k3 = s.mismatch_k3;
  m.mismatch_tokens = s.mismatch_tokens;
  m.grad_norm = s.grad_norm;
  m.advantage_abs_mean = b.advantage_abs_mean;
  m.zero_std_fraction = b.zero_std_fraction;
  m.tokens = s.tokens;
  m.seconds = seconds;
  return m;
}

void log_nccl(learner_actor_t* self, const std::string& what) {
  (void) self;
  std::cerr << "[learner] nccl: " << what << "\n";
}

/// Announces the current version to the live epoch's members and broadcasts
/// it. True when the broadcast succeeded.
bool send_current(learner_actor_t* self) {
  auto& st = self->state;
  auto& pub = *st.nccl.publisher;
  auto w = st.backend->device_weights();
  if (!w) {
    log_nccl(self, "no flat weights: " + describe(w.error()));
    return false;
  }
  auto h = pub.announce(st.backend->version(), w->bytes);
  if (!h) {
    log_nccl(self, describe(h.error()));
    return false;
  }
  const auto& ranks = pub.planner().roster().ranks;
  for (size_t r = 1; r < ranks.size(); ++r)
    if (auto it = st.members.find(ranks[r]); it != st.members.end())
      self->send(it->second, nccl_version_atom::value, *h);
  auto sent = pub.send(*h, w->data);
  if (!sent) {
    ++st.nccl_failures;
    log_nccl(self, describe(sent.error()) + " (training goes on; bytes serve this version)");
    return false;
  }
  return true;
}

/// Invitees that did not accept in time were dropped by the seal; the live
/// ones are invited again after a cool-down (a sampler stuck in one long
/// decode step recovers; a zombie costs one invite round per cool-down).
void schedule_rejoins(learner_actor_t* self) {
  auto& st = self->state;
  for (auto& m : st.nccl.publisher->planner().dropped()) {
    log_nccl(self, "member " + m + " did not accept in time; bytes serve it, invited again "
                     "in " + std::to_string(st.nccl.rejoin_after) + " versions");
    st.rejoin_at[m] = st.backend->version() + st.nccl.rejoin_after;
  }
}

/// Joins again the dropped members whose cool-down is over.
void rejoin_due(learner_actor_t* self) {
  auto& st = self->state;
  for (auto it = st.rejoin_at.begin(); it != st.rejoin_at.end();) {
    if (st.backend->version() < it->second) {
      ++it;
      continue;
    }
    if (st.members.count(it->first) > 0)
      st.nccl.publisher->planner().join(it->first);
    it = st.rejoin_at.erase(it);
  }
}

/// Seals `epoch`, tells each member its rank, joins as rank 0 and sends the
/// current version on the new communicator.
void open_epoch(learner_actor_t* self, uint64_t epoch) {
  auto& st = self->state;
  auto& pub = *st.nccl.publisher;
  auto roster = pub.seal(epoch);
  schedule_rejoins(self);
  if (!roster) {
    log_nccl(self, describe(roster.error()));
    return;
  }
  auto id = nccl::to_bytes(roster->id);
  for (int r = 1; r < roster->nranks(); ++r)
    if (auto it = st.members.find(roster->ranks[r]); it != st.members.end())
      self->send(it->second, nccl_open{epoch, id, r, roster->nranks(), pub.bucket_bytes()});
  if (auto err = pub.init(*roster)) {
    ++st.nccl_failures;
    log_nccl(self, describe(err));
    return;
  }
  log_nccl(self, "epoch " + std::to_string(epoch) + " open with "
                   + std::to_string(roster->nranks() - 1) + " member(s)");
  // This version also went out as bytes when the epoch began forming, so a
  // failure here costs nothing but the log line.
  send_current(self);
}

/// Invites every candidate of a forming epoch; seals on the last accept or
/// at the accept deadline, whichever comes first.
void invite(learner_actor_t* self, const nccl::boundary_step& step) {
  auto& st = self->state;
  for (auto& m : step.invite) {
    auto it = st.members.find(m);
    if (it == st.members.end())
      continue; // gone: it cannot accept and is dropped at the seal
    self->request(it->second, st.nccl.accept_timeout, nccl_invite_atom::value, step.epoch)
      .then(
        [=](nccl_accept_atom, const std::string& name, uint64_t epoch) {
          auto& planner = self->state.nccl.publisher->planner();
          planner.accept(name, epoch);
          if (planner.all_accepted())
            open_epoch(self, epoch);
        },
        [=](caf::error&) { /* the seal timer decides */ });
  }
  self->delayed_send(self, st.nccl.accept_timeout, nccl_seal_atom::value, step.epoch);
}

/// The version boundary on NCCL. True when the version was broadcast on the
/// live epoch.
bool nccl_boundary(learner_actor_t* self) {
  auto& pub = *self->state.nccl.publisher;
  if (pub.busy())
    return false; // an invite round or init is under way: bytes meanwhile
  rejoin_due(self);
  auto step = pub.boundary();
  if (step.kind == nccl::boundary_step::form) {
    invite(self, step);
    return false;
  }
  if (step.kind == nccl::boundary_step::broadcast)
    return send_current(self);
  return false; // skip: nobody is on NCCL, so bytes serve everyone
}

/// True when every sampler the learner knows of (members that left NCCL
/// included) is in the live epoch.
bool every_sampler_on_nccl(const learner_state& st) {
  const auto& pub = *st.nccl.publisher;
  if (pub.planner().state() != nccl::epoch_state::active)
    return false;
  for (auto& [name, handle] : st.members)
    if (pub.planner().roster().rank_of(name) < 1)
      return false;
  return true;
}

/// Delivers the current version: over NCCL where it can, as bytes through
/// the broadcaster wherever NCCL did not reach every sampler.
void publish(learner_actor_t* self) {
  auto& st = self->state;
  if (st.nccl.publisher && nccl_boundary(self) && every_sampler_on_nccl(st))
    return;
  self->send(st.broadcaster, publish_atom::value, st.backend->version(),
             st.backend->export_weights());
}

void on_member_down(learner_actor_t* self, const caf::down_msg& dm) {
  auto& st = self->state;
  for (auto it = st.members.begin(); it != st.members.end(); ++it) {
    if (it->second.address() != dm.source)
      continue;
    if (st.nccl.publisher)
      st.nccl.publisher->planner().lost(it->first);
    st.rejoin_at.erase(it->first);
    log_nccl(self, "member " + it->first + " is down: " + describe(dm.reason));
    st.members.erase(it);
    return;
  }
}

caf::expected<train_report> train_on(learner_actor_t* self, const train_batch& batch) {
  auto& st = self->state;
  if (batch.expected_version != st.backend->version())
    return make_error(errc::version_mismatch,
                      "batch formed for v" + std::to_string(batch.expected_version)
                        + ", learner is at v" + std::to_string(st.backend->version()));
  auto built = build_train_batch(batch.groups, st.grpo);
  if (!built)
    return built.error();
  auto t0 = std::chrono::steady_clock::now();
  auto stats = st.backend->train(built->sequences);
  if (!stats)
    return stats.error();
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  train_report report;
  for (auto& s : *stats)
    report.steps.push_back(to_metrics(s, *built, secs / stats->size()));
  publish(self);
  return report;
}

} // namespace

caf::behavior learner_actor(learner_actor_t* self, grpo_config grpo,
                            std::shared_ptr<training_backend> backend,
                            caf::actor broadcaster, learner_nccl nccl) {
  auto& st = self->state;
  st.backend = std::move(backend);
  st.grpo = grpo;
  st.broadcaster = std::move(broadcaster);
  st.nccl = std::move(nccl);
  self->set_down_handler([=](caf::down_msg& dm) { on_member_down(self, dm); });
  self->send(st.broadcaster, publish_atom::value, st.backend->version(),
             st.backend->export_weights());
  return {
    [=](const train_batch& batch) -> caf::result<train_report> {
      auto r = train_on(self, batch);
      if (!r)
        return r.error();
      return std::move(*r);
    },
    [=](nccl_join_atom, const std::string& name, const caf::actor& member) {
      auto& st = self->state;
      if (!st.nccl.publisher || !member)
        return;
      self->monitor(member);
      st.members[name] = member;
      st.nccl.publisher->planner().join(name); // takes effect at the next boundary
    },
    [=](nccl_leave_atom, const std::string& name) {
      auto& st = self->state;
      if (!st.nccl.publisher)
        return;
      st.nccl.publisher->planner().leave(name); // released at the next boundary
      log_nccl(self, "member " + name + " left after a failure of its own; bytes serve it");
    },
    [=](nccl_seal_atom, uint64_t epoch) {
      auto& pub = self->state.nccl.publisher;
      if (pub && pub->planner().state() == nccl::epoch_state::forming
          && pub->planner().next_epoch() == epoch + 1)
        open_epoch(self, epoch);
    },
    [=](save_atom, const std::string& path) -> caf::result<int64_t> {
      auto& be = *self->state.backend;
      if (auto err = write_checkpoint(path, be.version(), be.export_weights()))
        return err;
      return be.version();
    },
  };
}

} // namespace tandem
