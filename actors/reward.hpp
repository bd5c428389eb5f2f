// reward: scores every completion of a group with the task's verifiable rules.
// accepts:   rollout_group (request) -> scored_group
// sends:     nothing else
// waits for: nothing (stateless; any number may run, in any process)
// unblocked by: -
//
// A group whose tokens are out of the tokenizer's range is rejected with
// malformed_message (the controller requeues it) instead of being scored.
// The tokenizer (char_tokenizer, or a run's tokenizer.json) decides how a
// completion is decoded and scored (text_tokenizer::score).
//
// With a plug-in (reward.kind: math | http | command, tasks/reward_scorer.hpp)
// scorer_reward_actor decodes prompt and completions and asks the scorer; it
// blocks while the scorer works, so it is spawned detached (its own thread).
// A scorer's error is the reply's error (malformed_message = invalid, timeout,
// else error in the controller's counts) and the group is requeued: a failed
// scoring is never a reward of 0. A plug-in's reward is reported as the
// group's accuracy as well (format 0): it has no components.
#pragma once

#include <memory>

#include <caf/event_based_actor.hpp>

#include "runtime/messages.hpp"
#include "tasks/reward_rules.hpp"
#include "tasks/reward_scorer.hpp"
#include "tasks/text_tokenizer.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {

/// Pure scoring of one group (tested without actors).
caf::expected<scored_group> score_group(const rollout_group& g,
                                        const text_tokenizer& tok,
                                        const reward_weights& weights);

/// Pure scoring of one group by a plug-in (blocks while `scorer` works).
caf::expected<scored_group> score_group_with(const rollout_group& g,
                                             const text_tokenizer& tok,
                                             reward_scorer& scorer);

/// Scores with the built-in char_tokenizer.
caf::behavior reward_actor(caf::event_based_actor* self, reward_weights weights);

/// Scores with `tok` (shared, immutable); `name` (unique in the run) is its
/// line on the monitoring console.
caf::behavior tokenized_reward_actor(caf::event_based_actor* self, reward_weights weights,
                                     std::shared_ptr<const text_tokenizer> tok,
                                     std::string name);

/// Scores with a plug-in; spawn with caf::detached (scoring blocks).
caf::behavior scorer_reward_actor(caf::event_based_actor* self,
                                  std::shared_ptr<reward_scorer> scorer,
                                  std::shared_ptr<const text_tokenizer> tok, std::string name);

} // namespace tandem
