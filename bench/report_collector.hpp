// report_collector: the head's end of `tandem bench control --processes 1`
// (bench_control.hpp). The sim worker process sends it its samplers'
// counters once the run ended; it hands them to the bench's main thread.
// accepts:   (sim_report_atom, samplers, requests, groups, tokens, chunks,
//            acks, busy_ns, longest_ns) (request) -> sim_report_atom
// sends:     the same message -> observer (the bench's scoped actor)
// waits for: nothing
// unblocked by: -
#pragma once

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include "bench/control_sim.hpp"

namespace tandem {

caf::behavior report_collector_actor(caf::event_based_actor* self, caf::actor observer);

/// Waits on `self` (the collector's observer) for the forwarded counters;
/// errc::timeout when none came within `timeout`.
caf::expected<sim_totals> await_report(caf::scoped_actor& self, caf::timespan timeout);

} // namespace tandem
