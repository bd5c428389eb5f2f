// health_monitor: the head's view of every actor's health and of the run's
// progress, published for the monitoring console (console_state.hpp): the
// actor table, the run summary with the watchdog's cause, the event log,
// the metrics curves and the Prometheus text.
// accepts:   health_beat              a process's reports (from its health
//                                     reporter, local or remote)
//            down_msg                 a watched actor, or a process's reporter,
//                                     went down: dead (the process is gone)
//            tick_atom                (to itself, every `interval`)
//            metrics_atom(step, json) one metrics.jsonl record (the head's
//                                     metrics sink, console_metrics_sink)
//            watch_atom(controller)   the controller to ask for progress
//            status_atom(status)      the run ended: finished, failed or
//                                     interrupted (from the head)
//            event_atom(kind, text)   a run event for the log (scale, drain,
//                                     stop requested from the console)
// sends:     status_atom (request, 1 s) -> controller, every tick
// waits for: nothing; a late or failed status reply keeps the last one
// unblocked by: -
//
// Logic lives in plain classes: actor_registry (health ledger, stall and
// death), watchdog (why the run is not training), prometheus_text.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/internal/actor_registry.hpp"
#include "console/console_state.hpp"
#include "console/watchdog.hpp"
#include "runtime/metrics_sink.hpp"

namespace tandem {

using metrics_atom = caf::atom_constant<caf::atom("metrics")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using event_atom = caf::atom_constant<caf::atom("event")>;

struct health_monitor_settings {
  std::string run_dir;
  uint32_t incarnation = 1;
  int64_t steps = 0;
  /// Ticks: stall marking, the watchdog, one publish. 500 ms keeps the page
  /// within 2 s of a death or stall (actor_registry.hpp, "Timing").
  caf::timespan interval = std::chrono::milliseconds(500);
  actor_registry_config registry;
  watchdog_config watchdog;
};

struct health_monitor_deps {
  std::shared_ptr<console_state> console;
  /// One line per watchdog cause change, death and stall (stderr in a run).
  std::function<void(const std::string&)> log;
  /// The console's own counters as a JSON object for /api/run ("console");
  /// may be null.
  std::function<std::string()> console_counters;
};

caf::behavior health_monitor_actor(caf::event_based_actor* self,
                                   health_monitor_settings settings, health_monitor_deps deps);

/// A metrics sink that hands every record to the health monitor (and writes
/// nothing itself): one of the head's tee'd sinks.
class console_metrics_sink : public metrics_sink {
public:
  explicit console_metrics_sink(caf::actor monitor) : monitor_(std::move(monitor)) {}
  caf::error write(const json_record& rec) override;

private:
  caf::actor monitor_;
};

} // namespace tandem
