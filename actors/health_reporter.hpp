// health_reporter: one per process; sends the process's health board (every
// actor's self-reported health, actors/internal/health_cell.hpp) to the
// head's health monitor as one batched message.
// accepts:   health_sink_atom(sink)  the head's health monitor from now on
//                                    (a worker asks the controller for it
//                                    after joining, and again after a
//                                    rejoin); a null handle stops sending
//            tick_atom               (to itself, every `interval`)
// sends:     health_beat -> sink     every interval, while a sink is set
// waits for: nothing (a beat without a sink is skipped, not queued)
// unblocked by: -
//
// Interval: 500 ms, so the monitor sees a silent process as stalled within
// 2 s (actors/internal/actor_registry.hpp, "Timing").
#pragma once

#include <chrono>
#include <memory>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/internal/health_cell.hpp"

namespace tandem {

using health_sink_atom = caf::atom_constant<caf::atom("hsink")>;

caf::behavior health_reporter_actor(caf::event_based_actor* self,
                                    std::shared_ptr<health_board> board, caf::actor sink,
                                    caf::timespan interval);

} // namespace tandem
