#include "actors/health_reporter.hpp"

#include <caf/all.hpp>

#include "runtime/messages.hpp"

namespace tandem {

caf::behavior health_reporter_actor(caf::event_based_actor* self,
                                    std::shared_ptr<health_board> board, caf::actor sink,
                                    caf::timespan interval) {
  auto target = std::make_shared<caf::actor>(std::move(sink));
  self->send(self, tick_atom::value);
  return {
    [=](health_sink_atom, const caf::actor& s) { *target = s; },
    [=](tick_atom) {
      if (*target) {
        auto beat = board->collect(health_clock::now());
        if (!beat.reports.empty())
          self->send(*target, std::move(beat));
      }
      self->delayed_send(self, interval, tick_atom::value);
    },
  };
}

} // namespace tandem
