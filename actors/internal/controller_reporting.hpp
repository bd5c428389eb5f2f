// controller_reporting.hpp: what the controller's state says to the outside,
// as free functions of controller_state: the step record for metrics.jsonl
// (which also starts the next interval), the status line, the console's
// health line, the final summary, and the controller's part of a checkpoint
// (taken and put back). The actor (controller.cpp) decides when; these
// decide what.
//
// Thread safety: one thread (the controller actor owns the state).
#pragma once

#include <string>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/error.hpp>

#include "actors/controller.hpp"

namespace tandem {

/// The staleness gate's policy: max_staleness steps of groups_per_step.
staleness_policy controller_gate(const controller_state& st);

/// The record of the step the learner just took (version st.version) on
/// `batch`, sampled at `trained_at`; the per-step figures (stage times,
/// tokens, reward outcomes, filter and prompt counts) start again at zero,
/// and the next step's wall time is measured from `now`.
step_record close_step(controller_state& st, const std::vector<scored_group>& batch,
                       const step_metrics& m, int64_t trained_at,
                       caf::actor_clock::time_point now, double elapsed_s);

/// One-line JSON of the counters (status_atom).
std::string status_json(const controller_state& st, double elapsed_s);

/// The controller's own line on the console; nothing without a health cell.
void report_health(const controller_state& st);

/// The run's summary, sent to the observer with finished_atom.
std::string run_summary_json(const controller_state& st, bool ok, const std::string& why,
                             double elapsed_s);

/// The controller's part of a checkpoint.
controller_snapshot take_snapshot(const controller_state& st, double elapsed_s);

/// Puts a checkpoint's controller part back (at start, before any message):
/// the problems it had drawn, its pending problems (admitted again with new
/// group ids), counters, version and reward window.
caf::error restore_snapshot(controller_state& st, const controller_snapshot& s);

} // namespace tandem
