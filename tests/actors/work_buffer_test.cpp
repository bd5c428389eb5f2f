// Group accounting: the queued → in_flight → scoring → scored → training →
// consumed state machine, requeues and exactly-once consumption.
#include <gtest/gtest.h>

#include "actors/internal/work_buffer.hpp"

namespace tandem {
namespace {

scored_group scored(uint64_t id, int64_t version) {
  scored_group g;
  g.rollout.group_id = id;
  completion_record c;
  c.tokens = {5, 4};
  c.logprobs = {-1, -1};
  c.versions = {version, version};
  g.rollout.completions = {c, c};
  g.rewards = {1, 0};
  return g;
}

// Drives one group from admission to scored.
uint64_t to_scored(work_buffer& wb, const std::string& holder, int64_t version) {
  auto id = *wb.admit(1, {1, 2}, "3", 2);
  auto tasks = wb.take_for_dispatch(1, holder, version, 0);
  EXPECT_EQ(tasks.size(), 1u);
  EXPECT_FALSE(wb.mark_generated(id, holder));
  EXPECT_FALSE(wb.mark_scored(id, scored(id, version)));
  return id;
}

TEST(WorkBuffer, GroupWalksThroughEveryStateOnce) {
  work_buffer wb(8, 3);
  auto id = *wb.admit(1, {1, 2}, "3", 2);
  EXPECT_EQ(wb.state_of(id), group_state::queued);
  auto tasks = wb.take_for_dispatch(4, "s0", 5, 0);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].min_version, 5);
  EXPECT_EQ(wb.state_of(id), group_state::in_flight);
  EXPECT_FALSE(wb.mark_generated(id, "s0"));
  EXPECT_EQ(wb.state_of(id), group_state::scoring);
  EXPECT_FALSE(wb.mark_scored(id, scored(id, 5)));
  auto batch = wb.take_batch(1, 0);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(wb.state_of(id), group_state::training);
  EXPECT_FALSE(wb.commit({id}));
  EXPECT_FALSE(wb.state_of(id).has_value());
  EXPECT_EQ(wb.counters().consumed, 1u);
}

TEST(WorkBuffer, LostSamplerRequeuesItsInFlightGroupsOnly) {
  work_buffer wb(8, 3);
  auto a = *wb.admit(1, {1}, "1", 2);
  auto b = *wb.admit(2, {1}, "2", 2);
  auto c = *wb.admit(3, {1}, "3", 2);
  wb.take_for_dispatch(2, "dead", 0, 0);
  wb.take_for_dispatch(1, "alive", 0, 0);
  auto ids = wb.requeue_holder("dead");
  EXPECT_EQ(ids, (std::vector<uint64_t>{a, b}));
  EXPECT_EQ(wb.state_of(a), group_state::queued);
  EXPECT_EQ(wb.state_of(b), group_state::queued);
  EXPECT_EQ(wb.state_of(c), group_state::in_flight);
  // A late report from the dead sampler is rejected, not counted.
  EXPECT_TRUE(wb.mark_generated(a, "dead"));
  EXPECT_EQ(wb.counters().rejected, 1u);
}

TEST(WorkBuffer, RedispatchedGroupGetsAFreshSeed) {
  work_buffer wb(8, 3);
  wb.admit(1, {1}, "1", 2);
  auto first = wb.take_for_dispatch(1, "s0", 0, 42);
  wb.requeue_holder("s0");
  auto second = wb.take_for_dispatch(1, "s1", 0, 42);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(first[0].seed, second[0].seed);
}

TEST(WorkBuffer, OnlyTheHolderMayReportAGroupGenerated) {
  work_buffer wb(8, 3);
  auto id = *wb.admit(1, {1}, "1", 2);
  wb.take_for_dispatch(1, "s0", 0, 0);
  EXPECT_TRUE(wb.mark_generated(id, "s1"));
  EXPECT_EQ(wb.state_of(id), group_state::in_flight);
}

TEST(WorkBuffer, ConsumedGroupCannotBeConsumedOrScoredAgain) {
  work_buffer wb(8, 3);
  auto id = to_scored(wb, "s0", 0);
  wb.take_batch(1, 0);
  EXPECT_FALSE(wb.commit({id}));
  EXPECT_TRUE(wb.commit({id}));
  EXPECT_TRUE(wb.mark_scored(id, scored(id, 0)));
  EXPECT_EQ(wb.counters().consumed, 1u);
}

TEST(WorkBuffer, RollbackReturnsTrainingGroupsToScored) {
  work_buffer wb(8, 3);
  auto id = to_scored(wb, "s0", 0);
  wb.take_batch(1, 0);
  EXPECT_FALSE(wb.rollback({id}));
  EXPECT_EQ(wb.state_of(id), group_state::scored);
  EXPECT_EQ(wb.take_batch(1, 0).size(), 1u);
}

TEST(WorkBuffer, StaleScoredGroupIsRequeuedNotTrained) {
  work_buffer wb(8, 3);
  auto old_id = to_scored(wb, "s0", 1);
  auto new_id = to_scored(wb, "s0", 3);
  std::vector<uint64_t> stale;
  auto batch = wb.take_batch(2, /*min_start_version=*/2, &stale);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].rollout.group_id, new_id);
  EXPECT_EQ(stale, std::vector<uint64_t>{old_id});
  EXPECT_EQ(wb.state_of(old_id), group_state::queued);
}

TEST(WorkBuffer, GroupIsDroppedAfterTooManyRequeues) {
  work_buffer wb(8, 2);
  auto id = *wb.admit(1, {1}, "1", 2);
  for (int i = 0; i < 3; ++i) {
    wb.take_for_dispatch(1, "s0", 0, 0);
    wb.requeue(id);
  }
  EXPECT_FALSE(wb.state_of(id).has_value());
  EXPECT_EQ(wb.counters().dropped, 1u);
  EXPECT_EQ(wb.counters().requeued, 3u);
}

TEST(WorkBuffer, AdmissionStopsAtCapacity) {
  work_buffer wb(2, 3);
  EXPECT_TRUE(wb.admit(1, {1}, "1", 2));
  EXPECT_TRUE(wb.admit(2, {1}, "1", 2));
  EXPECT_FALSE(wb.admit(3, {1}, "1", 2));
}

TEST(WorkBuffer, DispatchTakesOldestQueuedFirst) {
  work_buffer wb(8, 3);
  auto a = *wb.admit(1, {1}, "1", 2);
  auto b = *wb.admit(2, {1}, "1", 2);
  auto tasks = wb.take_for_dispatch(1, "s0", 0, 0);
  EXPECT_EQ(tasks[0].group_id, a);
  tasks = wb.take_for_dispatch(1, "s1", 0, 0);
  EXPECT_EQ(tasks[0].group_id, b);
}

} // namespace
} // namespace tandem
