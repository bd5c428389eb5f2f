// top_model.hpp: what `tandem top` knows about a run, read from the
// console's JSON replies (GET /api/run, /api/actors, /api/metrics?after=STEP;
// shapes in console/http_console.hpp and actors/internal/actor_registry.hpp).
// console/top_view.hpp draws it; console/top_command.cpp fetches it.
//
// Thread safety: plain values and pure functions (refresh_model calls the
// fetch function it is given on the caller's thread).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace tandem {

struct top_queue {
  std::string name;
  uint64_t depth = 0;
  uint64_t capacity = 0;
};

/// One entry of /api/actors.
struct top_actor {
  std::string role, name, node;
  int64_t pid = 0;
  std::string state = "starting"; // the head's view: may be stalled or dead
  std::string reported_state;
  int64_t version = -1;
  uint64_t in_flight = 0;
  std::vector<top_queue> queues;
  double tokens_per_s = 0;
  std::string phase; // learners; "" otherwise
  uint64_t nccl_epoch = 0;
  uint64_t deadline_breaches = 0;
  int64_t heartbeat_age_ms = 0;
  uint64_t restarts = 0;
  uint64_t errors = 0;
  std::string last_error;
};

struct top_cause {
  std::string kind, text;
  double since_s = 0;
};

/// /api/run.
struct top_run {
  std::string status = "starting";
  std::string run_dir;
  int64_t incarnation = 1;
  int64_t step = 0, steps = 0, version = 0;
  double elapsed_s = 0, reward_mean = 0, accuracy = 0, tokens_per_s = 0;
  int64_t samplers = 0, rewards = 0;
  std::optional<top_cause> cause;
  uint64_t reward_ok = 0, reward_invalid = 0, reward_timeout = 0, reward_error = 0;
};

struct top_model {
  /// A sparkline needs at most a screen's width of points; 4096 covers the
  /// widest terminal and keeps a long run's history from growing top.
  static constexpr size_t reward_history = 4096;

  std::string source; // the console's URL, shown in the header
  top_run run;
  std::vector<top_actor> actors;
  std::vector<std::pair<std::string, uint64_t>> counts; // per state, as served
  std::deque<std::pair<int64_t, double>> rewards;       // (step, reward_mean), oldest first
  int64_t last_step = -1; // newest metrics step received: the next ?after=

  bool ever_reached = false;
  bool reachable = false;
  std::string fetch_error; // why the last refresh failed
  double data_age_s = 0;   // since the last good refresh (the caller sets it)
};

/// Each replaces its part of the model. Missing keys (and keys of another
/// type) keep their defaults; a reply that is not a JSON object is an error
/// naming the endpoint.
caf::error parse_run(std::string_view json, top_model& m);
caf::error parse_actors(std::string_view json, top_model& m);
/// Appends the records' reward_mean to m.rewards. A step not above the last
/// one held (a resumed run repeats steps) first drops the held ones from it.
caf::error parse_metrics(std::string_view json, top_model& m);

/// GET `path` (with its query) from the console: the body of a 200 reply, or
/// an error that says why (unreachable, HTTP status).
using top_fetch = std::function<caf::expected<std::string>(const std::string& path)>;

/// One refresh: /api/run, /api/actors, then /api/metrics?after=last_step.
/// On failure the data stays, reachable turns false and fetch_error says why.
caf::error refresh_model(top_model& m, const top_fetch& fetch);

} // namespace tandem
