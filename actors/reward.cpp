// reward.cpp: the reward actor; scoring itself is score_group (no actors).
#include "actors/reward.hpp"

#include <caf/all.hpp>

#include "actors/internal/health_cell.hpp"
#include "runtime/error.hpp"

namespace tandem {

caf::expected<scored_group> score_group(const rollout_group& g,
                                        const text_tokenizer& tok,
                                        const reward_weights& weights) {
  if (g.completions.empty())
    return make_error(errc::malformed_message,
                      "group " + std::to_string(g.group_id) + " has no completions");
  scored_group out;
  out.rollout = g;
  const auto vocab = tok.vocab_size(); // one virtual call, not one per token
  for (auto& c : g.completions) {
    for (auto t : c.tokens)
      if (t < 0 || t >= vocab)
        return make_error(errc::malformed_message,
                          "group " + std::to_string(g.group_id) + ": token "
                            + std::to_string(t) + " out of vocabulary");
    auto r = tok.score(c.tokens, g.answer, weights);
    out.rewards.push_back(r.total);
    out.accuracy.push_back(r.accuracy);
    out.format.push_back(r.format);
  }
  return out;
}

caf::expected<scored_group> score_group_with(const rollout_group& g,
                                             const text_tokenizer& tok,
                                             reward_scorer& scorer) {
  if (g.completions.empty())
    return make_error(errc::malformed_message,
                      "group " + std::to_string(g.group_id) + " has no completions");
  std::vector<score_item> batch;
  auto prompt = tok.decode(g.prompt);
  const auto vocab = tok.vocab_size();
  for (auto& c : g.completions) {
    for (auto t : c.tokens)
      if (t < 0 || t >= vocab)
        return make_error(errc::malformed_message,
                          "group " + std::to_string(g.group_id) + ": token "
                            + std::to_string(t) + " out of vocabulary");
    batch.push_back({prompt, tok.decode(c.tokens), g.answer});
  }
  auto rewards = scorer.score(batch);
  if (!rewards)
    return rewards.error();
  if (rewards->size() != batch.size())
    return make_error(errc::malformed_message, "reward scorer returned "
                                                 + std::to_string(rewards->size())
                                                 + " rewards for " + std::to_string(batch.size()));
  scored_group out;
  out.rollout = g;
  out.accuracy = *rewards;
  out.format.assign(rewards->size(), 0.0);
  out.rewards = std::move(*rewards);
  return out;
}

caf::behavior reward_actor(caf::event_based_actor* self, reward_weights weights) {
  return tokenized_reward_actor(self, weights, std::make_shared<char_tokenizer>(), "reward");
}

namespace {

// The reward actor's one handler, around any scoring function.
template <class Score>
caf::behavior scoring_behavior(caf::event_based_actor* self, std::string name, Score score) {
  std::shared_ptr<health_cell> health = enlist_health(self->home_system(), "reward", name,
                                                      caf::actor_cast<caf::actor>(self));
  if (health)
    health->set_state(actor_state::ready);
  return {
    [=](const rollout_group& g) -> caf::result<scored_group> {
      auto s = score(g);
      if (!health)
        return s ? caf::result<scored_group>(std::move(*s)) : s.error();
      health->set_in_flight(0);
      if (!s) {
        health->record_error("refused group " + std::to_string(g.group_id) + ": "
                             + describe(s.error()));
        return s.error();
      }
      health->add_tokens(g.completions.size());
      return std::move(*s);
    },
  };
}

} // namespace

caf::behavior tokenized_reward_actor(caf::event_based_actor* self, reward_weights weights,
                                     std::shared_ptr<const text_tokenizer> tok,
                                     std::string name) {
  return scoring_behavior(self, std::move(name), [=](const rollout_group& g) {
    return score_group(g, *tok, weights);
  });
}

caf::behavior scorer_reward_actor(caf::event_based_actor* self,
                                  std::shared_ptr<reward_scorer> scorer,
                                  std::shared_ptr<const text_tokenizer> tok, std::string name) {
  return scoring_behavior(self, std::move(name), [=](const rollout_group& g) {
    return score_group_with(g, *tok, *scorer);
  });
}

} // namespace tandem
