// evaluation.hpp: held-out evaluation built from a run config — the split
// (tasks/eval_split.hpp), its prompts, what counts as correct, the
// evaluator actor of a run (actors/evaluator.hpp) with its outputs, and the
// one-shot evaluation of `tandem eval`.
//
// Outputs of a run with eval.every or eval.samples_every (README
// "Evaluation"):
//   RUN_DIR/eval.jsonl     one line per evaluation: {"step", "version",
//                          "problems", "k", "n", "greedy_acc", "pass_at_k",
//                          "sampled_acc"} (n = k), or {"step", "version",
//                          "error"}
//   RUN_DIR/samples.jsonl  one line per sampled completion: {"step",
//                          "version", "prompt", "completion", "reward",
//                          "correct", "answer"}
//   metrics.jsonl          the first step record written after an
//                          evaluation finished carries eval_version,
//                          eval_greedy_acc and eval_pass_at_k (and
//                          eval_failures once one failed): one record per
//                          step stays one record per step. The last
//                          version's evaluation ends after the last record;
//                          it is in eval.jsonl.
// "step" of an eval line is the version evaluated (the policy after that
// many steps). A resumed run cuts both files back to its checkpoint's step,
// as metrics.jsonl. Write failures are logged once and the copy stops
// (best_effort_sink); training goes on.
//
// Correct: reward.kind math uses the math grader's verdict; every other
// kind the R1 answer rule of the task tokenizer (tasks/reward_rules.hpp,
// Countdown through its verifier) — an http or command plug-in is not
// called for accuracy. samples.jsonl's reward is the run's own reward
// function (plug-ins included).
//
// Thread safety: eval_board is thread-safe (the evaluator posts, the
// controller's metrics writes take); the rest is built on one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/evaluator.hpp"
#include "runtime/metrics_sink.hpp"
#include "runtime/weights_blob.hpp"
#include "tasks/problem.hpp"
#include "tasks/text_tokenizer.hpp"
#include "topology/process_plan.hpp"
#include "topology/run_config.hpp"

namespace tandem {

/// At most `size` problems of the held-out split of cfg's task.
caf::expected<std::vector<problem>> held_out_problems(const run_config& cfg, int32_t size);

/// `problems` as prompts of `tok`, each checked to leave max_new_tokens
/// within max_seq_len (errc::invalid_config naming `where` and the problem).
caf::expected<std::vector<eval_item>> encode_items(const std::vector<problem>& problems,
                                                   const text_tokenizer& tok,
                                                   int32_t max_seq_len,
                                                   int32_t max_new_tokens,
                                                   const std::string& where);

/// What counts as correct (see the file comment).
eval_answer_check make_answer_check(const run_config& cfg,
                               std::shared_ptr<const text_tokenizer> tok);

/// `p` with top_p -> 0: the most likely token at every step.
sampling_params greedy_of(sampling_params p);

/// Evaluation results waiting for the next metrics.jsonl record.
class eval_board {
public:
  void post(const eval_figures& f);
  void failed();
  /// A line of eval.jsonl or samples.jsonl that could not be written: the
  /// run goes on, the step records carry eval_write_failures, and the head
  /// does not report the run ok (a result of it is missing).
  void write_failed();
  uint64_t write_failures();
  /// Adds what arrived since the last call: the newest figures as
  /// eval_version / eval_greedy_acc / eval_pass_at_k, and eval_failures
  /// (the total) when it grew.
  void annotate(json_record& rec);

private:
  std::mutex mtx_;
  std::optional<eval_figures> pending_;
  uint64_t failures_ = 0;
  uint64_t reported_failures_ = 0;
  uint64_t write_failures_ = 0;
  uint64_t reported_write_failures_ = 0;
};

/// Forwards every record to `inner` with the board's news added.
class eval_metrics_sink : public metrics_sink {
public:
  eval_metrics_sink(std::shared_ptr<metrics_sink> inner, std::shared_ptr<eval_board> board);
  caf::error write(const json_record& rec) override;

private:
  std::shared_ptr<metrics_sink> inner_;
  std::shared_ptr<eval_board> board_;
};

/// A reward actor's scoring of one group (the run's reward.kind).
using group_scoring = std::function<caf::expected<scored_group>(const rollout_group&)>;
caf::expected<group_scoring> make_group_scoring(const run_config& cfg,
                                                std::shared_ptr<const text_tokenizer> tok);

/// The lines of samples.jsonl for `samples` of version `version`.
std::vector<json_record> sample_records(int64_t version, const std::vector<eval_item>& items,
                                        const std::vector<sampled_completion>& samples,
                                        const text_tokenizer& tok, const group_scoring& score,
                                        const eval_answer_check& check);

/// eval.jsonl's line of `f`.
json_record figures_record(const eval_figures& f);

/// A run's evaluator, ready to spawn.
struct evaluation_parts {
  std::shared_ptr<eval_board> board;
  /// Spawns it (detached) and makes it join `learner` for weights.
  std::function<caf::expected<caf::actor>(const caf::actor& learner)> spawn;
  /// How long the head waits for the final version's evaluation: a round
  /// in progress plus the final one, each job allowed timeouts.generate_s.
  caf::timespan final_timeout{};
};

/// Nothing (nullopt) when eval.every and eval.samples_every are 0. The
/// evaluator decodes where the head's first sampler does (else on the
/// learner's device). `resume_step`: the checkpoint the head resumed
/// from (0: a fresh start); eval.jsonl and samples.jsonl are cut back to it.
caf::expected<std::optional<evaluation_parts>>
make_evaluation(caf::actor_system& sys, const run_config& cfg, const run_plan& plan,
                int64_t resume_step);

/// The head's last word to the evaluator: evaluate `final_weights` (the
/// run's weights.tndm). Waits at most `deadline`; failures are logged.
void finish_evaluation(caf::scoped_actor& self, const caf::actor& evaluator,
                       const weights_version& final_weights, caf::timespan deadline);

/// One round, synchronously (`tandem eval`): figures, and the samples when
/// plan.samples > 0.
struct eval_report {
  eval_figures figures;
  std::vector<sampled_completion> samples;
};
caf::expected<eval_report> evaluate_now(eval_decoder& decoder, const std::vector<eval_item>& items,
                                        const eval_plan& plan, const sampling_params& sampled,
                                        uint64_t seed, size_t batch_rows,
                                        const eval_answer_check& check, int64_t version);

} // namespace tandem
