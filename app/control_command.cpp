// control_command.cpp: `tandem scale HEAD role=N` and `tandem status HEAD` —
// talking to a running head's control endpoint (its controller, published on
// HEAD = host:port; `tandem run` prints it and writes RUN_DIR/head.address).
#include <iostream>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/controller.hpp"
#include "app/commands.hpp"
#include "app/head_link.hpp"
#include "app/pipeline.hpp"
#include "runtime/transport/auth.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

// Connecting to a live head takes milliseconds; a head that does not answer
// within these is reported, not waited for.
constexpr auto connect_deadline = std::chrono::seconds{10};
constexpr auto reply_deadline = std::chrono::seconds{60};

/// The secret to answer the head's challenge with: --secret-file F,
/// --secret-env NAME, or none (a loopback head without a secret).
caf::expected<std::string> secret_from(const args& a) {
  auto file = flag_value(a, "--secret-file", "");
  auto env = flag_value(a, "--secret-env", "");
  if (file.empty() && env.empty())
    return std::string{};
  return transport::load_secret(file, env);
}

int ask(const std::string& head, const caf::message& question, const args& a) {
  auto secret = secret_from(a);
  if (!secret) {
    std::cerr << describe(secret.error()) << "\n";
    return 2;
  }
  caf::actor_system_config cfg;
  configure_actor_system(cfg);
  cfg.set("middleman.connection-timeout", caf::timespan{connect_deadline});
  caf::actor_system sys{cfg};
  auto ctl = join_head(sys, head, "tandem-cli", *secret,
                       std::chrono::duration_cast<std::chrono::milliseconds>(connect_deadline));
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
  auto eq = a.size() >= 2 ? a[1].find('=') : std::string::npos;
  if (eq == std::string::npos) {
    std::cerr << "usage: tandem scale HOST:PORT sampler=N [--secret-file F | --secret-env NAME]\n";
    return 2;
  }
  int32_t n = 0;
  try {
    n = std::stoi(a[1].substr(eq + 1));
  } catch (const std::exception&) {
    std::cerr << "bad count in " << a[1] << "\n";
    return 2;
  }
  return ask(a[0], caf::make_message(scale_atom::value, a[1].substr(0, eq), n), a);
}

int status_command(const args& a) {
  if (a.empty()) {
    std::cerr << "usage: tandem status HOST:PORT [--secret-file F | --secret-env NAME]\n";
    return 2;
  }
  return ask(a[0], caf::make_message(status_atom::value), a);
}

} // namespace tandem
