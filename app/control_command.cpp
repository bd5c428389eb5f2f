// control_command.cpp: `tandem scale HEAD role=N` and `tandem status HEAD` —
// talking to a running head's control endpoint (its controller, published on
// HEAD = host:port; `tandem run` prints it and writes RUN_DIR/head.address).
// Both prove the run's secret to the head's gate: --run-dir RUN_DIR reads
// RUN_DIR/secret; without any secret source they exit 2.
#include <iostream>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/controller.hpp"
#include "app/commands.hpp"
#include "wiring/head_link.hpp"
#include "runtime/cli_flags.hpp"
#include "wiring/actor_system.hpp"
#include "runtime/transport/auth.hpp"
#include "runtime/transport/run_secret.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

// Connecting to a live head takes milliseconds; a head that does not answer
// within these is reported, not waited for.
constexpr auto connect_deadline = std::chrono::seconds{10};
constexpr auto reply_deadline = std::chrono::seconds{60};

/// The secret to answer the head's challenge with: exactly one of
/// --run-dir DIR (DIR/secret, the one a run that names no secret
/// generates), --secret-file F or --secret-env NAME. Every head has a secret,
/// so none given is an error, not an attempt with an empty key.
caf::expected<std::string> secret_from(const command_line& cl) {
  auto dir = cl.value("--run-dir");
  auto file = cl.value("--secret-file");
  auto env = cl.value("--secret-env");
  int given = !dir.empty() + !file.empty() + !env.empty();
  if (given == 0)
    return make_error(errc::invalid_argument,
                      "no secret given: pass --run-dir RUN_DIR (the run's secret is "
                      "RUN_DIR/secret), or --secret-file FILE / --secret-env NAME when the "
                      "config names cluster.security.secret_file / secret_env");
  if (given > 1)
    return make_error(errc::invalid_argument,
                      "give one of --run-dir, --secret-file and --secret-env");
  if (dir.empty())
    return transport::load_secret(file, env);
  return transport::read_run_secret(dir);
}

// An error's own words, without the errc name describe() puts first.
std::string context_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return describe(err);
}

int ask(const std::string& head, const caf::message& question, const command_line& cl,
        const char* command) {
  if (auto addr = parse_host_port(head); !addr) {
    std::cerr << command << ": HOST:PORT " << context_text(addr.error()) << "\n";
    return 2;
  }
  auto secret = secret_from(cl);
  if (!secret) {
    std::cerr << command << ": " << describe(secret.error()) << "\n";
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

command_line& secret_flags(command_line& cl) {
  return cl.text("--run-dir", "DIR", "the run directory: its secret is DIR/secret")
    .text("--secret-file", "FILE", "the run's secret (cluster.security.secret_file)")
    .text("--secret-env", "NAME", "environment variable holding the run's secret");
}

} // namespace

int scale_command(const args& a) {
  command_line cl("tandem scale HOST:PORT ROLE=N [flags]",
                  "add or retire samplers (sampler=N) or reward actors (reward=N) of a running "
                  "head (its address: RUN_DIR/head.address)");
  cl.positional("HOST:PORT", "the head's control endpoint")
    .positional("ROLE=N", "sampler=N or reward=N: how many from now on");
  secret_flags(cl);
  if (auto code = parse_or_exit(cl, a))
    return *code;
  const auto& target = cl.positionals()[1];
  auto eq = target.find('=');
  auto n = eq == std::string::npos ? std::nullopt : parse_integer(target.substr(eq + 1));
  if (!n || *n < 0 || *n > 100000) {
    std::cerr << "tandem scale: expected ROLE=N with a whole N >= 0, got '" << target << "'\n";
    return 2;
  }
  return ask(cl.positionals()[0],
             caf::make_message(scale_atom::value, target.substr(0, eq), int32_t(*n)), cl,
             "tandem scale");
}

int status_command(const args& a) {
  command_line cl("tandem status HOST:PORT [flags]",
                  "one line of JSON from a running head: version, samplers, groups per state");
  cl.positional("HOST:PORT", "the head's control endpoint");
  secret_flags(cl);
  if (auto code = parse_or_exit(cl, a))
    return *code;
  return ask(cl.positionals()[0], caf::make_message(status_atom::value), cl, "tandem status");
}

} // namespace tandem
