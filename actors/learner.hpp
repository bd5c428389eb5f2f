// learner: runs the GRPO update on scored batches and publishes every new
// policy version.
// accepts:   train_batch (request) -> train_report
//            save_atom(path)        (request) -> version written to path
//            nccl_join_atom(name, sampler)  a sampler wanting NCCL weights
//                                           (from the controller)
//            nccl_leave_atom(name)          a member giving up on NCCL (bytes only)
//            nccl_seal_atom(epoch)          (to itself) accept deadline
// sends:     publish_atom(version, bytes) -> weight broadcaster
//            nccl_invite_atom(epoch) (request) -> member: nccl_accept_atom
//            nccl_open                  -> member: join epoch as rank r
//            nccl_version_atom(header)  -> member: a broadcast follows
// waits for: nothing; it owns the weights and publishes version 0 at start
// unblocked by: -
//
// NCCL weights (when `nccl.publisher` is set; design in
// runtime/nccl/weight_publisher.hpp and epoch_planner.hpp): the learner is
// rank 0. After every version it asks the publisher what the boundary
// needs: broadcast on the live epoch (announce to each member, then send
// from the flat device weights, every bucket under its deadline), or form a
// new epoch (invite over CAF, seal on all accepts or at accept_timeout, tell
// each member its rank, init, then send the current version at once).
// Members are monitored; a dead one is dropped at the next boundary. One
// that misses the accept deadline is sealed out and invited again after
// `rejoin_after` versions. A
// version is also published as bytes to the broadcaster whenever NCCL did
// not reach every member (version 0, a round in progress, a joiner not yet
// in the epoch, a failed broadcast), so no sampler ever waits for an epoch.
// A failed broadcast is logged with its typed error (epoch, version,
// bucket) and training goes on.
//
// Runs detached in production (a LibTorch step blocks its thread). A batch
// that fails (invalid, or a non-finite loss) is answered with the error and
// leaves the weights and version unchanged; the controller decides to retry.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/backends.hpp"
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

struct learner_state {
  std::shared_ptr<training_backend> backend;
  grpo_config grpo;
  caf::actor broadcaster;
  learner_nccl nccl;
  // Samplers named by the controller, by name, until they die; those that
  // left NCCL stay here (they need bytes).
  std::map<std::string, caf::actor> members;
  std::map<std::string, int64_t> rejoin_at; // dropped at a seal -> version to re-invite
  uint64_t nccl_failures = 0;
  static inline const char* name = "learner";
};

using learner_actor_t = caf::stateful_actor<learner_state>;

caf::behavior learner_actor(learner_actor_t* self, grpo_config grpo,
                            std::shared_ptr<training_backend> backend,
                            caf::actor broadcaster, learner_nccl nccl);

} // namespace tandem
