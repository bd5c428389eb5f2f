// http_console.cpp: the console's web server on cpp-httplib (see
// http_console.hpp). Handlers are thin: the documents come from
// console_state, SSE text from sse_stream, control bodies are checked by
// control_requests, and the controls themselves belong to the head.
//
// Threads: one accept thread (listen_after_bind) and a pool of
// max_stream_clients + request_threads workers; each connection is one
// worker's task, an SSE stream for as long as its client stays.
//
// Past 500 lines for a reason: the routes, the auth and the stream's pump
// all work on `impl`; what can stand alone already does (internal/: the
// token and bind rules in console_access, query integers and error replies
// in http_fields).

#include "console/http_console.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include <httplib.h>

#include "console/internal/bounded_task_queue.hpp"
#include "console/internal/console_access.hpp"
#include "console/internal/control_requests.hpp"
#include "console/internal/embedded_assets.hpp"
#include "console/internal/http_fields.hpp"
#include "console/internal/sse_stream.hpp"
#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

namespace {

using clock_type = std::chrono::steady_clock;

/// Request bodies are small JSON objects; anything larger is refused (413).
constexpr size_t max_body_bytes = 64 * 1024;
/// Workers beyond the stream slots, for requests while every stream is open.
constexpr size_t request_threads = 8;
/// Accepted connections waiting for a worker. Past this the accept thread
/// waits, and new connections wait in (or are refused by) the kernel's
/// listen backlog, instead of piling up in the server without limit.
constexpr size_t pending_connections = 64;
/// How long a stream waits for news before it looks at stop() again.
constexpr auto stream_poll = std::chrono::milliseconds(1000);
/// Streams write at most this much at a time (see pump()).
constexpr size_t stream_slice = 256 * 1024;
/// A comment line after this much silence keeps proxies from closing a
/// stream and finds clients that went away.
constexpr auto stream_keepalive = std::chrono::seconds(10);
/// Read and keep-alive timeouts: they bound how long an idle or slow
/// connection holds a worker, and so how long stop() can take.
constexpr time_t read_timeout_s = 2;
constexpr time_t keep_alive_timeout_s = 2;
/// Each stream holds a thread; more than this is a mistake in the options.
constexpr size_t max_stream_clients_limit = 1024;
/// How long start() waits for the accept thread to run.
constexpr auto start_deadline = std::chrono::seconds(5);

} // namespace

// -- impl ---------------------------------------------------------------------

struct http_console::impl {
  using route = void (impl::*)(const httplib::Request&, httplib::Response&);
  using control_route = void (impl::*)(const std::string& body, httplib::Response&);
  enum class token_check { ok, missing, wrong };

  impl(const console_options& o, std::shared_ptr<const console_state> s, console_controls c)
      : opts(o), state(std::move(s)), controls(std::move(c)),
        token_everywhere(!is_loopback_bind(o.bind)),
        instance(generate_console_token().substr(0, 8)) {}

  caf::error bind_and_listen();
  void configure();
  void add_routes();
  void add(const std::string& pattern, route r); // GET
  void add_control(const std::string& pattern, control_route r);
  bool read_body(const httplib::ContentReader& reader, std::string& body,
                 httplib::Response& res);
  token_check check_token(const httplib::Request& req) const;
  bool authorize(const httplib::Request& req, httplib::Response& res, bool required);
  void refuse(httplib::Response& res, int status, const std::string& message);
  bool published(httplib::Response& res, std::shared_ptr<const console_snapshot>& snap);

  void serve_asset(const httplib::Request& req, httplib::Response& res);
  void serve_actors(const httplib::Request& req, httplib::Response& res);
  void serve_run(const httplib::Request& req, httplib::Response& res);
  void serve_prometheus(const httplib::Request& req, httplib::Response& res);
  void serve_events(const httplib::Request& req, httplib::Response& res);
  void serve_metrics(const httplib::Request& req, httplib::Response& res);
  void serve_stream(const httplib::Request& req, httplib::Response& res);
  void serve_scale(const std::string& body, httplib::Response& res);
  void serve_drain(const std::string& body, httplib::Response& res);
  void serve_stop(const std::string& body, httplib::Response& res);
  void reply(httplib::Response& res, const caf::expected<std::string>& result);

  bool take_stream_slot();
  caf::expected<sse_cursor> stream_cursor(const httplib::Request& req) const;
  bool pump(sse_stream& stream, clock_type::time_point& last_write, httplib::DataSink& sink);
  std::string cookie_name() const { return "tandem_console_" + std::to_string(port); }

  console_options opts;
  std::shared_ptr<const console_state> state;
  console_controls controls;
  bool token_everywhere;
  std::string instance; // tells this console's stream ids from a restarted head's
  httplib::Server server;
  std::thread listener;
  int port = 0;
  std::atomic<bool> listener_done{false};
  std::atomic<bool> stopping{false};
  bool stopped = false;
  std::atomic<uint64_t> streams{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> refused{0};
};

caf::error http_console::impl::bind_and_listen() {
  configure();
  errno = 0;
  port = opts.port == 0 ? server.bind_to_any_port(opts.bind) : opts.port;
  bool bound = opts.port == 0 ? port > 0 : server.bind_to_port(opts.bind, opts.port);
  if (!bound) {
    std::string why = errno != 0 ? std::string{": "} + std::strerror(errno) : "";
    return make_error(errc::io_failure, "console: cannot listen on " + opts.bind + ":" +
                                            std::to_string(opts.port) + why);
  }
  listener = std::thread([this] {
    server.listen_after_bind();
    listener_done = true;
  });
  // Server::stop() does nothing before the accept loop runs: wait for it, so
  // that a stop() right after start() is never lost.
  auto deadline = clock_type::now() + start_deadline;
  while (!server.is_running() && !listener_done && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server.is_running()) {
    if (listener_done)
      listener.join();
    return make_error(errc::io_failure, "console: the server on " + opts.bind + ":" +
                                            std::to_string(port) + " did not start");
  }
  return {};
}

void http_console::impl::configure() {
  const size_t threads = opts.max_stream_clients + request_threads;
  server.new_task_queue = [threads] {
    return new bounded_task_queue(threads, pending_connections);
  };
  server.set_payload_max_length(max_body_bytes);
  server.set_read_timeout(read_timeout_s, 0);
  server.set_keep_alive_timeout(keep_alive_timeout_s);
  server.set_write_timeout(opts.write_timeout);
  server.set_tcp_nodelay(true);
  // SO_REUSEADDR lets a restarted head take its port back at once. httplib's
  // default is SO_REUSEPORT, which would let two heads share one port and
  // split its connections between them.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.set_default_headers({{"X-Content-Type-Options", "nosniff"}});
  // httplib reads a POST with neither Content-Length nor chunked encoding
  // until the client closes (HTTP/1.1 says it has no body): refuse it at once
  // rather than after the read timeout.
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "POST" || req.has_header("Content-Length") ||
        req.has_header("Transfer-Encoding"))
      return httplib::Server::HandlerResponse::Unhandled;
    refuse(res, 411, "a POST needs a Content-Length (curl: -d '{}')");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Every 413 passes here (httplib's Content-Length check and read_body's).
  server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 413) {
      ++refused;
      res.set_content(error_body("request body over 65536 bytes"), "application/json");
    } else if (res.body.empty()) {
      res.set_content(error_body("HTTP " + std::to_string(res.status) + " for " + req.method +
                                 " " + req.path),
                      "application/json");
    }
  });
  add_routes();
}

void http_console::impl::add_routes() {
  add("/", &impl::serve_asset);
  for (size_t i = 0; i < embedded_asset_count; ++i) {
    std::string pattern;
    for (const char* p = embedded_assets[i].path; *p; ++p)
      pattern += *p == '.' ? std::string{"\\."} : std::string(1, *p);
    add(pattern, &impl::serve_asset);
  }
  add("/api/actors", &impl::serve_actors);
  add("/api/run", &impl::serve_run);
  add("/api/events", &impl::serve_events);
  add("/api/metrics", &impl::serve_metrics);
  add("/api/stream", &impl::serve_stream);
  add("/metrics", &impl::serve_prometheus);
  add_control("/api/scale", &impl::serve_scale);
  add_control("/api/drain", &impl::serve_drain);
  add_control("/api/stop", &impl::serve_stop);
}

void http_console::impl::add(const std::string& pattern, route r) {
  server.Get(pattern, [this, r](const httplib::Request& req, httplib::Response& res) {
    if (authorize(req, res, token_everywhere))
      (this->*r)(req, res);
  });
}

void http_console::impl::add_control(const std::string& pattern, control_route r) {
  server.Post(pattern, [this, r](const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& reader) {
    // The body first (bounded), so that a refusal leaves no unread bytes on
    // a kept-alive connection.
    std::string body;
    if (read_body(reader, body, res) && authorize(req, res, true))
      (this->*r)(body, res);
  });
}

bool http_console::impl::read_body(const httplib::ContentReader& reader, std::string& body,
                                   httplib::Response& res) {
  // httplib bounds a body with a Content-Length (payload_max_length: 413
  // before reading it), not a chunked one: this receiver bounds both.
  bool too_big = false;
  const bool ok = reader([&](const char* data, size_t n) {
    too_big = body.size() + n > max_body_bytes;
    if (!too_big)
      body.append(data, n);
    return !too_big;
  });
  if (ok)
    return true;
  res.status = too_big || res.status == 413 ? 413 : 400; // the error handler counts 413
  res.set_content(error_body(res.status == 413 ? "request body over 65536 bytes"
                                                : "the request body could not be read"),
                  "application/json");
  res.set_header("Connection", "close"); // the rest of a refused body is still unread
  return false;
}

// -- auth -----------------------------------------------------------------------

http_console::impl::token_check
http_console::impl::check_token(const httplib::Request& req) const {
  std::string given;
  const std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0)
    given = auth.substr(7);
  else if (req.has_param("token"))
    given = req.get_param_value("token");
  else
    given = cookie_value(req.get_header_value("Cookie"), cookie_name());
  if (given.empty())
    return token_check::missing;
  return constant_time_equal(given, opts.token) ? token_check::ok : token_check::wrong;
}

bool http_console::impl::authorize(const httplib::Request& req, httplib::Response& res,
                                   bool required) {
  const token_check check = check_token(req);
  if (check == token_check::ok && (req.path == "/" || req.path == "/index.html")) {
    // The page's own requests (its scripts, its EventSource) then carry the
    // token without the page having to add it to each URL. SameSite=Strict:
    // another site's page cannot make the browser send it.
    res.set_header("Set-Cookie", cookie_name() + "=" + opts.token +
                                     "; Path=/; HttpOnly; SameSite=Strict");
  }
  if (!required || check == token_check::ok)
    return true;
  if (check == token_check::missing) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"tandem console\"");
    refuse(res, 401, "this needs the console token: \"Authorization: Bearer TOKEN\" "
                     "or ?token=TOKEN (the head prints the console's URL with it)");
  } else {
    refuse(res, 403, "wrong console token");
  }
  return false;
}

void http_console::impl::refuse(httplib::Response& res, int status, const std::string& message) {
  ++refused;
  res.status = status;
  res.set_content(error_body(message), "application/json");
}

// -- documents ----------------------------------------------------------------

void http_console::impl::serve_asset(const httplib::Request& req, httplib::Response& res) {
  const embedded_asset* asset = find_embedded_asset(req.path == "/" ? "/index.html" : req.path);
  if (!asset) {
    res.status = 404;
    return;
  }
  res.set_content(reinterpret_cast<const char*>(asset->data), asset->size,
                  asset->content_type);
  res.set_header("Cache-Control", "no-cache");
  if (std::strncmp(asset->content_type, "text/html", 9) == 0) {
    res.set_header("Content-Security-Policy", "default-src 'self'");
    res.set_header("Referrer-Policy", "no-referrer"); // the URL may hold the token
  }
}

bool http_console::impl::published(httplib::Response& res,
                                   std::shared_ptr<const console_snapshot>& snap) {
  snap = state->snapshot();
  res.set_header("Cache-Control", "no-store");
  if (snap->seq > 0)
    return true;
  res.status = 503;
  res.set_header("Retry-After", "1");
  res.set_content(error_body("the head has not published the run's state yet"),
                  "application/json");
  return false;
}

void http_console::impl::serve_actors(const httplib::Request&, httplib::Response& res) {
  std::shared_ptr<const console_snapshot> snap;
  if (published(res, snap))
    res.set_content(snap->actors_json, "application/json");
}

void http_console::impl::serve_run(const httplib::Request&, httplib::Response& res) {
  std::shared_ptr<const console_snapshot> snap;
  if (published(res, snap))
    res.set_content(snap->run_json, "application/json");
}

void http_console::impl::serve_prometheus(const httplib::Request&, httplib::Response& res) {
  std::shared_ptr<const console_snapshot> snap;
  if (published(res, snap))
    res.set_content(snap->prometheus_text, "text/plain; version=0.0.4; charset=utf-8");
}

void http_console::impl::serve_events(const httplib::Request& req, httplib::Response& res) {
  auto after = int_param<uint64_t>(req, "after", 0, 0);
  if (!after) {
    res.status = 400;
    res.set_content(error_body(describe(after.error())), "application/json");
    return;
  }
  // The newest id first: what is returned is complete up to last_id, so
  // last_id is a safe `after` for the next request.
  const uint64_t last = state->last_event_id();
  std::string body = "{\"events\":[";
  bool first = true;
  for (const auto& e : state->events_after(*after, static_cast<size_t>(-1))) {
    if (e.id > last)
      break;
    body += (first ? "" : ",") + e.json;
    first = false;
  }
  body += "],\"last_id\":" + std::to_string(last) +
          ",\"dropped\":" + std::to_string(state->events_dropped()) + "}";
  res.set_header("Cache-Control", "no-store");
  res.set_content(body, "application/json");
}

void http_console::impl::serve_metrics(const httplib::Request& req, httplib::Response& res) {
  auto after = int_param<int64_t>(req, "after", -1, -1);
  if (!after) {
    res.status = 400;
    res.set_content(error_body(describe(after.error())), "application/json");
    return;
  }
  const int64_t last = state->last_step();
  std::string body = "{\"records\":[";
  bool first = true;
  for (const auto& r : state->metrics_after(*after, static_cast<size_t>(-1))) {
    if (r.step > last)
      break;
    body += (first ? "" : ",") + r.json;
    first = false;
  }
  body += "],\"last_step\":" + std::to_string(last) +
          ",\"dropped\":" + std::to_string(state->metrics_dropped()) + "}";
  res.set_header("Cache-Control", "no-store");
  res.set_content(body, "application/json");
}

// -- the stream ---------------------------------------------------------------

bool http_console::impl::take_stream_slot() {
  uint64_t open = streams.load();
  do {
    if (open >= opts.max_stream_clients)
      return false;
  } while (!streams.compare_exchange_weak(open, open + 1));
  return true;
}

caf::expected<sse_cursor> http_console::impl::stream_cursor(const httplib::Request& req) const {
  sse_cursor c;
  if (!req.has_param("after_event") && !req.has_param("after_step")) {
    // An EventSource reconnecting after a drop names its last message.
    auto resumed = parse_stream_id(instance, req.get_header_value("Last-Event-ID"));
    return resumed ? *resumed : c;
  }
  auto after_event = int_param<uint64_t>(req, "after_event", 0, 0);
  if (!after_event)
    return after_event.error();
  auto after_step = int_param<int64_t>(req, "after_step", -1, -1);
  if (!after_step)
    return after_step.error();
  return sse_cursor{*after_event, *after_step};
}

void http_console::impl::serve_stream(const httplib::Request& req, httplib::Response& res) {
  auto cursor = stream_cursor(req);
  if (!cursor) {
    res.status = 400;
    res.set_content(error_body(describe(cursor.error())), "application/json");
    return;
  }
  if (!take_stream_slot()) {
    res.set_header("Retry-After", "10");
    refuse(res, 503, "the console serves at most " + std::to_string(opts.max_stream_clients) +
                         " streams at once");
    return;
  }
  auto stream = std::make_shared<sse_stream>(state, instance, *cursor);
  auto last_write = std::make_shared<clock_type::time_point>(clock_type::now());
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no"); // proxies: pass each message on at once
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, stream, last_write](size_t, httplib::DataSink& sink) {
        return pump(*stream, *last_write, sink);
      },
      [this](bool) { --streams; }); // runs when the response goes, sent or not
}

/// One round of a stream: waits (bounded) for news, writes it. Returns false
/// to close the connection.
bool http_console::impl::pump(sse_stream& stream, clock_type::time_point& last_write,
                              httplib::DataSink& sink) {
  std::string text = stopping ? std::string{} : stream.next(stream_poll);
  if (stopping) {
    // The closing chunk. Should stop() come between two rounds, httplib
    // closes the connection without it; an EventSource takes both alike.
    sink.done();
    return true;
  }
  if (text.empty()) {
    if (clock_type::now() - last_write < stream_keepalive)
      return true;
    text = ": keep-alive\n\n";
  }
  // In slices (each one chunk of the response): stop() is seen between
  // them, and a client must take each within the write timeout.
  for (size_t off = 0; off < text.size(); off += stream_slice) {
    if (stopping)
      return false;
    const auto start = clock_type::now();
    if (!sink.write(text.data() + off, std::min(stream_slice, text.size() - off))) {
      // A client that went away fails at once; one that stopped reading
      // fails after the write timeout, with its socket buffers full.
      if (!stopping && clock_type::now() - start >= opts.write_timeout / 2)
        ++dropped;
      return false;
    }
  }
  last_write = clock_type::now();
  return true;
}

// -- controls -----------------------------------------------------------------

void http_console::impl::reply(httplib::Response& res,
                               const caf::expected<std::string>& result) {
  if (result) {
    res.set_content("{\"ok\":true,\"reply\":" + json_quote(*result) + "}", "application/json");
    return;
  }
  res.status = status_of(result.error());
  res.set_content(error_body(describe(result.error())), "application/json");
}

void http_console::impl::serve_scale(const std::string& body, httplib::Response& res) {
  auto req = parse_scale_request(body);
  if (!req)
    return reply(res, req.error());
  if (!controls.scale)
    return reply(res, make_error(errc::not_ready, "this head does not scale"));
  reply(res, controls.scale(req->role, req->count));
}

void http_console::impl::serve_drain(const std::string& body, httplib::Response& res) {
  auto name = parse_drain_request(body);
  if (!name)
    return reply(res, name.error());
  if (!controls.drain)
    return reply(res, make_error(errc::not_ready, "this head does not drain actors"));
  reply(res, controls.drain(*name));
}

void http_console::impl::serve_stop(const std::string& body, httplib::Response& res) {
  if (auto err = parse_stop_request(body))
    return reply(res, err);
  if (!controls.stop)
    return reply(res, make_error(errc::not_ready, "this head cannot be stopped from here"));
  reply(res, controls.stop());
}

// -- http_console -------------------------------------------------------------

caf::expected<std::unique_ptr<http_console>>
http_console::start(const console_options& opts, std::shared_ptr<const console_state> state,
                    console_controls controls) {
  if (opts.token.empty())
    return make_error(errc::invalid_argument, "console: the token must not be empty");
  if (!state)
    return make_error(errc::invalid_argument, "console: no state to serve");
  if (opts.max_stream_clients == 0 || opts.max_stream_clients > max_stream_clients_limit)
    return make_error(errc::invalid_argument,
                      "console: max_stream_clients must be from 1 to " +
                          std::to_string(max_stream_clients_limit) + ", got " +
                          std::to_string(opts.max_stream_clients));
  if (opts.write_timeout.count() <= 0)
    return make_error(errc::invalid_argument, "console: write_timeout must be positive");
  auto p = std::make_unique<impl>(opts, std::move(state), std::move(controls));
  if (auto err = p->bind_and_listen()) {
    if (p->listener.joinable())
      p.release(); // its accept thread never ran in 5 s: leave it a live server
    return err;
  }
  return std::unique_ptr<http_console>(new http_console(std::move(p)));
}

http_console::http_console(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

http_console::~http_console() {
  stop();
}

uint16_t http_console::port() const {
  return static_cast<uint16_t>(impl_->port);
}

std::string http_console::url() const {
  std::string host = is_wildcard(impl_->opts.bind) ? "127.0.0.1" : impl_->opts.bind;
  if (host.find(':') != std::string::npos && host.front() != '[')
    host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(impl_->port) + "/";
}

void http_console::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  impl_->stopping = true;
  // Closes the listening socket; streams see it within stream_poll, idle
  // connections within the keep-alive timeout; then the pool is joined.
  impl_->server.stop();
  if (impl_->listener.joinable())
    impl_->listener.join();
}

uint64_t http_console::stream_clients() const {
  return impl_->streams.load();
}

uint64_t http_console::dropped_clients() const {
  return impl_->dropped.load();
}

uint64_t http_console::refused_requests() const {
  return impl_->refused.load();
}

} // namespace tandem
