// top_command_test.cpp: `tandem top --once` against an in-process HTTP
// server that serves the fixture replies (tests/data/console/), run in this
// process with stdout and stderr captured; and its argument errors.
#include "console/top_command.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <httplib.h>

#include <gtest/gtest.h>
#include "tests/runtime/temp_dir.hpp"

namespace tandem {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(TANDEM_TEST_DATA_DIR) + "/console/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Serves /api/run, /api/actors and /api/metrics from the fixtures on an
// ephemeral loopback port; with a token, answers 401 to requests without
// "Authorization: Bearer TOKEN". The listening socket exists once the
// constructor returns, so a client may connect at once.
class fixture_server {
public:
  explicit fixture_server(std::string token = {}) : token_(std::move(token)) {
    for (auto name : {"run", "actors", "metrics"}) {
      auto body = fixture(std::string(name) + ".json");
      svr_.Get(std::string("/api/") + name,
               [this, body](const httplib::Request& req, httplib::Response& res) {
                 {
                   std::lock_guard<std::mutex> guard(mu_);
                   auth_.push_back(req.get_header_value("Authorization"));
                   paths_.push_back(req.path + (req.has_param("after")
                                                  ? "?after=" + req.get_param_value("after")
                                                  : ""));
                 }
                 if (!token_.empty() && req.get_header_value("Authorization") != "Bearer " + token_) {
                   res.status = 401;
                   return;
                 }
                 res.set_content(body, "application/json");
               });
    }
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
  }

  ~fixture_server() {
    // stop() only reaches a server whose accept loop runs.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!svr_.is_running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    svr_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  int port() const { return port_; }

  std::vector<std::string> auth() const {
    std::lock_guard<std::mutex> guard(mu_);
    return auth_;
  }
  std::vector<std::string> paths() const {
    std::lock_guard<std::mutex> guard(mu_);
    return paths_;
  }

private:
  std::string token_;
  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> auth_, paths_;
};

struct outcome {
  int code = -1;
  std::string out, err;
};

outcome run_top(const std::vector<std::string>& args) {
  ::setenv("COLUMNS", "160", 1);
  std::stringstream out, err;
  auto* o = std::cout.rdbuf(out.rdbuf());
  auto* e = std::cerr.rdbuf(err.rdbuf());
  outcome r;
  r.code = top_command(args);
  std::cout.rdbuf(o);
  std::cerr.rdbuf(e);
  r.out = out.str();
  r.err = err.str();
  return r;
}

TEST(TopCommand, OncePrintsTheRunAndEveryActor) {
  ::unsetenv("TANDEM_CONSOLE_TOKEN");
  fixture_server server;
  auto r = run_top({server.url(), "--once"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("tandem top  " + server.url() + "  training  incarnation 2", 0), 0u)
    << r.out;
  EXPECT_NE(r.out.find("\n!! samplers_waiting_for_weights for 12s: sampler-1 waits for version 41\n"),
            std::string::npos);
  EXPECT_NE(r.out.find("\nreward ▁"), std::string::npos);
  EXPECT_NE(r.out.find("\n ROLE▲"), std::string::npos);
  for (auto name : {"learner-0", "sampler-0", "sampler-1", "sampler-2", "sampler-3", "reward-0",
                    "reward-1"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  EXPECT_NE(r.out.find(" sampler  sampler-3"), std::string::npos);
  EXPECT_EQ(r.out.find("q quit"), std::string::npos); // no key footer for scripts
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);   // no colors either
  auto paths = server.paths();
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[2], "/api/metrics?after=-1");
  EXPECT_EQ(server.auth().at(0), ""); // no token, none sent
}

TEST(TopCommand, ARunDirectoryNamesItsConsoleInConsoleUrl) {
  fixture_server server;
  auto dir = std::filesystem::temp_directory_path() / ("tandem_top_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "console.url") << server.url() << "\n";
  auto r = run_top({dir.string(), "--once"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("learner-0"), std::string::npos);
  std::filesystem::remove(dir / "console.url");
  r = run_top({dir.string(), "--once"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("console.url is missing"), std::string::npos) << r.err;
  tandem::test::remove_tree(dir);
}

TEST(TopCommand, TheTokenTravelsAsABearerToken) {
  fixture_server server("s3cret");
  ::unsetenv("TANDEM_CONSOLE_TOKEN");
  auto port = std::to_string(server.port());
  auto r = run_top({"127.0.0.1:" + port, "--once", "--token", "s3cret"});
  EXPECT_EQ(r.code, 0) << r.err;
  ::setenv("TANDEM_CONSOLE_TOKEN", "s3cret", 1);
  r = run_top({"http://127.0.0.1:" + port, "--once"});
  ::unsetenv("TANDEM_CONSOLE_TOKEN");
  EXPECT_EQ(r.code, 0) << r.err;
  for (auto& a : server.auth())
    EXPECT_EQ(a, "Bearer s3cret");
}

TEST(TopCommand, BadArgumentsExitTwoNamingTheArgument) {
  auto r = run_top({"no-such-dir-or-address", "--once"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("HEAD_OR_RUN_DIR"), std::string::npos) << r.err;
  for (auto bad : {"127.0.0.1:0", "127.0.0.1:70000", "https://127.0.0.1:8080/", ":8080",
                   "127.0.0.1"}) {
    r = run_top({bad, "--once"});
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
  }
  r = run_top({"127.0.0.1:8080", "--interval", "50"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--interval"), std::string::npos) << r.err;
  r = run_top({});
  EXPECT_EQ(r.code, 2);
  r = run_top({"127.0.0.1:8080", "--bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
}

TEST(TopCommand, AHeadThatNeverAnswersExitsOneAfterTenSeconds) {
  // Every request is refused (no token): after 10 s of tries, exit 1.
  fixture_server server("s3cret");
  ::unsetenv("TANDEM_CONSOLE_TOKEN");
  auto start = std::chrono::steady_clock::now();
  auto r = run_top({server.url(), "--once", "--interval", "2000"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("did not answer within 10 s"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("TANDEM_CONSOLE_TOKEN"), std::string::npos) << r.err;
  EXPECT_GE(took, std::chrono::seconds(9));
  EXPECT_LE(took, std::chrono::seconds(14));
}

} // namespace
} // namespace tandem
