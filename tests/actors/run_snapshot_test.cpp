// The controller's part of a checkpoint: what it holds, how it reads back,
// and the problem cursor that regenerates pending prompts exactly.
#include <gtest/gtest.h>

#include "actors/internal/run_snapshot.hpp"
#include "actors/internal/work_buffer.hpp"
#include "runtime/error.hpp"
#include "tasks/arithmetic_task.hpp"

namespace tandem {
namespace {

/// problem i has id i and question "q<i>".
class counting_source final : public problem_source {
public:
  problem next() override {
    auto i = n_++;
    return {i, "q" + std::to_string(i), std::to_string(i)};
  }
  std::string describe() const override { return "counting"; }

private:
  uint64_t n_ = 0;
};

TEST(RunSnapshot, RoundTripsEveryFieldExactly) {
  controller_snapshot s;
  s.step = 250;
  s.problems_drawn = 4017;
  s.pending = {4000, 4003, 4016};
  s.next_group_id = 4018;
  s.counters = {4017, 4000, 2, 9, 1};
  s.stale_refused = 3;
  s.staleness_violations = 0;
  s.skipped_problems = 1;
  s.rewards = {0.1, 1.0 / 3.0, 0.95000000000000007};
  s.elapsed_s = 93.123456789012345;
  auto back = parse_controller_snapshot(to_json(s), "controller.json");
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->step, 250);
  EXPECT_EQ(back->problems_drawn, 4017u);
  EXPECT_EQ(back->pending, s.pending);
  EXPECT_EQ(back->next_group_id, 4018u);
  EXPECT_EQ(back->counters.admitted, 4017u);
  EXPECT_EQ(back->counters.consumed, 4000u);
  EXPECT_EQ(back->counters.dropped, 2u);
  EXPECT_EQ(back->counters.requeued, 9u);
  EXPECT_EQ(back->counters.rejected, 1u);
  EXPECT_EQ(back->stale_refused, 3u);
  EXPECT_EQ(back->skipped_problems, 1u);
  EXPECT_EQ(back->rewards, s.rewards); // bit-exact: the early stop must not drift
  EXPECT_EQ(back->elapsed_s, s.elapsed_s);
}

TEST(RunSnapshot, MalformedTextIsAnErrorNamingTheFile) {
  auto bad = parse_controller_snapshot("{\"step\":1}", "ck/controller.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(describe(bad.error()).find("ck/controller.json"), std::string::npos);
  EXPECT_FALSE(parse_controller_snapshot("{\"step\":", "x"));
  EXPECT_FALSE(parse_controller_snapshot("[]", "x"));
}

TEST(ProblemCursor, RestoredCursorReplaysPendingThenContinuesTheStream) {
  problem_cursor live(std::make_shared<counting_source>());
  for (int i = 0; i < 10; ++i)
    live.next();
  // Problems 6 and 8 were issued and not trained when the head died.
  problem_cursor back(std::make_shared<counting_source>());
  ASSERT_FALSE(back.restore(10, {8, 6}));
  EXPECT_EQ(back.unreplayed(), (std::vector<uint64_t>{6, 8}));
  EXPECT_EQ(back.next().id, 6u);
  EXPECT_EQ(back.next().id, 8u);
  auto fresh = back.next();
  EXPECT_EQ(fresh.id, 10u);
  EXPECT_EQ(fresh.question, "q10");
  EXPECT_EQ(back.drawn(), 11u);
  EXPECT_EQ(live.next().id, 10u); // the uninterrupted stream agrees
}

TEST(ProblemCursor, PendingBeyondTheCursorIsRefused) {
  problem_cursor c(std::make_shared<counting_source>());
  EXPECT_TRUE(c.restore(5, {5}));
}

TEST(ProblemCursor, ArithmeticStreamReplaysIdentically) {
  arithmetic_config cfg;
  cfg.max_operand = 9;
  cfg.seed = 7;
  std::shared_ptr<problem_source> a = std::move(*arithmetic_task::make(cfg));
  std::vector<problem> first;
  for (int i = 0; i < 50; ++i)
    first.push_back(a->next());
  problem_cursor c(std::shared_ptr<problem_source>(std::move(*arithmetic_task::make(cfg))));
  ASSERT_FALSE(c.restore(40, {37}));
  auto p = c.next();
  EXPECT_EQ(p.id, first[37].id);
  EXPECT_EQ(p.question, first[37].question);
  for (int i = 40; i < 50; ++i)
    EXPECT_EQ(c.next().question, first[i].question);
}

TEST(WorkBufferDurability, SeedsFollowTheProblemNotTheGroupId) {
  work_buffer a(8, 3), b(8, 3);
  ASSERT_TRUE(a.admit(42, {1}, "1", 2));
  ASSERT_FALSE(b.restore(1000, {}));
  ASSERT_TRUE(b.admit(42, {1}, "1", 2)); // the same prompt regenerated after a restart
  auto ta = a.take_for_dispatch(1, "s", 0, 9);
  auto tb = b.take_for_dispatch(1, "s", 0, 9);
  ASSERT_EQ(ta.size(), 1u);
  ASSERT_EQ(tb.size(), 1u);
  EXPECT_NE(ta[0].group_id, tb[0].group_id);
  EXPECT_EQ(tb[0].group_id, 1000u);
  EXPECT_EQ(ta[0].seed, tb[0].seed);
}

TEST(WorkBufferDurability, IssuedDroppedAndLiveGroupsAreLogged) {
  work_buffer wb(8, 0); // the first requeue drops
  auto g1 = *wb.admit(7, {1}, "1", 2);
  auto g2 = *wb.admit(8, {1}, "1", 2);
  auto issued = wb.take_issued();
  ASSERT_EQ(issued.size(), 2u);
  EXPECT_EQ(issued[0].group_id, g1);
  EXPECT_EQ(issued[1].problem_id, 8u);
  EXPECT_TRUE(wb.take_issued().empty());
  wb.take_for_dispatch(1, "s", 0, 0);
  ASSERT_FALSE(wb.requeue(g1));
  auto dropped = wb.take_dropped();
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].problem_id, 7u);
  auto live = wb.live_groups();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].group_id, g2);
  EXPECT_TRUE(wb.restore(5, {})); // only an empty buffer restores
}

} // namespace
} // namespace tandem
