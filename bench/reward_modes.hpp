// reward_modes.hpp: the four ways `tandem bench reward` scores its workload,
// each driven as the reward actors drive it (actors/reward.hpp):
//   rules    score_group with the built-in rules (tokenized_reward_actor)
//   math     score_group_with a math_scorer, one per caller
//   http     score_group_with one http_scorer shared by every caller
//            (reward.concurrency = callers), against plugin_reward_server or
//            a server of the user's (--url)
//   command  score_group_with a command_scorer per caller, each running
//            `instances` programs (reward.instances)
// One call per group (group_size completions), as the controller sends them.
// `concurrency` callers run side by side, like that many reward actors, each
// taking the next group in turn. The message hop into the actor is left out
// (one CAF message per group: bench control measures it).
//
// Lifecycle: start() starts the server and the programs and scores one
// untimed batch through each command scorer (their start-up is not part of
// any pass); the destructor stops them.
//
// Thread safety: one thread calls pass() at a time; pass() runs its callers
// on threads of its own and joins them. Every call a caller makes has the
// scorer's deadline (`timeout`), so a pass ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "bench/reward_workload.hpp"
#include "tasks/reward_scorer.hpp"

namespace tandem {

enum class reward_mode { rules, math, http, command };

inline constexpr reward_mode all_reward_modes[] = {reward_mode::rules, reward_mode::math,
                                                   reward_mode::http, reward_mode::command};

const char* to_string(reward_mode m);

/// The scorer whose rule a mode's rewards follow (plugin for http and
/// command with the bench's own server and program).
reward_scorer_kind scorer_kind(reward_mode m);

struct reward_mode_settings {
  int32_t concurrency = 1;                         // callers at once
  int32_t instances = 1;                           // command: programs per scorer
  std::vector<std::string> command;                // command: argv
  std::string url;                                 // http: empty = the in-process server
  std::chrono::milliseconds timeout{5000};         // reward.timeout_s
  reward_weights weights;
};

struct reward_pass {
  double wall_s = 0;            // the first call's start to the last reply
  double cpu_s = 0;             // CPU of this process and its child processes meanwhile
  std::vector<double> rewards;  // one per completion, in workload order
};

class reward_bench_rig {
public:
  static caf::expected<std::unique_ptr<reward_bench_rig>> start(reward_mode_settings s);
  ~reward_bench_rig();

  /// Scores every group of `w` once with `m`; the first error ends the pass.
  caf::expected<reward_pass> pass(reward_mode m, const reward_workload& w);

  /// Requests the in-process server answered so far (0 with --url).
  int64_t server_requests() const;
  /// The HTTP mode's url.
  const std::string& url() const { return url_; }

private:
  explicit reward_bench_rig(reward_mode_settings s);
  std::shared_ptr<reward_scorer> scorer_for(reward_mode m, size_t caller) const;

  reward_mode_settings s_;
  std::string url_;
  struct server_holder;
  std::unique_ptr<server_holder> server_;
  std::vector<std::shared_ptr<reward_scorer>> math_;    // one per caller
  std::shared_ptr<reward_scorer> http_;                 // shared
  std::vector<std::shared_ptr<reward_scorer>> command_; // one per caller
};

/// CPU seconds used so far by this process and its live child processes
/// (/proc/self/task/*/children; a kernel without those lists leaves the
/// children out).
double process_tree_cpu_seconds();

} // namespace tandem
