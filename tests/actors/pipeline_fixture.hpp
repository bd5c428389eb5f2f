// pipeline_fixture.hpp: the Pipeline fixture of the actor protocol tests
// (protocol_test.cpp, pipeline_failure_test.cpp): the head's graph built by
// spawn_head with fake LibTorch backends, samplers joining as remote ones
// would, and the stand-ins the failure tests need (a stalled sampler, a
// reward and a learner that hang once). Everything runs on CAF's test
// coordinator: messages and time are stepped, nothing sleeps.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actor_test_fixture.hpp"
#include "fakes.hpp"
#include "graph_test_fixture.hpp"

#include "actors/controller.hpp"
#include "actors/learner.hpp"
#include "actors/reward.hpp"
#include "actors/sampler.hpp"
#include "actors/weight_broadcaster.hpp"
#include "runtime/error.hpp"
#include "tasks/arithmetic_task.hpp"
#include "wiring/head.hpp"

namespace tandem::testing {

using namespace std::chrono_literals;

/// A metrics sink that refuses every record from `fail_from` on (a full
/// disk, a revoked mount).
class flaky_sink : public memory_sink {
public:
  caf::error write(const json_record& rec) override {
    if (lines.size() >= fail_from)
      return make_error(errc::io_failure, "write to metrics.jsonl failed (injected)");
    return memory_sink::write(rec);
  }
  size_t fail_from = static_cast<size_t>(-1);
};

// True if `m` holds exactly these element types (empty messages are replies
// to plain sends and match nothing).
template <class... Ts>
bool holds(const caf::message& m) {
  return m.size() == sizeof...(Ts) && m.match_elements<Ts...>();
}

// The integer field `key` of a one-line JSON object (summary or metrics);
// -1 when absent.
inline int64_t json_int(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::stoll(json.substr(at + key.size() + 3));
}

inline bool same_sequences(const std::vector<train_sequence>& a, const std::vector<train_sequence>& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].prompt != b[i].prompt || a[i].completion != b[i].completion
        || a[i].behav_logprobs != b[i].behav_logprobs || a[i].versions != b[i].versions
        || a[i].advantage != b[i].advantage)
      return false;
  return true;
}

// A sampler that accepts requests and never answers (a hung process).
struct stalled_state {
  std::vector<caf::response_promise> held;
  std::vector<uint64_t> group_ids; // of every request it was given
};
inline caf::behavior stalled_sampler(caf::stateful_actor<stalled_state>* self) {
  return {
    [=](generate_request& r) -> caf::result<generate_result> {
      for (auto& g : r.groups)
        self->state.group_ids.push_back(g.group_id);
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<generate_result>{};
    },
    [=](const weights_chunk&) {},
  };
}

// A reward actor that never answers its first request (hung), then scores
// like reward_actor.
struct hung_reward_state {
  std::optional<uint64_t> held_id;
  std::vector<caf::response_promise> held;
};
inline caf::behavior reward_hung_once(caf::stateful_actor<hung_reward_state>* self) {
  return {[=](const rollout_group& g) -> caf::result<scored_group> {
    if (!self->state.held_id) {
      self->state.held_id = g.group_id;
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<scored_group>{};
    }
    auto s = score_group(g, char_tokenizer{}, reward_weights{});
    if (!s)
      return s.error();
    return std::move(*s);
  }};
}

// In front of the real learner: holds the first train_batch forever (a hung
// learner), passes every later one on.
struct hung_learner_state {
  std::vector<uint64_t> held_ids; // group ids of the held batch
  std::vector<caf::response_promise> held;
};
inline caf::behavior learner_hung_once(caf::stateful_actor<hung_learner_state>* self, caf::actor real) {
  // Everything else (samplers joining, weights) goes on to the real learner.
  self->set_default_handler(
    [real](caf::scheduled_actor* me, caf::message_view& x) -> caf::result<caf::message> {
      caf::send_as(caf::actor_cast<caf::actor>(me), real, x.move_content_to_message());
      return caf::message{};
    });
  return {[=](snapshot_atom) -> caf::result<learner_snapshot> {
    // A checkpoint's snapshot: asked of the real learner, answered to the asker.
    auto rp = self->make_response_promise<learner_snapshot>();
    self->request(real, caf::infinite, snapshot_atom::value)
      .then([rp](learner_snapshot& s) mutable { rp.deliver(std::move(s)); },
            [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
    return rp;
  },
  [=](train_batch& b) -> caf::result<train_report> {
    if (self->state.held.empty()) {
      for (auto& g : b.groups)
        self->state.held_ids.push_back(g.rollout.group_id);
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<train_report>{};
    }
    auto rp = self->make_response_promise<train_report>();
    self->request(real, caf::infinite, std::move(b))
      .then([rp](train_report& r) mutable { rp.deliver(std::move(r)); },
            [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
    return rp;
  }};
}

// Records every down_msg of the actors it was asked to watch.
struct watcher_state {
  std::vector<caf::down_msg> downs;
};
inline caf::behavior watcher(caf::stateful_actor<watcher_state>* self, std::vector<caf::actor> xs) {
  for (auto& x : xs)
    self->monitor(x);
  self->set_down_handler([=](caf::down_msg& dm) { self->state.downs.push_back(dm); });
  return {[](int) {}};
}

// Sends scale requests (with a timeout) to the controller; keeps the answers.
struct asker_state {
  std::vector<std::string> replies;
  std::vector<caf::error> errors;
};
inline caf::behavior asker(caf::stateful_actor<asker_state>* self, caf::actor target) {
  return {[=](scale_atom, const std::string& role, int32_t n) {
    self->request(target, std::chrono::seconds{10}, scale_atom::value, role, n)
      .then([=](std::string& s) { self->state.replies.push_back(s); },
            [=](caf::error& e) { self->state.errors.push_back(e); });
  }};
}

struct Pipeline : GraphTest {
  controller_settings cs;
  std::shared_ptr<fake_training_backend> trainer = std::make_shared<fake_training_backend>();
  std::vector<std::shared_ptr<fake_generation_backend>> gens;
  std::shared_ptr<flaky_sink> metrics = std::make_shared<flaky_sink>();
  std::vector<uint64_t> consumed;
  caf::actor observer, broadcaster, learner, reward, controller, scaler;
  std::vector<caf::actor> samplers;
  arithmetic_config task;
  // Set before start(): puts an actor in front of the learner (gets the real one).
  std::function<caf::actor(caf::actor)> learner_front;
  // Set before start(): durable runs (a recorder stand-in, a checkpoint to resume).
  caf::actor recorder;
  std::optional<controller_snapshot> resume;

  Pipeline() {
    cs.steps = 6;
    cs.groups_per_step = 4;
    cs.group_size = 2;
    cs.max_staleness = 1;
    cs.generate_timeout = 10s;
  }

  /// The graph as `tandem run` builds it (wiring/head.hpp), with fakes; the
  /// samplers join after it, as remote ones would.
  void start(int n_samplers) {
    observer = spawn_probe();
    auto hs = graph_settings(cs);
    hs.rewards = reward ? 0 : 1; // a test may have spawned its own
    auto parts = graph_parts(trainer, metrics, observer, task);
    parts.scaler = scaler;
    parts.recorder = recorder;
    parts.resume = resume;
    caf::actor front;
    if (learner_front)
      parts.learner_front = [&](const caf::actor& real) { return front = learner_front(real); };
    if (reward)
      parts.rewards = {reward};
    parts.on_consumed = [this](const std::vector<uint64_t>& ids) {
      consumed.insert(consumed.end(), ids.begin(), ids.end());
    };
    auto g = spawn_graph(hs, parts);
    broadcaster = g.broadcaster;
    learner = front ? front : g.learner; // what the controller talks to
    reward = g.rewards.at(0);
    controller = g.controller;
    for (int i = 0; i < n_samplers; ++i)
      add_sampler("s" + std::to_string(i));
  }

  caf::actor add_sampler(const std::string& name) {
    gens.push_back(std::make_shared<fake_generation_backend>());
    auto s = spawn(sampler_actor, sampler_settings{name, 2}, gens.back());
    samplers.push_back(s);
    caf::anon_send(controller, sampler_hello{name, s, 2});
    return s;
  }

  // The (ok, summary) the controller sent to the observer, if any.
  std::optional<std::pair<bool, std::string>> finished() {
    for (auto& m : inbox(observer))
      if (holds<finished_atom, bool, std::string>(m))
        return std::make_pair(m.get_as<bool>(1), m.get_as<std::string>(2));
    return std::nullopt;
  }

  void expect_each_group_consumed_once() {
    std::set<uint64_t> unique(consumed.begin(), consumed.end());
    EXPECT_EQ(unique.size(), consumed.size()) << "a group was consumed twice";
    EXPECT_EQ(consumed.size(), size_t(cs.steps) * cs.groups_per_step);
  }

  int64_t max_logged_staleness() {
    int64_t worst = -1;
    for (auto& line : metrics->lines) {
      auto pos = line.find("\"staleness_max\":");
      worst = std::max<int64_t>(worst, std::stoll(line.substr(pos + 16)));
    }
    return worst;
  }
};


} // namespace tandem::testing
