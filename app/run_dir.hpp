// run_dir.hpp: what a run directory holds and how a head picks it up again.
//
//   RUN_DIR/config.yaml      the effective config (topology/effective_config.hpp)
//   RUN_DIR/run.lock         held by the run's supervisor for its whole life
//   RUN_DIR/journal.db       which groups every step trained (runtime/run_journal.hpp)
//   RUN_DIR/checkpoints/     step-NNNNNNNN/ directories (runtime/checkpoint_store.hpp)
//   RUN_DIR/metrics.jsonl    one record per step, continued across restarts
//   RUN_DIR/tb/              the same as TensorBoard scalars, a file per head
//                            incarnation (runtime/tensorboard_sink.hpp)
//   RUN_DIR/head.address     HOST:PORT of the live head's gate (status, scale)
//   RUN_DIR/head.json        that plus its data-plane port and pid (supervisor)
//   RUN_DIR/secret           the run's secret, mode 0600, when the config names
//                            none (runtime/transport/run_secret.hpp)
//   RUN_DIR/summary.json     written once the run ends; weights.tndm beside it
//   RUN_DIR/hf/              the final weights as a Hugging Face directory
//                            (model.hf_path runs; wiring/hf_outputs.hpp)
//   RUN_DIR/eval.jsonl, samples.jsonl   the evaluator's (wiring/evaluation.hpp)
//
// Thread safety: call from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/expected.hpp>

#include "actors/backends.hpp"
#include "actors/internal/run_snapshot.hpp"
#include "runtime/checkpoint_store.hpp"
#include "runtime/messages.hpp"
#include "runtime/metrics_sink.hpp"
#include "runtime/run_journal.hpp"
#include "topology/run_config.hpp"

namespace tandem {

struct head_info {
  std::string control; // HOST:PORT
  int64_t data_port = 0;    // rollouts endpoint; 0: none
  int64_t weights_port = 0; // weights endpoint; 0: none
  int64_t pid = 0;
  int64_t console_port = 0; // the monitoring console; 0: none (a restarted
                            // head binds it again: open pages reconnect)
};

caf::error write_head_info(const std::string& run_dir, const head_info& info);
caf::expected<head_info> read_head_info(const std::string& run_dir);

/// Appends {"t": unix seconds, "event": EVENT, FIELDS} to RUN_DIR/events.jsonl
/// (the supervisor's and the heads' record; `tandem chaos` reads it). One
/// write of one line in append mode: lines of several writers never mix.
caf::error append_event(const std::string& run_dir, const std::string& event,
                        const std::string& fields);

/// The port of "tcp://HOST:PORT" (0 for an empty or portless endpoint).
int64_t endpoint_port(const std::string& endpoint);

/// Everything a head starts from: the journal (a new incarnation), the
/// checkpoint store, the metrics sink (metrics.jsonl cut back to the
/// checkpoint's step, teed into a new TensorBoard file in RUN_DIR/tb/),
/// and, when resuming from a checkpoint, the learner's and controller's
/// parts of it.
struct restored_run {
  std::shared_ptr<run_journal> journal;
  std::shared_ptr<checkpoint_store> store;
  std::shared_ptr<metrics_sink> metrics;
  std::shared_ptr<best_effort_sink> tensorboard; // inside `metrics`; failed() = incomplete
  std::optional<controller_snapshot> controller;
  std::optional<learner_snapshot> learner;
  int64_t step = 0; // 0 = from the start
  int64_t incarnation = 1; // of the head, in the journal (1 = the first)
};

/// `resume`: the newest valid checkpoint (invalid ones are named on stderr
/// and skipped; none at all = from the start). A checkpoint written under
/// another model shape or task is refused (errc::invalid_config naming the
/// field).
caf::expected<restored_run> restore_run(const run_config& cfg, bool resume);

/// Loads the restored weights and training state into `trainer`.
caf::error restore_learner(training_backend& trainer, const restored_run& r);

/// What `tandem run` / `tandem resume` find in a directory.
enum class run_dir_state { empty, unfinished, finished };

/// `reason` gets the finished run's summary reason.
run_dir_state inspect_run_dir(const std::string& dir, std::string* reason = nullptr);

/// Removes a previous run's files (tandem run --overwrite).
caf::error clear_run_dir(const std::string& dir);

} // namespace tandem
