// The head's actor health ledger: joined → reported states, stalled after
// the deadline (not before), recovered, dead on down / process gone,
// restarts, reordered heartbeats, capacity, the event ring and the JSON.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "actors/internal/actor_registry.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"

namespace tandem {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

const registry_time t0 = registry_time{} + std::chrono::hours(1);

actor_report report(const std::string& name, uint64_t seq,
                    actor_state state = actor_state::ready, int64_t pid = 100) {
  actor_report r;
  r.role = "sampler";
  r.name = name;
  r.node = "node0";
  r.pid = pid;
  r.incarnation = 1;
  r.seq = seq;
  r.state = state;
  return r;
}

actor_state state_of(const actor_registry& reg, const std::string& name) {
  auto h = reg.find(name, t0);
  EXPECT_TRUE(h.has_value()) << name;
  return h ? h->state : actor_state::dead;
}

std::vector<actor_event_kind> kinds(const std::vector<actor_event>& evs) {
  std::vector<actor_event_kind> out;
  for (auto& e : evs)
    out.push_back(e.kind);
  return out;
}

TEST(ActorRegistry, FirstHeartbeatJoinsAndReportedStatesPassThrough) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 1, actor_state::starting), t0));
  EXPECT_EQ(state_of(reg, "s0"), actor_state::starting);
  ASSERT_FALSE(reg.heartbeat(report("s0", 2, actor_state::ready), t0));
  EXPECT_EQ(state_of(reg, "s0"), actor_state::ready);
  uint64_t seq = 3;
  for (auto s : {actor_state::busy, actor_state::waiting_for_weights, actor_state::draining}) {
    ASSERT_FALSE(reg.heartbeat(report("s0", seq++, s), t0));
    EXPECT_EQ(state_of(reg, "s0"), s);
  }
  auto evs = reg.events_after(0);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, actor_event_kind::joined);
  EXPECT_EQ(evs[0].name, "s0");
}

TEST(ActorRegistry, SilentActorStallsExactlyAtTheDeadlineNotBefore) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 1), t0));
  auto deadline = t0 + reg.config().stall_after;
  EXPECT_TRUE(reg.tick(deadline - nanoseconds(1)).empty());
  EXPECT_EQ(state_of(reg, "s0"), actor_state::ready);
  auto evs = reg.tick(deadline);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, actor_event_kind::stalled);
  EXPECT_EQ(evs[0].from, actor_state::ready);
  EXPECT_EQ(evs[0].to, actor_state::stalled);
  EXPECT_EQ(state_of(reg, "s0"), actor_state::stalled);
  // Reported once, not on every tick.
  EXPECT_TRUE(reg.tick(deadline + milliseconds(500)).empty());
}

TEST(ActorRegistry, DefaultDeadlineSeesAStallWithinTwoSecondsOfTicksEvery500ms) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 1), t0));
  // The last beat lands just after a tick; ticks follow every 500 ms.
  auto t = t0 + milliseconds(1);
  while (reg.tick(t).empty())
    t += milliseconds(500);
  EXPECT_LE(t - t0, std::chrono::seconds(2));
}

TEST(ActorRegistry, HeartbeatAfterStallRecoversToTheReportedState) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 1), t0));
  reg.tick(t0 + std::chrono::seconds(2));
  auto later = t0 + std::chrono::seconds(3);
  ASSERT_FALSE(reg.heartbeat(report("s0", 2, actor_state::busy), later));
  EXPECT_EQ(state_of(reg, "s0"), actor_state::busy);
  auto evs = reg.events_after(0);
  ASSERT_EQ(kinds(evs), (std::vector<actor_event_kind>{actor_event_kind::joined,
                                                       actor_event_kind::stalled,
                                                       actor_event_kind::recovered}));
  EXPECT_EQ(evs[2].from, actor_state::stalled);
  EXPECT_EQ(evs[2].to, actor_state::busy);
  EXPECT_TRUE(reg.tick(later + milliseconds(1000)).empty());
}

TEST(ActorRegistry, DownMessageMarksDeadAndDeadIsSticky) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 1), t0));
  ASSERT_FALSE(reg.actor_down("s0", t0));
  EXPECT_EQ(state_of(reg, "s0"), actor_state::dead);
  // A late report of the same sender does not revive it; ticks leave it dead.
  ASSERT_FALSE(reg.heartbeat(report("s0", 2), t0));
  EXPECT_EQ(state_of(reg, "s0"), actor_state::dead);
  EXPECT_EQ(reg.counters().stale, 1u);
  EXPECT_TRUE(reg.tick(t0 + std::chrono::seconds(10)).empty());
  EXPECT_EQ(state_of(reg, "s0"), actor_state::dead);
  EXPECT_TRUE(is(reg.actor_down("nobody", t0), errc::not_found));
}

TEST(ActorRegistry, ProcessGoneKillsEveryActorOfThatPidOnly) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("a", 1, actor_state::ready, 7), t0));
  ASSERT_FALSE(reg.heartbeat(report("b", 1, actor_state::busy, 7), t0));
  ASSERT_FALSE(reg.heartbeat(report("c", 1, actor_state::ready, 8), t0));
  auto other_node = report("d", 1, actor_state::ready, 7);
  other_node.node = "node1";
  ASSERT_FALSE(reg.heartbeat(other_node, t0));
  auto evs = reg.process_gone("node0", 7, t0);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].name, "a");
  EXPECT_EQ(evs[1].name, "b");
  EXPECT_EQ(evs[1].from, actor_state::busy);
  EXPECT_EQ(state_of(reg, "a"), actor_state::dead);
  EXPECT_EQ(state_of(reg, "b"), actor_state::dead);
  EXPECT_EQ(state_of(reg, "c"), actor_state::ready);
  EXPECT_EQ(state_of(reg, "d"), actor_state::ready);
  EXPECT_TRUE(reg.process_gone("node0", 7, t0).empty()); // already dead
}

TEST(ActorRegistry, NewSenderAfterDeathCountsARestart) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 50, actor_state::ready, 100), t0));
  reg.process_gone("node0", 100, t0);
  // The new process numbers its reports from 1 again.
  ASSERT_FALSE(reg.heartbeat(report("s0", 1, actor_state::starting, 200), t0));
  auto h = reg.find("s0", t0);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->state, actor_state::starting);
  EXPECT_EQ(h->restarts, 1u);
  EXPECT_EQ(h->report.pid, 200);
  EXPECT_EQ(h->first_seen, t0);
  auto evs = reg.events_after(0);
  ASSERT_EQ(evs.back().kind, actor_event_kind::restarted);
  EXPECT_EQ(evs.back().from, actor_state::dead);
  // A late beat of the old process neither revives nor restarts again.
  ASSERT_FALSE(reg.heartbeat(report("s0", 51, actor_state::ready, 100), t0));
  EXPECT_EQ(reg.find("s0", t0)->restarts, 1u);
  EXPECT_EQ(reg.find("s0", t0)->report.pid, 200);
  // Same pid, new incarnation (the actor restarted inside its process).
  auto again = report("s0", 1, actor_state::ready, 200);
  again.incarnation = 2;
  ASSERT_FALSE(reg.actor_down("s0", t0));
  ASSERT_FALSE(reg.heartbeat(again, t0));
  EXPECT_EQ(reg.find("s0", t0)->restarts, 2u);
  EXPECT_EQ(state_of(reg, "s0"), actor_state::ready);
}

TEST(ActorRegistry, NewPidBeforeTheDownMessageIsARestartToo) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 9, actor_state::busy, 100), t0));
  reg.tick(t0 + std::chrono::seconds(2)); // stalled, then its process is replaced
  ASSERT_FALSE(reg.heartbeat(report("s0", 1, actor_state::ready, 300), t0 + std::chrono::seconds(3)));
  EXPECT_EQ(reg.find("s0", t0)->restarts, 1u);
  EXPECT_EQ(state_of(reg, "s0"), actor_state::ready);
  EXPECT_EQ(reg.events_after(0).back().from, actor_state::stalled);
  // The old pid's exit notice, arriving late, does not touch the new one.
  EXPECT_TRUE(reg.process_gone("node0", 100, t0 + std::chrono::seconds(3)).empty());
  EXPECT_EQ(state_of(reg, "s0"), actor_state::ready);
}

TEST(ActorRegistry, RemovedActorIsLoggedAndRejoinsFresh) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 1, actor_state::ready, 100), t0));
  ASSERT_FALSE(reg.actor_down("s0", t0));
  ASSERT_FALSE(reg.remove("s0", t0));
  EXPECT_EQ(reg.size(), 0u);
  EXPECT_EQ(reg.events_after(0).back().kind, actor_event_kind::removed);
  ASSERT_FALSE(reg.heartbeat(report("s0", 1, actor_state::ready, 100), t0));
  EXPECT_EQ(reg.find("s0", t0)->restarts, 0u);
  EXPECT_EQ(reg.events_after(0).back().kind, actor_event_kind::joined);
}

TEST(ActorRegistry, ReorderedHeartbeatsAreIgnored) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("s0", 5, actor_state::busy), t0));
  auto old = report("s0", 4, actor_state::ready);
  old.version = 1;
  ASSERT_FALSE(reg.heartbeat(old, t0 + milliseconds(10)));
  ASSERT_FALSE(reg.heartbeat(report("s0", 5, actor_state::ready), t0 + milliseconds(10)));
  auto h = reg.find("s0", t0 + milliseconds(10));
  EXPECT_EQ(h->state, actor_state::busy);
  EXPECT_EQ(h->last_heartbeat, t0); // ignored beats don't refresh liveness
  EXPECT_EQ(reg.counters().stale, 2u);
  EXPECT_EQ(reg.counters().accepted, 1u);
}

TEST(ActorRegistry, NewNamesPastCapacityAreRefusedAndCounted) {
  actor_registry_config cfg;
  cfg.capacity = 2;
  actor_registry reg(cfg);
  ASSERT_FALSE(reg.heartbeat(report("a", 1), t0));
  ASSERT_FALSE(reg.heartbeat(report("b", 1), t0));
  auto err = reg.heartbeat(report("c", 1), t0);
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, errc::capacity_exceeded)) << describe(err);
  EXPECT_EQ(reg.counters().refused, 1u);
  EXPECT_EQ(reg.size(), 2u);
  // Known names still report; a removed one frees its slot.
  EXPECT_FALSE(reg.heartbeat(report("a", 2), t0));
  ASSERT_FALSE(reg.remove("b", t0));
  EXPECT_FALSE(reg.heartbeat(report("c", 1), t0));
  EXPECT_TRUE(is(reg.remove("b", t0), errc::not_found));
}

TEST(ActorRegistry, MalformedReportsAreRejectedNamingTheField) {
  actor_registry reg;
  auto bad = report("s0", 1, actor_state::stalled);
  auto err = reg.heartbeat(bad, t0);
  ASSERT_TRUE(is(err, errc::malformed_message));
  EXPECT_NE(to_string(err).find("state"), std::string::npos);
  auto nan = report("s0", 1);
  nan.tokens_per_s = std::nan("");
  EXPECT_NE(to_string(reg.heartbeat(nan, t0)).find("tokens_per_s"), std::string::npos);
  EXPECT_NE(to_string(reg.heartbeat(report("", 1), t0)).find("name"), std::string::npos);
  auto many = report("s0", 1);
  many.queues.resize(actor_registry::max_queues + 1, queue_depth{"q", 0, 1});
  EXPECT_NE(to_string(reg.heartbeat(many, t0)).find("queues"), std::string::npos);
  EXPECT_EQ(reg.counters().invalid, 4u);
  EXPECT_EQ(reg.size(), 0u);
}

TEST(ActorRegistry, NewErrorIsStampedAndLoggedOnce) {
  actor_registry reg;
  auto r = report("learner0", 1);
  r.errors = 1;
  r.last_error = "nccl broadcast missed its deadline";
  r.last_error_age = milliseconds(200);
  ASSERT_FALSE(reg.heartbeat(r, t0));
  r.seq = 2;
  ASSERT_FALSE(reg.heartbeat(r, t0 + milliseconds(500))); // same error again
  auto h = reg.find("learner0", t0);
  ASSERT_TRUE(h->last_error_at);
  EXPECT_EQ(*h->last_error_at, t0 - milliseconds(200));
  auto evs = reg.events_after(0);
  ASSERT_EQ(kinds(evs), (std::vector<actor_event_kind>{actor_event_kind::joined,
                                                       actor_event_kind::error}));
  EXPECT_EQ(evs[1].detail, r.last_error);
  // The error text is bounded without splitting a UTF-8 sequence.
  r.seq = 3;
  r.errors = 2;
  r.last_error = std::string(actor_registry::max_error_bytes - 1, 'x') + "\xc3\xa9";
  ASSERT_FALSE(reg.heartbeat(r, t0));
  EXPECT_EQ(reg.find("learner0", t0)->report.last_error.size(),
            actor_registry::max_error_bytes - 1);
}

TEST(ActorRegistry, EventRingKeepsTheNewestAndCountsTheDropped) {
  actor_registry_config cfg;
  cfg.event_capacity = 10;
  actor_registry reg(cfg);
  for (int i = 0; i < 25; ++i)
    ASSERT_FALSE(reg.heartbeat(report("s" + std::to_string(i), 1), t0));
  auto evs = reg.events_after(0);
  ASSERT_EQ(evs.size(), 10u);
  EXPECT_EQ(evs.front().id, 16u);
  EXPECT_EQ(evs.back().id, 25u);
  EXPECT_EQ(evs.back().name, "s24");
  EXPECT_EQ(reg.counters().events_dropped, 15u);
  EXPECT_EQ(reg.events_after(23).size(), 2u);
  EXPECT_EQ(actor_registry_config{}.event_capacity, 1000u);
}

TEST(ActorRegistry, CountByStateCoversEveryActor) {
  actor_registry reg;
  ASSERT_FALSE(reg.heartbeat(report("a", 1, actor_state::ready), t0));
  ASSERT_FALSE(reg.heartbeat(report("b", 1, actor_state::busy), t0));
  ASSERT_FALSE(reg.heartbeat(report("c", 1, actor_state::busy, 9), t0 + milliseconds(1400)));
  reg.process_gone("node0", 9, t0 + milliseconds(1400));
  reg.tick(t0 + milliseconds(1500));
  auto n = reg.count_by_state();
  EXPECT_EQ(n[static_cast<size_t>(actor_state::stalled)], 2u);
  EXPECT_EQ(n[static_cast<size_t>(actor_state::dead)], 1u);
  EXPECT_EQ(n[static_cast<size_t>(actor_state::ready)], 0u);
}

TEST(ActorRegistry, SnapshotOfManyActorsIsOrderedByName) {
  actor_registry reg;
  // Inserted in a scrambled order.
  for (int i = 0; i < 1024; ++i) {
    int k = (i * 389) % 1024;
    char name[16];
    std::snprintf(name, sizeof(name), "actor-%04d", k);
    ASSERT_FALSE(reg.heartbeat(report(name, 1, actor_state::ready, 1000 + k), t0));
  }
  auto all = reg.snapshot(t0 + milliseconds(250));
  ASSERT_EQ(all.size(), 1024u);
  for (size_t i = 1; i < all.size(); ++i)
    ASSERT_LT(all[i - 1].report.name, all[i].report.name);
  EXPECT_EQ(all.front().report.name, "actor-0000");
  EXPECT_EQ(all[5].report.pid, 1005);
  EXPECT_EQ(all.back().heartbeat_age, milliseconds(250));
}

// Readers of the parsed document; a missing key reads as "" / -1.
std::string str(const json_value* v, const char* key) {
  auto* m = v ? v->find(key) : nullptr;
  auto* s = m ? m->as_string() : nullptr;
  return s ? *s : "";
}

int64_t num(const json_value* v, const char* key) {
  auto* m = v ? v->find(key) : nullptr;
  auto* n = m ? m->as_integer() : nullptr;
  return n ? *n : -1;
}

const json_value* first(const json_value* v, const char* key) {
  auto* m = v ? v->find(key) : nullptr;
  auto* a = m ? m->as_array() : nullptr;
  return a && !a->empty() ? &a->front() : nullptr;
}

TEST(ActorRegistry, JsonEscapesNamesAndReadsBack) {
  actor_registry reg;
  auto r = report("samp\"ler\\0\n\x01", 1, actor_state::busy);
  r.role = "learner";
  r.version = 12;
  r.phase = learner_phase::backward;
  r.queues = {{"in\"box", 3, 8}};
  r.tokens_per_s = 1234.5;
  r.errors = 1;
  r.last_error = "bad\ttab";
  ASSERT_FALSE(reg.heartbeat(r, t0));
  auto text = actors_json(reg, t0 + milliseconds(40));
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(text.find('\x01'), std::string::npos);
  auto doc = parse_json(text);
  ASSERT_TRUE(doc) << to_string(doc.error()) << "\n" << text;
  auto* a = first(&*doc, "actors");
  ASSERT_NE(a, nullptr) << text;
  EXPECT_EQ(str(a, "name"), r.name);
  EXPECT_EQ(str(a, "role"), "learner");
  EXPECT_EQ(str(a, "node"), "node0");
  EXPECT_EQ(num(a, "pid"), 100);
  EXPECT_EQ(str(a, "state"), "busy");
  EXPECT_EQ(num(a, "version"), 12);
  EXPECT_EQ(str(a, "phase"), "backward");
  EXPECT_EQ(num(a, "heartbeat_age_ms"), 40);
  EXPECT_EQ(str(first(a, "queues"), "name"), "in\"box");
  EXPECT_EQ(num(first(a, "queues"), "capacity"), 8);
  EXPECT_EQ(str(a, "last_error"), "bad\ttab");
  EXPECT_EQ(num(doc->find("counts"), "busy"), 1);
  auto ev = parse_json(to_json(reg.events_after(0).back(), t0));
  ASSERT_TRUE(ev);
  EXPECT_EQ(str(&*ev, "kind"), "error");
  EXPECT_EQ(str(&*ev, "name"), r.name);
}

// A busy actor that keeps beating (its process is fine) but has handled
// nothing for stall_after is hung in a handler: stalled, then recovered
// once it handles messages again. A learner in a phase is judged by the
// watchdog's phase deadline instead, and an idle (ready) silent actor is fine.
TEST(actor_registry, busy_and_silent_is_stalled_though_beating) {
  actor_registry reg;
  auto r = report("s0", 1, actor_state::busy);
  r.silent = milliseconds(200);
  ASSERT_FALSE(reg.heartbeat(r, t0));
  EXPECT_EQ(state_of(reg, "s0"), actor_state::busy);
  r.seq = 2;
  r.silent = milliseconds(1600);
  ASSERT_FALSE(reg.heartbeat(r, t0 + milliseconds(500)));
  EXPECT_EQ(reg.find("s0", t0)->state, actor_state::stalled);
  r.seq = 3;
  r.silent = milliseconds(10);
  ASSERT_FALSE(reg.heartbeat(r, t0 + milliseconds(1000)));
  EXPECT_EQ(reg.find("s0", t0)->state, actor_state::busy);
  auto ev = reg.events_after(0);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev[ev.size() - 2].kind, actor_event_kind::stalled);
  EXPECT_EQ(ev.back().kind, actor_event_kind::recovered);

  auto idle = report("s1", 1, actor_state::ready);
  idle.silent = std::chrono::minutes(5);
  ASSERT_FALSE(reg.heartbeat(idle, t0));
  EXPECT_EQ(reg.find("s1", t0)->state, actor_state::ready);

  auto learner = report("learner", 1, actor_state::busy);
  learner.role = "learner";
  learner.phase = learner_phase::backward;
  learner.silent = std::chrono::minutes(5);
  ASSERT_FALSE(reg.heartbeat(learner, t0));
  EXPECT_EQ(reg.find("learner", t0)->state, actor_state::busy);
}

// The silence of a busy actor keeps growing between beats: tick() finds it
// stalled without a new report.
TEST(actor_registry, busy_silence_counts_time_since_the_last_beat) {
  actor_registry reg;
  auto r = report("s0", 1, actor_state::busy);
  r.silent = milliseconds(1000);
  ASSERT_FALSE(reg.heartbeat(r, t0));
  EXPECT_TRUE(reg.tick(t0 + milliseconds(400)).empty());
  auto ev = reg.tick(t0 + milliseconds(500));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, actor_event_kind::stalled);
}

TEST(actor_registry, deadline_breaches_are_events) {
  actor_registry reg;
  auto r = report("s0", 1);
  ASSERT_FALSE(reg.heartbeat(r, t0));
  r.seq = 2;
  r.deadline_breaches = 2;
  ASSERT_FALSE(reg.heartbeat(r, t0 + milliseconds(500)));
  auto ev = reg.events_after(0);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().kind, actor_event_kind::deadline_breach);
  EXPECT_EQ(ev.back().detail, "2 missed deadline(s), 2 in all");
  r.seq = 3; // the same count again: no new event
  auto n = reg.events_after(0).size();
  ASSERT_FALSE(reg.heartbeat(r, t0 + milliseconds(1000)));
  EXPECT_EQ(reg.events_after(0).size(), n);
}

} // namespace
} // namespace tandem
