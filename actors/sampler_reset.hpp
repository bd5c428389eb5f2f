// sampler_reset.hpp: the message a worker process sends each of its samplers
// when the head they served is gone and when it rejoined a restarted head
// (app/worker_command.cpp). The real sampler (sampler.hpp) and the simulated
// one (sim_sampler.hpp) accept it the same way.
//
// On sampler_reset a sampler
//  - fails its queued requests and the active one with errc::peer_down (their
//    replies would go to the lost controller) and drops the active batch's
//    partial completions;
//  - forgets its weight version and any version it was assembling: it decodes
//    nothing until a version arrives again, and then takes any version, also
//    one older than it held. A restarted head resumes from its checkpoint,
//    older than the newest version the lost head reached, and its learner
//    knows nothing above that: tokens tagged with a newer version would be
//    unaccountable. The weights still loaded in the backend are never used
//    again (a batch starts only after a version was installed anew).
//  - takes `outbox` as its rollout outbox when set (the restarted head's
//    rollout endpoint differs from the lost head's).
// Outside a reset a version only grows: an older or equal one is ignored.
//
// The message holds a pointer and never leaves its process.
#pragma once

#include <memory>

#include <caf/allowed_unsafe_message_type.hpp>

#include "actors/backends.hpp"

namespace tandem {

struct sampler_reset {
  /// Null: keep the current outbox.
  std::shared_ptr<rollout_outbox> outbox;
};

} // namespace tandem

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(tandem::sampler_reset)
