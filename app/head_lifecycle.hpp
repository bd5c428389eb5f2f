// head_lifecycle.hpp: what the head process does around its actors — the
// run directory, the progress line, waiting for the controller to finish
// (with a deadline, Ctrl-C / SIGTERM turned into a stop), the final save.
//
// Thread safety: call from the head's main thread; `interrupted` is set by
// the signal handler.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include "runtime/metrics_sink.hpp"
#include "topology/run_config.hpp"

namespace tandem {

/// Set by SIGINT/SIGTERM once catch_stop_signals() ran.
extern std::atomic<bool> interrupted;
/// The signal that set it (SIGINT or SIGTERM): the exit code is 128 + it.
extern std::atomic<int> interrupted_by;
void catch_stop_signals();

struct outcome {
  bool ok = false;
  std::string summary;
};

/// Waits for the controller's finished message; sends it stop_atom once
/// `interrupted` is set. Deadline: every step may take its full generate +
/// train timeouts, plus the time workers need to connect.
outcome wait_for_finish(caf::scoped_actor& self, const run_config& cfg, const caf::actor& ctl,
                        const std::atomic<bool>& interrupted);

/// Asks the learner to write its weights to `path` (60 s deadline); false
/// (and a line on stderr) when they were not written.
bool save_weights(caf::scoped_actor& self, const caf::actor& learner, const std::string& path);

/// The whole file ("" when it cannot be read).
std::string read_text_file(const std::string& path);

/// `text` and a newline as PATH, written atomically (tmp + rename).
caf::error write_text_file(const std::string& path, const std::string& text);

/// The progress sink: rewrites one line on a terminal, every 10th line
/// otherwise, nothing when quiet.
std::function<void(const std::string&)> make_progress(bool quiet);

} // namespace tandem
