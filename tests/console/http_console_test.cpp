// http_console_test.cpp: the console's web server (console/http_console.hpp)
// on an ephemeral loopback port, driven by cpp-httplib's client and, for a
// client that never reads, a raw socket. Waits on the server's threads are
// bounded polls of its counters (eventually()); nothing sleeps and hopes.

#include "console/http_console.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "runtime/error.hpp"

namespace tandem {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const std::string token = "0123456789abcdef0123456789abcdef";

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Polls `done` until it holds or `limit` passes.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 15s) {
  const auto deadline = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() > deadline)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

/// Reads one GET /api/stream on its own thread and splits it into messages.
class sse_reader {
public:
  struct message {
    std::string event;
    std::string data;
  };

  sse_reader(uint16_t port, httplib::Headers headers, std::string path = "/api/stream")
      : cli_("127.0.0.1", port) {
    cli_.set_read_timeout(10, 0);
    thread_ = std::thread([this, headers, path] {
      auto res = cli_.Get(path.c_str(), headers, [this](const char* data, size_t n) {
        std::lock_guard<std::mutex> guard{mu_};
        buffer_.append(data, n);
        split();
        changed_.notify_all();
        return true;
      });
      std::lock_guard<std::mutex> guard{mu_};
      ended_ = true;
      status_ = res ? res->status : -1;
      changed_.notify_all();
    });
  }

  ~sse_reader() {
    cli_.stop();
    thread_.join();
  }

  /// Waits (bounded) for at least `n` messages; returns them all.
  std::vector<message> wait_for(size_t n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock{mu_};
    changed_.wait_for(lock, limit, [&] { return messages_.size() >= n || ended_; });
    return messages_;
  }

  /// Waits (bounded) for the response to end; returns its status (-1: none).
  int wait_end(std::chrono::milliseconds limit = 10s) {
    std::unique_lock<std::mutex> lock{mu_};
    changed_.wait_for(lock, limit, [&] { return ended_; });
    return ended_ ? status_ : 0;
  }

private:
  void split() {
    size_t end;
    while ((end = buffer_.find("\n\n")) != std::string::npos) {
      std::istringstream block{buffer_.substr(0, end)};
      buffer_.erase(0, end + 2);
      message m;
      for (std::string line; std::getline(block, line);) {
        if (line.rfind("event: ", 0) == 0)
          m.event = line.substr(7);
        else if (line.rfind("data: ", 0) == 0)
          m.data += (m.data.empty() ? "" : "\n") + line.substr(6);
      }
      if (!m.event.empty())
        messages_.push_back(std::move(m));
    }
  }

  httplib::Client cli_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::string buffer_;
  std::vector<message> messages_;
  bool ended_ = false;
  int status_ = 0;
};

std::vector<std::string> events_of(const std::vector<sse_reader::message>& ms) {
  std::vector<std::string> out;
  for (const auto& m : ms)
    out.push_back(m.event);
  return out;
}

/// A raw socket that sends `request` and reads only when asked.
class stalled_client_raw {
public:
  stalled_client_raw(uint16_t port, const std::string& request) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096; // fills sooner; the kernel doubles it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    timeval tv{10, 0}; // status_line() waits at most this long
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    connected_ =
        connected_ && ::send(fd_, request.data(), request.size(), 0) == ssize_t(request.size());
  }
  ~stalled_client_raw() { ::close(fd_); }
  bool connected() const { return connected_; }

  /// The response's first line.
  std::string status_line() {
    std::string got;
    char c;
    while (got.find("\r\n") == std::string::npos && ::recv(fd_, &c, 1, 0) == 1)
      got += c;
    return got.substr(0, got.find("\r\n"));
  }

private:
  int fd_ = -1;
  bool connected_ = false;
};

class HttpConsole : public ::testing::Test {
protected:
  void start(console_options opts = {}) {
    opts.token = token;
    opts.write_timeout = std::chrono::milliseconds(300);
    controls_.scale = [this](const std::string& role, int32_t count) -> caf::expected<std::string> {
      ++calls_;
      if (count > 64)
        return make_error(errc::invalid_argument, "at most 64 " + role + "s");
      return "scaling " + role + " to " + std::to_string(count);
    };
    controls_.drain = [this](const std::string& name) -> caf::expected<std::string> {
      ++calls_;
      return "draining " + name;
    };
    controls_.stop = [this]() -> caf::expected<std::string> {
      ++calls_;
      return std::string{"stopping"};
    };
    auto console = http_console::start(opts, state_, controls_);
    ASSERT_TRUE(console) << describe(console.error());
    console_ = std::move(*console);
    cli_ = std::make_unique<httplib::Client>("127.0.0.1", console_->port());
    cli_->set_read_timeout(10, 0);
  }

  httplib::Result post(const std::string& path, const std::string& body,
                       httplib::Headers headers = {{"Authorization", "Bearer " + token}}) {
    return cli_->Post(path.c_str(), headers, body, "application/json");
  }

  std::shared_ptr<console_state> state_ = std::make_shared<console_state>();
  console_controls controls_;
  std::atomic<int> calls_{0};
  std::unique_ptr<http_console> console_;
  std::unique_ptr<httplib::Client> cli_;
};

TEST_F(HttpConsole, ServesTheEmbeddedPageAndAssetsWithTheirContentTypes) {
  start();
  auto page = cli_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page->get_header_value("Content-Security-Policy"), "default-src 'self'");
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->body, read_file(std::string{TANDEM_SOURCE_DIR} + "/console/web/index.html"));
  struct {
    const char* path;
    const char* type;
    std::string file;
  } assets[] = {
      {"/index.html", "text/html; charset=utf-8",
       std::string{TANDEM_SOURCE_DIR} + "/console/web/index.html"},
      {"/console.js", "text/javascript; charset=utf-8",
       std::string{TANDEM_SOURCE_DIR} + "/console/web/console.js"},
      {"/console.css", "text/css; charset=utf-8",
       std::string{TANDEM_SOURCE_DIR} + "/console/web/console.css"},
      {"/chart.min.js", "text/javascript; charset=utf-8", TANDEM_CHARTJS_PATH},
  };
  for (const auto& a : assets) {
    auto res = cli_->Get(a.path);
    ASSERT_TRUE(res) << a.path;
    EXPECT_EQ(res->status, 200) << a.path;
    EXPECT_EQ(res->get_header_value("Content-Type"), a.type) << a.path;
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff") << a.path;
    EXPECT_EQ(res->body, read_file(a.file)) << a.path;
  }
  EXPECT_EQ(cli_->Get("/nothing.js")->status, 404);
}

TEST_F(HttpConsole, JsonEndpointsServeThePublishedBodies) {
  start();
  EXPECT_EQ(cli_->Get("/api/actors")->status, 503); // nothing published yet
  EXPECT_EQ(cli_->Get("/metrics")->status, 503);
  state_->publish("{\"actors\":[]}", "{\"status\":\"training\"}", "tandem_step 3\n");
  auto actors = cli_->Get("/api/actors");
  EXPECT_EQ(actors->status, 200);
  EXPECT_EQ(actors->body, "{\"actors\":[]}");
  EXPECT_EQ(actors->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(cli_->Get("/api/run")->body, "{\"status\":\"training\"}");
  auto metrics = cli_->Get("/metrics");
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "tandem_step 3\n");
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(HttpConsole, EventsAndMetricsEndpointsReturnWhatFollowsTheCursor) {
  start();
  state_->add_event("{\"kind\":\"join\"}");
  state_->add_event("{\"kind\":\"death\"}");
  state_->add_metrics(1, "{\"step\":1}");
  state_->add_metrics(2, "{\"step\":2}");
  EXPECT_EQ(cli_->Get("/api/events")->body,
            "{\"events\":[{\"id\":1,\"kind\":\"join\"},{\"id\":2,\"kind\":\"death\"}],"
            "\"last_id\":2,\"dropped\":0}");
  EXPECT_EQ(cli_->Get("/api/events?after=1")->body,
            "{\"events\":[{\"id\":2,\"kind\":\"death\"}],\"last_id\":2,\"dropped\":0}");
  EXPECT_EQ(cli_->Get("/api/metrics?after=1")->body,
            "{\"records\":[{\"step\":2}],\"last_step\":2,\"dropped\":0}");
  EXPECT_EQ(cli_->Get("/api/metrics")->body,
            "{\"records\":[{\"step\":1},{\"step\":2}],\"last_step\":2,\"dropped\":0}");
  auto bad = cli_->Get("/api/events?after=x");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("query parameter \\\"after\\\""), std::string::npos) << bad->body;
  EXPECT_EQ(cli_->Get("/api/metrics?after=-2")->status, 400);
}

TEST_F(HttpConsole, ControlsRefuseAMissingOrWrongTokenWithoutCallingTheControl) {
  start();
  auto missing = post("/api/scale", R"({"role":"sampler","count":2})", {});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_NE(missing->body.find("\"ok\":false"), std::string::npos);
  auto wrong = post("/api/scale", R"({"role":"sampler","count":2})",
                    {{"Authorization", "Bearer " + token.substr(1) + "0"}});
  EXPECT_EQ(wrong->status, 403);
  EXPECT_EQ(cli_->Post("/api/stop?token=nope", "{}", "application/json")->status, 403);
  EXPECT_EQ(post("/api/drain", R"({"name":"s0"})", {})->status, 401);
  EXPECT_EQ(calls_.load(), 0);
  EXPECT_EQ(console_->refused_requests(), 4u);
}

TEST_F(HttpConsole, ControlsWithTheTokenCallTheControlAndReturnItsReply) {
  start();
  auto scale = post("/api/scale", R"({"role":"sampler","count":2})");
  ASSERT_TRUE(scale);
  EXPECT_EQ(scale->status, 200);
  EXPECT_EQ(scale->body, "{\"ok\":true,\"reply\":\"scaling sampler to 2\"}");
  auto drain = cli_->Post(("/api/drain?token=" + token).c_str(), R"({"name":"sampler-1"})",
                          "application/json");
  EXPECT_EQ(drain->body, "{\"ok\":true,\"reply\":\"draining sampler-1\"}");
  EXPECT_EQ(post("/api/stop", "")->body, "{\"ok\":true,\"reply\":\"stopping\"}");
  auto refused = post("/api/scale", R"({"role":"reward","count":99})");
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(refused->body, "{\"ok\":false,\"error\":\"invalid_argument: at most 64 rewards\"}");
  EXPECT_EQ(calls_.load(), 4);
}

TEST_F(HttpConsole, ABadBodyIs400NamingTheFieldAndCallsNothing) {
  start();
  auto res = post("/api/scale", R"({"role":"sampler","count":"two"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("\\\"count\\\" must be an integer"), std::string::npos) << res->body;
  auto not_json = post("/api/scale", "{role: sampler}");
  EXPECT_EQ(not_json->status, 400);
  EXPECT_NE(not_json->body.find("request body:1:2"), std::string::npos) << not_json->body;
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpConsole, ABodyOver64KiBIs413) {
  start();
  const std::string body = R"({"name":")" + std::string(70 * 1024, 'x') + "\"}";
  auto res = post("/api/drain", body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(calls_.load(), 0);
  EXPECT_EQ(console_->refused_requests(), 1u);
  EXPECT_EQ(post("/api/drain", R"({"name":"s0"})")->status, 200); // the server carries on
}

/// POSTs `body` with chunked transfer encoding (no Content-Length).
httplib::Result post_chunked(httplib::Client& cli, const std::string& path, std::string body) {
  return cli.Post(
      path.c_str(), {{"Authorization", "Bearer " + token}},
      [body](size_t, httplib::DataSink& sink) {
        for (size_t off = 0; off < body.size(); off += 4096)
          sink.write(body.data() + off, std::min<size_t>(4096, body.size() - off));
        sink.done();
        return true;
      },
      "application/json");
}

TEST_F(HttpConsole, AChunkedBodyIsReadUpTo64KiB) {
  start();
  auto small = post_chunked(*cli_, "/api/drain", R"({"name":"s0"})");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200);
  EXPECT_EQ(calls_.load(), 1);
  auto big = post_chunked(*cli_, "/api/drain", R"({"name":")" + std::string(70 * 1024, 'x') + "\"}");
  // Refused after 64 KiB: 413, or a reset when the client was still sending.
  EXPECT_TRUE(!big || big->status == 413);
  EXPECT_EQ(calls_.load(), 1);
  EXPECT_TRUE(eventually([&] { return console_->refused_requests() == 1; }));
}

TEST_F(HttpConsole, APostWithNoLengthIs411AtOnce) {
  start();
  stalled_client_raw raw{console_->port(), "POST /api/stop HTTP/1.1\r\nHost: x\r\n"
                                           "Authorization: Bearer " + token + "\r\n\r\n"};
  EXPECT_EQ(raw.status_line(), "HTTP/1.1 411 Length Required");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpConsole, AStreamSendsTheSnapshotThenUpdatesEventsAndMetricsInOrder) {
  start();
  state_->publish("\"actors 1\"", "\"run 1\"", "");
  state_->add_event("{\"kind\":\"join\"}");
  sse_reader reader{console_->port(), {}};
  auto first = reader.wait_for(4);
  ASSERT_EQ(events_of(first), (std::vector<std::string>{"cursor", "actors", "run", "event"}));
  EXPECT_EQ(first[1].data, "\"actors 1\"");
  EXPECT_EQ(first[3].data, "{\"id\":1,\"kind\":\"join\"}");
  EXPECT_EQ(console_->stream_clients(), 1u);
  state_->publish("\"actors 2\"", "\"run 2\"", "");
  auto second = reader.wait_for(6);
  ASSERT_EQ(second.size(), 6u);
  EXPECT_EQ(second[4].data, "\"actors 2\"");
  EXPECT_EQ(second[5].data, "\"run 2\"");
  state_->add_event("{\"kind\":\"death\"}");
  state_->add_metrics(1, "{\"step\":1}");
  state_->add_metrics(2, "{\"step\":2}");
  auto all = reader.wait_for(9);
  ASSERT_EQ(all.size(), 9u);
  EXPECT_EQ(all[6].data, "{\"id\":2,\"kind\":\"death\"}");
  EXPECT_EQ(all[7].data, "{\"step\":1}");
  EXPECT_EQ(all[8].data, "{\"step\":2}");
}

TEST_F(HttpConsole, AStreamResumesAfterTheGivenCursor) {
  start();
  for (int i = 0; i < 3; ++i)
    state_->add_event("{}");
  sse_reader reader{console_->port(), {}, "/api/stream?after_event=2&after_step=-1"};
  auto ms = reader.wait_for(2);
  ASSERT_EQ(events_of(ms), (std::vector<std::string>{"cursor", "event"}));
  EXPECT_EQ(ms[1].data, "{\"id\":3}");
}

TEST_F(HttpConsole, StreamsBeyondTheLimitAre503) {
  console_options opts;
  opts.max_stream_clients = 2;
  start(opts);
  sse_reader a{console_->port(), {}};
  sse_reader b{console_->port(), {}};
  ASSERT_EQ(a.wait_for(1).size(), 1u);
  ASSERT_EQ(b.wait_for(1).size(), 1u);
  EXPECT_EQ(console_->stream_clients(), 2u);
  auto third = cli_->Get("/api/stream");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 503);
  EXPECT_EQ(console_->refused_requests(), 1u);
  EXPECT_EQ(cli_->Get("/api/events")->status, 200); // requests still have threads
}


TEST_F(HttpConsole, AClientThatNeverReadsNeitherBlocksPublishNorStaysForever) {
  start();
  stalled_client_raw stalled{console_->port(),
                             "GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"};
  ASSERT_TRUE(stalled.connected());
  ASSERT_TRUE(eventually([&] { return console_->stream_clients() == 1; }));
  const std::string big(1 << 20, 'x');
  auto slowest = clock_type::duration::zero();
  int published = 0;
  const bool dropped = eventually([&] {
    std::string actors = "\"" + big + std::to_string(published) + "\"";
    std::string run = actors;
    const auto start = clock_type::now();
    state_->publish(std::move(actors), std::move(run), "");
    slowest = std::max(slowest, clock_type::now() - start);
    ++published;
    return console_->dropped_clients() == 1;
  }, 30s);
  ASSERT_TRUE(dropped) << "published " << published << " snapshots of 2 MiB";
  EXPECT_LT(slowest, 250ms) << "a publish waited on the stalled client";
  EXPECT_TRUE(eventually([&] { return console_->stream_clients() == 0; }));
  state_->publish("\"a\"", "\"r\"", "");
  EXPECT_EQ(cli_->Get("/api/actors")->body, "\"a\"");
}

TEST_F(HttpConsole, ANonLoopbackBindNeedsTheTokenForEverything) {
  console_options opts;
  opts.bind = "0.0.0.0";
  start(opts);
  EXPECT_EQ(console_->url(), "http://127.0.0.1:" + std::to_string(console_->port()) + "/");
  state_->publish("[]", "{}", "");
  EXPECT_EQ(cli_->Get("/api/actors")->status, 401);
  EXPECT_EQ(cli_->Get("/api/actors", {{"Authorization", "Bearer wrong"}})->status, 403);
  EXPECT_EQ(cli_->Get("/")->status, 401);
  EXPECT_EQ(cli_->Get("/console.js")->status, 401);
  EXPECT_EQ(cli_->Get("/metrics")->status, 401);
  EXPECT_EQ(cli_->Get("/api/stream")->status, 401);
  EXPECT_EQ(cli_->Get("/api/actors", {{"Authorization", "Bearer " + token}})->status, 200);
  EXPECT_EQ(cli_->Get(("/api/actors?token=" + token).c_str())->status, 200);
  // The page with the token sets a cookie, so its scripts and its stream load.
  auto page = cli_->Get(("/?token=" + token).c_str());
  ASSERT_EQ(page->status, 200);
  const std::string cookie = page->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  const std::string pair = cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(cli_->Get("/console.js", {{"Cookie", pair}})->status, 200);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpConsole, ALoopbackBindServesReadsWithoutTheToken) {
  start();
  state_->publish("[]", "{}", "");
  EXPECT_EQ(cli_->Get("/api/actors")->status, 200);
  EXPECT_EQ(cli_->Get("/")->status, 200);
  EXPECT_EQ(console_->url(), "http://127.0.0.1:" + std::to_string(console_->port()) + "/");
}

TEST_F(HttpConsole, StopReturnsPromptlyWithOpenStreams) {
  start();
  state_->publish("[]", "{}", "");
  sse_reader a{console_->port(), {}};
  sse_reader b{console_->port(), {}};
  ASSERT_EQ(a.wait_for(3).size(), 3u);
  ASSERT_EQ(b.wait_for(3).size(), 3u);
  const auto start = clock_type::now();
  console_->stop();
  EXPECT_LT(clock_type::now() - start, 5s);
  // Ended: with the closing chunk (200) or, when stop() came between two
  // rounds of the stream, by the connection closing (-1).
  EXPECT_NE(a.wait_end(), 0);
  EXPECT_NE(b.wait_end(), 0);
  console_->stop(); // a second stop is a no-op
}

TEST(HttpConsoleStart, RefusesAnEmptyTokenAndNamesAnAddressItCannotBind) {
  auto state = std::make_shared<console_state>();
  console_options opts;
  auto no_token = http_console::start(opts, state, {});
  ASSERT_FALSE(no_token);
  EXPECT_TRUE(is(no_token.error(), errc::invalid_argument));
  opts.token = "t";
  opts.max_stream_clients = 0;
  EXPECT_FALSE(http_console::start(opts, state, {}));
  opts.max_stream_clients = 32;
  auto first = http_console::start(opts, state, {});
  ASSERT_TRUE(first);
  opts.port = (*first)->port();
  auto taken = http_console::start(opts, state, {});
  ASSERT_FALSE(taken);
  EXPECT_TRUE(is(taken.error(), errc::io_failure));
  EXPECT_NE(describe(taken.error()).find("127.0.0.1:" + std::to_string(opts.port)),
            std::string::npos)
      << describe(taken.error());
}

TEST(HttpConsoleBind, LoopbackAddressesAreRecognised) {
  for (const char* yes : {"127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"})
    EXPECT_TRUE(is_loopback_bind(yes)) << yes;
  for (const char* no : {"0.0.0.0", "::", "", "10.0.0.5", "192.168.1.1", "example.org"})
    EXPECT_FALSE(is_loopback_bind(no)) << no;
}

TEST(HttpConsoleToken, IsThirtyTwoHexDigitsAndNewEachTime) {
  const std::string a = generate_console_token();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, generate_console_token());
}

} // namespace
} // namespace tandem
