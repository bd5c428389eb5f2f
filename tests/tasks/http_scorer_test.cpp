// http_scorer_test: the HTTP reward plug-in against an in-process
// httplib::Server on an ephemeral port (answers, hangs, garbage, wrong count,
// closed connections), and the reply parsers.
#include "tasks/http_scorer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"

using namespace tandem;
using namespace std::chrono_literals;

namespace {

std::vector<score_item> batch2() {
  return {{"1+1=", "2", "2"}, {"2+2=", "5", "4"}};
}

// One server per test; `reply` decides what each POST gets.
struct test_server {
  httplib::Server srv;
  int port = 0;
  std::thread th;
  std::atomic<int> hits{0};
  explicit test_server(std::function<void(const httplib::Request&, httplib::Response&)> reply) {
    srv.Post("/score", [this, reply](const httplib::Request& q, httplib::Response& r) {
      ++hits;
      reply(q, r);
    });
    port = srv.bind_to_any_port("127.0.0.1");
    th = std::thread([this] { srv.listen_after_bind(); });
  }
  ~test_server() {
    srv.stop();
    th.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/score"; }
};

std::unique_ptr<http_scorer> scorer(const std::string& url, int retries = 2,
                                    std::chrono::milliseconds timeout = 2000ms) {
  http_scorer_config c;
  c.url = url;
  c.retries = retries;
  c.timeout = timeout;
  c.backoff = 1ms;
  auto s = http_scorer::make(c);
  EXPECT_TRUE(s) << describe(s.error());
  return std::move(*s);
}

} // namespace

TEST(http_scorer, sends_the_documented_request_and_reads_rewards) {
  std::string seen;
  test_server ts([&](const httplib::Request& q, httplib::Response& r) {
    seen = q.body;
    r.set_content(R"({"rewards": [1.0, 0.25], "extra": "ignored"})", "application/json");
  });
  auto s = scorer(ts.url());
  auto r = s->score(batch2());
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, (std::vector<double>{1.0, 0.25}));
  auto doc = parse_json(seen);
  ASSERT_TRUE(doc);
  EXPECT_EQ(*(*doc->find("query")->as_array())[0].as_string(), "1+1=2");
  EXPECT_EQ(*(*doc->find("prompts")->as_array())[1].as_string(), "2+2=");
  EXPECT_EQ(*(*doc->find("labels")->as_array())[1].as_string(), "4");
  // keep-alive: a second call reuses the connection and works as well
  EXPECT_TRUE(s->score(batch2()));
  EXPECT_EQ(s->attempts(), 2);
}

TEST(http_scorer, garbage_is_malformed_and_not_retried) {
  test_server ts([](const httplib::Request&, httplib::Response& r) {
    r.set_content("<html>oops</html>", "text/html");
  });
  auto s = scorer(ts.url(), 3);
  auto r = s->score(batch2());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::malformed_message)) << describe(r.error());
  EXPECT_EQ(s->attempts(), 1);
}

TEST(http_scorer, wrong_count_or_non_numbers_are_malformed) {
  std::string body = R"({"rewards": [1.0]})";
  test_server ts([&](const httplib::Request&, httplib::Response& r) {
    r.set_content(body, "application/json");
  });
  auto s = scorer(ts.url(), 3);
  auto r = s->score(batch2());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::malformed_message)) << describe(r.error());
  body = R"({"rewards": [1.0, "high"]})";
  r = s->score(batch2());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::malformed_message)) << describe(r.error());
  EXPECT_EQ(s->attempts(), 2);
}

TEST(http_scorer, a_hung_server_is_a_timeout_not_retried) {
  std::promise<void> release;
  auto released = release.get_future().share();
  test_server ts([released](const httplib::Request&, httplib::Response& r) {
    released.wait_for(10s); // bounded: the test releases it right after
    r.set_content(R"({"rewards": [1, 1]})", "application/json");
  });
  auto s = scorer(ts.url(), 3, 300ms);
  auto r = s->score(batch2());
  release.set_value();
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::timeout)) << describe(r.error());
  EXPECT_EQ(s->attempts(), 1);
}

TEST(http_scorer, a_server_error_status_is_retried_then_reported) {
  test_server ts([](const httplib::Request&, httplib::Response& r) { r.status = 503; });
  auto s = scorer(ts.url(), 2);
  auto r = s->score(batch2());
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::io_failure)) << describe(r.error());
  EXPECT_EQ(s->attempts(), 3);
  EXPECT_EQ(ts.hits.load(), 3);
}

TEST(http_scorer, a_transient_failure_is_retried_until_success) {
  test_server ts([&](const httplib::Request&, httplib::Response& r) {
    if (ts.hits.load() == 1) {
      r.status = 502;
      return;
    }
    r.set_content(R"({"rewards": [0, 1]})", "application/json");
  });
  auto s = scorer(ts.url(), 2);
  auto r = s->score(batch2());
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(s->attempts(), 2);
}

TEST(http_scorer, a_closed_connection_is_io_failure_retried) {
  // A listener that accepts and closes at once, without a reply.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::thread closer([fd] {
    for (int i = 0; i < 3; ++i) {
      int c = ::accept(fd, nullptr, nullptr);
      if (c >= 0)
        ::close(c);
    }
  });
  auto s = scorer("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/score", 2);
  auto r = s->score(batch2());
  closer.join();
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::io_failure)) << describe(r.error());
  EXPECT_EQ(s->attempts(), 3);
}

TEST(http_scorer, bad_urls_are_refused) {
  http_scorer_config c;
  c.url = "localhost:8000/score";
  EXPECT_FALSE(http_scorer::make(c));
  c.url = "http:///score";
  EXPECT_FALSE(http_scorer::make(c));
  auto p = split_url("http://h:1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->second, "/");
}

TEST(reward_parsers, lines_and_replies) {
  EXPECT_EQ(*parse_reward_line(R"({"reward": 0.5})"), 0.5);
  EXPECT_TRUE(is(parse_reward_line("nan").error(), errc::malformed_message));
  EXPECT_TRUE(is(parse_reward_line(R"({"reward": "x"})").error(), errc::malformed_message));
  EXPECT_TRUE(is(parse_rewards_reply("[1]", 1).error(), errc::malformed_message));
}

TEST(math_scorer, grades_decoded_text) {
  math_scorer m(reward_weights{});
  auto r = m.score({{"q", "The answer is \\boxed{4}", "4"}, {"q", "no idea", "4"}});
  ASSERT_TRUE(r);
  EXPECT_GT((*r)[0], (*r)[1]);
}
