// worker_command.cpp: `tandem worker` — one sampler or reward actor in its
// own OS process, joined to a head's controller through CAF's middleman.
//
// Lifecycle: connect (retrying until timeouts.connect_s) → spawn the actor →
// announce it to the controller → run until the head goes away, the actor
// dies or SIGTERM/SIGINT arrives. Exit 0 when the head finished normally.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <sys/prctl.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/reward.hpp"
#include "app/commands.hpp"
#include "app/cluster_launch.hpp"
#include "app/data_plane.hpp"
#include "app/head_link.hpp"
#include "app/pipeline.hpp"
#include "runtime/error.hpp"
#include "topology/cluster_loader.hpp"
#include "topology/config_loader.hpp"

namespace tandem {

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested = true; }

/// Runs until the head goes away (0), all of this process's actors died (1)
/// or a stop signal arrives (0).
int serve(caf::scoped_actor& self, const caf::actor& head, const std::vector<caf::actor>& mine) {
  self->monitor(head);
  for (auto& m : mine)
    self->monitor(m);
  size_t alive = mine.size();
  bool failed = false;
  int code = -1;
  while (code < 0) {
    self->receive(
      [&](caf::down_msg& dm) {
        if (dm.source == head.address()) {
          code = 0;
          return;
        }
        // user_shutdown: the controller retired this sampler (scale-down).
        bool retired = dm.reason == caf::exit_reason::user_shutdown;
        if (!retired)
          std::cerr << "worker: actor died: " << self->system().render(dm.reason) << "\n";
        failed |= !retired;
        if (--alive == 0)
          code = failed ? 1 : 0;
      },
      caf::after(std::chrono::milliseconds{250}) >> [&] {
        if (stop_requested)
          code = 0;
      });
  }
  for (auto& m : mine)
    self->send_exit(m, caf::exit_reason::user_shutdown);
  return code;
}

struct worker_request {
  std::string config, head, process, role, name;
};

/// The head's ZeroMQ endpoints (empty strings: that flow stays on CAF).
caf::expected<data_plane_info> ask_data_plane(caf::scoped_actor& self, const caf::actor& head,
                                              std::chrono::milliseconds timeout) {
  caf::expected<data_plane_info> out{data_plane_info{}};
  self->request(head, timeout, data_plane_atom::value)
    .receive([&](data_plane_info& info) { out = std::move(info); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

/// This process's end of the data plane: a transport context when any flow
/// is on ZeroMQ.
struct worker_plane {
  data_plane_info info;
  std::shared_ptr<transport::transport_context> ctx;
};

caf::expected<std::shared_ptr<rollout_outbox>> outbox_for(const worker_plane& wp,
                                                          const std::string& name) {
  if (wp.info.rollouts.empty())
    return std::shared_ptr<rollout_outbox>{};
  return connect_outbox(wp.ctx, wp.info.rollouts, name);
}

/// The actors this worker hosts: a cluster process's placements, or one
/// actor of `role` (without a cluster section).
caf::expected<std::vector<caf::actor>>
spawn_hosted(caf::actor_system& sys, caf::scoped_actor& self, run_config cfg,
             const caf::actor& head, const worker_request& rq, const worker_plane& wp) {
  int32_t samplers = rq.role == "sampler" ? 1 : 0;
  int32_t rewards = rq.role == "reward" ? 1 : 0;
  std::string prefix = rq.name;
  std::vector<std::string> devices; // per sampler instance, "" = the config's device
  if (!rq.process.empty()) {
    auto c = parse_cluster_file(rq.config);
    auto ps = plan_processes(c.cluster);
    auto* p = find_process(ps, rq.process);
    if (!c.ok() || p == nullptr)
      return make_error(errc::invalid_config, "no process '" + rq.process + "' in " + rq.config);
    samplers = p->count(topology::SAMPLER);
    rewards = p->count(topology::REWARD);
    if (!c.cluster.transports().weights().empty())
      cfg.weights_transport = c.cluster.transports().weights();
    cfg.sampler.threads = p->threads(topology::SAMPLER);
    for (int32_t i = 0; i < samplers; ++i)
      devices.push_back(p->device(topology::SAMPLER, i));
    prefix = rq.process;
  }
  std::vector<caf::actor> mine;
  std::vector<sampler_hello> hellos;
  for (int32_t i = 0; i < samplers; ++i) {
    auto name = samplers == 1 && rq.process.empty() ? prefix : prefix + "/sampler-" + std::to_string(i);
    auto outbox = outbox_for(wp, name);
    if (!outbox)
      return outbox.error();
    auto placed = cfg;
    if (i < static_cast<int32_t>(devices.size()) && !devices[i].empty())
      placed.sampler.device = devices[i]; // the placement's GPU
    auto s = spawn_sampler(sys, placed, name, *outbox);
    if (!s)
      return s.error();
    mine.push_back(*s);
    hellos.push_back({name, *s, cfg.sampler.groups_per_request, !wp.info.weights.empty()});
  }
  if (!wp.info.weights.empty() && !mine.empty()) {
    auto f = spawn_weights_fetcher(sys, wp.ctx, wp.info.weights, prefix, mine);
    if (!f)
      return f.error();
  }
  for (auto& h : hellos)
    self->send(head, std::move(h));
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  for (int32_t i = 0; i < rewards; ++i) {
    mine.push_back(sys.spawn(tokenized_reward_actor, cfg.reward.weights, *tok));
    self->send(head, join_atom::value, mine.back());
  }
  return mine;
}

} // namespace

int worker_command(const args& a) {
  worker_request rq{flag_value(a, "--config", ""), flag_value(a, "--head", ""),
                    flag_value(a, "--process", ""), flag_value(a, "--role", "sampler"), ""};
  rq.name = flag_value(a, "--name", rq.role);
  if (rq.config.empty() || rq.head.empty() || (rq.role != "sampler" && rq.role != "reward")) {
    std::cerr << "usage: tandem worker --config CFG --head HOST:PORT "
                 "(--process NAME | --role sampler|reward --name NAME)\n";
    return 2;
  }
  // A worker never outlives the process that started it.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  auto cfg = load_run_config_or_error(rq.config);
  if (!cfg) {
    std::cerr << describe(cfg.error()) << "\n";
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto cl = parse_cluster_file(rq.config);
  auto secret = load_run_secret(cl.cluster);
  if (!secret) {
    std::cerr << "worker " << rq.name << ": " << describe(secret.error()) << "\n";
    return 2;
  }
  auto head = join_head(sys, rq.head, rq.process.empty() ? rq.name : rq.process, *secret,
                        std::chrono::milliseconds(static_cast<int64_t>(cfg->timeouts.connect_s * 1000)));
  if (!head) {
    std::cerr << "worker " << rq.name << ": " << describe(head.error()) << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  auto connect_timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg->timeouts.connect_s * 1000));
  worker_plane wp;
  auto info = ask_data_plane(self, *head, connect_timeout);
  if (!info) {
    std::cerr << "worker " << rq.name << ": no data-plane endpoints: " << describe(info.error()) << "\n";
    return 1;
  }
  wp.info = std::move(*info);
  if (!wp.info.rollouts.empty() || !wp.info.weights.empty()) {
    auto ctx = make_transport_context(*secret);
    if (!ctx) {
      std::cerr << "worker " << rq.name << ": " << describe(ctx.error()) << "\n";
      return 1;
    }
    wp.ctx = *ctx;
  }
  auto mine = spawn_hosted(sys, self, *cfg, *head, rq, wp);
  if (!mine) {
    std::cerr << "worker " << rq.name << ": " << describe(mine.error()) << "\n";
    return 1;
  }
  std::cerr << "worker " << (rq.process.empty() ? rq.name : rq.process) << " joined " << rq.head
            << " with " << mine->size() << " actor(s)\n";
  auto code = serve(self, *head, *mine);
  // Nothing is left to save here. CAF's teardown may wait indefinitely for
  // references the middleman keeps for a head that vanished, so the worker
  // leaves directly instead of blocking its supervisor.
  std::cerr.flush();
  std::_Exit(code);
}

} // namespace tandem
