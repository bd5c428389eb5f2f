// The supervisor's decisions and the chaos harness's bookkeeping, without
// processes: what a head's exit code means, the restart budget and backoff,
// and how kills are matched to detections, recoveries and lost steps.
#include <gtest/gtest.h>

#include <csignal>

#include "app/chaos_report.hpp"
#include "app/supervisor.hpp"

namespace tandem {
namespace {

using namespace std::chrono_literals;

TEST(Supervisor, HeadExitCodesMapToTheirMeaning) {
  EXPECT_EQ(classify_head_exit(0), head_exit::finished);
  EXPECT_EQ(classify_head_exit(1), head_exit::failed);
  EXPECT_EQ(classify_head_exit(2), head_exit::bad_config);
  EXPECT_EQ(classify_head_exit(128 + SIGINT), head_exit::interrupted);
  EXPECT_EQ(classify_head_exit(128 + SIGTERM), head_exit::interrupted);
  EXPECT_EQ(classify_head_exit(128 + SIGKILL), head_exit::crashed); // OOM killer, kill -9
  EXPECT_EQ(classify_head_exit(128 + SIGSEGV), head_exit::crashed);
  EXPECT_EQ(classify_head_exit(128 + SIGABRT), head_exit::crashed);
  EXPECT_EQ(classify_head_exit(3), head_exit::crashed);
}

TEST(Supervisor, RestartBudgetBacksOffAndRunsOut) {
  restart_budget b(3, restart_budget::clock::duration::max());
  auto t = restart_budget::clock::time_point{} + 1h;
  EXPECT_FALSE(b.exhausted(t));
  EXPECT_EQ(b.take(t), 500ms);
  EXPECT_EQ(b.take(t + 1s), 1000ms);
  EXPECT_EQ(b.take(t + 2s), 2000ms);
  EXPECT_TRUE(b.exhausted(t + 10h)); // the head's budget never refills
}

TEST(Supervisor, WorkerBudgetCountsOnlyTheLastWindow) {
  restart_budget b(3, 60s, true);
  auto t = restart_budget::clock::time_point{} + 1h;
  b.take(t);
  b.take(t + 1s);
  b.take(t + 2s);
  EXPECT_TRUE(b.exhausted(t + 3s)); // crash-looping: given up
  EXPECT_FALSE(b.exhausted(t + 62s)); // a minute later the old deaths expired
  EXPECT_EQ(b.take(t + 62s, 20s), 500ms); // one that ran 20 s backs off from the start
}

TEST(Supervisor, AStableProcessStartsTheBackoffOverAndIsForgiven) {
  restart_budget worker(3, 60s, true);
  auto t = restart_budget::clock::time_point{} + 1h;
  EXPECT_EQ(worker.take(t, 1s), 500ms);
  EXPECT_EQ(worker.take(t + 2s, 1s), 1000ms); // crash-looping: backing off
  EXPECT_EQ(worker.take(t + 40s, 30s), 500ms); // it had run 30 s: killed, not looping
  EXPECT_EQ(worker.take(t + 45s, 20s), 500ms);
  EXPECT_FALSE(worker.exhausted(t + 46s)); // only the two early deaths count
  restart_budget head(2, restart_budget::clock::duration::max());
  head.take(t, 1h);
  head.take(t + 1h, 1h);
  EXPECT_TRUE(head.exhausted(t + 2h)); // the head's budget counts every restart
}

TEST(Supervisor, BackoffIsCapped) {
  restart_budget b(100, restart_budget::clock::duration::max());
  auto t = restart_budget::clock::time_point{} + 1h;
  std::chrono::milliseconds last{};
  for (int i = 0; i < 10; ++i)
    last = b.take(t);
  EXPECT_EQ(last, 8000ms);
}

TEST(ChaosLedger, MatchesExitsAndStepsToTheirKills) {
  chaos_ledger l;
  l.killed("worker", 101, 1000.0, 40);
  l.killed("head", 7, 1010.0, 57);
  l.on_exit(101, 1000.05); // the supervisor saw the worker go
  l.on_step(41, 1000.9);   // training went on
  l.on_exit(7, 1010.1);
  l.on_resume(50);         // the restarted head resumed from step 50
  l.on_step(51, 1013.0);
  ASSERT_EQ(l.kills().size(), 2u);
  EXPECT_NEAR(*l.kills()[0].detected, 0.05, 1e-9);
  EXPECT_NEAR(*l.kills()[0].recovered, 0.9, 1e-9);
  EXPECT_FALSE(l.kills()[0].steps_lost); // a worker kill loses no trained step
  EXPECT_NEAR(*l.kills()[1].detected, 0.1, 1e-9);
  EXPECT_NEAR(*l.kills()[1].recovered, 3.0, 1e-9);
  EXPECT_EQ(*l.kills()[1].steps_lost, 7); // steps 51..57 were trained again
  EXPECT_EQ(l.count("head"), 1u);
  EXPECT_EQ(l.steps_lost(), 7);
  auto d = l.detection();
  EXPECT_EQ(d.n, 2u);
  EXPECT_NEAR(d.max, 0.1, 1e-9);
  auto text = format_chaos(l, 0, "{\"ok\":1}", "audit: clean\n");
  EXPECT_NE(text.find("1 head, 1 worker"), std::string::npos);
  EXPECT_NE(text.find("7 in all"), std::string::npos);
}

TEST(ChaosLedger, SpreadIsMedianAndMax) {
  auto s = spread_of({3, 1, 2, 10});
  EXPECT_EQ(s.median, 2.5);
  EXPECT_EQ(s.max, 10);
  EXPECT_EQ(spread_of({}).n, 0u);
}

} // namespace
} // namespace tandem
