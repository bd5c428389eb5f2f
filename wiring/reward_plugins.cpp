// reward_plugins.cpp: reward.kind → scorer and reward actor.
#include "wiring/reward_plugins.hpp"

#include <caf/all.hpp>

#include "actors/reward.hpp"
#include "tasks/command_scorer.hpp"
#include "tasks/http_scorer.hpp"

namespace tandem {

namespace {

std::chrono::milliseconds millis(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
}

} // namespace

reward_scorer_factory make_reward_scorer_factory(const reward_section& r) {
  switch (r.kind) {
    case reward_kind::rules:
      return {};
    case reward_kind::math: {
      auto w = r.weights;
      return [w]() -> caf::expected<std::shared_ptr<reward_scorer>> {
        return std::shared_ptr<reward_scorer>(std::make_shared<math_scorer>(w));
      };
    }
    case reward_kind::http: {
      http_scorer_config c;
      c.url = r.url;
      c.timeout = millis(r.timeout_s);
      c.retries = r.retries;
      c.concurrency = r.concurrency;
      auto made = http_scorer::make(c);
      if (!made) {
        auto err = made.error();
        return [err]() -> caf::expected<std::shared_ptr<reward_scorer>> { return err; };
      }
      std::shared_ptr<reward_scorer> shared = std::move(*made);
      return [shared]() -> caf::expected<std::shared_ptr<reward_scorer>> { return shared; };
    }
    case reward_kind::command: {
      auto argv = r.command;
      auto n = r.instances;
      auto t = millis(r.timeout_s);
      return [argv, n, t]() -> caf::expected<std::shared_ptr<reward_scorer>> {
        return std::shared_ptr<reward_scorer>(
          std::make_shared<command_scorer>(command_factory(argv), n, t, t));
      };
    }
  }
  return {};
}

caf::expected<caf::actor> spawn_reward(caf::actor_system& sys, const reward_weights& weights,
                                       const reward_scorer_factory& plugin,
                                       std::shared_ptr<const text_tokenizer> tok,
                                       std::string name, bool detached) {
  if (!plugin)
    return sys.spawn(tokenized_reward_actor, weights, std::move(tok), std::move(name));
  auto scorer = plugin();
  if (!scorer)
    return scorer.error();
  if (detached)
    return sys.spawn<caf::detached>(scorer_reward_actor, *scorer, std::move(tok),
                                    std::move(name));
  return sys.spawn(scorer_reward_actor, *scorer, std::move(tok), std::move(name));
}

} // namespace tandem
