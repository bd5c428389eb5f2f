// control_sim.cpp: see control_sim.hpp.
#include "bench/control_sim.hpp"
#include "bench/timing.hpp"

#include <algorithm>

#include <caf/all.hpp>

#include "runtime/error.hpp"
#include "runtime/messages.hpp"

namespace tandem {

namespace {

caf::expected<sim_length_distribution> parse_tokens(const std::string& s) {
  sim_length_distribution d;
  auto dots = s.find("..");
  auto lo = parse_integer(s.substr(0, dots));
  auto hi = dots == std::string::npos ? lo : parse_integer(s.substr(dots + 2));
  if (!lo || !hi || *lo < 1 || *hi < *lo || *hi > INT32_MAX)
    return make_error(errc::invalid_argument,
                      "--tokens must be N or MIN..MAX with 1 <= MIN <= MAX, got '" + s + "'");
  d.min_tokens = static_cast<int32_t>(*lo);
  d.max_tokens = static_cast<int32_t>(*hi);
  return d;
}

sim_sampler_settings sampler_settings(const control_options& o, int32_t index) {
  sim_sampler_settings s;
  s.name = "sim-" + std::to_string(index);
  s.per_token = micros(o.token_us);
  s.overhead = micros(o.overhead_us);
  s.lengths = o.lengths;
  s.accuracy = o.accuracy;
  s.seed = o.seed * 1000003 + static_cast<uint64_t>(index);
  s.max_queued = 2;
  return s;
}

} // namespace

void declare_control_flags(command_line& cl) {
  constexpr int64_t big = int64_t{1} << 31;
  cl.integer("--samplers", "simulated samplers", 1024, 1, 1 << 20)
    .integer("--steps", "learner steps of the run", 200, 1, big)
    .integer("--groups-per-step", "groups per training batch", 256, 1, big)
    .integer("--group-size", "completions per group", 8, 2, 1 << 16)
    .integer("--processes", "0: samplers in this process; 1: in a second OS process", 0, 0, 1)
    .integer("--eta", "staleness bound (versions a group may lag)", 1, 0, 1 << 20)
    .integer("--groups-per-request", "groups per sampler request", 1, 1, 1 << 20)
    .integer("--token-us", "simulated decode time per token, us", 200, 0, big)
    .integer("--overhead-us", "simulated fixed time per request, us", 0, 0, big)
    .integer("--learner-us", "simulated learner step, us", 0, 0, big)
    .text("--tokens", "N|MIN..MAX", "completion length drawn uniformly", "4..8")
    .number("--accuracy", "fraction of correct simulated completions", 0.5, 0, 1)
    .integer("--seed", "seed of problems and simulated samplers", 1, 0, INT64_MAX)
    .number("--connect-s", "seconds for all samplers to join", 60, 1e-3, 1e6)
    .number("--deadline-s", "seconds the run may take", 600, 1e-3, 1e7)
    .integer("--console", "1: every process reports health and the head serves its console; "
                          "an open page, a scrape per second and GET /api/actors every 100 ms "
                          "are timed", 0, 0, 1);
}

caf::expected<control_options> control_options_from(const command_line& cl) {
  control_options o;
  o.samplers = static_cast<int32_t>(cl.as_int("--samplers"));
  o.steps = static_cast<int32_t>(cl.as_int("--steps"));
  o.groups_per_step = static_cast<int32_t>(cl.as_int("--groups-per-step"));
  o.group_size = static_cast<int32_t>(cl.as_int("--group-size"));
  o.processes = static_cast<int32_t>(cl.as_int("--processes"));
  o.eta = static_cast<int32_t>(cl.as_int("--eta"));
  o.groups_per_request = static_cast<int32_t>(cl.as_int("--groups-per-request"));
  o.token_us = cl.as_int("--token-us");
  o.overhead_us = cl.as_int("--overhead-us");
  o.learner_us = cl.as_int("--learner-us");
  o.console = static_cast<int32_t>(cl.as_int("--console"));
  o.accuracy = cl.as_number("--accuracy");
  o.seed = static_cast<uint64_t>(cl.as_int("--seed"));
  o.connect_s = cl.as_number("--connect-s");
  o.deadline_s = cl.as_number("--deadline-s");
  auto t = parse_tokens(cl.value("--tokens"));
  if (!t)
    return t.error();
  o.lengths = *t;
  return o;
}

std::vector<std::string> sampler_flags(const control_options& o) {
  return {"--samplers", std::to_string(o.samplers),
          "--groups-per-request", std::to_string(o.groups_per_request),
          "--token-us", std::to_string(o.token_us),
          "--overhead-us", std::to_string(o.overhead_us),
          "--tokens",
          std::to_string(o.lengths.min_tokens) + ".." + std::to_string(o.lengths.max_tokens),
          "--accuracy", std::to_string(o.accuracy),
          "--seed", std::to_string(o.seed),
          "--connect-s", std::to_string(o.connect_s),
          "--deadline-s", std::to_string(o.deadline_s),
          "--console", std::to_string(o.console)};
}

std::vector<caf::actor> spawn_sim_samplers(caf::actor_system& sys, caf::scoped_actor& self,
                                           const caf::actor& controller,
                                           const control_options& o) {
  std::vector<caf::actor> out;
  for (int32_t i = 0; i < o.samplers; ++i) {
    auto ss = sampler_settings(o, i);
    out.push_back(sys.spawn(sim_sampler_actor, ss));
    self->send(controller, sampler_hello{ss.name, out.back(), o.groups_per_request});
  }
  return out;
}

caf::expected<sim_totals> collect_totals(caf::scoped_actor& self,
                                         const std::vector<caf::actor>& samplers,
                                         caf::timespan timeout) {
  using clock_type = bench_clock;
  for (auto& s : samplers)
    self->send(s, status_atom::value);
  sim_totals t;
  auto deadline = clock_type::now() + timeout;
  bool late = false;
  while (t.samplers < static_cast<int64_t>(samplers.size()) && !late) {
    auto left = std::max(caf::timespan{0}, std::chrono::duration_cast<caf::timespan>(
                                             deadline - clock_type::now()));
    self->receive(
      [&](const std::string&, int64_t, int64_t tokens, int64_t, int64_t requests, int64_t groups,
          int64_t chunks, int64_t acks, int64_t busy_ns, int64_t longest_ns) {
        ++t.samplers;
        t.requests += requests, t.groups += groups, t.tokens += tokens;
        t.chunks += chunks, t.acks += acks;
        t.busy_max = std::max(t.busy_max, caf::timespan{busy_ns});
        t.longest = std::max(t.longest, caf::timespan{longest_ns});
      },
      caf::after(left) >> [&] { late = true; });
  }
  if (late)
    return make_error(errc::timeout, std::to_string(t.samplers) + " of "
                                       + std::to_string(samplers.size())
                                       + " samplers reported their counters in time");
  return t;
}

} // namespace tandem
