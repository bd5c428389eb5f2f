// learner_rank: rank r > 0 of a data-parallel learner whose topology puts it
// outside the head (learner.ranks placed in a worker process). It owns a
// training_backend built as rank r of N (its collective reaches rank 0 in the
// head: runtime/transport/socket_collective.hpp on the CPU, NCCL on GPUs) and
// runs the jobs that the head's data_parallel_backend hands every rank,
// through remote_rank_backend (actors/remote_rank_backend.hpp).
// accepts:  rank_train_atom, std::vector<train_sequence>  (request) -> int64
//             the version after the step (its statistics stay here: rank 0's
//             are the whole step's)
//           rank_import_atom, std::vector<char> weights, int64 version
//                                                         (request) -> int64
//           rank_restore_atom, std::vector<char> state    (request) -> int64
//           rank_state_atom                              (request) -> bytes
//             export_state (a collective call with ZeRO); empty: failed
//           rank_weights_atom                            (request) -> bytes
//             export_weights (a check that the ranks agree)
// sends:    replies only
// waits for: nothing; a job runs to its end, bounded by the deadlines of its
//            collective calls (learner_settings::collective_timeout_ms)
// unblocked by: the head's remote_rank_backend sending the next job
//
// Runs detached: a job blocks its thread for a whole step. Errors are replied
// with their code kept (a backend that throws: errc::backend_failure); no
// exception leaves a handler. The actor lives until its process ends or the
// head's backend closes (the head stops the run; the worker's learner rank
// goes with the worker).
#pragma once

#include <memory>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/backends.hpp"

namespace tandem {

using rank_train_atom = caf::atom_constant<caf::atom("rankTrain")>;
using rank_import_atom = caf::atom_constant<caf::atom("rankImport")>;
using rank_restore_atom = caf::atom_constant<caf::atom("rankRestor")>;
using rank_state_atom = caf::atom_constant<caf::atom("rankState")>;
using rank_weights_atom = caf::atom_constant<caf::atom("rankWeight")>;

/// A batch row on the wire (the head to a remote learner rank).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, train_sequence& x) {
  return f(caf::meta::type_name("train_sequence"), x.prompt, x.completion, x.behav_logprobs,
           x.versions, x.advantage);
}

/// The message types of this actor (configure_actor_system calls it).
void register_learner_rank_types(caf::actor_system_config& cfg);

caf::behavior learner_rank_actor(caf::event_based_actor* self,
                                 std::shared_ptr<training_backend> backend);

/// Spawns learner_rank_actor detached over `backend`.
caf::actor spawn_learner_rank(caf::actor_system& sys, std::shared_ptr<training_backend> backend);

} // namespace tandem
