// evaluator: scores a held-out split with the policy versions it receives,
// beside training and off the learner's path (its own thread and model).
// accepts:   weights_chunk                (from the weight broadcaster, as a
//                                         sampler gets them)
//            eval_step_atom               (to itself: one decode job)
//            eval_final_atom(version, weights) (request) -> int64 version,
//                                         once that version (the run's last)
//                                         is evaluated; at once when it was
//                                         already or nothing is configured
//            nccl_invite_atom (request)   refused: it takes bytes only
// sends:     sampler_hello, nccl_leave_atom(name) -> learner, at start (it
//                                         joins the weight roster on the
//                                         bytes route)
//            weights_ack_atom(version)    -> the chunk's sender
//            figures, samples, failures   -> its eval_output (eval.jsonl,
//                                         samples.jsonl, metrics.jsonl)
// waits for: a version at or past the next one due (eval_schedule)
// unblocked by: the weight broadcaster delivering it
//
// The logic is eval_round and eval_schedule (actors/internal/eval_round.hpp);
// this actor holds the newest complete weight version, loads it into its
// decoder when a round starts, and runs one decode job per eval_step_atom,
// so chunks arriving meanwhile are acknowledged between two jobs (the
// broadcaster then sends only the newest version: at most one weight set in
// transit, one held). A round that fails (weights that do not load, a
// decoder error) is reported to the output and counted; the run goes on and
// the next due version is evaluated as usual.
//
// Thread safety: runs detached (decoding blocks its thread); its state is
// its own.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/backends.hpp"
#include "actors/internal/eval_round.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem {

using eval_step_atom = caf::atom_constant<caf::atom("evalstep")>;
using eval_final_atom = caf::atom_constant<caf::atom("evalfinal")>;

/// Where results go. Implementations log their own write failures; none of
/// these calls may fail the evaluator.
class eval_output {
public:
  virtual ~eval_output() = default;
  virtual void figures(const eval_figures& f) = 0;
  /// The samples of version `version` (completions of items[s.item]).
  virtual void samples(int64_t version, const std::vector<eval_item>& items,
                       const std::vector<sampled_completion>& s) = 0;
  virtual void failed(int64_t version, const std::string& why) = 0;
};

struct evaluator_settings {
  std::string name = "evaluator";
  caf::actor learner;           // joined at start for weights
  std::vector<eval_item> items; // the held-out split, prompts encoded
  int32_t every = 0;            // eval.every (0: no accuracy rounds)
  int32_t k = 1;                // eval.k
  int32_t samples_every = 0;    // eval.samples_every (0: no samples)
  int32_t samples_count = 0;    // eval.samples_count
  int64_t resume_step = 0;      // rounds are due after it (0: from version 0)
  uint64_t seed = 1;
  size_t batch_rows = 16;       // prompts per decode job
  sampling_params sampled;      // the run's sampling (pass@k, samples)
  sampling_params greedy;       // the same with top_p -> 0
};

struct evaluator_deps {
  std::shared_ptr<eval_decoder> decoder;
  eval_answer_check check;
  std::shared_ptr<eval_output> output;
};

struct evaluator_state {
  struct final_request {
    int64_t version = 0;
    std::vector<char> weights;
    caf::response_promise promise;
  };
  evaluator_settings settings;
  evaluator_deps deps;
  std::unique_ptr<eval_schedule> schedule;
  weights_assembler assembler;
  int64_t held = -1;             // newest complete version received
  std::vector<char> held_weights;
  std::optional<eval_round> round;
  bool round_is_final = false;
  bool step_queued = false;      // an eval_step_atom is in the mailbox
  std::optional<final_request> final;
  uint64_t failures = 0;
  uint64_t bad_chunks = 0;
  static inline const char* name = "evaluator";
};

using evaluator_actor_t = caf::stateful_actor<evaluator_state>;

caf::behavior evaluator_actor(evaluator_actor_t* self, evaluator_settings settings,
                              evaluator_deps deps);

} // namespace tandem
