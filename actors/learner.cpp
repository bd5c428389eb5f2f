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
  m.behav_weight_masked = l.behav_weight_masked;
  m.clip_dual = l.clip_dual, m.clip_sequence = l.clip_sequence;
  m.sampler_logp_abs_diff = s.sampler_logp_abs_diff;
  m.mismatch_logp_abs = s.mismatch_logp_abs;
  m.mismatch_k3 = s.mismatch_k3;
  m.mismatch_tokens = s.mismatch_tokens;
  m.lr = s.lr;
  m.entropy_coef = s.entropy_coef;
  m.grad_norm = s.grad_norm;
  m.advantage_abs_mean = b.advantage_abs_mean;
  m.zero_std_fraction = b.zero_std_fraction;
  m.tokens = s.tokens;
  m.seconds = seconds;
  return m;
}

void log_nccl(const std::string& what) {
  std::cerr << "[learner] nccl: " << what << "\n";
}

/// The weight roster's hands: CAF messages to the broadcaster, the mirror
/// and the members (by name), and the learner's weights.
class learner_port final : public weight_port {
public:
  explicit learner_port(learner_actor_t* self) : self_(self) {}

  caf::expected<flat_weights> device_weights() override {
    return self_->state.backend->device_weights();
  }

  void publish_bytes(int64_t version, byte_targets to) override {
    auto& st = self_->state;
    // One message for both: receivers share the exported bytes.
    auto msg = caf::make_message(publish_atom::value, version, st.backend->export_weights());
    if (to.broadcaster)
      self_->send(st.routes.broadcaster, msg);
    if (to.mirror && st.routes.mirror)
      self_->send(st.routes.mirror, msg);
  }

  /// Invite requests, each bounded by the accept deadline, and the seal
  /// timer at that deadline: the last accept or the timer seals.
  void invite(const std::vector<nccl::member_id>& members, uint64_t epoch) override {
    auto self = self_;
    auto timeout = self->state.accept_timeout;
    for (auto& m : members)
      if (auto h = handle(m))
        self->request(h, timeout, nccl_invite_atom::value, epoch)
          .then([=](nccl_accept_atom, const std::string& name,
                    uint64_t e) { self->state.roster->accept(name, e); },
                [](caf::error&) { /* the seal timer decides */ });
    self->delayed_send(self, timeout, nccl_seal_atom::value, epoch);
  }

  void open(const nccl::member_id& member, const nccl_open& rank) override {
    if (auto& hc = self_->state.health)
      hc->set_nccl_epoch(rank.epoch);
    if (auto h = handle(member))
      self_->send(h, rank);
  }

  void announce(const nccl::member_id& member, const nccl::version_header& h) override {
    if (auto a = handle(member))
      self_->send(a, nccl_version_atom::value, h);
  }

  /// The roster's lines: an epoch opening is news; anything else is a
  /// failure, shown as the learner's last error on the console, and a
  /// missed accept or collective deadline counts as a deadline breach.
  void log(const std::string& line) override {
    log_nccl(line);
    auto& hc = self_->state.health;
    if (!hc || (line.rfind("epoch ", 0) == 0 && line.find(" open with ") != std::string::npos))
      return;
    hc->record_error("nccl: " + line);
    if (line.find("in time") != std::string::npos || line.find("timeout") != std::string::npos)
      hc->add_deadline_breach();
  }

private:
  caf::actor handle(const nccl::member_id& name) const {
    auto& hs = self_->state.samplers;
    auto it = hs.find(name);
    return it == hs.end() ? caf::actor{} : it->second; // gone: dropped at the seal
  }

  learner_actor_t* self_;
};

void on_sampler(learner_actor_t* self, const sampler_hello& hello) {
  auto& st = self->state;
  if (!hello.handle)
    return;
  self->monitor(hello.handle);
  st.samplers[hello.name] = hello.handle;
  if (st.roster->join(hello.name, hello.weights_via_data_plane) != weight_route::data_plane)
    self->send(st.routes.broadcaster, subscribe_atom::value, hello.handle);
}

void on_sampler_down(learner_actor_t* self, const caf::down_msg& dm) {
  auto& hs = self->state.samplers;
  for (auto it = hs.begin(); it != hs.end(); ++it) {
    if (it->second.address() != dm.source)
      continue;
    self->state.roster->lost(it->first);
    if (self->state.roster->publisher())
      log_nccl("member " + it->first + " is down: " + describe(dm.reason));
    hs.erase(it);
    return;
  }
}

/// The learner's line on the console: busy in a phase, else ready.
void set_phase(learner_actor_t* self, learner_phase p) {
  auto& h = self->state.health;
  if (!h)
    return;
  h->set_phase(p);
  h->set_state(p == learner_phase::waiting_for_batch ? actor_state::ready : actor_state::busy);
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
  set_phase(self, learner_phase::forward);
  auto stats = st.backend->train(built->sequences);
  if (!stats) {
    set_phase(self, learner_phase::waiting_for_batch);
    if (st.health)
      st.health->record_error(describe(stats.error()));
    return stats.error();
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  train_report report;
  for (auto& s : *stats)
    report.steps.push_back(to_metrics(s, *built, secs / stats->size()));
  set_phase(self, learner_phase::publishing);
  st.roster->deliver(st.backend->version());
  set_phase(self, learner_phase::waiting_for_batch);
  if (st.health)
    st.health->set_version(st.backend->version());
  return report;
}

} // namespace

caf::behavior learner_actor(learner_actor_t* self, grpo_config grpo,
                            std::shared_ptr<training_backend> backend,
                            weight_routes routes, learner_nccl nccl) {
  auto& st = self->state;
  st.backend = std::move(backend);
  st.grpo = grpo;
  st.routes = std::move(routes);
  st.accept_timeout = nccl.accept_timeout;
  weight_roster_settings ws{std::move(nccl.publisher), nccl.rejoin_after,
                            static_cast<bool>(st.routes.mirror)};
  st.roster = std::make_unique<weight_roster>(std::move(ws), std::make_unique<learner_port>(self));
  self->set_down_handler([=](caf::down_msg& dm) { on_sampler_down(self, dm); });
  st.health = enlist_health(self->home_system(), "learner", "learner",
                            caf::actor_cast<caf::actor>(self));
  if (auto h = st.health) {
    h->set_version(st.backend->version());
    st.backend->set_phase_hook([h](learner_phase p) { h->set_phase(p); });
  }
  set_phase(self, learner_phase::waiting_for_batch);
  st.roster->deliver(st.backend->version()); // no sampler yet: bytes
  return {
    [=](const train_batch& batch) -> caf::result<train_report> {
      auto r = train_on(self, batch);
      if (!r)
        return r.error();
      return std::move(*r);
    },
    [=](const sampler_hello& hello) { on_sampler(self, hello); },
    [=](nccl_leave_atom, const std::string& name) {
      if (self->state.roster->leave(name))
        log_nccl("member " + name + " left after a failure of its own; bytes serve it");
    },
    [=](nccl_seal_atom, uint64_t epoch) { self->state.roster->seal(epoch); },
    [=](snapshot_atom) -> caf::result<learner_snapshot> {
      auto& be = *self->state.backend;
      return learner_snapshot{be.version(), be.export_weights(), be.export_state()};
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
