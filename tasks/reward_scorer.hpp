// reward_scorer.hpp: scoring plug-ins (reward.kind: math | http | command),
// torch-free and actor-free. A scorer turns a batch of texts into one reward
// per completion, or a typed error:
//   malformed_message  the scorer's reply was invalid (wrong count, not a
//                      number, garbage): never retried
//   timeout            no reply within the per-call deadline
//   io_failure / process_failure / other   transport or process errors
// The reward actor (actors/reward.hpp) replies with that error, so the
// controller counts it (invalid / timeout / error) and requeues the group:
// a failed scoring is never a silent 0.
//
// Thread safety: score() may block (network, child process); one thread at
// a time unless an implementation says otherwise.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "tasks/reward_rules.hpp"

namespace tandem {

/// One completion to score.
struct score_item {
  std::string prompt;
  std::string completion;
  std::string answer;
};

class reward_scorer {
public:
  virtual ~reward_scorer() = default;
  /// One reward per item, in order, or a typed error (see the top).
  virtual caf::expected<std::vector<double>> score(const std::vector<score_item>& batch) = 0;
};

/// reward.kind: math — math::grade on each decoded completion.
class math_scorer : public reward_scorer {
public:
  explicit math_scorer(reward_weights w) : weights_(w) {}
  caf::expected<std::vector<double>> score(const std::vector<score_item>& batch) override;

private:
  reward_weights weights_;
};

/// Parses `{"rewards": [x, ...]}` (extra fields ignored) holding exactly
/// `count` finite numbers; malformed_message otherwise.
caf::expected<std::vector<double>> parse_rewards_reply(std::string_view body, size_t count);

/// Parses one `{"reward": x}` line (finite number); malformed_message otherwise.
caf::expected<double> parse_reward_line(std::string_view line);

} // namespace tandem
