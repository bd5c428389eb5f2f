// node_command.cpp: `tandem node CONFIG --node NAME` — one machine's share of
// a multi-machine topology (for srun, ssh or a container entrypoint).
//
// Starts one `tandem worker --process P` per process the cluster places on
// NAME, pointing them at the head's control endpoint, and supervises them:
// it returns when all have exited (exit code: 0 if all exited 0), and on
// SIGINT/SIGTERM it stops them (SIGTERM, SIGKILL after 5 s) — no orphans.
// A head that is killed and restarted on the same control endpoint keeps
// them: each worker rejoins it within timeouts.rejoin_s (worker_command.cpp)
// and exits 0 once a head finishes the run.
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "app/commands.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/process_launcher.hpp"
#include "topology/run_loader.hpp"

namespace tandem {

namespace {

std::atomic<bool> node_stop{false};

void on_node_signal(int) { node_stop = true; }

int supervise(std::vector<std::unique_ptr<child_process>>& kids) {
  int worst = 0;
  while (true) {
    size_t running = 0;
    for (auto& k : kids)
      running += k->running() ? 1 : 0;
    if (running == 0)
      break;
    if (node_stop) {
      for (auto& k : kids)
        k->stop(std::chrono::milliseconds{5000});
      break;
    }
    // Polling children's exit status; waitpid has no timeout variant.
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  for (auto& k : kids)
    worst = std::max(worst, k->exit_code());
  return worst;
}

} // namespace

int node_command(const args& a) {
  command_line cl("tandem node CONFIG --node NAME",
                  "start and supervise the worker processes the plan places on node NAME");
  cl.positional("CONFIG", "the run file (with a cluster: section)")
    .text("--node", "NAME", "this machine's node name in the cluster");
  if (auto code = parse_or_exit(cl, a))
    return *code;
  auto node = cl.value("--node");
  const auto& path = cl.positionals()[0];
  auto run = load_run(path);
  for (auto& i : run.issues)
    std::cerr << i.to_string() << "\n";
  if (!run.ok())
    return 2;
  if (node.empty() || !run.plan.declared) {
    std::cerr << (node.empty() ? "--node is required" : path + ": has no cluster: section; use tandem run") << "\n";
    return 2;
  }
  if (node == run.plan.head_node) {
    std::cerr << "node " << node << " hosts the head: start it with tandem run " << path << "\n";
    return 2;
  }
  auto head = run.plan.bind_host + ":" + std::to_string(run.plan.control_port);
  os_process_launcher launcher;
  std::vector<std::unique_ptr<child_process>> kids;
  for (auto* p : run.plan.workers_on(node)) {
    auto c = launcher.launch(worker_argv(self_executable_path(), path, head, p->name));
    if (!c) {
      std::cerr << describe(c.error()) << "\n";
      return 1;
    }
    kids.push_back(std::move(*c));
  }
  if (kids.empty()) {
    std::cerr << "the cluster places no process on node " << node << "\n";
    return 2;
  }
  std::cerr << "node " << node << ": " << kids.size() << " worker process(es) for head " << head
            << "\n";
  std::signal(SIGINT, on_node_signal);
  std::signal(SIGTERM, on_node_signal);
  return supervise(kids);
}

} // namespace tandem
