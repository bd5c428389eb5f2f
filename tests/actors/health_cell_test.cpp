// An actor's health cell and its process's board: what a report carries
// (state, version, queues, phase age, silence, errors, tokens/s), fresh seqs
// per beat, cells forgotten with their actor, the capacity bound, and the
// report surviving CAF serialization (it crosses processes).
#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "actors/internal/health_cell.hpp"
#include "runtime/messages.hpp"

namespace tandem {
namespace {

using std::chrono::milliseconds;

TEST(health_cell, report_carries_what_the_actor_set) {
  auto t0 = health_clock::now();
  health_cell c("sampler", "s0", 7, t0);
  c.set_state(actor_state::busy);
  c.set_version(12);
  c.set_in_flight(2);
  c.set_queue(0, "requests", 1, 2);
  c.set_nccl_epoch(3);
  c.add_deadline_breach();
  c.record_error("boom");
  auto r = c.read(health_clock::now() + milliseconds(50));
  EXPECT_EQ(r.role, "sampler");
  EXPECT_EQ(r.name, "s0");
  EXPECT_EQ(r.incarnation, 7u);
  EXPECT_EQ(r.state, actor_state::busy);
  EXPECT_EQ(r.version, 12);
  EXPECT_EQ(r.in_flight, 2u);
  ASSERT_EQ(r.queues.size(), 1u);
  EXPECT_EQ(r.queues[0].name, "requests");
  EXPECT_EQ(r.queues[0].capacity, 2u);
  EXPECT_EQ(r.nccl_epoch, 3u);
  EXPECT_EQ(r.deadline_breaches, 1u);
  EXPECT_EQ(r.errors, 1u);
  EXPECT_EQ(r.last_error, "boom");
  EXPECT_GE(r.silent, milliseconds(50));
  EXPECT_FALSE(r.phase);
}

TEST(health_cell, tokens_per_second_over_the_read_interval) {
  auto t0 = health_clock::now();
  health_cell c("sampler", "s0", 1, t0);
  c.add_tokens(1000);
  auto r = c.read(t0 + std::chrono::seconds(1));
  EXPECT_NEAR(r.tokens_per_s, 1000, 1);
  r = c.read(t0 + std::chrono::seconds(2)); // nothing new: smoothed down
  EXPECT_NEAR(r.tokens_per_s, 500, 1);
}

TEST(health_cell, phase_age_counts_from_the_phase_change) {
  health_cell c("learner", "learner", 1);
  c.set_phase(learner_phase::backward);
  auto r = c.read(health_clock::now() + std::chrono::seconds(3));
  ASSERT_TRUE(r.phase);
  EXPECT_EQ(*r.phase, learner_phase::backward);
  EXPECT_GE(r.phase_age, std::chrono::seconds(3));
  c.set_phase(learner_phase::backward); // same phase: age keeps counting
  EXPECT_GE(c.read(health_clock::now() + std::chrono::seconds(3)).phase_age,
            std::chrono::seconds(3));
}

TEST(health_cell, error_text_is_bounded) {
  health_cell c("reward", "r", 1);
  c.record_error(std::string(1 << 20, 'x'));
  EXPECT_EQ(c.read(health_clock::now()).last_error.size(), 1024u);
}

TEST(health_board, beats_carry_node_pid_fresh_seqs_and_forget_gone_actors) {
  health_board b("node0", 42);
  auto c1 = b.enlist("sampler", "s0", caf::actor{});
  auto c2 = b.enlist("reward", "r0", caf::actor{});
  ASSERT_TRUE(c1 && c2);
  EXPECT_NE(c1->read(health_clock::now()).incarnation, c2->read(health_clock::now()).incarnation);
  auto beat = b.collect(health_clock::now());
  ASSERT_EQ(beat.reports.size(), 2u);
  EXPECT_EQ(beat.node, "node0");
  EXPECT_EQ(beat.pid, 42);
  EXPECT_EQ(beat.reports[0].node, "node0");
  EXPECT_EQ(beat.reports[1].pid, 42);
  auto seq = beat.reports[1].seq;
  c2.reset(); // the reward actor is gone
  beat = b.collect(health_clock::now());
  ASSERT_EQ(beat.reports.size(), 1u);
  EXPECT_EQ(beat.reports[0].name, "s0");
  EXPECT_GT(beat.reports[0].seq, seq);
  EXPECT_EQ(b.size(), 1u);
}

TEST(health_board, refuses_past_its_capacity) {
  health_board b("n", 1);
  std::vector<std::shared_ptr<health_cell>> keep;
  for (size_t i = 0; i < health_board::capacity; ++i)
    keep.push_back(b.enlist("sampler", "s" + std::to_string(i), caf::actor{}));
  EXPECT_TRUE(keep.back());
  EXPECT_FALSE(b.enlist("sampler", "one-too-many", caf::actor{}));
  keep.pop_back(); // a slot frees when its actor goes
  EXPECT_TRUE(b.enlist("sampler", "now-fits", caf::actor{}));
}

TEST(health_board, a_system_without_a_board_enlists_nothing) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  EXPECT_FALSE(enlist_health(sys, "sampler", "s0", caf::actor{}));
  auto b = std::make_shared<health_board>("n", 1);
  set_health_board(sys, b);
  EXPECT_TRUE(enlist_health(sys, "sampler", "s0", caf::actor{}));
  set_health_board(sys, nullptr);
  EXPECT_FALSE(health_board_of(sys));
}

TEST(health_report, survives_serialization) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  actor_report r;
  r.role = "learner";
  r.name = "learner";
  r.node = "n";
  r.pid = 9;
  r.seq = 4;
  r.state = actor_state::waiting_for_weights;
  r.version = 8;
  r.queues = {{"q", 1, 2}};
  r.phase = learner_phase::optimizer;
  r.phase_age = milliseconds(1234);
  r.last_error = "e";
  r.last_error_age = milliseconds(5);
  r.silent = milliseconds(77);
  health_beat beat{"n", 9, {r}, {}};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(beat));
  health_beat back;
  caf::binary_deserializer source{sys, buf};
  ASSERT_FALSE(source(back));
  ASSERT_EQ(back.reports.size(), 1u);
  auto& x = back.reports[0];
  EXPECT_EQ(x.state, actor_state::waiting_for_weights);
  ASSERT_TRUE(x.phase);
  EXPECT_EQ(*x.phase, learner_phase::optimizer);
  EXPECT_EQ(x.phase_age, milliseconds(1234));
  EXPECT_EQ(x.silent, milliseconds(77));
  EXPECT_EQ(x.last_error_age, milliseconds(5));
  EXPECT_EQ(x.queues[0].depth, 1u);
  r.phase.reset();
  health_beat none{"n", 9, {r}, {}};
  buf.clear();
  caf::binary_serializer s2{sys, buf};
  ASSERT_FALSE(s2(none));
  caf::binary_deserializer d2{sys, buf};
  ASSERT_FALSE(d2(back));
  EXPECT_FALSE(back.reports[0].phase);
}

} // namespace
} // namespace tandem
