// messages.hpp: every type and atom that travels between tandem's actors.
//
// All message types are registered by name in register_message_types() so
// that any message can cross a process boundary through CAF's middleman.
// Keep this the only place that defines message types: two processes that
// registered a type under different names silently exchange empty messages.
//
// Large numeric payloads (weights) travel as raw bytes, never vector<float>
// (CAF serializes vectors element by element).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "runtime/health_report.hpp"
#include "runtime/version_header.hpp"

namespace tandem {

// -- atoms (CAF 0.17: at most 10 characters) ----------------------------------

using generate_atom = caf::atom_constant<caf::atom("generate")>;
using decode_atom = caf::atom_constant<caf::atom("decode")>;
using score_atom = caf::atom_constant<caf::atom("score")>;
using train_atom = caf::atom_constant<caf::atom("train")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using weights_ack_atom = caf::atom_constant<caf::atom("wack")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using finished_atom = caf::atom_constant<caf::atom("finished")>;
using scale_atom = caf::atom_constant<caf::atom("scale")>;
using rollouts_atom = caf::atom_constant<caf::atom("rollouts")>;   // data-plane arrivals
using data_plane_atom = caf::atom_constant<caf::atom("dataplane")>; // ask for endpoints
// NCCL weight broadcast (actors/learner.hpp, actors/sampler.hpp)
using nccl_invite_atom = caf::atom_constant<caf::atom("ncclInvite")>; // ready for epoch N?
using nccl_accept_atom = caf::atom_constant<caf::atom("ncclAccept")>; // yes
using nccl_seal_atom = caf::atom_constant<caf::atom("ncclSeal")>;     // accept deadline
using nccl_version_atom = caf::atom_constant<caf::atom("ncclVer")>;   // broadcast follows
using nccl_leave_atom = caf::atom_constant<caf::atom("ncclLeave")>;   // bytes only from now
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;      // learner state for a checkpoint
using learner_rank_atom = caf::atom_constant<caf::atom("lrnRank")>;   // a worker's learner rank joined

// -- rollouts -----------------------------------------------------------------

/// One prompt to be completed `group_size` times.
struct group_task {
  uint64_t group_id = 0;
  uint64_t problem_id = 0;
  std::vector<int32_t> prompt;
  std::string answer;
  int32_t group_size = 0;
  int64_t min_version = 0; // the sampler must hold at least this version to start
  uint64_t seed = 0;       // sampling seed of this attempt
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_task& x) {
  return f(caf::meta::type_name("group_task"), x.group_id, x.problem_id,
           x.prompt, x.answer, x.group_size, x.min_version, x.seed);
}

/// A batch of groups for one sampler request.
struct generate_request {
  std::vector<group_task> groups;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_request& x) {
  return f(caf::meta::type_name("generate_request"), x.groups);
}

struct completion_record {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;   // behaviour log-probs, one per token
  std::vector<int64_t> versions; // policy version per token
  bool finished = false;         // ended by a stop token
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, completion_record& x) {
  return f(caf::meta::type_name("completion_record"), x.tokens, x.logprobs,
           x.versions, x.finished);
}

struct rollout_group {
  uint64_t group_id = 0;
  uint64_t problem_id = 0;
  std::vector<int32_t> prompt;
  std::string answer;
  std::vector<completion_record> completions;
  std::string sampler; // name of the sampler that produced it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rollout_group& x) {
  return f(caf::meta::type_name("rollout_group"), x.group_id, x.problem_id,
           x.prompt, x.answer, x.completions, x.sampler);
}

/// A sampler's answer to one generate_request.
struct generate_result {
  std::vector<rollout_group> groups;
  double seconds = 0;    // wall time spent decoding this request
  int64_t tokens = 0;    // completion tokens generated
  // True when `groups` is empty because they were sent over the ZeroMQ data
  // plane (the controller then waits for them there, with a deadline).
  bool via_data_plane = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_result& x) {
  return f(caf::meta::type_name("generate_result"), x.groups, x.seconds,
           x.tokens, x.via_data_plane);
}

struct scored_group {
  rollout_group rollout;
  std::vector<double> rewards;  // total reward per completion
  std::vector<double> accuracy; // accuracy component per completion
  std::vector<double> format;   // format component per completion
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scored_group& x) {
  return f(caf::meta::type_name("scored_group"), x.rollout, x.rewards,
           x.accuracy, x.format);
}

// -- learning -----------------------------------------------------------------

struct train_batch {
  std::vector<scored_group> groups;
  int64_t expected_version = 0; // the learner's version when the batch was formed
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, train_batch& x) {
  return f(caf::meta::type_name("train_batch"), x.groups, x.expected_version);
}

/// Learner statistics of one optimizer step (see grpo_loss_stats).
struct step_metrics {
  int64_t version = 0;
  double loss = 0, pg_loss = 0, kl = 0, entropy = 0;
  double clip_low = 0, clip_high = 0, clip_region = 0;
  double ratio_mean = 0, ratio_min = 0, ratio_max = 0;
  double behav_weight_mean = 0, behav_weight_truncated = 0, behav_approx_kl = 0;
  double sampler_logp_abs_diff = 0, grad_norm = 0;
  double advantage_abs_mean = 0, zero_std_fraction = 0;
  int64_t tokens = 0;
  double seconds = 0;
  // Sampler/learner mismatch at equal weights (see train_step_stats).
  double mismatch_logp_abs = 0, mismatch_k3 = 0;
  int64_t mismatch_tokens = 0;
  // Objective variants (grpo_loss_stats): 0 while they are off.
  double behav_weight_masked = 0, clip_dual = 0, clip_sequence = 0;
  double lr = 0; // the learning rate of this step (learner.lr_schedule)
  double entropy_coef = 0; // the entropy bonus's coefficient this step
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_metrics& x) {
  // New fields go last: the order is the wire format.
  return f(caf::meta::type_name("step_metrics"), x.version, x.loss, x.pg_loss,
           x.kl, x.entropy, x.clip_low, x.clip_high, x.clip_region,
           x.ratio_mean, x.ratio_min, x.ratio_max, x.behav_weight_mean,
           x.behav_weight_truncated, x.behav_approx_kl,
           x.sampler_logp_abs_diff, x.grad_norm, x.advantage_abs_mean,
           x.zero_std_fraction, x.tokens, x.seconds, x.mismatch_logp_abs,
           x.mismatch_k3, x.mismatch_tokens, x.behav_weight_masked, x.clip_dual,
           x.clip_sequence, x.lr, x.entropy_coef);
}

struct train_report {
  std::vector<step_metrics> steps; // one per optimizer step
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, train_report& x) {
  return f(caf::meta::type_name("train_report"), x.steps);
}

// -- weights ------------------------------------------------------------------

/// One piece of a weight set. A receiver applies a version only once all
/// `count` chunks arrived, the sizes add up and the checksum matches.
struct weights_chunk {
  int64_t version = 0;
  uint32_t index = 0;
  uint32_t count = 0;
  uint64_t total_size = 0; // bytes of the whole weight set
  uint64_t checksum = 0;   // FNV-1a 64 of the whole weight set
  std::vector<char> bytes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, weights_chunk& x) {
  return f(caf::meta::type_name("weights_chunk"), x.version, x.index, x.count,
           x.total_size, x.checksum, x.bytes);
}

// -- membership and health ------------------------------------------------------

/// Sent by a sampler (local or remote) to join the controller.
struct sampler_hello {
  std::string name;
  caf::actor handle;
  int32_t max_groups = 0; // groups it decodes per request
  // True when the sampler gets weights over the ZeroMQ data plane (the
  // learner then does not subscribe it to the weight broadcaster).
  bool weights_via_data_plane = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sampler_hello& x) {
  return f(caf::meta::type_name("sampler_hello"), x.name, x.handle,
           x.max_groups, x.weights_via_data_plane);
}

/// The head's ZeroMQ endpoints (empty = that flow stays on CAF). Workers ask
/// the controller for them (data_plane_atom) after joining through the gate,
/// so ephemeral ports work and the endpoints travel authenticated.
struct data_plane_info {
  std::string rollouts; // PULL socket of the head's rollout intake
  std::string weights;  // ROUTER socket of the head's weights server
  // Learner ranks outside the head (CPU): rank 0's socket_collective
  // (runtime/transport/socket_collective.hpp) and the learner's group id.
  std::string learner_ranks;
  uint64_t learner_group = 0;
  // ... on GPUs instead: the NCCL id (nccl::comm_id's bytes) rank 0 made.
  std::vector<uint8_t> learner_nccl_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, data_plane_info& x) {
  return f(caf::meta::type_name("data_plane_info"), x.rollouts, x.weights, x.learner_ranks,
           x.learner_group, x.learner_nccl_id);
}

/// The learner to a member of communicator epoch `epoch`: join it as `rank`
/// of `nranks` (NCCL unique id `id`, nccl::comm_id's bytes); versions on it
/// travel in buckets of `bucket_bytes`.
struct nccl_open {
  uint64_t epoch = 0;
  std::vector<uint8_t> id;
  int32_t rank = 0;
  int32_t nranks = 0;
  uint64_t bucket_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, nccl_open& x) {
  return f(caf::meta::type_name("nccl_open"), x.epoch, x.id, x.rank, x.nranks,
           x.bucket_bytes);
}

// -- durable runs (the head's own actors: controller, learner, recorder) -----

/// A group and the prompt it samples: the run journal's unit.
struct group_ref {
  uint64_t group_id = 0;
  uint64_t problem_id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_ref& x) {
  return f(caf::meta::type_name("group_ref"), x.group_id, x.problem_id);
}

/// The learner's state at `version`: weights (policy.hpp's export format)
/// and the rest of its training state (learner_core::export_state).
struct learner_snapshot {
  int64_t version = 0;
  std::vector<char> weights;
  std::vector<char> state;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, learner_snapshot& x) {
  return f(caf::meta::type_name("learner_snapshot"), x.version, x.weights, x.state);
}

/// Step `step` trained `consumed` into `version`; `issued` and `dropped`
/// happened since the previous record.
struct journal_step {
  int64_t step = 0;
  int64_t version = 0;
  std::vector<group_ref> issued, consumed, dropped;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_step& x) {
  return f(caf::meta::type_name("journal_step"), x.step, x.version, x.issued, x.consumed,
           x.dropped);
}

/// The run ended; `outstanding` were issued and never trained.
struct journal_finish {
  bool ok = false;
  std::vector<group_ref> issued, dropped, outstanding;
  uint64_t problems_drawn = 0; // the problem stream's cursor at the end
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_finish& x) {
  return f(caf::meta::type_name("journal_finish"), x.ok, x.issued, x.dropped, x.outstanding,
           x.problems_drawn);
}

struct checkpoint_blob {
  std::string name;
  std::vector<char> bytes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkpoint_blob& x) {
  return f(caf::meta::type_name("checkpoint_blob"), x.name, x.bytes);
}

/// Write the checkpoint of step `step` (answered with its directory).
struct checkpoint_write {
  int64_t step = 0;
  std::vector<checkpoint_blob> files;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkpoint_write& x) {
  return f(caf::meta::type_name("checkpoint_write"), x.step, x.files);
}

/// Registers every type above by name. Call on every actor_system_config.
void register_message_types(caf::actor_system_config& cfg);

} // namespace tandem
