// evaluator_test: evaluation rounds and their schedule without an actor
// system (actors/internal/eval_round.hpp), then the evaluator actor on the
// test coordinator with a fake decoder: it joins the learner like a
// sampler, evaluates the versions that are due, answers the head's final
// request, and survives a failing round. Also the recorder's
// after-checkpoint hook (the Hugging Face copy's place in a run).
#include <gtest/gtest.h>

#include "actors/evaluator.hpp"
#include "actors/recorder.hpp"
#include "runtime/error.hpp"
#include "runtime/memory_file_system.hpp"
#include "tests/actors/actor_test_fixture.hpp"

namespace tandem {
namespace {

std::vector<eval_item> items(size_t n) {
  std::vector<eval_item> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back({"q" + std::to_string(i), std::to_string(i), {static_cast<int32_t>(i), 7}});
  return out;
}

// Correct when the completion's first token equals the item's answer.
bool first_token_answers(const std::vector<int32_t>& c, const std::string& answer) {
  return !c.empty() && std::to_string(c[0]) == answer;
}

generated_sequence seq(std::vector<int32_t> tokens) {
  generated_sequence s;
  s.tokens = std::move(tokens);
  s.finished = true;
  return s;
}

TEST(PassAtK, UnbiasedEstimatorMatchesTheBinomialFormula) {
  EXPECT_DOUBLE_EQ(pass_at_k(5, 1, 1), 0.2);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 0, 2), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 3, 2), 1.0); // n - c < k: some pick is correct
  EXPECT_NEAR(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-12); // 1 - C(7,5)/C(10,5)
  EXPECT_DOUBLE_EQ(pass_at_k(2, 1, 2), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(1, 1, 2), 0.0); // k > n: undefined, reported as 0
}

TEST(EvalRound, JobsAreBoundedAndNeverMixGreedyWithSampledRows) {
  auto its = items(5);
  eval_plan plan{true, 2, 3, 2};
  eval_round r(its, plan, 4, 11, 4, first_token_answers);
  size_t greedy_rows = 0, sampled_rows = 0, jobs = 0;
  while (auto job = r.next()) {
    ++jobs;
    EXPECT_LE(job->prompts.size(), 4u);
    EXPECT_EQ(job->prompts.size(), job->seeds.size());
    (job->greedy ? greedy_rows : sampled_rows) += job->prompts.size();
    EXPECT_FALSE(r.next()) << "one job out at a time";
    std::vector<generated_sequence> answers(job->prompts.size(), seq({0}));
    ASSERT_FALSE(r.record(std::move(answers)));
  }
  EXPECT_TRUE(r.done());
  EXPECT_EQ(greedy_rows, 5u);
  EXPECT_EQ(sampled_rows, 5u * 3 + 2); // n = 3 per item, then 2 samples
  EXPECT_EQ(jobs, r.jobs());
  EXPECT_EQ(r.samples().size(), 2u);
}

TEST(EvalRound, FiguresCountGreedyAndSampledCorrectness) {
  auto its = items(4);
  eval_round r(its, eval_plan{true, 1, 2, 0}, 0, 1, 100, first_token_answers);
  // Greedy: items 0 and 1 right. Sampled (2 per item, item-major): item 0
  // both right, item 2 one right, the others none.
  auto g = r.next();
  ASSERT_TRUE(g && g->greedy);
  ASSERT_FALSE(r.record({seq({0}), seq({1}), seq({9}), seq({9})}));
  auto s = r.next();
  ASSERT_TRUE(s && !s->greedy);
  ASSERT_FALSE(r.record({seq({0}), seq({0}), seq({9}), seq({9}), seq({2}), seq({9}), seq({9}),
                         seq({9})}));
  ASSERT_TRUE(r.done());
  auto f = r.figures();
  EXPECT_EQ(f.problems, 4);
  EXPECT_DOUBLE_EQ(f.greedy_acc, 0.5);
  EXPECT_DOUBLE_EQ(f.pass_at_k, (1.0 + 0.5) / 4); // pass@1 from n = 2: c / n
  EXPECT_DOUBLE_EQ(f.sampled_acc, 3.0 / 8);
}

TEST(EvalRound, SampledSeedsDependOnVersionItemAndIndexNotOnBatching) {
  auto its = items(3);
  auto seeds_of = [&](size_t batch, int64_t version) {
    eval_round r(its, eval_plan{true, 2, 2, 0}, version, 5, batch, first_token_answers);
    std::vector<uint64_t> out;
    while (auto job = r.next()) {
      if (!job->greedy)
        out.insert(out.end(), job->seeds.begin(), job->seeds.end());
      r.record(std::vector<generated_sequence>(job->prompts.size()));
    }
    return out;
  };
  EXPECT_EQ(seeds_of(1, 3), seeds_of(64, 3));
  EXPECT_NE(seeds_of(64, 3), seeds_of(64, 4));
  auto s = seeds_of(64, 3);
  std::sort(s.begin(), s.end());
  EXPECT_EQ(std::unique(s.begin(), s.end()), s.end()) << "every sampled row has its own seed";
}

TEST(EvalRound, AWrongNumberOfAnswersEndsTheRoundWithAnError) {
  auto its = items(3);
  eval_round r(its, eval_plan{true, 1, 1, 0}, 0, 1, 8, first_token_answers);
  ASSERT_TRUE(r.next());
  auto err = r.record({seq({0})});
  EXPECT_TRUE(is(err, errc::backend_failure)) << describe(err);
  EXPECT_TRUE(r.done());
  EXPECT_FALSE(r.next());
}

TEST(EvalSchedule, FreshRunsStartAtVersionZeroAndEveryMultipleFollows) {
  eval_schedule s(2, 3, 4, 1, 0);
  auto p = s.due(0);
  EXPECT_TRUE(p.eval);
  EXPECT_EQ(p.samples, 1);
  EXPECT_EQ(p.k, 4);
  s.ran(0, p);
  EXPECT_FALSE(s.due(1).any());
  EXPECT_TRUE(s.due(2).eval);
  EXPECT_EQ(s.due(2).samples, 0);
  // A version skipped while busy: the next one held is evaluated.
  p = s.due(5);
  EXPECT_TRUE(p.eval);
  EXPECT_EQ(p.samples, 1);
  s.ran(5, p);
  EXPECT_FALSE(s.due(5).any());
  EXPECT_TRUE(s.due(6).any()); // eval at 6 (next multiple of 2 after 5)
  EXPECT_FALSE(s.final_plan(5).any()) << "5 was evaluated already";
  EXPECT_TRUE(s.final_plan(7).eval);
}

TEST(EvalSchedule, AResumedRunEvaluatesOnlyAfterItsCheckpoint) {
  eval_schedule s(4, 0, 1, 1, 8);
  EXPECT_FALSE(s.due(8).any()) << "the checkpoint's own version was evaluated before";
  EXPECT_FALSE(s.due(11).any());
  EXPECT_TRUE(s.due(12).eval);
  EXPECT_EQ(s.due(12).samples, 0) << "samples are off";
  eval_schedule off(0, 0, 1, 1, 0);
  EXPECT_FALSE(off.due(0).any());
  EXPECT_FALSE(off.final_plan(10).any());
}

// --- the actor ------------------------------------------------------------------

struct fake_decoder : eval_decoder {
  model_config cfg;
  std::vector<int64_t> loaded; // first byte of each blob loaded
  std::vector<size_t> batch_sizes;
  bool fail = false;
  caf::error load_weights(const std::vector<char>& blob) override {
    loaded.push_back(blob.empty() ? -1 : blob[0]);
    return caf::none;
  }
  caf::expected<std::vector<generated_sequence>>
  generate(std::vector<std::vector<int32_t>> prompts, const sampling_params&,
           std::vector<uint64_t>, int64_t) override {
    if (fail)
      return make_error(errc::backend_failure, "injected");
    batch_sizes.push_back(prompts.size());
    std::vector<generated_sequence> out;
    for (auto& p : prompts) // item i's answer is "i", its prompt starts with i
      out.push_back(seq({p[0]}));
    return out;
  }
  const model_config& config() const override { return cfg; }
};

struct fake_output : eval_output {
  std::vector<eval_figures> figs;
  std::vector<int64_t> sample_versions;
  std::vector<std::string> failures;
  void figures(const eval_figures& f) override { figs.push_back(f); }
  void samples(int64_t v, const std::vector<eval_item>&,
               const std::vector<sampled_completion>& s) override {
    for (size_t i = 0; i < s.size(); ++i)
      sample_versions.push_back(v);
  }
  void failed(int64_t, const std::string& why) override { failures.push_back(why); }
};

struct final_client_state {
  std::vector<int64_t> replies;
  std::vector<caf::error> errors;
};

caf::behavior final_client(caf::stateful_actor<final_client_state>* self, caf::actor evaluator) {
  return {[=](int64_t version) {
    self->request(evaluator, std::chrono::seconds{10}, eval_final_atom::value, version,
                  std::vector<char>(8, static_cast<char>(version)))
      .then([=](int64_t v) { self->state.replies.push_back(v); },
            [=](caf::error& e) { self->state.errors.push_back(e); });
  }};
}

class EvaluatorActor : public testing::ActorTest {
protected:
  std::shared_ptr<fake_decoder> decoder = std::make_shared<fake_decoder>();
  std::shared_ptr<fake_output> output = std::make_shared<fake_output>();
  caf::actor learner = spawn_probe();
  caf::actor broadcaster = spawn_probe();

  caf::actor start(int32_t every, int32_t samples_every, int64_t resume = 0) {
    evaluator_settings s;
    s.learner = learner;
    s.items = items(3);
    s.every = every, s.k = 2, s.samples_every = samples_every, s.samples_count = 2;
    s.resume_step = resume;
    s.batch_rows = 4;
    auto e = spawn(evaluator_actor, s, evaluator_deps{decoder, first_token_answers, output});
    run();
    return e;
  }

  // Version `v` from the broadcaster, as two chunks.
  void publish(const caf::actor& evaluator, int64_t v) {
    for (auto& c : split_weights(v, std::vector<char>(8, static_cast<char>(v)), 4))
      caf::send_as(broadcaster, evaluator, c);
    run();
  }

  size_t acks() {
    size_t n = 0;
    for (auto& m : inbox(broadcaster))
      n += m.match_elements<weights_ack_atom, int64_t>() ? 1 : 0;
    return n;
  }
};

TEST_F(EvaluatorActor, JoinsTheLearnerLikeASamplerOnTheBytesRoute) {
  start(2, 0);
  auto& in = inbox(learner);
  ASSERT_EQ(in.size(), 2u);
  ASSERT_TRUE(in[0].match_elements<sampler_hello>());
  EXPECT_EQ(in[0].get_as<sampler_hello>(0).name, "evaluator");
  EXPECT_TRUE((in[1].match_elements<nccl_leave_atom, std::string>()));
}

TEST_F(EvaluatorActor, EvaluatesTheVersionsThatAreDueWithTheirWeights) {
  auto e = start(2, 3);
  publish(e, 0);
  ASSERT_EQ(output->figs.size(), 1u);
  EXPECT_EQ(output->figs[0].version, 0);
  EXPECT_DOUBLE_EQ(output->figs[0].greedy_acc, 1.0);
  EXPECT_DOUBLE_EQ(output->figs[0].pass_at_k, 1.0);
  EXPECT_EQ(output->sample_versions, (std::vector<int64_t>{0, 0}));
  publish(e, 1); // not due
  publish(e, 2); // eval due, samples not (every 3)
  publish(e, 3); // samples due
  EXPECT_EQ(acks(), 4u) << "every complete version is acknowledged";
  ASSERT_EQ(output->figs.size(), 2u);
  EXPECT_EQ(output->figs[1].version, 2);
  EXPECT_EQ(output->sample_versions, (std::vector<int64_t>{0, 0, 3, 3}));
  EXPECT_EQ(decoder->loaded, (std::vector<int64_t>{0, 2, 3})) << "the round's own weights";
  for (auto n : decoder->batch_sizes)
    EXPECT_LE(n, 4u);
}

TEST_F(EvaluatorActor, TheFinalRequestIsAnsweredOnceThatVersionIsEvaluated) {
  auto e = start(4, 0);
  publish(e, 0);
  auto client = spawn(final_client, e);
  caf::anon_send(client, int64_t{6});
  run();
  EXPECT_EQ(state<final_client_state>(client).replies, (std::vector<int64_t>{6}));
  ASSERT_EQ(output->figs.size(), 2u);
  EXPECT_EQ(output->figs[1].version, 6);
  EXPECT_EQ(decoder->loaded.back(), 6) << "the final weights come with the request";
  caf::anon_send(client, int64_t{6}); // already evaluated: answered at once
  run();
  EXPECT_EQ(state<final_client_state>(client).replies.size(), 2u);
  EXPECT_EQ(output->figs.size(), 2u);
}

TEST_F(EvaluatorActor, AFailingRoundIsReportedAndTheNextDueVersionIsStillEvaluated) {
  auto e = start(1, 0);
  decoder->fail = true;
  publish(e, 0);
  EXPECT_EQ(output->failures.size(), 1u);
  EXPECT_EQ(state<evaluator_state>(e).failures, 1u);
  EXPECT_TRUE(output->figs.empty());
  decoder->fail = false;
  publish(e, 1);
  ASSERT_EQ(output->figs.size(), 1u);
  EXPECT_EQ(output->figs[0].version, 1);
}

TEST_F(EvaluatorActor, NothingConfiguredMeansTheFinalRequestReturnsAtOnce) {
  auto e = start(0, 0);
  publish(e, 0);
  auto client = spawn(final_client, e);
  caf::anon_send(client, int64_t{3});
  run();
  EXPECT_EQ(state<final_client_state>(client).replies, (std::vector<int64_t>{3}));
  EXPECT_TRUE(decoder->loaded.empty());
}

// --- the recorder's hook ----------------------------------------------------------

struct write_client_state {
  std::vector<std::string> dirs;
  std::vector<caf::error> errors;
};

caf::behavior write_client(caf::stateful_actor<write_client_state>* self, caf::actor recorder) {
  return {[=](int64_t step) {
    self->request(recorder, std::chrono::seconds{10},
                  checkpoint_write{step, {checkpoint_blob{"weights.bin", {1, 2, 3, 4}}}})
      .then([=](const std::string& d) { self->state.dirs.push_back(d); },
            [=](caf::error& e) { self->state.errors.push_back(e); });
  }};
}

TEST_F(EvaluatorActor, RecorderHookSeesEachDurableCheckpointAndItsFailureKeepsIt) {
  auto fs = std::make_shared<memory_file_system>();
  auto store = std::make_shared<checkpoint_store>(fs, "run/checkpoints");
  std::vector<std::string> seen;
  checkpoint_hook hook = [&](const std::string& dir, const std::vector<checkpoint_file>& files) {
    seen.push_back(dir + ":" + files.front().name);
    return seen.size() == 2 ? make_error(errc::io_failure, "disk full") : caf::error{};
  };
  auto rec = spawn(recorder_actor, std::shared_ptr<run_journal>{}, store, 3,
                   std::vector<checkpoint_blob>{}, hook);
  auto client = spawn(write_client, rec);
  caf::anon_send(client, int64_t{2});
  caf::anon_send(client, int64_t{4});
  run();
  auto& st = state<write_client_state>(client);
  EXPECT_TRUE(st.errors.empty());
  EXPECT_EQ(st.dirs, (std::vector<std::string>{"run/checkpoints/step-00000002",
                                               "run/checkpoints/step-00000004"}));
  EXPECT_EQ(seen, (std::vector<std::string>{"run/checkpoints/step-00000002:weights.bin",
                                            "run/checkpoints/step-00000004:weights.bin"}));
  EXPECT_EQ(state<recorder_state>(rec).hook_failures, 1u);
  EXPECT_TRUE(store->load(4)) << "the checkpoint stands without its copy";
}

} // namespace
} // namespace tandem
