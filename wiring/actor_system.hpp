// actor_system.hpp: the actor-system settings every tandem process uses.
//
// Thread budget: every LibTorch actor (sampler, learner) is detached, so it
// owns one OS thread plus its configured intra-op threads; the scheduler runs
// only the light control-plane actors (controller, reward, broadcaster).
#pragma once

#include <caf/actor_system_config.hpp>

namespace tandem {

/// Message types, error category, a small scheduler, the middleman with
/// heartbeats (a hung peer is detected within about 2 s instead of never).
void configure_actor_system(caf::actor_system_config& cfg);

} // namespace tandem
