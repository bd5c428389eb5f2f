// learner: runs the GRPO update on scored batches and publishes every new
// policy version.
// accepts:   train_batch (request) -> train_report
//            save_atom(path)        (request) -> version written to path
//            snapshot_atom          (request) -> learner_snapshot: weights and
//                                   training state at the current version
//                                   (a checkpoint; between two steps)
//            sampler_hello          a sampler joined the run (forwarded once by
//                                   the controller): its name, handle and
//                                   whether its process takes weights over
//                                   the ZeroMQ data plane
//            nccl_leave_atom(name)  a member giving up on NCCL (bytes only)
//            nccl_seal_atom(epoch)  (to itself) accept deadline
//            down_msg               a sampler died
// sends:     publish_atom(version, bytes) -> weight broadcaster, weights mirror
//            subscribe_atom(sampler)      -> weight broadcaster (CAF-fed samplers)
//            nccl_invite_atom(epoch) (request) -> member: nccl_accept_atom
//            nccl_open                  -> member: join epoch as rank r
//            nccl_version_atom(header)  -> member: a broadcast follows
// waits for: nothing; it owns the weights and publishes version 0 at start
// unblocked by: -
//
// Publishing: every version goes to one place, the weight roster
// (actors/internal/weight_roster.hpp), which knows every sampler and decides
// which route reaches it: the live NCCL epoch (the learner is rank 0; design
// in runtime/nccl/weight_publisher.hpp and epoch_planner.hpp), bytes through
// the weight broadcaster whenever some sampler fed by it is outside the live
// epoch, and the ZeroMQ mirror (every version). This actor only carries the
// roster's messages: invite requests with the accept deadline and the seal
// timer, ranks and announcements to members, and down messages of the
// samplers it monitors. A failed broadcast is logged with its typed error
// (epoch, version, bucket) and training goes on.
//
// Runs detached in production (a LibTorch step, and an NCCL init or
// broadcast, block its thread; a sampler joining meanwhile is subscribed to
// the broadcaster when the step ends). A batch that fails (invalid, or a
// non-finite loss) is answered with the error and leaves the weights and
// version unchanged; the controller decides to retry.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/backends.hpp"
#include "actors/internal/health_cell.hpp"
#include "actors/internal/weight_roster.hpp"
#include "models/grpo_config.hpp"
#include "runtime/messages.hpp"
#include "runtime/nccl/weight_publisher.hpp"

namespace tandem {

using save_atom = caf::atom_constant<caf::atom("save")>;

struct learner_nccl {
  std::shared_ptr<nccl::weight_publisher> publisher; // null: bytes only
  // Invite round: members answer between two decode steps (milliseconds);
  // 10 s covers a loaded actor system and a remote hop, and bounds how long
  // a silent member delays the epoch (the others get bytes meanwhile).
  caf::timespan accept_timeout = std::chrono::seconds{10};
  // Versions before a member that missed the accept deadline is invited
  // again. 16: at a step per second or faster that retries within seconds to
  // a minute, and a member that never answers costs one invite round (bytes
  // for everyone during its 10 s) per 16 versions at most.
  int64_t rejoin_after = 16;
};

/// Where a version can go besides NCCL; the weight roster picks per version.
struct weight_routes {
  caf::actor broadcaster{}; // CAF bytes to the samplers subscribed to it
  caf::actor mirror{};      // the ZeroMQ weights server: every version (null: none)
};

struct learner_state {
  std::shared_ptr<training_backend> backend;
  grpo_config grpo;
  weight_routes routes;
  caf::timespan accept_timeout{};
  std::map<std::string, caf::actor> samplers; // handles of the roster's samplers
  std::unique_ptr<weight_roster> roster;
  std::shared_ptr<health_cell> health; // null without a health board
  static inline const char* name = "learner";
};

using learner_actor_t = caf::stateful_actor<learner_state>;

caf::behavior learner_actor(learner_actor_t* self, grpo_config grpo,
                            std::shared_ptr<training_backend> backend,
                            weight_routes routes, learner_nccl nccl);

} // namespace tandem
