// recorder: the head's durable memory — the run journal (which groups each
// step trained, runtime/run_journal.hpp) and the checkpoints
// (runtime/checkpoint_store.hpp). Blocking disk I/O (fsync) lives here, off
// the controller, on its own thread.
// accepts:   journal_step     (request) -> int64 step, once committed
//            checkpoint_write (request) -> string directory, once durable
//            journal_finish   the run ended (issued, dropped, outstanding)
//            status_atom      (request) -> "ok", or the error of a journal
//                             finish that could not be recorded (the head
//                             asks before it writes the summary)
// sends:     nothing on its own
// waits for: the disk only
// unblocked by: -
//
// After each checkpoint is durable, an optional hook sees its directory and
// files (the run's Hugging Face copy in CKPT/hf, wiring/run_outputs.hpp);
// the hook's failure is logged on stderr and counted, and the checkpoint
// stands (it is complete without the copy).
//
// Order is the guarantee: the controller sends step k's journal record
// before it asks the learner for the snapshot that becomes checkpoint k, and
// this actor handles its mailbox in order, so a checkpoint never refers to
// a step the journal does not hold (docs/durable-runs.md).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "runtime/checkpoint_store.hpp"
#include "runtime/messages.hpp"
#include "runtime/run_journal.hpp"

namespace tandem {

/// Runs on the recorder's thread after checkpoint DIR (with FILES) is durable.
using checkpoint_hook =
  std::function<caf::error(const std::string& dir, const std::vector<checkpoint_file>& files)>;

struct recorder_state {
  std::shared_ptr<run_journal> journal;    // null: no journal (tests)
  std::shared_ptr<checkpoint_store> store; // null: no checkpoints
  int32_t keep = 3;
  std::vector<checkpoint_blob> constant; // added to every checkpoint (config.yaml)
  caf::error finish_failed;              // record_finish's error, if any
  checkpoint_hook after_write;           // may be empty
  uint64_t hook_failures = 0;
  static inline const char* name = "recorder";
};

using recorder_actor_t = caf::stateful_actor<recorder_state>;

/// `constant` files go into every checkpoint besides the controller's;
/// `after_write` (may be empty) runs after each one.
caf::behavior recorder_actor(recorder_actor_t* self, std::shared_ptr<run_journal> journal,
                             std::shared_ptr<checkpoint_store> store, int32_t keep,
                             std::vector<checkpoint_blob> constant,
                             checkpoint_hook after_write);

} // namespace tandem
