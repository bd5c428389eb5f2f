#include "wiring/actor_system.hpp"

#include <caf/io/middleman.hpp>

#include "actors/learner_rank.hpp"
#include "runtime/cpu_budget.hpp"
#include "runtime/messages.hpp"

namespace tandem {

void configure_actor_system(caf::actor_system_config& cfg) {
  register_message_types(cfg);
  register_learner_rank_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  configure_quiet_scheduler(cfg);
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds{500}});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds{2}});
}

} // namespace tandem
