// command_scorer_test: the command reward plug-in with a fake line_process
// and with a real tiny python3 program that answers, hangs, crashes or
// prints garbage depending on the completion it is sent.
#include "tasks/command_scorer.hpp"

#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>

#include <gtest/gtest.h>

#include "runtime/error.hpp"

using namespace tandem;
using namespace std::chrono_literals;

namespace {

// --- fake: replies from a script of lines or errors --------------------------
struct fake_process : line_process {
  std::deque<caf::expected<std::string>>* replies;
  std::vector<std::string>* sent;
  std::string* events; // 'w' per line written, 'r' per line read
  bool* killed;
  caf::error write_line(const std::string& l, steady_deadline) override {
    sent->push_back(l);
    *events += 'w';
    return {};
  }
  caf::expected<std::string> read_line(steady_deadline) override {
    auto r = std::move(replies->front());
    replies->pop_front();
    *events += 'r';
    return r;
  }
  void kill() override { *killed = true; }
};

struct fake_world {
  std::deque<caf::expected<std::string>> replies;
  std::vector<std::string> sent;
  std::string events;
  bool killed = false;
  line_process_factory factory() {
    return [this](int32_t) -> caf::expected<std::unique_ptr<line_process>> {
      auto p = std::make_unique<fake_process>();
      p->replies = &replies;
      p->sent = &sent;
      p->events = &events;
      p->killed = &killed;
      return std::unique_ptr<line_process>(std::move(p));
    };
  }
};

std::vector<score_item> items(std::vector<std::string> completions) {
  std::vector<score_item> out;
  for (auto& c : completions)
    out.push_back({"1+1=", c, "2"});
  return out;
}

// --- the real program ---------------------------------------------------------
const char* script = R"PY(
import json, sys, time
print("scorer up", file=sys.stderr, flush=True)
for line in sys.stdin:
    req = json.loads(line)
    c = req["completion"]
    if c == "hang":
        time.sleep(30)
    if c == "crash":
        sys.exit(3)
    if c == "garbage":
        print("not json", flush=True)
        continue
    print(json.dumps({"reward": 1.0 if c == req["answer"] else 0.0}), flush=True)
)PY";

struct real_program : ::testing::Test {
  std::string path = ::testing::TempDir() + "/tandem_reward_cmd_test.py";
  std::mutex mtx;
  std::vector<std::string> log;
  void SetUp() override { std::ofstream(path) << script; }
  void TearDown() override { std::remove(path.c_str()); }
  command_scorer make(int32_t instances, std::chrono::milliseconds timeout = 5000ms) {
    auto argv = std::vector<std::string>{"python3", path};
    return command_scorer(
      [this, argv](int32_t i) {
        return spawn_line_process(argv, [this, i](const std::string& l) {
          std::lock_guard<std::mutex> g(mtx);
          log.push_back("#" + std::to_string(i) + " " + l);
        });
      },
      instances, timeout, 30000ms); // start-up: python under a loaded machine
  }
};

} // namespace

TEST(command_scorer, sends_one_line_per_completion_and_reads_rewards) {
  fake_world w;
  w.replies = {std::string(R"({"reward": 1})"), std::string(R"({"reward": 0.5})")};
  command_scorer s(w.factory(), 1, 1000ms, 0ms);
  auto r = s.score(items({"2", "3"}));
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, (std::vector<double>{1, 0.5}));
  ASSERT_EQ(w.sent.size(), 2u);
  EXPECT_EQ(w.sent[0], R"({"prompt":"1+1=","completion":"2","answer":"2"})");
}

TEST(command_scorer, writes_a_batch_before_reading_its_replies) {
  fake_world w;
  for (auto r : {"1", "0", "0.5"})
    w.replies.push_back(std::string(R"({"reward": )") + r + "}");
  command_scorer s(w.factory(), 1, 1000ms, 0ms);
  auto r = s.score(items({"2", "3", "4"}));
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, (std::vector<double>{1, 0, 0.5}));
  EXPECT_EQ(w.events, "wwwrrr"); // no round trip per completion
}

TEST(command_scorer, requests_in_flight_are_bounded_by_64_kib) {
  fake_world w;
  for (int i = 0; i < 3; ++i)
    w.replies.push_back(std::string(R"({"reward": 1})"));
  command_scorer s(w.factory(), 1, 1000ms, 0ms);
  std::string big(40 << 10, 'x'); // two such lines exceed the window
  auto r = s.score(items({big, big, big}));
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(w.events, "wrwrwr");
}

TEST(command_scorer, a_malformed_reply_leaves_the_instance_in_step) {
  fake_world w;
  w.replies = {std::string("hello"), std::string(R"({"reward": 1})"),
               std::string(R"({"reward": 0.25})")};
  command_scorer s(w.factory(), 1, 1000ms, 0ms);
  auto r = s.score(items({"2", "3"}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::malformed_message)) << describe(r.error());
  r = s.score(items({"4"})); // its own reply, not the first call's second
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, std::vector<double>{0.25});
  EXPECT_EQ(s.starts(), 1);
}

TEST(command_scorer, garbage_is_malformed_and_keeps_the_instance) {
  fake_world w;
  w.replies = {std::string("hello")};
  command_scorer s(w.factory(), 1, 1000ms, 0ms);
  auto r = s.score(items({"2"}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::malformed_message)) << describe(r.error());
  EXPECT_FALSE(w.killed);
  EXPECT_EQ(s.starts(), 1);
}

TEST(command_scorer, a_timeout_kills_and_the_next_call_restarts) {
  fake_world w;
  w.replies = {caf::expected<std::string>(make_error(errc::timeout, "x")),
               std::string(R"({"reward": 1})")};
  command_scorer s(w.factory(), 1, 1000ms, 0ms);
  auto r = s.score(items({"2"}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::timeout));
  EXPECT_TRUE(w.killed);
  EXPECT_TRUE(s.score(items({"2"})));
  EXPECT_EQ(s.starts(), 2);
}

TEST_F(real_program, answers_with_several_instances_and_logs_stderr) {
  auto s = make(2);
  auto r = s.score(items({"2", "3", "2", "x", "2"}));
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, (std::vector<double>{1, 0, 1, 0, 1}));
  EXPECT_EQ(s.starts(), 2);
  r = s.score(items({"2"}));
  ASSERT_TRUE(r);
  EXPECT_EQ(s.starts(), 2);
  std::lock_guard<std::mutex> g(mtx);
  EXPECT_NE(std::find(log.begin(), log.end(), "#0 scorer up"), log.end());
}

// 2 MiB of requests, far over the socket buffers: written in windows while
// the replies are read, never both ends waiting on full buffers.
TEST_F(real_program, a_batch_larger_than_the_socket_buffers_streams_through) {
  auto s = make(1);
  std::vector<std::string> completions;
  for (int i = 0; i < 1024; ++i)
    completions.push_back(i % 2 ? "2" : std::string(2048, 'x'));
  auto r = s.score(items(completions));
  ASSERT_TRUE(r) << describe(r.error());
  for (size_t i = 0; i < r->size(); ++i)
    EXPECT_EQ((*r)[i], i % 2 ? 1.0 : 0.0) << i;
}

TEST_F(real_program, garbage_is_malformed) {
  auto s = make(1);
  auto r = s.score(items({"garbage"}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::malformed_message)) << describe(r.error());
  EXPECT_TRUE(s.score(items({"2"})));
  EXPECT_EQ(s.starts(), 1);
}

TEST_F(real_program, a_crash_is_process_failure_then_restarted) {
  auto s = make(1);
  auto r = s.score(items({"crash"}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::process_failure)) << describe(r.error());
  auto again = s.score(items({"2"}));
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(s.starts(), 2);
}

TEST_F(real_program, a_hang_is_a_timeout_then_restarted) {
  auto s = make(1, 1500ms);
  ASSERT_TRUE(s.score(items({"2"}))); // started: the next deadline is 1.5 s
  auto r = s.score(items({"hang"}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::timeout)) << describe(r.error());
  auto again = s.score(items({"2"}));
  ASSERT_TRUE(again) << describe(again.error());
  EXPECT_EQ(s.starts(), 2);
}

TEST(spawn_line_process, a_missing_program_is_process_failure) {
  auto p = spawn_line_process({"/nonexistent/tandem-reward"}, [](const std::string&) {});
  ASSERT_FALSE(p);
  EXPECT_TRUE(is(p.error(), errc::process_failure));
}
