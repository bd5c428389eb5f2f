// head_console.hpp: the head's monitoring console, assembled: the health
// monitor actor (console/health_monitor.hpp), the web server
// (console/http_console.hpp) with its controls wired to the controller, and
// the files that tell users and scripts where it is: RUN_DIR/console.url
// (the address, readable by anyone who can read the run directory) and
// RUN_DIR/console.token (mode 0600: the control token).
//
// Token: TANDEM_CONSOLE_TOKEN when set, else a generated one, printed at
// start. Binding anywhere but loopback needs TANDEM_CONSOLE_TOKEN (a token
// the operator chose and shares on purpose): refused otherwise.
//
// Thread safety: call from the thread that owns the actor system.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "console/console_state.hpp"
#include "console/http_console.hpp"
#include "runtime/metrics_sink.hpp"
#include "topology/run_config.hpp"

namespace tandem {

struct head_console_options {
  console_section console;  // enabled, bind, port, no_progress_s
  std::string run_dir;      // "" = no console.url / console.token files
  uint32_t incarnation = 1;
  int64_t steps = 0;
  std::string token;        // "" = TANDEM_CONSOLE_TOKEN, else generated
  /// Where the web server starts: off in tests that need only the monitor.
  bool serve_http = true;
};

class head_console {
public:
  /// Spawns the monitor and (serve_http) the web server; writes the files.
  /// invalid_config for a non-loopback bind without TANDEM_CONSOLE_TOKEN,
  /// io_failure when the address cannot be bound.
  static caf::expected<std::unique_ptr<head_console>>
  start(caf::actor_system& sys, const head_console_options& opts,
        std::function<void(const std::string&)> log);

  ~head_console(); // stops the web server, then the monitor

  /// The health monitor: the head's reporter beats to it; controller_deps
  /// hands it to workers.
  const caf::actor& monitor() const { return monitor_; }
  /// The controller to watch and to send the console's controls to.
  void attach(const caf::actor& controller);
  /// The run ended (finished, failed, interrupted): shown until the head exits.
  void finished(const std::string& status);
  /// A sink to tee the run's metrics into (curves, histograms).
  std::shared_ptr<metrics_sink> metrics() const;

  std::string url() const;          // "" when not serving
  uint16_t port() const;            // 0 when not serving
  const std::string& token() const { return token_; }
  std::shared_ptr<console_state> state() const { return state_; }

private:
  explicit head_console(caf::actor_system& sys);
  caf::error serve(const head_console_options& opts);

  caf::actor_system& sys_;
  std::shared_ptr<console_state> state_;
  caf::actor monitor_;
  struct controller_ref; // the controller, read by HTTP threads
  std::shared_ptr<controller_ref> controller_;
  std::unique_ptr<http_console> http_;
  std::string token_;
};

/// Where a console is from the outside: RUN_DIR/console.url's content.
caf::expected<std::string> read_console_url(const std::string& run_dir);

} // namespace tandem
