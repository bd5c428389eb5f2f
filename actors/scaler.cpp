#include "actors/scaler.hpp"

#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"
#include "runtime/messages.hpp"

namespace tandem {

namespace {

caf::result<std::string> start_workers(scaler_actor_t* self, const std::string& role,
                                       int32_t count) {
  auto& st = self->state;
  if (st.head.empty())
    return make_error(errc::not_ready, "scaler: the head address is not known yet");
  std::string names;
  for (int32_t i = 0; i < count; ++i) {
    auto name = (role == "reward" ? "scaled-reward-" : "scaled-") + std::to_string(st.started++);
    auto c = st.launcher->launch({st.exe, "worker", "--config", st.config, "--head", st.head,
                                  "--role", role, "--name", name});
    if (!c)
      return c.error();
    st.children.push_back({name, std::move(*c)});
    names += (names.empty() ? "" : ", ") + name;
  }
  return "starting " + std::to_string(count) + " " + role + " process(es): " + names;
}

// Exited children are reaped (running() waits for them) and forgotten.
void reap(scaler_actor_t* self) {
  auto& cs = self->state.children;
  for (auto it = cs.begin(); it != cs.end();) {
    if (it->process->running()) {
      ++it;
      continue;
    }
    std::cerr << "[scaler] " << it->name << " (pid " << it->process->pid() << ") exited with code "
              << it->process->exit_code() << "\n";
    it = cs.erase(it);
  }
}

} // namespace

caf::behavior scaler_actor(scaler_actor_t* self, std::shared_ptr<process_launcher> launcher,
                           std::string exe, std::string config) {
  auto& st = self->state;
  st.launcher = std::move(launcher);
  st.exe = std::move(exe);
  st.config = std::move(config);
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) {
      reap(self);
      self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
    },
    [=](publish_atom, const std::string& head) { self->state.head = head; },
    [=](scale_atom, const std::string& role, int32_t count) -> caf::result<std::string> {
      if ((role != "sampler" && role != "reward") || count < 1)
        return make_error(errc::invalid_argument, "scaler starts samplers and rewards only");
      return start_workers(self, role, count);
    },
  };
}

} // namespace tandem
