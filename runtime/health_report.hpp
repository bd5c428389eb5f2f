// health_report.hpp: what an actor says about its own health, as it travels
// from a process's health reporter (actors/health_reporter.hpp) to the
// head's health monitor (actors/health_monitor.hpp). Registered with the
// other message types (runtime/messages.hpp).
//
// Times are ages (durations in the sender's clock), never time points:
// steady clocks of two processes don't compare.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>

namespace tandem {

enum class actor_state : uint8_t {
  starting,
  ready,
  busy,
  waiting_for_weights,
  draining,
  stalled, // derived only (the registry): no heartbeat, or busy and silent
  dead,    // derived only (the registry): down message or process gone
};
constexpr size_t actor_state_count = 7;
const char* to_string(actor_state s);

enum class learner_phase : uint8_t {
  waiting_for_batch,
  forward,   // log-probs of the batch under the current (and reference) policy
  backward,  // loss forward + backward of each micro-batch
  optimizer, // gradient clipping and the AdamW update
  publishing,
};
const char* to_string(learner_phase p);

struct queue_depth {
  std::string name;
  uint64_t depth = 0;
  uint64_t capacity = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_depth& x) {
  return f(caf::meta::type_name("queue_depth"), x.name, x.depth, x.capacity);
}

/// One actor's heartbeat.
struct actor_report {
  std::string role;
  std::string name; // unique in the run: the registry's key
  std::string node;
  int64_t pid = 0;
  uint64_t incarnation = 0; // distinct per start of the actor in its process
  uint64_t seq = 0;         // per sender, increasing with every report
  actor_state state = actor_state::starting;
  int64_t version = -1; // policy version held; -1 before the first
  uint64_t in_flight = 0;
  std::vector<queue_depth> queues;
  double tokens_per_s = 0;
  std::optional<learner_phase> phase; // learners only
  std::chrono::milliseconds phase_age{0};
  uint64_t nccl_epoch = 0;
  uint64_t deadline_breaches = 0;
  uint64_t errors = 0; // errors seen by the sender so far
  std::string last_error;
  std::chrono::milliseconds last_error_age{0};
  /// Since the actor last handled a message. A busy actor silent for the
  /// registry's stall_after is hung inside a handler (stalled) even though
  /// its process keeps beating.
  std::chrono::milliseconds silent{0};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_report& x) {
  auto state = static_cast<uint8_t>(x.state);
  int16_t phase = x.phase ? static_cast<int16_t>(*x.phase) : int16_t{-1};
  int64_t phase_ms = x.phase_age.count();
  int64_t error_ms = x.last_error_age.count();
  int64_t silent_ms = x.silent.count();
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.state = static_cast<actor_state>(state);
    x.phase = phase < 0 ? std::nullopt
                        : std::optional<learner_phase>(static_cast<learner_phase>(phase));
    x.phase_age = std::chrono::milliseconds(phase_ms);
    x.last_error_age = std::chrono::milliseconds(error_ms);
    x.silent = std::chrono::milliseconds(silent_ms);
    return caf::none;
  });
  return f(caf::meta::type_name("actor_report"), x.role, x.name, x.node, x.pid, x.incarnation,
           x.seq, state, x.version, x.in_flight, x.queues, x.tokens_per_s, phase, phase_ms,
           x.nccl_epoch, x.deadline_breaches, x.errors, x.last_error, error_ms, silent_ms, load);
}

/// Every actor of one process, every 500 ms: the reports and the actors'
/// handles (the monitor watches them for down messages).
struct health_beat {
  std::string node;
  int64_t pid = 0;
  std::vector<actor_report> reports;
  std::vector<caf::actor> handles; // handles[i] is reports[i]'s actor
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_beat& x) {
  return f(caf::meta::type_name("health_beat"), x.node, x.pid, x.reports, x.handles);
}

} // namespace tandem
