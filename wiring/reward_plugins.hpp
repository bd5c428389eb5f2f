// reward_plugins.hpp: the reward actors of reward.kind (topology/run_config.hpp):
// the built-in rules, or a plug-in scorer (tasks/reward_scorer.hpp) whose
// actor runs detached because scoring blocks.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "tasks/reward_scorer.hpp"
#include "tasks/text_tokenizer.hpp"
#include "topology/run_config.hpp"

namespace tandem {

/// A scorer for one reward actor; empty for reward.kind: rules. The http
/// scorer is shared by every actor of a process (reward.concurrency bounds
/// the calls of them all); math and command scorers are one per actor.
using reward_scorer_factory = std::function<caf::expected<std::shared_ptr<reward_scorer>>()>;

reward_scorer_factory make_reward_scorer_factory(const reward_section& r);

/// Spawns one reward actor: rules when `plugin` is empty, else a scorer
/// actor (detached unless `detached` is false, as under CAF's test coordinator).
caf::expected<caf::actor> spawn_reward(caf::actor_system& sys, const reward_weights& weights,
                                       const reward_scorer_factory& plugin,
                                       std::shared_ptr<const text_tokenizer> tok,
                                       std::string name, bool detached = true);

} // namespace tandem
