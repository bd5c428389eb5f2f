#include "actors/learner.hpp"

#include <chrono>

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
  self->send(st.broadcaster, publish_atom::value, st.backend->version(),
             st.backend->export_weights());
  return report;
}

} // namespace

caf::behavior learner_actor(learner_actor_t* self, grpo_config grpo,
                            std::shared_ptr<training_backend> backend,
                            caf::actor broadcaster) {
  auto& st = self->state;
  st.backend = std::move(backend);
  st.grpo = grpo;
  st.broadcaster = std::move(broadcaster);
  self->send(st.broadcaster, publish_atom::value, st.backend->version(),
             st.backend->export_weights());
  return {
    [=](const train_batch& batch) -> caf::result<train_report> {
      auto r = train_on(self, batch);
      if (!r)
        return r.error();
      return std::move(*r);
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
