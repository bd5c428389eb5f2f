// sampler_test: the sampler's pure helpers (actors/sampler.hpp), without an
// actor system.
#include <gtest/gtest.h>

#include "actors/sampler.hpp"

namespace tandem {
namespace {

group_task group(uint64_t id, uint64_t seed, int32_t size, std::vector<int32_t> prompt) {
  group_task g;
  g.group_id = id;
  g.seed = seed;
  g.group_size = size;
  g.prompt = std::move(prompt);
  return g;
}

// A completion's sampling seed is fixed by its group's seed and its index in
// the group, so the group samples alike in whatever request it travels.
TEST(Sampler, CompletionSeedsDependOnTheirGroupOnlyNotOnTheBatch) {
  generate_request alone;
  alone.groups = {group(7, 1234, 3, {4, 5})};
  generate_request shared;
  shared.groups = {group(1, 99, 2, {1}), group(7, 1234, 3, {4, 5}), group(2, 5, 4, {2, 3})};
  const auto a = expand_seeds(alone);
  const auto s = expand_seeds(shared);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(s.size(), 9u);
  ASSERT_EQ(expand_prompts(shared).size(), s.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(s[2 + i], a[i]);
    EXPECT_EQ(a[i], completion_seed(1234, static_cast<int32_t>(i)));
    EXPECT_EQ(expand_prompts(shared)[2 + i], (std::vector<int32_t>{4, 5}));
  }
  EXPECT_NE(a[0], a[1]) << "completions of a group draw from different generators";
  EXPECT_NE(completion_seed(1234, 0), completion_seed(1235, 0));
}

} // namespace
} // namespace tandem
