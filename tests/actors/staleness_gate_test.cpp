// Staleness admission (AReaL's capacity rule) and staleness measurement.
#include <gtest/gtest.h>

#include "actors/internal/staleness_gate.hpp"

namespace tandem {
namespace {

TEST(StalenessGate, SynchronousModeAdmitsOneBatchPerVersion) {
  staleness_policy p{0, 16};
  EXPECT_EQ(admission_capacity(p, 0, 0, 0), 16);
  EXPECT_EQ(admission_capacity(p, 0, 16, 0), 0); // wait for version 1
  EXPECT_EQ(admission_capacity(p, 1, 16, 0), 16);
}

TEST(StalenessGate, EtaBatchesMayRunAhead) {
  staleness_policy p{2, 4};
  EXPECT_EQ(admission_capacity(p, 0, 0, 0), 12);
  EXPECT_EQ(admission_capacity(p, 0, 12, 0), 0);
  EXPECT_EQ(admission_capacity(p, 5, 20, 0), 12);
}

TEST(StalenessGate, DroppedGroupsFreeTheirSlot) {
  staleness_policy p{0, 4};
  EXPECT_EQ(admission_capacity(p, 0, 4, 1), 1);
}

TEST(StalenessGate, CapacityIsNeverNegative) {
  staleness_policy p{0, 4};
  EXPECT_EQ(admission_capacity(p, 0, 40, 0), 0);
}

TEST(StalenessGate, MinStartVersionIsVersionMinusEta) {
  EXPECT_EQ(min_start_version({2, 4}, 10), 8);
  EXPECT_EQ(min_start_version({0, 4}, 10), 10);
}

TEST(StalenessGate, MeasuresPerTokenStalenessAndHistogram) {
  scored_group g;
  completion_record c;
  c.versions = {3, 3, 4};
  g.rollout.completions = {c};
  auto s = measure_staleness({g}, 5);
  EXPECT_EQ(s.max, 2);
  EXPECT_NEAR(s.mean, (2 + 2 + 1) / 3.0, 1e-12);
  EXPECT_EQ(s.histogram, (std::vector<int64_t>{0, 1, 2}));
}

} // namespace
} // namespace tandem
