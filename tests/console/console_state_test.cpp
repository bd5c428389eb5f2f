// console_state_test.cpp: the console's shared documents and rings
// (console/console_state.hpp). Waits are bounded and woken, never slept.

#include "console/console_state.hpp"

#include <future>
#include <thread>

#include <gtest/gtest.h>

namespace tandem {
namespace {

using namespace std::chrono_literals;

/// Long enough never to pass in a passing test: a wait that returns before
/// it was woken, not by its timeout.
constexpr auto never = std::chrono::milliseconds(30000);

TEST(ConsoleState, SnapshotBeforeAnyPublishHasSeqZeroAndEmptyBodies) {
  console_state state;
  auto snap = state.snapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->seq, 0u);
  EXPECT_TRUE(snap->actors_json.empty());
  EXPECT_EQ(state.last_event_id(), 0u);
  EXPECT_EQ(state.last_step(), -1);
}

TEST(ConsoleState, PublishReplacesTheBodiesAndIncrementsSeq) {
  console_state state;
  state.publish("[1]", "{\"a\":1}", "m 1\n");
  auto first = state.snapshot();
  state.publish("[2]", "{\"a\":2}", "m 2\n");
  auto second = state.snapshot();
  EXPECT_EQ(first->seq, 1u);
  EXPECT_EQ(first->actors_json, "[1]"); // a reader's snapshot never changes under it
  EXPECT_EQ(second->seq, 2u);
  EXPECT_EQ(second->actors_json, "[2]");
  EXPECT_EQ(second->run_json, "{\"a\":2}");
  EXPECT_EQ(second->prometheus_text, "m 2\n");
}

TEST(ConsoleState, AddEventInsertsTheIdAsFirstKey) {
  console_state state;
  EXPECT_EQ(state.add_event("{\"kind\":\"join\",\"name\":\"s0\"}"), 1u);
  EXPECT_EQ(state.add_event("  { }\n"), 2u);
  EXPECT_EQ(state.add_event("{ \"kind\" : \"death\" }"), 3u);
  auto events = state.events_after(0, 10);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].id, 1u);
  EXPECT_EQ(events[0].json, "{\"id\":1,\"kind\":\"join\",\"name\":\"s0\"}");
  EXPECT_EQ(events[1].json, "{\"id\":2}");
  EXPECT_EQ(events[2].json, "{\"id\":3,\"kind\" : \"death\" }");
  EXPECT_EQ(state.last_event_id(), 3u);
}

TEST(ConsoleState, AnEventThatIsNotAnObjectIsKeptQuotedSoReadersStillGetJson) {
  console_state state;
  state.add_event("oops \"x\"");
  EXPECT_EQ(state.events_after(0, 1).at(0).json, "{\"id\":1,\"text\":\"oops \\\"x\\\"\"}");
}

TEST(ConsoleState, EventRingDropsTheOldestAndCountsThem) {
  console_state state{console_state::limits{3, 10}};
  for (int i = 0; i < 5; ++i)
    state.add_event("{}");
  auto events = state.events_after(0, 100);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events.front().id, 3u);
  EXPECT_EQ(events.back().id, 5u);
  EXPECT_EQ(state.events_dropped(), 2u);
  EXPECT_EQ(state.last_event_id(), 5u);
}

TEST(ConsoleState, EventsAfterReturnsOldestFirstAtMostMax) {
  console_state state;
  for (int i = 0; i < 6; ++i)
    state.add_event("{}");
  auto some = state.events_after(2, 3);
  ASSERT_EQ(some.size(), 3u);
  EXPECT_EQ(some[0].id, 3u);
  EXPECT_EQ(some[2].id, 5u);
  EXPECT_TRUE(state.events_after(6, 10).empty());
  EXPECT_TRUE(state.events_after(99, 10).empty());
  EXPECT_TRUE(state.events_after(0, 0).empty());
}

TEST(ConsoleState, MetricsRingDropsTheOldestStepsAndCountsThem) {
  console_state state{console_state::limits{10, 3}};
  for (int64_t step = 1; step <= 5; ++step)
    state.add_metrics(step, "{\"step\":" + std::to_string(step) + "}");
  auto records = state.metrics_after(-1, 100);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records.front().step, 3);
  EXPECT_EQ(records.back().json, "{\"step\":5}");
  EXPECT_EQ(state.metrics_dropped(), 2u);
  EXPECT_EQ(state.last_step(), 5);
}

TEST(ConsoleState, ARepeatedStepCutsTheLogBackFromThatStep) {
  console_state state;
  for (int64_t step = 1; step <= 5; ++step)
    state.add_metrics(step, "old" + std::to_string(step));
  state.add_metrics(3, "new3"); // a resumed run repeats steps after its checkpoint
  auto records = state.metrics_after(-1, 100);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].json, "old1");
  EXPECT_EQ(records[1].json, "old2");
  EXPECT_EQ(records[2].json, "new3");
  EXPECT_EQ(state.last_step(), 3);
  EXPECT_EQ(state.metrics_cuts(), 1u);
  EXPECT_EQ(state.metrics_dropped(), 0u); // cut, not dropped for room
  state.add_metrics(3, "newer3");         // the very last step again
  EXPECT_EQ(state.metrics_after(2, 10).at(0).json, "newer3");
  EXPECT_EQ(state.metrics_cuts(), 2u);
}

TEST(ConsoleState, MetricsAfterFindsTheFirstStepAboveTheCursor) {
  console_state state;
  for (int64_t step : {2, 4, 6, 8})
    state.add_metrics(step, std::to_string(step));
  auto some = state.metrics_after(4, 2);
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0].step, 6);
  EXPECT_EQ(some[1].step, 8);
  EXPECT_EQ(state.metrics_after(3, 1).at(0).step, 4);
  EXPECT_TRUE(state.metrics_after(8, 5).empty());
}

TEST(ConsoleState, WaitNewerReturnsAtOnceWhenSomethingIsAlreadyNewer) {
  console_state state;
  state.publish("a", "r", "p");
  EXPECT_EQ(state.wait_newer(0, 0, -1, never)->seq, 1u);
  state.add_event("{}");
  EXPECT_EQ(state.wait_newer(1, 0, -1, never)->seq, 1u);
  state.add_metrics(7, "{}");
  EXPECT_EQ(state.wait_newer(1, 1, -1, never)->seq, 1u);
  EXPECT_EQ(state.wait_newer(1, 1, 9, never)->seq, 1u); // log cut back past the reader
}

TEST(ConsoleState, WaitNewerTimesOutWhenNothingChanges) {
  console_state state;
  state.publish("a", "r", "p");
  state.add_event("{}");
  state.add_metrics(1, "{}");
  auto snap = state.wait_newer(1, 1, 1, std::chrono::milliseconds(20));
  EXPECT_EQ(snap->seq, 1u);
}

/// Runs wait_newer on another thread with a timeout that a passing test never
/// reaches, then does `change`; the wait must return well before `never`.
template <class Change>
void expect_woken(console_state& state, Change change) {
  // The cursor is read before the waiter starts: a change that lands before
  // the wait begins makes it return at once, never wait for `never`.
  const uint64_t seq = state.snapshot()->seq;
  const uint64_t event = state.last_event_id();
  const int64_t step = state.last_step();
  auto start = std::chrono::steady_clock::now();
  auto waiter = std::async(std::launch::async,
                           [&] { return state.wait_newer(seq, event, step, never); });
  change();
  ASSERT_EQ(waiter.wait_for(never), std::future_status::ready);
  waiter.get();
  EXPECT_LT(std::chrono::steady_clock::now() - start, never / 2);
}

TEST(ConsoleState, WaitNewerIsWokenByPublish) {
  console_state state;
  expect_woken(state, [&] { state.publish("a", "r", "p"); });
}

TEST(ConsoleState, WaitNewerIsWokenByAnEvent) {
  console_state state;
  expect_woken(state, [&] { state.add_event("{}"); });
}

TEST(ConsoleState, WaitNewerIsWokenByAMetricsRecord) {
  console_state state;
  state.add_metrics(1, "{}");
  expect_woken(state, [&] { state.add_metrics(2, "{}"); });
}

} // namespace
} // namespace tandem
