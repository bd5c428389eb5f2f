// reward_bench_test: tandem bench reward's parts. The workload is fixed by
// its seed; the rewards it expects agree with the real rules, math grader and
// plug-in rule on every kind of completion; the trivial server answers the
// HTTP plug-in's protocol; and every mode of the rig, on a tiny workload,
// gives exactly the expected rewards (the command mode runs
// configs/reward/my_reward.py with python3).
#include "bench/reward_modes.hpp"

#include <set>

#include <gtest/gtest.h>

#include "bench/plugin_reward_server.hpp"
#include "bench/reward_workload.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/math_grader.hpp"

using namespace tandem;

namespace {

std::string text_of(const completion_record& c) {
  return byte_tokenizer{}.decode(c.tokens);
}

} // namespace

TEST(reward_workload, the_same_seed_gives_the_same_groups) {
  auto a = make_reward_workload(6, 4, 9);
  auto b = make_reward_workload(6, 4, 9);
  auto c = make_reward_workload(6, 4, 10);
  ASSERT_EQ(a.completions(), 24u);
  EXPECT_EQ(a.variants, b.variants);
  bool differs = false;
  for (size_t i = 0; i < a.groups.size(); ++i) {
    EXPECT_EQ(a.groups[i].prompt, b.groups[i].prompt);
    EXPECT_EQ(a.groups[i].answer, b.groups[i].answer);
    differs = differs || a.groups[i].prompt != c.groups[i].prompt;
  }
  EXPECT_TRUE(differs);
}

TEST(reward_workload, table_and_math_groups_alternate_with_their_sizes) {
  auto w = make_reward_workload(40, 8, 3);
  for (size_t i = 0; i < w.groups.size(); ++i) {
    auto& g = w.groups[i];
    ASSERT_EQ(g.completions.size(), 8u);
    for (size_t k = 0; k < g.completions.size(); ++k) {
      auto v = w.variants[i * 8 + k];
      bool math = v >= completion_variant::math_right;
      EXPECT_EQ(math, i % 2 == 1) << "group " << i;
      auto bytes = g.completions[k].tokens.size();
      EXPECT_EQ(g.completions[k].logprobs.size(), bytes);
      if (math && v != completion_variant::math_unfinished) {
        EXPECT_GE(bytes, 200u) << text_of(g.completions[k]);
      }
      if (!math) {
        EXPECT_LE(bytes, 24u) << text_of(g.completions[k]);
      }
    }
  }
  EXPECT_GT(w.completion_bytes, 100);
  std::set<completion_variant> seen(w.variants.begin(), w.variants.end());
  EXPECT_EQ(seen.size(), 9u); // every variant occurs
}

// The oracle against the real scorers, completion by completion.
TEST(reward_workload, expected_rewards_are_what_the_scorers_give) {
  auto w = make_reward_workload(60, 8, 5);
  reward_weights weights;
  size_t n = 0;
  for (auto& g : w.groups)
    for (auto& c : g.completions) {
      auto text = text_of(c);
      auto v = w.variants[n++];
      EXPECT_EQ(score_completion(text, g.answer, weights).total,
                expected_reward(reward_scorer_kind::rules, v, weights))
        << text;
      EXPECT_EQ(math::grade(text, g.answer, weights).reward,
                expected_reward(reward_scorer_kind::math, v, weights))
        << text;
      EXPECT_EQ(plugin_rule(text, g.answer), expected_reward(reward_scorer_kind::plugin, v, weights))
        << text;
    }
}

TEST(plugin_reward_server, answers_the_http_plugin_protocol) {
  auto r = plugin_reward_reply(
    R"({"query": ["1+1=2</answer>", "1+1= 3 </answer>", "Q: x\n"], "prompts": ["1+1=", "1+1=", "Q: "],
        "labels": ["2", "3", "4"]})");
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, R"({"rewards":[1.0,1.0,0.0]})");
  EXPECT_FALSE(plugin_reward_reply("not json"));
  EXPECT_FALSE(plugin_reward_reply(R"({"query": ["a"], "prompts": [], "labels": ["1"]})"));
  EXPECT_FALSE(plugin_reward_reply(R"({"query": ["a"], "prompts": ["b"], "labels": ["1"]})"));
}

TEST(reward_bench_rig, every_mode_gives_the_expected_rewards) {
  reward_mode_settings s;
  s.concurrency = 2;
  s.instances = 2;
  s.command = {"python3", std::string(TANDEM_SOURCE_DIR) + "/configs/reward/my_reward.py"};
  s.timeout = std::chrono::milliseconds(30000); // python's start on a loaded machine
  auto rig = reward_bench_rig::start(s);
  ASSERT_TRUE(rig) << describe(rig.error());
  auto w = make_reward_workload(7, 5, 11); // 7 groups: callers share them unevenly
  for (auto m : all_reward_modes) {
    auto before = (*rig)->server_requests();
    auto p = (*rig)->pass(m, w);
    ASSERT_TRUE(p) << to_string(m) << ": " << describe(p.error());
    ASSERT_EQ(p->rewards.size(), w.completions());
    for (size_t i = 0; i < w.completions(); ++i)
      EXPECT_EQ(p->rewards[i], expected_reward(scorer_kind(m), w.variants[i], s.weights))
        << to_string(m) << " completion " << i;
    EXPECT_GT(p->wall_s, 0);
    if (m == reward_mode::http) {
      EXPECT_EQ((*rig)->server_requests() - before, 7); // one request per group
    }
  }
}
