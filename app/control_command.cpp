// control_command.cpp: `tandem scale HEAD role=N` and `tandem status HEAD` —
// talking to a running head's control endpoint (its controller, published on
// HEAD = host:port; `tandem run` prints it and writes RUN_DIR/head.address).
#include <iostream>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/controller.hpp"
#include "app/commands.hpp"
#include "app/pipeline.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

// Connecting to a live head takes milliseconds; a head that does not answer
// within these is reported, not waited for.
constexpr auto connect_deadline = std::chrono::seconds{10};
constexpr auto reply_deadline = std::chrono::seconds{60};

caf::expected<caf::actor> connect(caf::actor_system& sys, const std::string& head) {
  auto colon = head.rfind(':');
  if (colon == std::string::npos)
    return make_error(errc::invalid_argument, "HEAD must be HOST:PORT, got " + head);
  int port = 0;
  try {
    port = std::stoi(head.substr(colon + 1));
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "bad port in " + head);
  }
  auto h = sys.middleman().remote_actor(head.substr(0, colon), static_cast<uint16_t>(port));
  if (!h)
    return make_error(errc::peer_down, "cannot reach " + head + ": " + sys.render(h.error()));
  return *h;
}

int ask(const std::string& head, const caf::message& question) {
  caf::actor_system_config cfg;
  configure_actor_system(cfg);
  cfg.set("middleman.connection-timeout", caf::timespan{connect_deadline});
  caf::actor_system sys{cfg};
  auto ctl = connect(sys, head);
  if (!ctl) {
    std::cerr << describe(ctl.error()) << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  int code = 1;
  self->request(*ctl, reply_deadline, question)
    .receive([&](const std::string& reply) { std::cout << reply << "\n"; code = 0; },
             [&](caf::error& err) { std::cerr << describe(err) << "\n"; });
  return code;
}

} // namespace

int scale_command(const args& a) {
  auto eq = a.size() == 2 ? a[1].find('=') : std::string::npos;
  if (eq == std::string::npos) {
    std::cerr << "usage: tandem scale HOST:PORT sampler=N\n";
    return 2;
  }
  int32_t n = 0;
  try {
    n = std::stoi(a[1].substr(eq + 1));
  } catch (const std::exception&) {
    std::cerr << "bad count in " << a[1] << "\n";
    return 2;
  }
  return ask(a[0], caf::make_message(scale_atom::value, a[1].substr(0, eq), n));
}

int status_command(const args& a) {
  if (a.size() != 1) {
    std::cerr << "usage: tandem status HOST:PORT\n";
    return 2;
  }
  return ask(a[0], caf::make_message(status_atom::value));
}

} // namespace tandem
