// overlong_penalty_test: DAPO's soft overlong punishment
// (tasks/overlong_penalty.hpp) against the independent float64 Python
// reference (tests/reference/grpo_reference.py ->
// overlong_penalty_reference_cases.inc), and its application to a group.
//
// Tolerance: abs 1e-12 (both sides compute in float64).

#include "tasks/overlong_penalty.hpp"

#include <vector>

#include <gtest/gtest.h>

using tandem::overlong_settings;

namespace {

constexpr double tol = 1e-12;

struct overlong_case {
  size_t length;
  int32_t max_new_tokens, buffer;
  double penalty, expected;
};

const std::vector<overlong_case> reference_cases = {
#include "overlong_penalty_reference_cases.inc"
};

tandem::scored_group group_of_lengths(const std::vector<size_t>& lengths, double reward) {
  tandem::scored_group g;
  for (size_t n : lengths) {
    tandem::completion_record c;
    c.tokens.assign(n, 7);
    g.rollout.completions.push_back(c);
    g.rewards.push_back(reward);
  }
  return g;
}

} // namespace

TEST(OverlongPenalty, MatchesPythonReference) {
  ASSERT_GE(reference_cases.size(), 60u);
  for (const auto& c : reference_cases) {
    overlong_settings s{c.max_new_tokens, c.buffer, c.penalty};
    EXPECT_NEAR(tandem::overlong_penalty(c.length, s), c.expected, tol)
      << "length " << c.length << ", L_max " << c.max_new_tokens << ", buffer " << c.buffer;
  }
}

TEST(OverlongPenalty, FallsLinearlyOverTheBufferToMinusPenaltyAtTheLimit) {
  overlong_settings s{16, 4, 1.0};
  EXPECT_EQ(tandem::overlong_penalty(12, s), 0.0);
  EXPECT_NEAR(tandem::overlong_penalty(13, s), -0.25, tol);
  EXPECT_NEAR(tandem::overlong_penalty(14, s), -0.5, tol);
  EXPECT_NEAR(tandem::overlong_penalty(16, s), -1.0, tol);
  EXPECT_NEAR(tandem::overlong_penalty(20, s), -1.0, tol); // beyond L_max
}

TEST(OverlongPenalty, IsAddedToEachCompletionsRewardByItsLength) {
  auto g = group_of_lengths({3, 15, 16}, 1.0);
  tandem::apply_overlong_penalty(g, {16, 4, 0.5});
  ASSERT_EQ(g.rewards.size(), 3u);
  EXPECT_EQ(g.rewards[0], 1.0);
  EXPECT_NEAR(g.rewards[1], 1.0 - 0.375, tol);
  EXPECT_NEAR(g.rewards[2], 1.0 - 0.5, tol);
}

TEST(OverlongPenalty, ZeroBufferLeavesRewardsUntouched) {
  auto g = group_of_lengths({16, 16}, 0.25);
  tandem::apply_overlong_penalty(g, {16, 0, 1.0});
  EXPECT_EQ(g.rewards, (std::vector<double>{0.25, 0.25}));
}
