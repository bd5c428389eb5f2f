// controller: owns prompt dispatch, group accounting and the run's progress.
// accepts:   sampler_hello             a sampler (local or remote) joining
//            join_atom(reward)         a reward actor (local or remote) joining
//            stop_atom                 finish early (Ctrl-C / SIGTERM): waits for
//                                      the step in training, writes a final
//                                      checkpoint, then finishes "interrupted"
//            scale_atom(role, n)       -> text; n samplers (or reward actors) from
//                                      now on: fewer = retire the newest (they
//                                      finish their work, then stop), more = ask
//                                      the scaler
//            retire_atom(reward)       (to itself) stop a retired reward actor
//            status_atom               -> one-line JSON of counters (monitoring)
//            health_atom               -> the head's health monitor (null when
//                                      none): workers' health reporters beat to it
//            drain_atom(name)          -> text; that sampler gets no new work and
//                                      stops once its requests are answered
//            data_plane_atom           -> data_plane_info (the head's ZeroMQ endpoints)
//            learner_rank_atom(rank, handle) a worker's learner rank joined
//                                      (handed to settings.on_learner_rank)
//            rollouts_atom(result)     groups that arrived over the ZeroMQ data
//                                      plane (from the rollout intake)
//            down_msg                  a sampler, reward or the learner died
// sends:     generate_request -> samplers   (request, generate timeout)
//            rollout_group    -> reward     (request, score timeout)
//            train_batch      -> learner    (request, train timeout)
//            sampler_hello    -> learner (once per joining sampler: the
//                                learner's weight roster decides how
//                                weights reach it)
//            snapshot_atom    -> learner (request, every checkpoint_every steps
//                                and at the end): its weights and AdamW state
//            journal_step / checkpoint_write / journal_finish -> recorder
//                                (requests; the recorder commits the step's
//                                groups before the checkpoint that refers
//                                to them)
//            finished_atom(ok, summary_json) -> observer, then quits (not ok
//                                      also when a step's metrics record
//                                      cannot be written)
// waits for: samplers to join (fails after connect_timeout without any); B scored groups and an idle learner to train
// unblocked by: sampler_hello, generate / score / train replies
//
// The handlers only route: accounting is work_buffer, admission is
// staleness_gate, dispatch choice is sampler_pool, reporting is run_report
// (fed from this state by internal/controller_reporting), what a checkpoint
// holds is run_snapshot (design: docs/durable-runs.md).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/internal/group_filter.hpp"
#include "actors/internal/health_cell.hpp"
#include "actors/internal/prompt_filter.hpp"
#include "actors/internal/run_report.hpp"
#include "actors/internal/run_snapshot.hpp"
#include "actors/internal/sampler_pool.hpp"
#include "actors/internal/staleness_gate.hpp"
#include "actors/internal/work_buffer.hpp"
#include "runtime/messages.hpp"
#include "runtime/metrics_sink.hpp"
#include "tasks/overlong_penalty.hpp"
#include "tasks/problem.hpp"
#include "tasks/text_tokenizer.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {

using stop_atom = caf::atom_constant<caf::atom("stop")>;
using health_atom = caf::atom_constant<caf::atom("health")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;

struct controller_settings {
  int32_t steps = 1;
  int32_t groups_per_step = 1;
  int32_t group_size = 2;
  int32_t max_staleness = 0;
  uint32_t max_requeues = 3;
  double target_reward = 0;    // 0 = train all steps
  size_t reward_window = 10;   // steps averaged for target_reward and the summary
  uint64_t seed = 1;
  caf::timespan generate_timeout = std::chrono::seconds{120};
  caf::timespan score_timeout = std::chrono::seconds{30};
  caf::timespan train_timeout = std::chrono::seconds{300};
  // Without any sampler for this long (at start or after the last one died),
  // the run fails instead of waiting forever.
  caf::timespan connect_timeout = std::chrono::seconds{30};
  // Samplers the launcher started (local + worker processes). Dispatch waits
  // until that many joined, or until connect_timeout passed, so that a run
  // does not start lopsided on whichever sampler came up first. 0 = no wait.
  int32_t expected_samplers = 0;
  uint32_t max_train_failures = 3; // consecutive failed learner steps before giving up
  // ZeroMQ endpoints handed to workers (empty: that flow stays on CAF).
  data_plane_info data_plane;
  // Learner ranks in worker processes (learner.ranks placed outside the
  // head): where their actors go when they join (the head's rank directory,
  // actors/remote_rank_backend.hpp). Empty: such a join is ignored.
  std::function<void(int32_t rank, const caf::actor& handle)> on_learner_rank;
  // A sampler's reply says its groups went over the data plane; the frame
  // left before the reply, so it normally lands within milliseconds. Groups
  // still missing after this are requeued (a lost frame costs a redo, never
  // a lost group).
  caf::timespan payload_timeout = std::chrono::seconds{10};
  // Durable runs (needs deps.recorder): a checkpoint every this many steps
  // (0 = only the final one); a checkpoint that fails stops the run when
  // required, otherwise it is reported and training goes on.
  int32_t checkpoint_every = 0;
  // Group ids of this head incarnation start here (n << 40 for the n-th):
  // a late data-plane frame of a dead incarnation can never match a group
  // of this one (it is rejected as unknown).
  uint64_t first_group_id = 1;
  bool checkpoint_required = false;
  // Dynamic sampling: groups whose rewards are all equal are filtered out of
  // the batch (actors/internal/group_filter.hpp).
  group_filter_settings filter;
  // Writing a checkpoint (a model's weights and AdamW state to disk).
  caf::timespan checkpoint_timeout = std::chrono::seconds{600};
  // reward.overlong_buffer: a scored group's rewards get DAPO's length
  // penalty before anything reads them (buffer 0 = off).
  overlong_settings overlong;
  // Prompts longer than this many tokens are dropped and counted
  // (actors/internal/prompt_filter.hpp); 0 = no limit.
  int32_t max_prompt_tokens = 0;
};

struct controller_deps {
  std::shared_ptr<problem_source> problems;
  std::shared_ptr<metrics_sink> metrics;
  std::function<void(const std::string&)> progress; // live progress output
  caf::actor learner;
  std::vector<caf::actor> rewards;
  caf::actor observer;
  /// Starts sampler processes on (scale_atom, "sampler", count); may be null.
  caf::actor scaler;
  /// Audit hook: called with the group ids of every batch the learner
  /// accepted, in order (tests check exactly-once consumption with it).
  std::function<void(const std::vector<uint64_t>&)> on_consumed;
  /// Turns questions into prompt ids; null = the built-in char_tokenizer.
  std::shared_ptr<const text_tokenizer> tokenizer;
  /// Journal and checkpoints (actors/recorder.hpp); null = neither.
  caf::actor recorder;
  /// The controller's part of the checkpoint this run resumes from.
  std::optional<controller_snapshot> resume;
  /// The head's health monitor (console/health_monitor.hpp); may be null.
  caf::actor monitor;
};

/// How scorings ended (only ok becomes a reward; the rest requeue the group
/// by the work buffer's rules). Shown on the console and in metrics.jsonl.
struct reward_outcomes {
  uint64_t ok = 0, invalid = 0, timeout = 0, error = 0;
};

struct controller_state {
  controller_settings cfg;
  controller_deps deps;
  std::shared_ptr<const text_tokenizer> tokenizer; // deps.tokenizer or a char_tokenizer
  std::unique_ptr<work_buffer> work;
  std::unique_ptr<problem_cursor> problems;
  double elapsed_before = 0;        // training time of earlier incarnations
  int64_t checkpointed = -1;        // step of the newest checkpoint written
  bool stopping = false;            // stop_atom arrived: finish after the current step
  uint64_t checkpoint_failures = 0;
  sampler_pool samplers;
  int64_t version = 0;
  bool learner_busy = false;
  uint32_t train_failures = 0;
  size_t next_reward = 0;
  uint64_t stale_refused = 0;
  uint64_t staleness_violations = 0; // tokens trained beyond the bound (must stay 0)
  uint64_t skipped_problems = 0;     // problems the tokenizer could not encode
  prompt_filter prompts;             // drops (and counts) over-long prompts
  uint64_t data_plane_groups = 0;    // groups that arrived over ZeroMQ
  uint64_t data_plane_late = 0;      // ... and were no longer expected (rejected)
  reward_window rewards{10};
  group_filter filter{{}};            // cfg.filter, set at start
  reward_outcomes outcomes;           // since the start of this incarnation
  reward_outcomes outcomes_at_step;   // ... as of the last step (per-step deltas)
  std::shared_ptr<health_cell> health; // null without a health board
  stage_times interval;               // accumulates until the next step
  int64_t interval_tokens = 0;
  caf::actor_clock::time_point started;
  caf::actor_clock::time_point last_step;
  bool finished = false;
  bool dispatch_open = false; // expected samplers joined, or connect_timeout passed
  static inline const char* name = "controller";
};

using controller_actor_t = caf::stateful_actor<controller_state>;

caf::behavior controller_actor(controller_actor_t* self, controller_settings cfg,
                               controller_deps deps);

} // namespace tandem
