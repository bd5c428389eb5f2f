// entropy_control_test: the entropy bonus's coefficient, fixed or steered
// toward a target (models/entropy_control.hpp), step by step.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "models/entropy_control.hpp"

using tandem::entropy_control;
using tandem::grpo_config;

namespace {

grpo_config steered(double start, double target, double step, double max) {
  grpo_config g;
  g.entropy_coef = start;
  g.entropy_target = target;
  g.entropy_coef_step = step;
  g.entropy_coef_max = max;
  return g;
}

} // namespace

TEST(EntropyControl, WithoutATargetTheCoefficientIsFixed) {
  grpo_config g;
  g.entropy_coef = 0.01;
  entropy_control c(g);
  EXPECT_FALSE(c.steered());
  for (double e : {0.0, 5.0, 0.001}) {
    EXPECT_DOUBLE_EQ(c.coef(), 0.01);
    c.observe(e);
  }
  EXPECT_DOUBLE_EQ(c.coef(), 0.01);
}

// Target 0.3, step 0.25, max 0.6, start 0.1 (binary fractions: exact sums).
TEST(EntropyControl, SteersUpWhileBelowAndAppliesOnlyThen) {
  entropy_control c(steered(0.125, 0.3, 0.25, 0.625));
  EXPECT_EQ(c.coef(), 0.0) << "nothing measured yet: no bonus";
  c.observe(0.1); // below: alpha 0.375, applied
  EXPECT_DOUBLE_EQ(c.coef(), 0.375);
  c.observe(0.2); // below: 0.625 (max)
  EXPECT_DOUBLE_EQ(c.coef(), 0.625);
  c.observe(0.0); // below, at the cap
  EXPECT_DOUBLE_EQ(c.coef(), 0.625);
  c.observe(0.5); // above: alpha 0.375 kept, bonus off
  EXPECT_EQ(c.coef(), 0.0);
  EXPECT_DOUBLE_EQ(c.alpha(), 0.375);
  c.observe(0.3); // at the target counts as above: alpha 0.125
  EXPECT_EQ(c.coef(), 0.0);
  c.observe(0.9); // alpha 0 (floor)
  c.observe(0.9);
  EXPECT_EQ(c.alpha(), 0.0);
  c.observe(0.29); // below again: up from 0
  EXPECT_DOUBLE_EQ(c.coef(), 0.25);
}

TEST(EntropyControl, AStepThatMeasuredNothingChangesNothing) {
  entropy_control c(steered(0.0, 0.3, 0.25, 1.0));
  c.observe(0.1);
  c.observe(std::nan(""));
  c.observe(std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(c.coef(), 0.25);
  EXPECT_DOUBLE_EQ(c.last_entropy(), 0.1);
}

TEST(EntropyControl, RestoredStateGoesOnAsTheOriginal) {
  const auto g = steered(0.0, 0.3, 0.125, 1.0);
  entropy_control a(g);
  for (double e : {0.1, 0.2, 0.4, 0.05})
    a.observe(e);
  entropy_control b(g);
  b.restore(a.alpha(), a.last_entropy());
  for (double e : {0.35, 0.1, 0.2}) {
    EXPECT_EQ(a.coef(), b.coef());
    a.observe(e);
    b.observe(e);
  }
  EXPECT_EQ(a.alpha(), b.alpha());
  b.restore(7.0, 0.1); // clamped to the max
  EXPECT_DOUBLE_EQ(b.alpha(), 1.0);
}
