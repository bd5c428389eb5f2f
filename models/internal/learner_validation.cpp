// learner_validation.cpp: see learner_validation.hpp.
#include "models/internal/learner_validation.hpp"

#include <cmath>
#include <string>

#include "models/internal/device_precision.hpp"
#include "models/internal/transformer.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/reduce_collective.hpp"

namespace tandem::internal {

caf::error validate_sequence(const model_config& cfg, const train_sequence& s,
                             size_t index) {
  auto bad = [index](const std::string& what) {
    return make_error(errc::invalid_argument, "sequence " + std::to_string(index) + ": " + what);
  };
  if (s.completion.empty())
    return bad("empty completion");
  if (s.behav_logprobs.size() != s.completion.size())
    return bad("behav_logprobs has " + std::to_string(s.behav_logprobs.size())
               + " entries for " + std::to_string(s.completion.size()) + " tokens");
  if (s.versions.size() != s.completion.size())
    return bad("versions has " + std::to_string(s.versions.size()) + " entries for "
               + std::to_string(s.completion.size()) + " tokens");
  if (!std::isfinite(s.advantage))
    return bad("non-finite advantage");
  for (auto lp : s.behav_logprobs)
    if (!std::isfinite(lp))
      return bad("non-finite behaviour log-prob");
  return validate_row(cfg, {&s.prompt, &s.completion}, index);
}

caf::expected<step_numerics> numerics_of(const learner_settings& s) {
  auto device = parse_device(s.device, "learner.device");
  if (!device)
    return device.error();
  auto precision = parse_precision(s.precision, *device, "learner.precision");
  if (!precision)
    return precision.error();
  if (s.micro_batch_tokens < 0)
    return make_error(errc::invalid_argument, "learner.micro_batch_tokens must be >= 0");
  // A sequence is never split, so the budget must hold the longest one.
  if (s.micro_batch_tokens > 0 && s.micro_batch_tokens < s.model.max_seq_len)
    return make_error(errc::invalid_argument,
                      "learner.micro_batch_tokens " + std::to_string(s.micro_batch_tokens)
                        + " is below max_seq_len " + std::to_string(s.model.max_seq_len)
                        + " (0 = no micro-batches)");
  step_numerics n;
  n.device = *device;
  n.autocast = *precision == precision_mode::bf16_autocast;
  n.causal_only = device->is_cuda();
  n.temperature = s.temperature;
  return n;
}

caf::error validate_settings(const learner_settings& s) {
  if (auto err = validate(s.model))
    return err;
  auto bad = [](std::string what) { return make_error(errc::invalid_argument, std::move(what)); };
  if (!(s.temperature > 0)) return bad("learner: temperature must be > 0");
  if (s.max_new_tokens < 1) return bad("learner: max_new_tokens must be >= 1");
  if (s.mini_batches < 1) return bad("learner: mini_batches must be >= 1");
  const auto& o = s.optimizer;
  if (!(o.lr > 0)) return bad("optimizer.lr must be > 0");
  if (auto why = lr_schedule_problem(o.lr, o.schedule); !why.empty())
    return bad("optimizer.schedule: " + why);
  if (!(o.weight_decay >= 0) || !(o.grad_clip >= 0))
    return bad("optimizer: weight_decay and grad_clip must be >= 0");
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
    return bad("optimizer: betas must be in [0, 1)");
  if (!(s.grpo.kl_beta >= 0)) return bad("grpo.kl_beta must be >= 0");
  if (s.ranks < 1) return bad("learner.ranks must be >= 1");
  if (s.rank < 0 || s.rank >= s.ranks)
    return bad("learner: rank " + std::to_string(s.rank) + " is outside 0.."
               + std::to_string(s.ranks - 1) + " (learner.ranks " + std::to_string(s.ranks) + ")");
  if (s.zero_stage < 0 || s.zero_stage > 2) return bad("learner.zero_stage must be 0, 1 or 2");
  if (s.zero_stage > 0 && s.ranks == 1)
    return bad("learner.zero_stage " + std::to_string(s.zero_stage)
               + " shards across ranks: it needs learner.ranks > 1");
  if (s.grad_bucket_bytes < 1) return bad("learner.grad_bucket_mb must be > 0");
  if (s.collective_timeout_ms < 1) return bad("learner: collective_timeout_ms must be > 0");
  if (auto n = numerics_of(s); !n)
    return n.error();
  return {};
}

caf::error check_collective(const learner_settings& s) {
  auto bad = [](std::string what) { return make_error(errc::invalid_argument, std::move(what)); };
  if (s.ranks == 1)
    return s.collective ? bad("learner: a collective with learner.ranks 1 would do nothing")
                        : caf::error{};
  if (!s.collective || !s.collective->ready())
    return bad("learner: learner.ranks " + std::to_string(s.ranks) + " needs a ready collective");
  if (s.collective->ranks() != s.ranks || s.collective->rank() != s.rank)
    return bad("learner: the collective is rank " + std::to_string(s.collective->rank()) + " of "
               + std::to_string(s.collective->ranks()) + ", the settings say rank "
               + std::to_string(s.rank) + " of " + std::to_string(s.ranks));
  const bool cuda = s.device.rfind("cuda", 0) == 0;
  if (cuda != s.collective->device_memory())
    return bad(std::string("learner: learner.device ") + s.device + " needs a collective on "
               + (cuda ? "device" : "host") + " memory (NCCL on CUDA, threads on the CPU)");
  return {};
}

} // namespace tandem::internal
