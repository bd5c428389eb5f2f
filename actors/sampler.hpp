// sampler: generates G completions per prompt with the newest policy it holds.
// accepts:   generate_request (request)   -> generate_result
//            weights_chunk                (from the weight broadcaster)
//            decode_atom                  (to itself: one decode step)
//            nccl_invite_atom(epoch) (request) -> (nccl_accept_atom, name, epoch)
//            nccl_open                    join a communicator epoch
//            nccl_version_atom(header)    take part in that version's broadcast
//            sampler_reset                its head is gone or was replaced
//                                         (sampler_reset.hpp): drop its work,
//                                         forget its weight version
// sends:     weights_ack_atom(version)    -> the chunk's sender
//            nccl_leave_atom(name)        -> the learner, after an NCCL failure
//                                            of its own (not a timeout)
//            rollout groups               -> settings.outbox (when set), then a
//                                            reply with via_data_plane = true
// waits for: a complete weight version >= the batch's min_version before it
//            starts decoding a batch (after a reset: any version, also an
//            older one than it held)
// unblocked by: the weight broadcaster delivering that version
//
// Decoding runs one step per decode_atom message, so weight chunks that arrive
// meanwhile are handled between two steps: a new version is switched in
// mid-sequence and each token records the version that produced it.
// NCCL weights (settings.nccl set; runtime/nccl/weight_receiver.hpp): the
// learner's messages are handled between two decode steps like chunks; a
// version arrives into the backend's device receive buffer and is installed
// only once complete and newer than the one held. A failed receive is
// logged with its typed error; the sampler keeps the weights it has, keeps
// decoding, and is served bytes until the learner invites it again. A
// failure that is not a timeout is its own fault (broken GPU, out of step):
// it then leaves NCCL for the rest of the run (nccl_leave_atom) rather than
// make every new epoch fail.
// Requests beyond `max_queued` are refused with capacity_exceeded (the
// controller never sends more than sampler_pool::max_outstanding).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/backends.hpp"
#include "actors/internal/health_cell.hpp"
#include "actors/sampler_reset.hpp"
#include "runtime/messages.hpp"
#include "runtime/nccl/weight_receiver.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem {

struct sampler_settings {
  std::string name = "sampler";
  int32_t max_queued = 2;
  // Null: finished groups travel in the CAF reply. Set: they go through the
  // outbox (ZeroMQ) and the reply only says so (via_data_plane).
  std::shared_ptr<rollout_outbox> outbox;
  // Null: weights come as bytes only. Set: also over NCCL (needs a backend
  // with a device receive buffer).
  std::shared_ptr<nccl::weight_receiver> nccl;
};

struct sampler_state {
  struct pending {
    generate_request request;
    caf::response_promise promise;
  };
  sampler_settings settings;
  std::shared_ptr<generation_backend> backend;
  int64_t version = -1; // newest complete weight version loaded
  bool was_reset = false; // no version installed since a sampler_reset
  weights_assembler assembler;
  std::deque<pending> queue;     // bounded by settings.max_queued
  std::optional<pending> active; // the batch being decoded
  double active_started = 0;     // seconds (steady clock) when it started
  bool decode_queued = false;    // a decode_atom is in the mailbox (one chain only)
  int64_t tokens_generated = 0;
  uint64_t bad_chunks = 0;
  std::shared_ptr<health_cell> health; // null without a health board
  static inline const char* name = "sampler";
};

using sampler_actor_t = caf::stateful_actor<sampler_state>;

caf::behavior sampler_actor(sampler_actor_t* self, sampler_settings settings,
                            std::shared_ptr<generation_backend> backend);

/// Pure helpers (tested without actors).
/// Expands groups into one prompt per completion, group after group.
std::vector<std::vector<int32_t>> expand_prompts(const generate_request& req);

/// The sampling seed of each completion, in expand_prompts' order:
/// completion_seed(group seed, index in the group) (models/policy.hpp), so
/// a group samples the same completions in whatever batch it lands.
std::vector<uint64_t> expand_seeds(const generate_request& req);

/// Folds per-completion results back into groups (same order as expand).
caf::expected<generate_result> fold_results(const generate_request& req,
                                            std::vector<generated_sequence> seqs,
                                            const std::string& sampler_name);

} // namespace tandem
