#include "wiring/health.hpp"

#include <unistd.h>

#include <caf/all.hpp>

#include "actors/controller.hpp"
#include "actors/health_reporter.hpp"

namespace tandem {

namespace {

/// Heartbeats every 500 ms: actor_registry.hpp, "Timing".
constexpr auto beat_interval = std::chrono::milliseconds(500);

} // namespace

health_reporting::health_reporting(caf::actor_system& sys, const std::string& node,
                                   caf::actor sink)
  : sys_(sys), board_(std::make_shared<health_board>(node, static_cast<int64_t>(::getpid()))) {
  set_health_board(sys_, board_);
  reporter_ = sys_.spawn(health_reporter_actor, board_, std::move(sink),
                         caf::timespan{beat_interval});
}

health_reporting::~health_reporting() {
  caf::anon_send_exit(reporter_, caf::exit_reason::user_shutdown);
  set_health_board(sys_, nullptr);
}

void health_reporting::set_sink(const caf::actor& sink) {
  caf::anon_send(reporter_, health_sink_atom::value, sink);
}

bool health_reporting::connect(const caf::actor& controller, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys_};
  caf::actor monitor;
  self->request(controller, timeout, health_atom::value)
    .receive([&](const caf::actor& m) { monitor = m; }, [](caf::error&) {});
  if (monitor)
    set_sink(monitor);
  return static_cast<bool>(monitor);
}

} // namespace tandem
