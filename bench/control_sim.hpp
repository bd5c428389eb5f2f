// control_sim.hpp: what the head and the worker process of `tandem bench
// control` (bench_control.hpp) share: the options, declared once so that
// `tandem sim-worker` accepts exactly the flags the head passes it; the
// simulated samplers (actors/sim_sampler.hpp) and the sum of their counters.
//
// Thread safety: plain functions, called from one thread (a scoped actor's).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/timespan.hpp>

#include "actors/sim_sampler.hpp"
#include "runtime/cli_flags.hpp"

namespace tandem {

// The worker's counters, sent to the head's collector (and acknowledged).
using sim_report_atom = caf::atom_constant<caf::atom("simreport")>;

struct control_options {
  int32_t samplers = 1024;
  int32_t steps = 200;
  int32_t groups_per_step = 256;
  int32_t group_size = 8;
  int32_t processes = 0;
  int32_t eta = 1;
  int32_t groups_per_request = 1;
  int64_t token_us = 200;
  int64_t overhead_us = 0;
  int64_t learner_us = 0;
  sim_length_distribution lengths;
  double accuracy = 0.5;
  uint64_t seed = 1;
  double connect_s = 60;
  double deadline_s = 600;
  int32_t console = 0; // 1: the head serves its console; its cost and latency are measured
};

/// Declares every option of control_options on `cl`.
void declare_control_flags(command_line& cl);

/// The options of a successful parse of a command_line set up by
/// declare_control_flags (--tokens is checked here).
caf::expected<control_options> control_options_from(const command_line& cl);

/// The flags a sim-worker needs to build the same samplers as the head would.
std::vector<std::string> sampler_flags(const control_options& o);

/// Spawns o.samplers sim samplers and makes them join `controller`.
std::vector<caf::actor> spawn_sim_samplers(caf::actor_system& sys, caf::scoped_actor& self,
                                           const caf::actor& controller,
                                           const control_options& o);

struct sim_totals {
  int64_t samplers = 0, requests = 0, groups = 0, tokens = 0, chunks = 0, acks = 0;
  caf::timespan busy_max{0}, longest{0};
};

/// Sums the samplers' status replies; fails if not all answer within `timeout`.
caf::expected<sim_totals> collect_totals(caf::scoped_actor& self,
                                         const std::vector<caf::actor>& samplers,
                                         caf::timespan timeout);

inline caf::timespan micros(int64_t us) {
  return std::chrono::duration_cast<caf::timespan>(std::chrono::microseconds{us});
}

} // namespace tandem
