// run_config.cpp: settings derived from a validated run config.
#include "topology/run_config.hpp"

#include <algorithm>

namespace tandem {

learner_settings make_learner_settings(const run_config& cfg) {
  learner_settings s;
  s.model = cfg.model;
  s.grpo = cfg.learner.grpo;
  s.optimizer = cfg.learner.optimizer;
  s.optimizer.schedule.total_steps = cfg.run.steps; // linear / cosine end there
  // The learner recomputes the samplers' log-probs, so it must use their
  // temperature; max_new_tokens is the default constant normaliser.
  s.temperature = cfg.sampler.sampling.temperature;
  s.max_new_tokens = cfg.sampler.sampling.max_new_tokens;
  s.mini_batches = cfg.learner.mini_batches;
  s.device = cfg.learner.device;
  s.precision = cfg.learner.precision;
  s.micro_batch_tokens = cfg.learner.micro_batch_tokens;
  s.activation_checkpointing = cfg.learner.activation_checkpointing;
  s.seed = cfg.run.seed;
  // Data parallelism: rank, device and collective are per rank (wiring's
  // make_trainer sets them). A collective call waits at most a third of
  // timeouts.train_s, and the data-parallel backend joins the other ranks at
  // most another third after rank 0 returned (wiring/components.cpp): so a
  // dead or hung rank's typed error reaches the controller before its own
  // train timeout whenever the step's compute takes less than a third of it.
  s.ranks = cfg.learner.ranks;
  s.zero_stage = cfg.learner.zero_stage;
  s.grad_bucket_bytes = cfg.learner.grad_bucket_mb << 20;
  s.collective_timeout_ms = std::max<int64_t>(1, static_cast<int64_t>(cfg.timeouts.train_s * 1000.0 / 3));
  return s;
}

int32_t prompt_token_limit(const run_config& cfg) {
  if (cfg.task.max_prompt_tokens > 0)
    return cfg.task.max_prompt_tokens;
  return cfg.model.max_seq_len - cfg.sampler.sampling.max_new_tokens;
}

} // namespace tandem
