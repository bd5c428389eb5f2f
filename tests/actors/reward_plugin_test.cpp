// reward_plugin_test: scoring a group through a plug-in scorer
// (score_group_with): decoded texts in, one reward per completion out, and a
// scorer's typed error passed on unchanged (never a reward of 0).
#include "actors/reward.hpp"

#include <gtest/gtest.h>

#include "runtime/error.hpp"

using namespace tandem;

namespace {

struct fake_scorer : reward_scorer {
  std::vector<score_item> seen;
  caf::expected<std::vector<double>> reply = std::vector<double>{};
  caf::expected<std::vector<double>> score(const std::vector<score_item>& batch) override {
    seen = batch;
    return reply;
  }
};

rollout_group group(const char_tokenizer& tok) {
  rollout_group g;
  g.group_id = 7;
  g.prompt = *tok.encode("3+4=");
  g.answer = "7";
  for (auto text : {"7", "8"}) {
    completion_record c;
    c.tokens = *tok.encode(text);
    g.completions.push_back(c);
  }
  return g;
}

} // namespace

TEST(reward_plugin, decoded_texts_in_rewards_out) {
  char_tokenizer tok;
  fake_scorer s;
  s.reply = std::vector<double>{1.0, 0.0};
  auto r = score_group_with(group(tok), tok, s);
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->rewards, (std::vector<double>{1.0, 0.0}));
  EXPECT_EQ(r->accuracy, r->rewards);
  ASSERT_EQ(s.seen.size(), 2u);
  EXPECT_EQ(s.seen[0].prompt, "3+4=");
  EXPECT_EQ(s.seen[1].completion, "8");
  EXPECT_EQ(s.seen[1].answer, "7");
}

TEST(reward_plugin, a_scorer_error_is_the_reply_error) {
  char_tokenizer tok;
  fake_scorer s;
  for (auto code : {errc::malformed_message, errc::timeout, errc::io_failure}) {
    s.reply = make_error(code, "scorer says no");
    auto r = score_group_with(group(tok), tok, s);
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), code)) << describe(r.error());
  }
  s.reply = std::vector<double>{1.0};
  auto r = score_group_with(group(tok), tok, s);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::malformed_message));
}
