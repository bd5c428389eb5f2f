// pipeline_figures_test: the statistics and physical bounds that
// `tandem bench pipeline` reports (bench/pipeline_figures.hpp,
// bench/sample_stats.hpp).
#include <gtest/gtest.h>

#include "bench/pipeline_figures.hpp"
#include "bench/sample_stats.hpp"

namespace tandem {
namespace {

const figure_row& row(const std::vector<figure_row>& rows, const char* name) {
  for (auto& r : rows)
    if (r.name == name)
      return r;
  ADD_FAILURE() << "no row " << name;
  return rows.front();
}

TEST(SampleStats, MedianOfAnOddCountIsTheMiddleValue) {
  auto s = summarize({5, 1, 3});
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_EQ(s.count, 3u);
}

TEST(SampleStats, MedianOfAnEvenCountInterpolatesAndQuartilesLieInside) {
  auto s = summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.q1, 1.75);
  EXPECT_DOUBLE_EQ(s.q3, 3.25);
}

TEST(SampleStats, AnEmptySampleIsAllZero) {
  auto s = summarize({});
  EXPECT_EQ(s.count, 0u);
  EXPECT_DOUBLE_EQ(s.median, 0);
  EXPECT_EQ(format_spread(summarize({2, 1, 3}), 1), "2.0 [1.0..3.0]");
}

TEST(PipelineFigures, SerialBoundAndIdealFollowFromTheStageRates) {
  auto x = ratios_of({300, 600, 200, 300, 0});
  EXPECT_DOUBLE_EQ(x.serial, 200);  // 1 / (1/300 + 1/600)
  EXPECT_DOUBLE_EQ(x.ideal, 300);   // min(300, 600)
  EXPECT_DOUBLE_EQ(x.sync_vs_serial, 1);
  EXPECT_DOUBLE_EQ(x.async_vs_sync, 1.5);
  EXPECT_DOUBLE_EQ(x.efficiency, 1);
  EXPECT_DOUBLE_EQ(x.efficiency_nccl, 0);
}

TEST(PipelineFigures, RatiosAreTakenPerRoundBeforeTheMedian) {
  // A slow round moves every mode: per-round ratios stay at 1.
  std::vector<round_rates> rounds{{100, 200, 66.0, 100, 0}, {50, 100, 33.0, 50, 0},
                                  {200, 400, 132.0, 200, 0}};
  auto rows = summarize_rounds(rounds);
  EXPECT_DOUBLE_EQ(row(rows, "overlap_efficiency").s.median, 1.0);
  EXPECT_DOUBLE_EQ(row(rows, "overlap_efficiency").s.min, 1.0);
  EXPECT_TRUE(bound_warnings(rows).empty());
}

TEST(PipelineFigures, AnEfficiencyAboveItsBoundIsFlagged) {
  std::vector<round_rates> rounds{{100, 200, 60, 120, 0}, {100, 200, 60, 110, 0},
                                  {100, 200, 60, 100, 0}};
  auto rows = summarize_rounds(rounds);
  auto& eff = row(rows, "overlap_efficiency");
  EXPECT_DOUBLE_EQ(eff.s.median, 1.1);
  EXPECT_EQ(eff.rounds_over, 2u);
  auto warnings = bound_warnings(rows);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("overlap_efficiency"), std::string::npos);
}

TEST(PipelineFigures, AnAsyncOverSyncSpeedupAboveTwoIsFlagged) {
  // sync far below the serial bound: it did other work than the stages.
  std::vector<round_rates> rounds{{100, 100, 20, 50, 0}};
  auto warnings = bound_warnings(summarize_rounds(rounds));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("async/sync"), std::string::npos);
}

TEST(PipelineFigures, NcclRowsAppearOnlyWhenMeasured) {
  auto without = summarize_rounds({{100, 200, 60, 90, 0}});
  auto with = summarize_rounds({{100, 200, 60, 90, 95}});
  EXPECT_EQ(with.size(), without.size() + 3);
  EXPECT_DOUBLE_EQ(row(with, "overlap_efficiency (NCCL)").s.median, 0.95);
}

} // namespace
} // namespace tandem
