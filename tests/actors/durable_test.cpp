// Durable runs at the actor level (docs/durable-runs.md): the controller's
// journal records and checkpoints, in order; a stop that waits for the step
// in training; a controller resumed from a checkpoint that regenerates what
// was pending and trains every problem once. Real actors, fake backends, a
// recorder stand-in that keeps what it is sent; stepped on the test
// coordinator.
#include "pipeline_fixture.hpp"

#include "actors/internal/run_snapshot.hpp"

namespace tandem::testing {
namespace {

struct recorded {
  std::string kind; // journal | checkpoint | finish
  int64_t step = 0;
  std::vector<group_ref> issued, consumed, outstanding;
  std::map<std::string, std::vector<char>> files;
};

struct fake_recorder_state {
  std::vector<recorded> log;
  bool fail_checkpoints = false;
};

caf::behavior fake_recorder(caf::stateful_actor<fake_recorder_state>* self) {
  return {
    [=](journal_step& j) -> int64_t {
      self->state.log.push_back({"journal", j.step, j.issued, j.consumed, {}, {}});
      return j.step;
    },
    [=](checkpoint_write& w) -> caf::result<std::string> {
      if (self->state.fail_checkpoints)
        return make_error(errc::io_failure, "disk full (injected)");
      recorded r{"checkpoint", w.step, {}, {}, {}, {}};
      for (auto& f : w.files)
        r.files[f.name] = f.bytes;
      self->state.log.push_back(std::move(r));
      return "step-" + std::to_string(w.step);
    },
    [=](journal_finish& f) {
      self->state.log.push_back({"finish", -1, f.issued, {}, f.outstanding, {}});
    },
  };
}

struct Durable : Pipeline {
  std::vector<recorded>& log() { return state<fake_recorder_state>(recorder).log; }

  controller_snapshot snapshot_at(int64_t step) {
    for (auto& r : log())
      if (r.kind == "checkpoint" && r.step == step) {
        auto& bytes = r.files.at("controller.json");
        return *parse_controller_snapshot(std::string(bytes.begin(), bytes.end()), "test");
      }
    ADD_FAILURE() << "no checkpoint of step " << step;
    return {};
  }

  /// Problem ids each journaled step consumed, in step order.
  std::map<int64_t, std::vector<uint64_t>> consumed_problems() {
    std::map<int64_t, std::vector<uint64_t>> out;
    for (auto& r : log())
      if (r.kind == "journal")
        for (auto& g : r.consumed)
          out[r.step].push_back(g.problem_id);
    return out;
  }
};

TEST_F(Durable, EveryStepIsJournaledAndEachCheckpointFollowsItsRecord) {
  recorder = spawn(fake_recorder);
  cs.checkpoint_every = 2;
  start(2);
  run();
  ASSERT_TRUE(finished() && finished()->first) << finished()->second;
  std::vector<int64_t> journal_steps, checkpoint_steps;
  for (auto& r : log()) {
    if (r.kind == "journal")
      journal_steps.push_back(r.step);
    if (r.kind == "checkpoint") {
      // The journal holds the step before the checkpoint refers to it.
      ASSERT_FALSE(journal_steps.empty());
      EXPECT_GE(journal_steps.back(), r.step);
      checkpoint_steps.push_back(r.step);
      EXPECT_EQ(r.files.count("weights.bin") + r.files.count("learner_state.bin")
                  + r.files.count("controller.json"), 3u);
      // The learner's snapshot is of exactly that step.
      int64_t v = -1;
      std::memcpy(&v, r.files.at("weights.bin").data(), sizeof v);
      EXPECT_EQ(v, r.step);
    }
  }
  EXPECT_EQ(journal_steps, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(checkpoint_steps, (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(log().back().kind, "finish");
  size_t consumed_refs = 0;
  for (auto& [step, ids] : consumed_problems())
    consumed_refs += ids.size();
  EXPECT_EQ(consumed_refs, size_t(6 * cs.groups_per_step));
  EXPECT_EQ(json_int(finished()->second, "checkpoint_step"), 6);
}

TEST_F(Durable, StopWaitsForTheStepInTrainingThenCheckpointsThatStep) {
  recorder = spawn(fake_recorder);
  caf::actor hold;
  learner_front = [&](caf::actor real) { return hold = spawn(learner_hung_once, real); };
  start(2);
  run();
  ASSERT_FALSE(finished()); // the first batch is in training (held)
  caf::anon_send(controller, stop_atom::value);
  run();
  EXPECT_FALSE(finished()) << "finished while a step was in training";
  // The step ends (here: it times out, so the weights stay at v0).
  advance_time(cs.train_timeout);
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->first);
  EXPECT_NE(f->second.find("\"reason\":\"interrupted\""), std::string::npos) << f->second;
  EXPECT_EQ(json_int(f->second, "interrupted"), 1);
  EXPECT_EQ(json_int(f->second, "steps"), 0);
  EXPECT_EQ(json_int(f->second, "checkpoint_step"), 0); // the final checkpoint: that step
  EXPECT_EQ(trainer->version(), 0);
}

TEST_F(Durable, AFailedCheckpointIsReportedAndTrainingGoesOnUnlessRequired) {
  recorder = spawn(fake_recorder);
  state<fake_recorder_state>(recorder).fail_checkpoints = true;
  cs.checkpoint_every = 2;
  start(2);
  run();
  ASSERT_TRUE(finished() && finished()->first);
  EXPECT_EQ(json_int(finished()->second, "checkpoint_failures"), 3);
  EXPECT_EQ(json_int(finished()->second, "checkpoint_step"), -1);
}

TEST_F(Durable, ARequiredCheckpointThatFailsStopsTheRun) {
  recorder = spawn(fake_recorder);
  state<fake_recorder_state>(recorder).fail_checkpoints = true;
  cs.checkpoint_every = 2;
  cs.checkpoint_required = true;
  start(2);
  run();
  auto f = finished();
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->first);
  EXPECT_NE(f->second.find("run.checkpoint_required"), std::string::npos) << f->second;
  EXPECT_LT(json_int(f->second, "steps"), cs.steps);
}

// The first run is checkpointed at step 2 and goes on to step 4 (then its
// head "dies": its steps 3..4 are thrown away). A second controller resumes
// from the step-2 checkpoint: steps 3..6 follow, the pending problems come
// first, and every problem 0..23 is trained exactly once in the lineage that
// survives (steps 1..2 of the first run, 3..6 of the second).
TEST_F(Durable, AResumedControllerRegeneratesPendingWorkAndTrainsEachProblemOnce) {
  recorder = spawn(fake_recorder);
  cs.checkpoint_every = 2;
  cs.steps = 4;
  start(2);
  run();
  ASSERT_TRUE(finished() && finished()->first);
  auto snap = snapshot_at(2);
  auto first = consumed_problems();
  EXPECT_EQ(snap.step, 2);
  EXPECT_GT(snap.problems_drawn, 8u);    // it had admitted ahead (max_staleness 1)
  EXPECT_FALSE(snap.pending.empty());     // ... and not trained all of it

  // The head dies; a new graph resumes from the step-2 checkpoint.
  recorder = spawn(fake_recorder);
  trainer = std::make_shared<fake_training_backend>();
  std::vector<char> v2(16, 0); // the fake learner's weights: its version, padded
  int64_t two = 2;
  std::memcpy(v2.data(), &two, sizeof two);
  ASSERT_FALSE(trainer->import_weights(v2, 2));
  metrics = std::make_shared<flaky_sink>();
  reward = caf::actor{};
  samplers.clear();
  consumed.clear();
  cs.steps = 6;
  cs.first_group_id = uint64_t{1} << 40; // the second incarnation's ids
  resume = snap;
  start(2);
  run();
  auto f = finished();
  ASSERT_TRUE(f && f->first) << (f ? f->second : "");
  EXPECT_EQ(json_int(f->second, "steps"), 6);
  EXPECT_EQ(metrics->lines.size(), 4u); // steps 3..6
  auto again = consumed_problems();
  EXPECT_EQ(again.begin()->first, 3); // step numbers continue
  std::multiset<uint64_t> lineage;
  for (int64_t s = 1; s <= 2; ++s)
    lineage.insert(first[s].begin(), first[s].end());
  for (auto& [s, ids] : again)
    lineage.insert(ids.begin(), ids.end());
  ASSERT_EQ(lineage.size(), size_t(6 * cs.groups_per_step));
  for (uint64_t p = 0; p < 24; ++p)
    EXPECT_EQ(lineage.count(p), 1u) << "problem " << p;
  // Group ids of the second incarnation never collide with the first's.
  for (auto& r : log())
    for (auto& g : r.issued)
      EXPECT_GE(g.group_id, uint64_t{1} << 40);
  // The pending problems were issued before any new one.
  auto& issued = log().front().issued;
  ASSERT_GE(issued.size(), snap.pending.size());
  for (size_t i = 0; i < snap.pending.size(); ++i)
    EXPECT_EQ(issued[i].problem_id, snap.pending[i]);
}

} // namespace
} // namespace tandem::testing
