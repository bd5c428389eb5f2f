#include "runtime/process_launcher.hpp"

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/error.hpp"

extern char** environ;

namespace tandem {

namespace {

class os_child : public child_process {
public:
  explicit os_child(pid_t pid) : pid_(pid) {}
  ~os_child() override { stop(std::chrono::milliseconds{2000}); }

  int pid() const override { return pid_; }

  bool running() override {
    if (code_ >= 0)
      return false;
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      record(status);
      return false;
    }
    return r == 0;
  }

  int exit_code() const override { return code_; }

  void stop(std::chrono::milliseconds grace) override {
    if (!running())
      return;
    ::kill(pid_, SIGTERM);
    if (wait_exit(*this, grace))
      return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_)
      record(status);
  }

private:
  void record(int status) {
    if (WIFEXITED(status))
      code_ = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      code_ = 128 + WTERMSIG(status);
    else
      code_ = 255;
  }
  pid_t pid_;
  int code_ = -1;
};

} // namespace

caf::expected<std::unique_ptr<child_process>>
os_process_launcher::launch(const std::vector<std::string>& argv) {
  if (argv.empty())
    return make_error(errc::invalid_argument, "launch: empty argv");
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child's environment is ours plus TANDEM_PARENT_PID, so a child that
  // ties its life to ours (PR_SET_PDEATHSIG) can tell whether we died before
  // it asked (the signal is not sent for a death that came first).
  std::vector<std::string> env_text{"TANDEM_PARENT_PID=" + std::to_string(::getpid())};
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "TANDEM_PARENT_PID=", 18) != 0)
      env_text.emplace_back(*e);
  std::vector<char*> env;
  for (auto& e : env_text)
    env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  pid_t pid = 0;
  // posix_spawnp: a bare name ("python3") is looked up in PATH, a path is used as is.
  auto rc = ::posix_spawnp(&pid, argv[0].c_str(), nullptr, nullptr, args.data(), env.data());
  if (rc != 0)
    return make_error(errc::process_failure,
                      "cannot start " + argv[0] + ": " + std::strerror(rc));
  return std::unique_ptr<child_process>{new os_child(pid)};
}

bool wait_exit(child_process& child, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (child.running()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return true;
}

std::string self_executable_path() {
  char buf[PATH_MAX];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return {};
  buf[n] = '\0';
  // The file was replaced while we run (a rebuild, an upgrade): the path now
  // names another binary, or none. /proc/self/exe still executes ours in a
  // child (it resolves in the child, which runs our image until exec).
  std::string path = buf;
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size()
      && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0)
    return "/proc/self/exe";
  return path;
}

} // namespace tandem
