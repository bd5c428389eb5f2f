// worker_command.cpp: `tandem worker` — one sampler or reward actor in its
// own OS process, joined to a head's controller through CAF's middleman.
//
// Lifecycle: connect (retrying until timeouts.connect_s) → spawn the actor →
// announce it to the controller → run until the head goes away, the actor
// dies or SIGTERM/SIGINT arrives. Exit 0 when the head finished normally.
#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/reward.hpp"
#include "app/commands.hpp"
#include "app/pipeline.hpp"
#include "runtime/error.hpp"
#include "topology/config_loader.hpp"

namespace tandem {

namespace {

std::atomic<bool> stop_requested{false};

void on_signal(int) { stop_requested = true; }

caf::expected<caf::actor> connect_head(caf::actor_system& sys, const std::string& head,
                                       double timeout_s) {
  auto colon = head.rfind(':');
  if (colon == std::string::npos)
    return make_error(errc::invalid_argument, "--head must be HOST:PORT, got " + head);
  auto host = head.substr(0, colon);
  uint16_t port = 0;
  try {
    port = static_cast<uint16_t>(std::stoi(head.substr(colon + 1)));
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "bad port in --head " + head);
  }
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  for (;;) {
    auto h = sys.middleman().remote_actor(host, port);
    if (h)
      return *h;
    if (std::chrono::steady_clock::now() > deadline)
      return make_error(errc::timeout, "cannot reach head " + head + ": " + sys.render(h.error()));
    // The head may still be starting: retry a few times per second.
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
}

int serve(caf::scoped_actor& self, const caf::actor& head, const caf::actor& mine) {
  self->monitor(head);
  self->monitor(mine);
  int code = -1;
  while (code < 0) {
    self->receive(
      [&](caf::down_msg& dm) {
        code = dm.source == head.address() ? 0 : 1;
        if (code == 1)
          std::cerr << "worker: actor died: " << self->system().render(dm.reason) << "\n";
      },
      caf::after(std::chrono::milliseconds{250}) >> [&] {
        if (stop_requested)
          code = 0;
      });
  }
  self->send_exit(mine, caf::exit_reason::user_shutdown);
  return code;
}

} // namespace

int worker_command(const args& a) {
  auto path = flag_value(a, "--config", "");
  auto head_addr = flag_value(a, "--head", "");
  auto role = flag_value(a, "--role", "sampler");
  auto name = flag_value(a, "--name", role);
  if (path.empty() || head_addr.empty() || (role != "sampler" && role != "reward")) {
    std::cerr << "usage: tandem worker --config CFG --head HOST:PORT --role sampler|reward "
                 "--name NAME\n";
    return 2;
  }
  auto cfg = load_run_config_or_error(path);
  if (!cfg) {
    std::cerr << describe(cfg.error()) << "\n";
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto head = connect_head(sys, head_addr, cfg->timeouts.connect_s);
  if (!head) {
    std::cerr << "worker " << name << ": " << describe(head.error()) << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  caf::actor mine;
  if (role == "sampler") {
    auto s = spawn_torch_sampler(sys, *cfg, name);
    if (!s) {
      std::cerr << "worker " << name << ": " << describe(s.error()) << "\n";
      return 1;
    }
    mine = *s;
    self->send(*head, sampler_hello{name, mine, cfg->sampler.groups_per_request});
  } else {
    mine = sys.spawn(reward_actor, cfg->reward.weights);
    self->send(*head, join_atom::value, mine);
  }
  std::cerr << "worker " << name << " (" << role << ") joined " << head_addr << "\n";
  return serve(self, *head, mine);
}

} // namespace tandem
