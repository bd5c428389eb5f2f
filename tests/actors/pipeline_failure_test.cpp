// Failure tests of the actor pipeline (pipeline_fixture.hpp): learner steps
// that fail or hang are rolled back and retried on the very same groups, the
// run gives up after max_train_failures in a row, a hung reward times out,
// out-of-vocabulary tokens are refused, target_reward stops the run, and a
// metrics record that cannot be written ends the run as failed.
#include "pipeline_fixture.hpp"

namespace tandem::testing {
namespace {

TEST_F(Pipeline, LearnerFailureRollsTheBatchBackAndRetries) {
  trainer->failing_calls = {0};
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(trainer->version(), 6);
  ASSERT_EQ(trainer->received.size(), 7u); // the failure + 6 steps
  EXPECT_TRUE(same_sequences(trainer->received[1], trainer->received[0]))
    << "the retry did not train on the failed batch's groups";
  EXPECT_EQ(gens[0]->sequences, cs.steps * cs.groups_per_step * cs.group_size)
    << "groups were generated again";
  EXPECT_EQ(json_int(f->second, "groups_requeued"), 0);
  EXPECT_EQ(json_int(f->second, "groups_dropped"), 0);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, LearnerFailingMaxTrainFailuresTimesInARowIsRetriedEachTime) {
  ASSERT_EQ(cs.max_train_failures, 3u);
  trainer->failing_calls = {0, 1, 2};
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  ASSERT_EQ(trainer->received.size(), 9u);
  for (size_t i = 1; i <= 3; ++i)
    EXPECT_TRUE(same_sequences(trainer->received[i], trainer->received[0])) << "call " << i;
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, LearnerFailingOnceMoreThanMaxTrainFailuresInARowEndsTheRun) {
  trainer->failing_calls = {0, 1, 2, 3};
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->first);
  EXPECT_NE(f->second.find("learner failed 4 times in a row"), std::string::npos) << f->second;
  ASSERT_EQ(trainer->received.size(), 4u) << "the controller kept retrying";
  for (size_t i = 1; i < 4; ++i)
    EXPECT_TRUE(same_sequences(trainer->received[i], trainer->received[0])) << "call " << i;
  EXPECT_EQ(trainer->version(), 0);
  EXPECT_TRUE(consumed.empty());
  EXPECT_TRUE(metrics->lines.empty());
}

TEST_F(Pipeline, ASuccessfulStepResetsTheLearnerFailureCount) {
  trainer->failing_calls = {0, 1, 2, 4, 5, 6}; // 3 failures, a step, 3 failures
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(trainer->version(), 6);
  EXPECT_EQ(trainer->received.size(), 12u);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, HungLearnerTimesOutAndItsBatchIsRolledBackAndRetried) {
  cs.train_timeout = 20s;
  learner_front = [this](caf::actor real) { return spawn(learner_hung_once, real); };
  start(1);
  run();
  auto& front = state<hung_learner_state>(learner);
  ASSERT_EQ(front.held_ids.size(), size_t(cs.groups_per_step));
  advance_time(19s);
  EXPECT_FALSE(finished());
  EXPECT_TRUE(trainer->received.empty()) << "trained while the learner hung";
  auto& work = *state<controller_state>(controller).work;
  for (auto id : front.held_ids)
    EXPECT_EQ(work.state_of(id), group_state::training) << "group " << id;
  advance_time(1s); // the train request times out: rollback and retry
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(trainer->version(), 6);
  // The retry carried the held batch's groups, trained first.
  ASSERT_GE(consumed.size(), front.held_ids.size());
  EXPECT_EQ(std::vector<uint64_t>(consumed.begin(), consumed.begin() + cs.groups_per_step),
            front.held_ids);
  EXPECT_EQ(gens[0]->sequences, cs.steps * cs.groups_per_step * cs.group_size);
  expect_each_group_consumed_once();
}

TEST_F(Pipeline, HungRewardTimesOutAndItsGroupIsRequeuedAndRegenerated) {
  cs.score_timeout = 20s;
  reward = spawn(reward_hung_once);
  start(1);
  run();
  auto& hung = state<hung_reward_state>(reward);
  ASSERT_TRUE(hung.held_id);
  const auto id = *hung.held_id;
  advance_time(19s);
  EXPECT_FALSE(finished()) << "the held group is needed by the last step";
  auto& work = *state<controller_state>(controller).work;
  EXPECT_EQ(work.state_of(id), group_state::scoring);
  EXPECT_EQ(work.counters().requeued, 0u);
  advance_time(1s); // the score request times out: the group is requeued
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(json_int(f->second, "groups_requeued"), 1);
  EXPECT_EQ(std::count(consumed.begin(), consumed.end(), id), 1);
  EXPECT_EQ(gens[0]->sequences, (cs.steps * cs.groups_per_step + 1) * cs.group_size)
    << "the held group was not generated again";
  expect_each_group_consumed_once();
}

// A sampler's completions with a token outside the vocabulary: the reward
// actor refuses to score them (malformed_message), the controller requeues
// the groups, they are generated again and trained; the bad tokens never
// reach the learner.
TEST_F(Pipeline, OutOfVocabularyTokensAreRejectedByTheRewardAndTheGroupsRequeued) {
  start(1);
  gens[0]->oov_batches = 1; // the first batch: 2 groups
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(json_int(f->second, "groups_requeued"), 2);
  EXPECT_EQ(json_int(f->second, "groups_dropped"), 0);
  EXPECT_EQ(json_int(f->second, "groups_admitted"), json_int(f->second, "groups_consumed"));
  for (auto& batch : trainer->received)
    for (auto& seq : batch)
      EXPECT_EQ(std::count(seq.completion.begin(), seq.completion.end(),
                           fake_generation_backend::oov_token), 0);
  expect_each_group_consumed_once();
}

TEST(Reward, OutOfVocabularyTokensAreRejectedNotScored) {
  rollout_group g;
  g.group_id = 5;
  g.answer = "7";
  char_tokenizer tok;
  auto ok = *tok.encode("7</answer>");
  for (int32_t bad : {-1, tok.vocab_size(), fake_generation_backend::oov_token}) {
    auto tokens = ok;
    tokens.insert(tokens.begin(), bad);
    g.completions = {completion_record{ok, std::vector<float>(ok.size(), -1.f),
                                       std::vector<int64_t>(ok.size(), 0), true},
                     completion_record{tokens, std::vector<float>(tokens.size(), -1.f),
                                       std::vector<int64_t>(tokens.size(), 0), true}};
    auto s = score_group(g, tok, reward_weights{});
    ASSERT_FALSE(s) << "token " << bad << " was scored";
    EXPECT_TRUE(is(s.error(), errc::malformed_message)) << describe(s.error());
    EXPECT_NE(describe(s.error()).find("out of vocabulary"), std::string::npos);
  }
  g.completions.resize(1); // the well-formed one alone scores 1
  auto s = score_group(g, tok, reward_weights{});
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->rewards[0], 1.0);
}

// run.target_reward: the run ends once the mean reward of the last
// reward_window (10) steps reaches it, not before the window is full.
TEST_F(Pipeline, TargetRewardEndsTheRunOnceTheWindowMeanReachesIt) {
  cs.steps = 40;
  cs.target_reward = 0.95;
  task.min_operand = task.max_operand = 3; // every prompt is 3+3=
  start(1);
  gens[0]->answer = "6"; // always right: reward 1
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_NE(f->second.find("\"reason\":\"target reward reached\""), std::string::npos)
    << f->second;
  EXPECT_EQ(trainer->version(), 10);
  EXPECT_EQ(metrics->lines.size(), 10u);
}

TEST_F(Pipeline, TargetRewardNotReachedTrainsAllSteps) {
  cs.steps = 15;
  cs.target_reward = 0.95;
  task.min_operand = task.max_operand = 3;
  start(1);
  gens[0]->answer = "5"; // well formed, wrong: reward 0.1
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_NE(f->second.find("\"reason\":\"trained all steps\""), std::string::npos)
    << f->second;
  EXPECT_EQ(trainer->version(), 15);
  expect_each_group_consumed_once();
}


TEST_F(Pipeline, AMetricsRecordThatCannotBeWrittenEndsTheRunAsFailed) {
  metrics->fail_from = 2; // the third step's record
  start(1);
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->first) << f->second;
  EXPECT_NE(f->second.find("cannot record step 3 in the metrics"), std::string::npos) << f->second;
  EXPECT_EQ(metrics->lines.size(), 2u);
}

} // namespace
} // namespace tandem::testing
