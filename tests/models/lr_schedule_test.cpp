// lr_schedule_test.cpp: learner.lr_schedule at exact values (warmup, linear
// and cosine decay to min_lr at run.steps) and its validation.
#include "models/lr_schedule.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace tandem {
namespace {

lr_schedule schedule(lr_schedule_kind kind, int32_t warmup, double min_lr, int64_t total) {
  lr_schedule s;
  s.kind = kind;
  s.warmup_steps = warmup;
  s.min_lr = min_lr;
  s.total_steps = total;
  return s;
}

TEST(LrSchedule, ConstantIsThePeakAfterItsWarmup) {
  auto s = schedule(lr_schedule_kind::constant, 0, 0, 10);
  for (int64_t step : {0, 1, 9, 10, 100})
    EXPECT_EQ(lr_at(0.25, s, step), 0.25) << step;
  s.warmup_steps = 4;
  EXPECT_EQ(lr_at(1.0, s, 0), 0.25);
  EXPECT_EQ(lr_at(1.0, s, 1), 0.5);
  EXPECT_EQ(lr_at(1.0, s, 3), 1.0);
  EXPECT_EQ(lr_at(1.0, s, 4), 1.0);
  EXPECT_EQ(lr_at(1.0, s, 1000), 1.0);
}

TEST(LrSchedule, LinearWarmsUpThenDecaysToMinLrAtTheLastStep) {
  auto s = schedule(lr_schedule_kind::linear, 2, 0.1, 10);
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 0), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 1), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 2), 1.0);   // p = 0
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 4), 0.775); // p = 2/8
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 6), 0.55);  // p = 4/8
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 9), 0.2125); // p = 7/8, the run's last step
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 10), 0.1);  // p = 1
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 50), 0.1);  // clamped
}

TEST(LrSchedule, CosineFollowsHalfAPeriod) {
  auto s = schedule(lr_schedule_kind::cosine, 2, 0.1, 10);
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 0), 0.5);
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 2), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 4), 0.1 + 0.45 * (1 + std::sqrt(0.5)));
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 6), 0.55);
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 8), 0.1 + 0.45 * (1 - std::sqrt(0.5)));
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 10), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(1.0, s, 11), 0.1);
}

TEST(LrSchedule, WithoutWarmupTheFirstStepIsThePeak) {
  auto s = schedule(lr_schedule_kind::linear, 0, 0, 4);
  EXPECT_DOUBLE_EQ(lr_at(2e-3, s, 0), 2e-3);
  EXPECT_DOUBLE_EQ(lr_at(2e-3, s, 1), 1.5e-3);
  EXPECT_DOUBLE_EQ(lr_at(2e-3, s, 3), 0.5e-3);
}

TEST(LrSchedule, ProblemsAreNamed) {
  EXPECT_EQ(lr_schedule_problem(1e-3, schedule(lr_schedule_kind::constant, 0, 0, 0)), "");
  EXPECT_EQ(lr_schedule_problem(1e-3, schedule(lr_schedule_kind::cosine, 5, 1e-4, 100)), "");
  EXPECT_NE(lr_schedule_problem(1e-3, schedule(lr_schedule_kind::linear, -1, 0, 10)), "");
  EXPECT_NE(lr_schedule_problem(1e-3, schedule(lr_schedule_kind::linear, 0, 2e-3, 10)), "");
  EXPECT_NE(lr_schedule_problem(1e-3, schedule(lr_schedule_kind::linear, 0, -1, 10)), "");
  EXPECT_NE(lr_schedule_problem(1e-3, schedule(lr_schedule_kind::cosine, 0, 0, 0)), "");
  EXPECT_STREQ(to_string(lr_schedule_kind::cosine), "cosine");
}

} // namespace
} // namespace tandem
