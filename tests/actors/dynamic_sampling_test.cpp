// Dynamic sampling: the group filter as a plain class, the work buffer's
// filtered state, and the controller keeping only informative groups in a
// batch (on CAF's test coordinator, with fake backends).
#include <gtest/gtest.h>

#include "actors/internal/group_filter.hpp"
#include "actors/internal/work_buffer.hpp"
#include "pipeline_fixture.hpp"

namespace tandem::testing {
namespace {

scored_group group_with(std::vector<double> rewards) {
  scored_group g;
  g.rewards = std::move(rewards);
  return g;
}

TEST(GroupFilter, AllEqualRewardsAreUninformative) {
  EXPECT_TRUE(uninformative(group_with({0.1, 0.1, 0.1})));
  EXPECT_TRUE(uninformative(group_with({1.0, 1.0 + 1e-13})));
  EXPECT_TRUE(uninformative(group_with({})));
  EXPECT_FALSE(uninformative(group_with({1.0, 0.1})));
  EXPECT_FALSE(uninformative(group_with({0.0, 0.0, 1e-9})));
}

TEST(GroupFilter, OffFiltersNothing) {
  group_filter f{{false, 4}};
  EXPECT_FALSE(f.should_filter(group_with({0, 0})));
  auto i = f.take_interval();
  EXPECT_EQ(i.filtered, 0u);
  EXPECT_EQ(i.passed, 0u);
}

TEST(GroupFilter, FiltersUpToTheBoundThenLetsThrough) {
  group_filter f{{true, 2}};
  EXPECT_FALSE(f.should_filter(group_with({1, 0})));
  EXPECT_TRUE(f.should_filter(group_with({0, 0})));
  EXPECT_TRUE(f.should_filter(group_with({1, 1})));
  EXPECT_FALSE(f.should_filter(group_with({1, 1}))); // past the bound
  auto i = f.take_interval();
  EXPECT_EQ(i.filtered, 2u);
  EXPECT_EQ(i.passed, 1u);
  ASSERT_EQ(i.groups.size(), 2u);
  EXPECT_EQ(i.groups[1].rewards, (std::vector<double>{1, 1}));
  // A new interval starts with a fresh bound.
  EXPECT_TRUE(f.should_filter(group_with({0, 0})));
  EXPECT_EQ(f.total_filtered(), 3u);
}

TEST(GroupFilter, FilteredFraction) {
  EXPECT_DOUBLE_EQ(filtered_fraction(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(filtered_fraction(12, 4), 0.75);
  EXPECT_DOUBLE_EQ(filtered_fraction(0, 4), 0.0);
}

TEST(WorkBufferFilter, OnlyAScoredGroupCanBeFilteredAndItIsJournaledAsSettled) {
  work_buffer w(8, 3);
  auto id = *w.admit(5, {1, 2}, "3", 2);
  EXPECT_TRUE(w.filter(id)) << "a queued group cannot be filtered";
  w.take_for_dispatch(1, "s", 0, 1);
  ASSERT_FALSE(w.mark_generated(id, "s"));
  ASSERT_FALSE(w.mark_scored(id, group_with({0, 0})));
  w.take_issued();
  ASSERT_FALSE(w.filter(id));
  EXPECT_EQ(w.live(), 0u);
  EXPECT_EQ(w.counters().filtered, 1u);
  EXPECT_EQ(w.counters().dropped, 0u);
  auto settled = w.take_dropped();
  ASSERT_EQ(settled.size(), 1u);
  EXPECT_EQ(settled[0].problem_id, 5u);
  EXPECT_TRUE(w.filter(id)) << "a settled group is forgotten";
}

// Row 0 of every sampler batch answers right, the others wrong: with two
// groups of two per request, the first group is informative (1.0 vs 0.1) and
// the second is not (0.1, 0.1).
struct DynamicSampling : Pipeline {
  void start_half_informative() {
    task.min_operand = task.max_operand = 3; // every prompt is 3+3=
    start(1);
    gens[0]->answer_for = [](size_t row) { return row == 0 ? "6" : "5"; };
  }
  int64_t metric(size_t line, const std::string& key) {
    return json_int(metrics->lines.at(line), key);
  }
};

TEST_F(DynamicSampling, BatchesHoldOnlyInformativeGroupsAndTheRestIsCounted) {
  cs.filter = {true, 64};
  start_half_informative();
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  expect_each_group_consumed_once();
  ASSERT_EQ(metrics->lines.size(), size_t(cs.steps));
  int64_t filtered = 0;
  for (size_t i = 0; i < metrics->lines.size(); ++i) {
    auto& line = metrics->lines[i];
    EXPECT_NE(line.find("\"zero_std_frac\":0,"), std::string::npos) << line;
    filtered += metric(i, "groups_filtered");
    EXPECT_EQ(metric(i, "filter_passed"), 0) << line;
  }
  // A request of two groups brings one of each; a request of one group (the
  // last queued one) brings an informative one: at least a step's worth
  // of uninformative groups was generated and filtered.
  EXPECT_GE(filtered, int64_t(cs.steps));
  EXPECT_EQ(json_int(f->second, "groups_filtered"), filtered);
}

TEST_F(DynamicSampling, StepRewardsCoverTheFilteredGroupsToo) {
  cs.filter = {true, 64};
  cs.steps = 2;
  start_half_informative();
  run();
  ASSERT_EQ(metrics->lines.size(), 2u);
  // Trained groups average 0.55 (1.0 and 0.1), filtered ones 0.1: a step
  // with as many of each reports 0.325, not the trained groups' 0.55.
  auto& line = metrics->lines[1];
  auto at = line.find("\"reward_mean\":");
  ASSERT_NE(at, std::string::npos);
  double mean = std::stod(line.substr(at + 14));
  EXPECT_LT(mean, 0.5) << line;
  EXPECT_GT(mean, 0.1) << line;
}

TEST_F(DynamicSampling, ACollapsedPolicyStillStepsPastTheBound) {
  cs.filter = {true, 3};
  task.min_operand = task.max_operand = 3;
  start(1);
  gens[0]->answer = "5"; // every group scores 0.1 everywhere: no signal at all
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(trainer->version(), cs.steps);
  for (size_t i = 0; i < metrics->lines.size(); ++i) {
    EXPECT_LE(metric(i, "groups_filtered"), 3) << metrics->lines[i];
    EXPECT_GE(metric(i, "filter_passed"), 1) << metrics->lines[i];
  }
  expect_each_group_consumed_once();
}

TEST_F(DynamicSampling, OffTrainsOnUninformativeGroups) {
  start_half_informative();
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(metric(0, "groups_filtered"), 0);
  EXPECT_EQ(metrics->lines[0].find("\"zero_std_frac\":0,"), std::string::npos)
    << metrics->lines[0];
}

} // namespace
} // namespace tandem::testing
