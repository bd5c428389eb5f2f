// bench_control.cpp: `tandem bench control` — the real control plane
// (controller with its work buffer, staleness gate and sampler pool, the
// reward actor, the weight broadcaster and the learner actor) driving N
// simulated samplers (actors/sim_sampler.hpp) and a simulated learner step
// (actors/sim_backends.hpp), to show how far one controller scales. With
// `--processes 1` the sim samplers live in a second OS process (`tandem
// sim-worker`, the same binary) and every sampler message crosses CAF's
// middleman, as with real worker processes.
//
// Method.
//   wall      from the moment all N samplers joined (the controller's status
//             reports N; polled every 1 ms, so dispatch starts within 1 ms of
//             it) to the controller's finished message.
//   messages  control-plane messages during the run, from the sim samplers'
//             counters and known per-step counts: generate request + reply
//             per request, score request + reply per generated group, train
//             request + reply and one publish per step (+ the initial
//             publish), every weights chunk and every weights ack.
//   ideal     the time the run would take if messages were free: the largest
//             of three lower bounds on the simulated work's critical path,
//             (a) the busiest sampler's summed simulated decode time,
//             (b) steps x simulated learner step time,
//             (c) the staleness-gated pipeline: with d = the longest simulated
//                 request decode time, w = ceil(B / (N x groups per request))
//                 rounds per wave of B groups and t the learner step,
//                 T(k) = max(T(k-1), T(k-1-eta) + w d) + t, T(<=0) = 0
//                 (batch k needs groups admitted once version k-1-eta
//                 existed; they decode for w rounds, then one learner step).
//   overhead share = 1 - ideal / wall: the share of wall time that went to
//             moving and handling messages (plus scheduling slack) rather
//             than to simulated work. cost per message = (wall - ideal) /
//             messages: the mean control-plane cost of one message, all
//             actors and (with --processes 1) both processes included.
//   With the defaults the simulated work is small on purpose (short decodes,
//   instant learner), so the overhead share is close to 1 and the cost per
//   message is the figure to read; raise --token-us / --learner-us to see
//   the control plane hide behind real work.
//
// Deadlines: joining (--connect-s), the run (--deadline-s), the sampler
// counters (10 s) and the worker's report (15 s) are each bounded; a missed
// one ends the bench with exit 1. The worker process is stopped at the end
// (SIGTERM, then SIGKILL after 5 s).
//
// Thread budget: the head and the worker each run CAF's scheduler with 2
// threads (configure_actor_system); the learner is detached (its simulated
// step sleeps like a LibTorch step would block).
#include "bench/bench_control.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/controller.hpp"
#include "actors/learner.hpp"
#include "actors/reward.hpp"
#include "actors/sim_backends.hpp"
#include "actors/sim_sampler.hpp"
#include "actors/weight_broadcaster.hpp"
#include "app/pipeline.hpp"
#include "runtime/error.hpp"
#include "runtime/process_launcher.hpp"
#include "tasks/arithmetic_task.hpp"

namespace tandem {

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The worker's counters, sent to the head's collector (and acknowledged).
using sim_report_atom = caf::atom_constant<caf::atom("simreport")>;

const char* usage =
  "usage: tandem bench control [--samplers 1024] [--steps 200] [--groups-per-step 256]\n"
  "         [--group-size 8] [--token-us 200] [--tokens 4..8] [--processes 0|1]\n"
  "         [--eta 1] [--groups-per-request 1] [--overhead-us 0] [--learner-us 0]\n"
  "         [--accuracy 0.5] [--seed 1] [--connect-s 60] [--deadline-s 600]\n";

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
};

caf::timespan micros(int64_t us) {
  return std::chrono::duration_cast<caf::timespan>(std::chrono::microseconds{us});
}

caf::timespan secs(double s) {
  return std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(s));
}

double seconds_of(caf::timespan t) {
  return std::chrono::duration<double>(t).count();
}

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

caf::expected<sim_length_distribution> parse_tokens(const std::string& s) {
  sim_length_distribution d;
  auto dots = s.find("..");
  d.min_tokens = std::stoi(s.substr(0, dots));
  d.max_tokens = dots == std::string::npos ? d.min_tokens : std::stoi(s.substr(dots + 2));
  if (d.min_tokens < 1 || d.max_tokens < d.min_tokens)
    return make_error(errc::invalid_argument, "--tokens must be N or MIN..MAX with 1 <= MIN <= MAX");
  return d;
}

caf::expected<control_options> parse_options(const args& a) {
  control_options o;
  try {
    o.samplers = std::stoi(flag_value(a, "--samplers", "1024"));
    o.steps = std::stoi(flag_value(a, "--steps", "200"));
    o.groups_per_step = std::stoi(flag_value(a, "--groups-per-step", "256"));
    o.group_size = std::stoi(flag_value(a, "--group-size", "8"));
    o.processes = std::stoi(flag_value(a, "--processes", "0"));
    o.eta = std::stoi(flag_value(a, "--eta", "1"));
    o.groups_per_request = std::stoi(flag_value(a, "--groups-per-request", "1"));
    o.token_us = std::stoll(flag_value(a, "--token-us", "200"));
    o.overhead_us = std::stoll(flag_value(a, "--overhead-us", "0"));
    o.learner_us = std::stoll(flag_value(a, "--learner-us", "0"));
    o.accuracy = std::stod(flag_value(a, "--accuracy", "0.5"));
    o.seed = std::stoull(flag_value(a, "--seed", "1"));
    o.connect_s = std::stod(flag_value(a, "--connect-s", "60"));
    o.deadline_s = std::stod(flag_value(a, "--deadline-s", "600"));
    auto t = parse_tokens(flag_value(a, "--tokens", "4..8"));
    if (!t)
      return t.error();
    o.lengths = *t;
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "a flag has a value that is not a number");
  }
  if (o.samplers < 1 || o.steps < 1 || o.groups_per_step < 1 || o.group_size < 2
      || o.eta < 0 || o.groups_per_request < 1 || o.token_us < 0 || o.overhead_us < 0
      || o.learner_us < 0 || o.accuracy < 0 || o.accuracy > 1 || o.connect_s <= 0
      || o.deadline_s <= 0)
    return make_error(errc::invalid_argument,
                      "need samplers, steps, groups-per-step, groups-per-request >= 1, "
                      "group-size >= 2, eta and times >= 0, accuracy in [0, 1], deadlines > 0");
  if (o.processes != 0 && o.processes != 1)
    return make_error(errc::invalid_argument, "--processes must be 0 or 1");
  return o;
}

/// The flags a sim-worker needs to build the same samplers as the head would.
std::vector<std::string> sampler_flags(const control_options& o) {
  return {"--samplers", std::to_string(o.samplers),
          "--groups-per-request", std::to_string(o.groups_per_request),
          "--token-us", std::to_string(o.token_us),
          "--overhead-us", std::to_string(o.overhead_us),
          "--tokens", std::to_string(o.lengths.min_tokens) + ".." + std::to_string(o.lengths.max_tokens),
          "--accuracy", std::to_string(o.accuracy),
          "--seed", std::to_string(o.seed),
          "--connect-s", std::to_string(o.connect_s),
          "--deadline-s", std::to_string(o.deadline_s)};
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

/// Spawns the sim samplers and makes them join `controller`.
std::vector<caf::actor> spawn_samplers(caf::actor_system& sys, caf::scoped_actor& self,
                                       const caf::actor& controller, const control_options& o) {
  std::vector<caf::actor> out;
  for (int32_t i = 0; i < o.samplers; ++i) {
    auto ss = sampler_settings(o, i);
    out.push_back(sys.spawn(sim_sampler_actor, ss));
    self->send(controller, sampler_hello{ss.name, out.back(), o.groups_per_request});
  }
  return out;
}

struct sim_totals {
  int64_t samplers = 0, requests = 0, groups = 0, tokens = 0, chunks = 0, acks = 0;
  caf::timespan busy_max{0}, longest{0};
};

/// Sums the samplers' status replies; fails if not all answer within `timeout`.
caf::expected<sim_totals> collect_totals(caf::scoped_actor& self,
                                         const std::vector<caf::actor>& samplers,
                                         caf::timespan timeout) {
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

// -- head ---------------------------------------------------------------------

int64_t json_int(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\":");
  return pos == std::string::npos ? -1 : std::stoll(json.substr(pos + key.size() + 3));
}

/// Polls the controller until all samplers joined; false at the deadline or
/// when `alive` says the worker process is gone.
bool wait_for_join(caf::scoped_actor& self, const caf::actor& controller, int32_t n,
                   double timeout_s, const std::function<bool()>& alive) {
  auto t0 = clock_type::now();
  while (since(t0) < timeout_s && alive()) {
    int64_t joined = -1;
    self->request(controller, 1s, status_atom::value)
      .receive([&](const std::string& json) { joined = json_int(json, "samplers"); },
               [&](caf::error&) {});
    if (joined >= n)
      return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

/// Ideal duration and which bound set it (see the method in the header).
std::pair<double, const char*> ideal_seconds(const control_options& o, const sim_totals& t) {
  auto learner = static_cast<double>(o.learner_us) * 1e-6;
  double a = seconds_of(t.busy_max);
  double b = o.steps * learner;
  auto per_round = static_cast<int64_t>(o.samplers) * o.groups_per_request;
  auto rounds = (o.groups_per_step + per_round - 1) / per_round;
  double wave = static_cast<double>(rounds) * seconds_of(t.longest);
  std::vector<double> done(static_cast<size_t>(o.steps) + 1, 0.0); // T(k)
  for (int32_t k = 1; k <= o.steps; ++k) {
    auto from = k - 1 - o.eta;
    auto ready = (from > 0 ? done[static_cast<size_t>(from)] : 0.0) + wave;
    done[static_cast<size_t>(k)] = std::max(done[static_cast<size_t>(k) - 1], ready) + learner;
  }
  double c = done.back();
  if (a >= b && a >= c)
    return {a, "busiest sampler's simulated decode time"};
  if (b >= c)
    return {b, "steps x learner step"};
  return {c, "staleness-gated pipeline (decode waves + learner steps)"};
}

struct head_run {
  bool ok = false;
  std::string summary;
  double wall = 0;
  sim_totals totals;
  int64_t max_staleness = -1;
};

void print_report(const control_options& o, const head_run& r) {
  auto& t = r.totals;
  auto score_msgs = 2 * t.groups;
  auto gen_msgs = 2 * t.requests;
  auto train_msgs = 3 * int64_t{o.steps} + 1; // request + reply + publish, + initial publish
  auto weight_msgs = t.chunks + t.acks;
  auto messages = gen_msgs + score_msgs + train_msgs + weight_msgs;
  auto [ideal, bound] = ideal_seconds(o, t);
  auto overhead = r.wall > 0 ? 1.0 - ideal / r.wall : 0.0;
  std::printf("samplers                     %10d (%s)\n", o.samplers,
              o.processes == 1 ? "in a second OS process, via the middleman" : "in-process");
  std::printf("steps                        %10d (eta %d, %d groups x %d completions)\n", o.steps,
              o.eta, o.groups_per_step, o.group_size);
  std::printf("groups dispatched            %10lld\n", static_cast<long long>(t.groups));
  std::printf("groups consumed              %10lld\n",
              static_cast<long long>(json_int(r.summary, "groups_consumed")));
  std::printf("groups requeued / dropped    %10lld / %lld (%lld refused by the staleness gate)\n",
              static_cast<long long>(json_int(r.summary, "groups_requeued")),
              static_cast<long long>(json_int(r.summary, "groups_dropped")),
              static_cast<long long>(json_int(r.summary, "groups_stale_refused")));
  std::printf("staleness max / violations   %10lld / %lld\n",
              static_cast<long long>(r.max_staleness),
              static_cast<long long>(json_int(r.summary, "staleness_violations")));
  std::printf("wall time                    %10.3f s\n", r.wall);
  std::printf("dispatch rate                %10.0f groups/s, %.0f requests/s\n",
              t.groups / r.wall, t.requests / r.wall);
  std::printf("messages                     %10lld (generate %lld, score %lld, train+publish %lld, "
              "weights chunk+ack %lld)\n",
              static_cast<long long>(messages), static_cast<long long>(gen_msgs),
              static_cast<long long>(score_msgs), static_cast<long long>(train_msgs),
              static_cast<long long>(weight_msgs));
  std::printf("messages handled per second  %10.0f\n", messages / r.wall);
  std::printf("ideal (simulated work)       %10.3f s (%s)\n", ideal, bound);
  std::printf("overhead share of wall time  %10.3f (1 - ideal/wall)\n", overhead);
  std::printf("control-plane cost/message   %10.2f us ((wall - ideal) / messages)\n",
              messages > 0 ? (r.wall - ideal) / messages * 1e6 : 0.0);
  std::fflush(stdout);
}

int64_t max_staleness_of(const memory_sink& m) {
  int64_t worst = -1;
  for (auto& line : m.lines)
    worst = std::max(worst, json_int(line, "staleness_max"));
  return worst;
}

/// Waits for the worker's counters (forwarded by the collector to `self`).
caf::expected<sim_totals> await_report(caf::scoped_actor& self, caf::timespan timeout) {
  caf::expected<sim_totals> out = make_error(errc::timeout, "the sim worker sent no counters");
  self->receive(
    [&](sim_report_atom, int64_t n, int64_t requests, int64_t groups, int64_t tokens,
        int64_t chunks, int64_t acks, int64_t busy_ns, int64_t longest_ns) {
      sim_totals t;
      t.samplers = n, t.requests = requests, t.groups = groups, t.tokens = tokens;
      t.chunks = chunks, t.acks = acks;
      t.busy_max = caf::timespan{busy_ns}, t.longest = caf::timespan{longest_ns};
      out = t;
    },
    caf::after(timeout) >> [] {});
  return out;
}

/// Forwards the worker's report to the head's main thread and acknowledges it.
caf::behavior collector_actor(caf::event_based_actor* self, caf::actor observer) {
  return {
    [=](sim_report_atom a, int64_t n, int64_t r, int64_t g, int64_t t, int64_t c, int64_t k,
        int64_t b, int64_t l) {
      self->send(observer, a, n, r, g, t, c, k, b, l);
      return sim_report_atom::value;
    },
  };
}

int run_head(const control_options& o) {
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor self{sys};
  auto trainer = std::make_shared<sim_training_backend>(
    sim_training_settings{micros(o.learner_us), 64});
  broadcaster_settings bs;
  bs.ack_timeout = 30s;
  auto broadcaster = sys.spawn(weight_broadcaster_actor, bs);
  auto learner = sys.spawn<caf::detached>(learner_actor, grpo_config{}, trainer, broadcaster, learner_nccl{});
  auto reward = sys.spawn(reward_actor, reward_weights{});
  arithmetic_config ac;
  ac.seed = o.seed;
  std::shared_ptr<problem_source> problems{std::move(*arithmetic_task::make(ac))};
  auto metrics = std::make_shared<memory_sink>();
  controller_settings cs;
  cs.steps = o.steps;
  cs.groups_per_step = o.groups_per_step;
  cs.group_size = o.group_size;
  cs.max_staleness = o.eta;
  cs.seed = o.seed;
  cs.expected_samplers = o.samplers;
  cs.connect_timeout = secs(o.connect_s);
  cs.generate_timeout = 60s;
  cs.score_timeout = 30s;
  cs.train_timeout = 60s + micros(o.learner_us);
  controller_deps deps;
  deps.problems = problems;
  deps.metrics = metrics;
  deps.learner = learner;
  deps.broadcaster = broadcaster;
  deps.rewards = {reward};
  deps.observer = caf::actor_cast<caf::actor>(self);
  auto controller = sys.spawn(controller_actor, cs, deps);
  std::vector<caf::actor> local, helpers{learner, broadcaster, reward};
  std::unique_ptr<child_process> child;
  auto stop_all = [&] {
    caf::anon_send_exit(controller, caf::exit_reason::user_shutdown);
    for (auto& h : helpers)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    for (auto& h : local)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    if (child)
      child->stop(5000ms);
  };
  if (o.processes == 0) {
    local = spawn_samplers(sys, self, controller, o);
  } else {
    auto collector = sys.spawn(collector_actor, caf::actor_cast<caf::actor>(self));
    helpers.push_back(collector);
    auto port = sys.middleman().publish(controller, 0, "127.0.0.1", true);
    auto report_port = sys.middleman().publish(collector, 0, "127.0.0.1", true);
    if (!port || !report_port) {
      std::cerr << "bench control: cannot publish on 127.0.0.1\n";
      stop_all();
      return 1;
    }
    auto argv = std::vector<std::string>{self_executable_path(), "sim-worker", "--head",
                                         "127.0.0.1:" + std::to_string(*port), "--report",
                                         "127.0.0.1:" + std::to_string(*report_port)};
    auto flags = sampler_flags(o);
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto c = os_process_launcher{}.launch(argv);
    if (!c) {
      std::cerr << "bench control: " << describe(c.error()) << "\n";
      stop_all();
      return 1;
    }
    child = std::move(*c);
  }
  auto alive = [&] { return !child || child->running(); };
  if (!wait_for_join(self, controller, o.samplers, o.connect_s, alive)) {
    std::cerr << "bench control: not all " << o.samplers << " samplers joined within "
              << o.connect_s << " s\n";
    stop_all();
    return 1;
  }
  auto t0 = clock_type::now();
  head_run r;
  bool done = false;
  self->receive(
    [&](finished_atom, bool ok, const std::string& summary) {
      r.ok = ok, r.summary = summary, done = true;
    },
    caf::after(secs(o.deadline_s)) >> [] {});
  r.wall = since(t0);
  if (!done || !r.ok) {
    std::cerr << "bench control: " << (done ? "run failed: " + r.summary
                                            : "run missed its deadline (--deadline-s)")
              << "\n";
    stop_all();
    return 1;
  }
  r.max_staleness = max_staleness_of(*metrics);
  auto totals = o.processes == 0 ? collect_totals(self, local, 10s) : await_report(self, 15s);
  stop_all();
  if (!totals) {
    std::cerr << "bench control: " << describe(totals.error()) << "\n";
    return 1;
  }
  r.totals = *totals;
  print_report(o, r);
  return 0;
}

// -- worker -------------------------------------------------------------------

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested = true; }

caf::expected<caf::actor> connect_to(caf::actor_system& sys, const std::string& addr,
                                     double timeout_s) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    return make_error(errc::invalid_argument, "expected HOST:PORT, got " + addr);
  uint16_t port = 0;
  try {
    port = static_cast<uint16_t>(std::stoi(addr.substr(colon + 1)));
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "bad port in " + addr);
  }
  auto t0 = clock_type::now();
  for (;;) {
    auto h = sys.middleman().remote_actor(addr.substr(0, colon), port);
    if (h)
      return *h;
    if (since(t0) > timeout_s)
      return make_error(errc::timeout, "cannot reach " + addr + ": " + sys.render(h.error()));
    std::this_thread::sleep_for(200ms); // the head may still be starting
  }
}

/// Serves until the controller is gone (the run ended), SIGTERM, or the deadline.
bool serve_until_head_done(caf::scoped_actor& self, const caf::actor& head, double deadline_s) {
  self->monitor(head);
  auto t0 = clock_type::now();
  bool head_done = false;
  while (!head_done && !stop_requested && since(t0) < deadline_s)
    self->receive([&](caf::down_msg& dm) { head_done = dm.source == head.address(); },
                  caf::after(250ms) >> [] {});
  return head_done;
}

} // namespace

int bench_control_command(const args& a) {
  if (has_flag(a, "--help")) {
    std::cout << usage;
    return 0;
  }
  auto o = parse_options(a);
  if (!o) {
    std::cerr << describe(o.error()) << "\n" << usage;
    return 2;
  }
  std::printf("bench control: %d sim samplers, %d steps x %d groups x %d completions, "
              "%lld us/token, tokens %d..%d, learner step %lld us, %u hardware threads\n",
              o->samplers, o->steps, o->groups_per_step, o->group_size,
              static_cast<long long>(o->token_us), o->lengths.min_tokens, o->lengths.max_tokens,
              static_cast<long long>(o->learner_us), std::thread::hardware_concurrency());
  std::fflush(stdout);
  return run_head(*o);
}

int sim_worker_command(const args& a) {
  auto head_addr = flag_value(a, "--head", "");
  auto report_addr = flag_value(a, "--report", "");
  auto o = parse_options(a);
  if (head_addr.empty() || report_addr.empty() || !o) {
    std::cerr << "usage: tandem sim-worker --head HOST:PORT --report HOST:PORT --samplers N ...\n"
                 "(started by `tandem bench control --processes 1`)\n";
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto head = connect_to(sys, head_addr, o->connect_s);
  auto report = head ? connect_to(sys, report_addr, o->connect_s) : head;
  if (!head || !report) {
    std::cerr << "sim-worker: " << describe(head ? report.error() : head.error()) << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  auto samplers = spawn_samplers(sys, self, *head, *o);
  auto finished = serve_until_head_done(self, *head, o->deadline_s + o->connect_s);
  int code = finished ? 0 : 1;
  if (finished) {
    auto t = collect_totals(self, samplers, 10s);
    if (!t) {
      std::cerr << "sim-worker: " << describe(t.error()) << "\n";
      code = 1;
    } else {
      // A request, so the report is delivered before this process exits.
      self->request(*report, 10s, sim_report_atom::value, t->samplers, t->requests, t->groups,
                    t->tokens, t->chunks, t->acks, static_cast<int64_t>(t->busy_max.count()),
                    static_cast<int64_t>(t->longest.count()))
        .receive([](sim_report_atom) {},
                 [&](caf::error& err) {
                   std::cerr << "sim-worker: report not delivered: " << sys.render(err) << "\n";
                   code = 1;
                 });
    }
  }
  for (auto& s : samplers)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  return code;
}

} // namespace tandem
