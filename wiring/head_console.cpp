#include "wiring/head_console.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/all.hpp>

#include "actors/controller.hpp"
#include "console/health_monitor.hpp"
#include "runtime/atomic_file.hpp"
#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/messages.hpp"

namespace tandem {

struct head_console::controller_ref {
  std::mutex mu;
  caf::actor handle;
  caf::actor get() {
    std::lock_guard<std::mutex> g(mu);
    return handle;
  }
};

namespace {

/// A control request waits this long for the controller: it answers between
/// two messages, and scaling up waits for the scaler to start processes.
constexpr auto control_timeout = std::chrono::seconds(5);

caf::expected<std::string> ask(caf::actor_system& sys, const caf::actor& controller,
                               caf::message msg) {
  if (!controller)
    return make_error(errc::not_ready, "the run has not started its controller yet");
  caf::scoped_actor self{sys};
  caf::expected<std::string> out = make_error(errc::timeout, "no reply");
  self->request(controller, control_timeout, std::move(msg))
    .receive([&](const std::string& reply) { out = reply; },
             [&](caf::error& err) { out = make_error(errc::io_failure, describe(err)); });
  return out;
}

/// The token file: created 0600 (and forced to 0600 if it existed), so other
/// users of the machine cannot read the token.
caf::error write_private_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(errc::io_failure, "cannot write " + path + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, 0600) == 0
            && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok)
    return make_error(errc::io_failure, "cannot write " + path + ": " + std::strerror(errno));
  return {};
}

} // namespace

head_console::head_console(caf::actor_system& sys)
  : sys_(sys), controller_(std::make_shared<controller_ref>()) {}

caf::expected<std::unique_ptr<head_console>>
head_console::start(caf::actor_system& sys, const head_console_options& opts,
                    std::function<void(const std::string&)> log) {
  std::unique_ptr<head_console> hc(new head_console(sys));
  hc->state_ = std::make_shared<console_state>();
  hc->token_ = opts.token;
  if (hc->token_.empty())
    if (const char* env = std::getenv("TANDEM_CONSOLE_TOKEN"))
      hc->token_ = env;
  bool chosen = !hc->token_.empty();
  if (opts.serve_http && opts.console.enabled && !is_loopback_bind(opts.console.bind)
      && !chosen)
    return make_error(errc::invalid_config,
                      "console.bind: " + opts.console.bind
                        + " is not a loopback address; set TANDEM_CONSOLE_TOKEN to the token "
                          "that guards it (or bind 127.0.0.1)");
  if (!chosen)
    hc->token_ = generate_console_token();
  health_monitor_settings ms;
  ms.run_dir = opts.run_dir;
  ms.incarnation = opts.incarnation;
  ms.steps = opts.steps;
  ms.watchdog.min_no_progress = std::chrono::duration_cast<registry_clock::duration>(
    std::chrono::duration<double>(opts.console.no_progress_s));
  health_monitor_deps md;
  md.console = hc->state_;
  md.log = std::move(log);
  auto* raw = hc.get();
  md.console_counters = [raw] {
    if (!raw->http_)
      return std::string("null");
    return "{\"stream_clients\":" + std::to_string(raw->http_->stream_clients())
           + ",\"dropped_clients\":" + std::to_string(raw->http_->dropped_clients())
           + ",\"refused_requests\":" + std::to_string(raw->http_->refused_requests()) + "}";
  };
  hc->monitor_ = sys.spawn(health_monitor_actor, std::move(ms), std::move(md));
  if (opts.serve_http && opts.console.enabled)
    if (auto err = hc->serve(opts))
      return err;
  return hc;
}

caf::error head_console::serve(const head_console_options& opts) {
  console_options co;
  co.bind = opts.console.bind;
  co.port = static_cast<uint16_t>(opts.console.port);
  co.token = token_;
  auto& sys = sys_;
  auto ctl = controller_;
  auto mon = monitor_;
  console_controls c;
  c.scale = [&sys, ctl, mon](const std::string& role, int32_t n) {
    caf::anon_send(mon, event_atom::value, std::string("scale"),
                   role + " to " + std::to_string(n) + " (console)");
    return ask(sys, ctl->get(), caf::make_message(scale_atom::value, role, n));
  };
  c.drain = [&sys, ctl, mon](const std::string& name) {
    caf::anon_send(mon, event_atom::value, std::string("drain"), name + " (console)");
    return ask(sys, ctl->get(), caf::make_message(drain_atom::value, name));
  };
  c.stop = [ctl, mon]() -> caf::expected<std::string> {
    auto h = ctl->get();
    if (!h)
      return make_error(errc::not_ready, "the run has not started its controller yet");
    caf::anon_send(mon, event_atom::value, std::string("stop"),
                   std::string("requested from the console"));
    caf::anon_send(h, stop_atom::value);
    return std::string("stopping: the step in training finishes, then a final checkpoint");
  };
  auto http = http_console::start(co, state_, std::move(c));
  if (!http)
    return http.error();
  http_ = std::move(*http);
  if (opts.run_dir.empty())
    return {};
  auto url_text = url();
  if (auto err = write_file_atomically(opts.run_dir + "/console.url",
                                       [&](std::ostream& out) { out << url_text << "\n"; }))
    return err;
  return write_private_file(opts.run_dir + "/console.token", token_ + "\n");
}

head_console::~head_console() {
  if (http_)
    http_->stop();
  http_.reset();
  caf::anon_send_exit(monitor_, caf::exit_reason::user_shutdown);
}

void head_console::attach(const caf::actor& controller) {
  {
    std::lock_guard<std::mutex> g(controller_->mu);
    controller_->handle = controller;
  }
  caf::anon_send(monitor_, watch_atom::value, controller);
}

void head_console::finished(const std::string& status) {
  caf::anon_send(monitor_, status_atom::value, status);
}

std::shared_ptr<metrics_sink> head_console::metrics() const {
  return std::make_shared<console_metrics_sink>(monitor_);
}

std::string head_console::url() const { return http_ ? http_->url() : std::string(); }

uint16_t head_console::port() const { return http_ ? http_->port() : 0; }

caf::expected<std::string> read_console_url(const std::string& run_dir) {
  std::ifstream in(run_dir + "/console.url");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  if (text.empty())
    return make_error(errc::not_found, run_dir + "/console.url is missing or empty (the head "
                                                 "writes it when its console starts)");
  return text;
}

} // namespace tandem
