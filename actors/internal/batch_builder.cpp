#include "actors/internal/batch_builder.hpp"

#include <cmath>
#include <string>

#include "runtime/error.hpp"

namespace tandem {

namespace {

caf::error check_group(const scored_group& g, size_t group_size) {
  auto where = "group " + std::to_string(g.rollout.group_id) + ": ";
  if (g.rollout.completions.size() != group_size || g.rewards.size() != group_size)
    return make_error(errc::malformed_message, where + "completion/reward count mismatch");
  for (auto& c : g.rollout.completions)
    if (c.logprobs.size() != c.tokens.size() || c.versions.size() != c.tokens.size())
      return make_error(errc::malformed_message, where + "logprobs/versions do not match tokens");
  return caf::none;
}

} // namespace

caf::expected<built_batch> build_train_batch(const std::vector<scored_group>& groups,
                                             const grpo_config& cfg) {
  if (groups.empty())
    return make_error(errc::invalid_argument, "empty training batch");
  auto group_size = groups.front().rollout.completions.size();
  if (group_size == 0)
    return make_error(errc::malformed_message, "group without completions");
  std::vector<double> rewards;
  for (auto& g : groups) {
    if (auto err = check_group(g, group_size))
      return err;
    rewards.insert(rewards.end(), g.rewards.begin(), g.rewards.end());
  }
  auto adv = compute_advantages(rewards, static_cast<int32_t>(group_size), cfg.scaling,
                                cfg.advantage_eps, cfg.baseline, cfg.baseline_value);
  if (!adv)
    return adv.error();
  built_batch out;
  out.zero_std_fraction = adv->zero_std_fraction;
  size_t k = 0;
  double abs_sum = 0;
  for (auto& g : groups)
    for (auto& c : g.rollout.completions) {
      auto a = adv->advantages[k++];
      abs_sum += std::fabs(a);
      if (c.tokens.empty())
        continue;
      out.sequences.push_back(
        train_sequence{g.rollout.prompt, c.tokens, c.logprobs, c.versions, a});
    }
  out.advantage_abs_mean = abs_sum / static_cast<double>(rewards.size());
  return out;
}

} // namespace tandem
