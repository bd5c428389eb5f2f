// http_console.hpp: the monitoring console's web server (cpp-httplib), run
// by the head. It serves the page and its assets (embedded in the binary:
// no CDN), the JSON endpoints, an SSE stream and Prometheus /metrics, all
// read from a console_state; control requests go to console_controls.
//
// Endpoints (documented for scripts in docs/console.md):
//   GET  /                    the page (index.html), /console.js, /console.css,
//                             /chart.min.js (Chart.js from Debian's libjs-chart.js)
//   GET  /api/actors          snapshot().actors_json
//   GET  /api/run             snapshot().run_json
//   GET  /api/events?after=ID {"events":[...],"last_id":N,"dropped":N}
//   GET  /api/metrics?after=STEP {"records":[...],"last_step":N,"dropped":N}
//   GET  /api/stream          text/event-stream: "actors" and "run" events
//                             with the snapshot bodies whenever seq changes,
//                             "event" per new log event, "metrics" per new
//                             record; a comment line every 10 s keeps proxies
//                             open. Query ?after_event=ID&after_step=N resumes.
//                             First comes a "cursor" event {"after_event":E,
//                             "after_step":S}: what follows continues after E
//                             and S (the client drops what it holds beyond
//                             them); it comes again when the metrics log was
//                             cut back. Messages carry ids, so a reconnecting
//                             EventSource resumes through Last-Event-ID
//                             (console/internal/sse_stream.hpp).
//   GET  /metrics             snapshot().prometheus_text (text/plain; version=0.0.4)
//   POST /api/scale           {"role":"sampler"|"reward","count":N}
//   POST /api/drain           {"name":"..."}
//   POST /api/stop            {}
//                             each replies {"ok":true,"reply":"..."} or
//                             {"ok":false,"error":"..."}: 400 for a body that
//                             names no valid request (the field is named), and
//                             for a control's error by its code: 400
//                             invalid_argument, 404 not_found, 409 not_ready /
//                             capacity_exceeded / in_use, 504 timeout, else 500
// Control requests need the token: "Authorization: Bearer TOKEN" (or
// ?token=TOKEN). Missing: 401; wrong: 403; both change nothing. When bound to
// anything but a loopback address, every endpoint needs the token (the page
// and EventSource pass it as ?token=). The page fetched with a valid token
// sets it as an HttpOnly, SameSite=Strict cookie, which the endpoints accept
// too, so the page's scripts and stream load without ?token= on each URL.
// Before the head's first publish, /api/actors, /api/run and /metrics
// answer 503 (Retry-After: 1).
//
// Bounds: at most `max_stream_clients` SSE streams (more get 503); a stream
// whose client does not take its bytes within `write_timeout` is closed and
// counted (dropped_clients), so a slow or stalled browser costs one HTTP
// thread and never the writer. Request bodies over 64 KiB are refused (413);
// a POST with neither Content-Length nor chunked encoding gets 411.
//
// Thread safety: start/stop from one thread; the server runs its own threads.
// cpp-httplib's server ignores SIGPIPE for the whole process (it writes to
// sockets whose peer may be gone).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "console/console_state.hpp"

namespace tandem {

/// What the console's control endpoints do. Each is called on an HTTP thread
/// and returns within its own deadline (the head's implementation asks the
/// controller with a 5 s timeout). The text is the reply shown to the user.
struct console_controls {
  std::function<caf::expected<std::string>(const std::string& role, int32_t count)> scale;
  std::function<caf::expected<std::string>(const std::string& name)> drain;
  std::function<caf::expected<std::string>()> stop;
};

struct console_options {
  std::string bind = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port
  std::string token;  // required (non-empty)
  /// Each stream holds one server thread; 32 covers a team watching one run.
  size_t max_stream_clients = 32;
  std::chrono::milliseconds write_timeout{2000};
};

/// Loopback (127.0.0.0/8, ::1, localhost) or not.
bool is_loopback_bind(const std::string& bind);

/// A random 32-hex-digit token (from /dev/urandom).
std::string generate_console_token();

class http_console {
public:
  /// Binds and starts serving; invalid_argument for an empty token (or
  /// max_stream_clients outside 1..1024, a write_timeout not positive), an
  /// address that cannot be bound names it (errc::io_failure).
  static caf::expected<std::unique_ptr<http_console>>
  start(const console_options& opts, std::shared_ptr<const console_state> state,
        console_controls controls);

  ~http_console(); // stops
  http_console(const http_console&) = delete;
  http_console& operator=(const http_console&) = delete;

  uint16_t port() const;
  /// http://HOST:PORT/ (HOST as bound; 127.0.0.1 for a wildcard bind).
  std::string url() const;
  /// Stops accepting, closes the streams, joins the threads (within 5 s).
  void stop();

  uint64_t stream_clients() const;  // open now
  uint64_t dropped_clients() const; // closed for not reading (slow)
  uint64_t refused_requests() const; // 401/403/411/413/503

private:
  struct impl;
  explicit http_console(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace tandem
