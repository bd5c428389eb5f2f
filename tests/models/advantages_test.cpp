// advantages_test: group-relative advantages (models/advantages.hpp) against
// hand-checked values and the independent float64 Python reference
// (tests/reference/grpo_reference.py -> advantages_reference_cases.inc).
//
// Tolerance: abs 1e-12 (both sides compute in float64; only the summation
// order differs). Hand-checked values use abs 1e-12 as well.

#include "models/advantages.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/error.hpp"

using tandem::compute_advantages;
using tandem::errc;
using tandem::std_scaling;

namespace {

constexpr double tol = 1e-12;

struct advantage_case {
  const char* name;
  std::vector<double> rewards;
  int32_t group_size;
  std_scaling scaling;
  double eps;
  std::vector<double> advantages;
  double zero_std_fraction;
};

const std::vector<advantage_case> reference_cases = {
#include "advantages_reference_cases.inc"
};

void expect_near_all(const std::vector<double>& got,
                     const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol) << "index " << i;
}

void expect_invalid(const std::vector<double>& rewards, int32_t group_size,
                    double eps = 1e-6) {
  auto res = compute_advantages(rewards, group_size, std_scaling::group, eps);
  ASSERT_FALSE(res);
  EXPECT_TRUE(tandem::is(res.error(), errc::invalid_argument))
    << tandem::describe(res.error());
}

} // namespace

TEST(Advantages, MatchesPythonReference) {
  ASSERT_GE(reference_cases.size(), 13u);
  for (const auto& c : reference_cases) {
    SCOPED_TRACE(c.name);
    auto res = compute_advantages(c.rewards, c.group_size, c.scaling, c.eps);
    ASSERT_TRUE(res) << tandem::describe(res.error());
    expect_near_all(res->advantages, c.advantages);
    EXPECT_NEAR(res->zero_std_fraction, c.zero_std_fraction, tol);
  }
}

TEST(Advantages, GroupScalingUsesBesselStd) {
  // {1,0,0,0}: mean 1/4, Bessel std sqrt((9/16 + 3 * 1/16) / 3) = 1/2.
  auto res = compute_advantages({1, 0, 0, 0}, 4, std_scaling::group, 0.0);
  ASSERT_TRUE(res);
  expect_near_all(res->advantages, {1.5, -0.5, -0.5, -0.5});
  auto with_eps = compute_advantages({1, 0, 0, 0}, 4, std_scaling::group, 0.5);
  ASSERT_TRUE(with_eps);
  expect_near_all(with_eps->advantages, {0.75, -0.25, -0.25, -0.25});
}

TEST(Advantages, BatchScalingDividesByStdOfAllRewardsAroundGlobalMean) {
  // Group means 0.5 and 2.5; global mean 1.5; Bessel batch std sqrt(5/3).
  auto res = compute_advantages({0, 1, 2, 3}, 2, std_scaling::batch, 0.0);
  ASSERT_TRUE(res);
  const double s = std::sqrt(5.0 / 3.0);
  expect_near_all(res->advantages, {-0.5 / s, 0.5 / s, -0.5 / s, 0.5 / s});
}

// AReaL's std_level batch under mean_level group: the std over the batch of
// the group-centred rewards. {0,1 | 2,3}: residuals +-0.5, Bessel std over 4
// values sqrt(4 * 0.25 / 3) = sqrt(1/3) (batch would give sqrt(5/3)).
TEST(Advantages, BatchResidualScalingDividesByStdOfGroupCentredRewards) {
  auto res = compute_advantages({0, 1, 2, 3}, 2, std_scaling::batch_residual, 0.0);
  ASSERT_TRUE(res);
  const double s = std::sqrt(1.0 / 3.0);
  expect_near_all(res->advantages, {-0.5 / s, 0.5 / s, -0.5 / s, 0.5 / s});
  // With a batch baseline the residuals are around the batch mean: batch std.
  auto b = compute_advantages({0, 1, 2, 3}, 2, std_scaling::batch_residual, 0.0,
                              tandem::advantage_baseline::batch);
  ASSERT_TRUE(b);
  EXPECT_NEAR(b->advantages[0], -1.5 / std::sqrt(5.0 / 3.0), tol);
}

TEST(Advantages, NoScalingOnlyCentresByGroupMean) {
  auto res = compute_advantages({3, 1, 10, 10, 0, 2}, 2, std_scaling::none, 1.0);
  ASSERT_TRUE(res);
  expect_near_all(res->advantages, {1, -1, 0, 0, -1, 1});
  EXPECT_NEAR(res->zero_std_fraction, 1.0 / 3.0, tol);
}

// Batch baseline: rewards {1,1 | 0,0} (groups all-equal) still get signal.
// mean 0.5, Bessel std sqrt(4 * 0.25 / 3) = 0.57735.
TEST(Advantages, BatchBaselineGivesAllEqualGroupsASignal) {
  auto r = compute_advantages({1, 1, 0, 0}, 2, std_scaling::batch, 0.0,
                              tandem::advantage_baseline::batch);
  ASSERT_TRUE(r);
  const double a = 0.5 / std::sqrt(1.0 / 3.0);
  EXPECT_NEAR(r->advantages[0], a, 1e-12);
  EXPECT_NEAR(r->advantages[3], -a, 1e-12);
  EXPECT_DOUBLE_EQ(r->zero_std_fraction, 1.0);
  auto none = compute_advantages({1, 1, 0, 0}, 2, tandem::std_scaling::none, 0.0,
                                 tandem::advantage_baseline::batch);
  ASSERT_TRUE(none);
  EXPECT_DOUBLE_EQ(none->advantages[0], 0.5);
  EXPECT_FALSE(compute_advantages({1, 0}, 2, std_scaling::group, 0.0,
                                  tandem::advantage_baseline::batch));
}

// Fixed baseline b = 0.9 (W-REINFORCE with lambda = 1/9): a right answer
// (1) gets +0.1, a wrong one (0) -0.9, also in an all-wrong group.
TEST(Advantages, FixedBaselinePushesDownAllWrongGroups) {
  auto r = compute_advantages({1, 0, 0, 0}, 2, std_scaling::none, 0.0,
                              tandem::advantage_baseline::fixed, 0.9);
  ASSERT_TRUE(r);
  expect_near_all(r->advantages, {0.1, -0.9, -0.9, -0.9});
  EXPECT_DOUBLE_EQ(r->zero_std_fraction, 0.5);
  // Batch std scaling divides by the Bessel std of the raw rewards:
  // mean 0.25, sqrt((0.5625 + 3 * 0.0625) / 3) = 0.5.
  auto scaled = compute_advantages({1, 0, 0, 0}, 2, std_scaling::batch, 0.0,
                                   tandem::advantage_baseline::fixed, 0.9);
  ASSERT_TRUE(scaled);
  expect_near_all(scaled->advantages, {0.2, -1.8, -1.8, -1.8});
  // batch_residual: residuals around b, Bessel over 4: sqrt((0.01 + 3 * 0.81) / 3).
  auto resid = compute_advantages({1, 0, 0, 0}, 2, std_scaling::batch_residual, 0.0,
                                  tandem::advantage_baseline::fixed, 0.9);
  ASSERT_TRUE(resid);
  EXPECT_NEAR(resid->advantages[0], 0.1 / std::sqrt(2.44 / 3.0), tol);
  EXPECT_FALSE(compute_advantages({1, 0}, 2, std_scaling::group, 0.0,
                                  tandem::advantage_baseline::fixed, 0.9));
  EXPECT_FALSE(compute_advantages({1, 0}, 2, std_scaling::none, 0.0,
                                  tandem::advantage_baseline::fixed, std::nan("")));
}

TEST(Advantages, GroupOfSizeOneHasZeroAdvantageAndCountsAsZeroStd) {
  for (auto scaling : {std_scaling::group, std_scaling::batch, std_scaling::none}) {
    auto res = compute_advantages({0.5, -1.0, 2.0}, 1, scaling, 0.0);
    ASSERT_TRUE(res);
    expect_near_all(res->advantages, {0, 0, 0});
    EXPECT_EQ(res->zero_std_fraction, 1.0);
  }
}

TEST(Advantages, AllEqualGroupIsExactlyZeroEvenWhenItsMeanRounds) {
  // 0.1 + 0.1 + 0.1 = 0.30000000000000004: a summed mean is off by an ulp.
  auto res = compute_advantages({0.1, 0.1, 0.1, 0, 1, 1}, 3, std_scaling::group,
                                1e-6);
  ASSERT_TRUE(res);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(res->advantages[i], 0.0);
  EXPECT_NE(res->advantages[3], 0.0);
  EXPECT_EQ(res->zero_std_fraction, 0.5);
}

TEST(Advantages, ZeroStdFractionCountsGroupsNotCompletions) {
  auto res = compute_advantages({1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0},
                                4, std_scaling::batch, 1e-4);
  ASSERT_TRUE(res);
  EXPECT_NEAR(res->zero_std_fraction, 2.0 / 3.0, tol);
}

TEST(Advantages, GroupWhoseStdIsBelowOneEMinus12CountsAsZeroStd) {
  // Not exactly equal, so the advantages follow the formula, but a spread of
  // 1e-14 is rounding noise, not a learning signal.
  auto res = compute_advantages({1.0, 1.0 + 1e-14, 0.0, 1.0}, 2,
                                std_scaling::none, 0.0);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->zero_std_fraction, 0.5);
  EXPECT_NE(res->advantages[0], 0.0);
}

TEST(Advantages, ZeroEpsWithoutSpreadGivesZeroNotNaN) {
  auto res = compute_advantages({2, 2, 2, 2}, 2, std_scaling::batch, 0.0);
  ASSERT_TRUE(res);
  expect_near_all(res->advantages, {0, 0, 0, 0});
}

TEST(Advantages, RejectsSizeThatIsNotAPositiveMultipleOfGroupSize) {
  expect_invalid({1, 0, 1}, 2);
  expect_invalid({}, 4);
  expect_invalid({1, 0}, 0);
  expect_invalid({1, 0}, -2);
}

TEST(Advantages, RejectsNonFiniteRewardsAndBadEps) {
  expect_invalid({1, std::numeric_limits<double>::quiet_NaN()}, 2);
  expect_invalid({1, std::numeric_limits<double>::infinity()}, 2);
  expect_invalid({1, -std::numeric_limits<double>::infinity()}, 1);
  expect_invalid({1, 0}, 2, -1e-6);
  expect_invalid({1, 0}, 2, std::numeric_limits<double>::quiet_NaN());
}

TEST(GrpoConfig, EnumNamesMatchEnumerators) {
  EXPECT_STREQ(to_string(std_scaling::group), "group");
  EXPECT_STREQ(to_string(std_scaling::batch), "batch");
  EXPECT_STREQ(to_string(std_scaling::none), "none");
  EXPECT_STREQ(to_string(std_scaling::batch_residual), "batch_residual");
  EXPECT_STREQ(to_string(tandem::importance_level::sequence), "sequence");
  EXPECT_STREQ(to_string(tandem::weight_bound_mode::mask), "mask");
  using tandem::loss_aggregation;
  EXPECT_STREQ(to_string(loss_aggregation::sequence_mean), "sequence_mean");
  EXPECT_STREQ(to_string(loss_aggregation::token_mean), "token_mean");
  EXPECT_STREQ(to_string(loss_aggregation::constant_normalizer),
               "constant_normalizer");
}
