// pipe_process.cpp: spawn_line_process (tasks/command_scorer.hpp) — a child
// with stdin/stdout on a socket pair (send() with MSG_NOSIGNAL: a dead
// child is an error, not a SIGPIPE) and stderr on a pipe, read with poll().
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/error.hpp"
#include "tasks/command_scorer.hpp"

extern char** environ;

namespace tandem {
namespace {

constexpr size_t max_line = size_t{1} << 20;

int remaining_ms(steady_deadline until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    until - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

class pipe_process : public line_process {
public:
  pipe_process(pid_t pid, int io, int err, std::function<void(const std::string&)> log)
    : pid_(pid), io_(io), err_(err), log_(std::move(log)) {
  }
  ~pipe_process() override { kill(); }

  caf::error write_line(const std::string& line, steady_deadline until) override {
    std::string data = line + "\n";
    size_t done = 0;
    while (done < data.size()) {
      // Try first: the socket buffer has room almost always, and a poll()
      // per line would double the system calls.
      auto n = ::send(io_, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return make_error(errc::process_failure,
                          "reward command: writing failed (" + std::string(strerror(errno))
                            + "): it exited?");
      // Full: wait for room, and keep reading stderr meanwhile (a program
      // blocked on a full stderr pipe would never read its stdin).
      pollfd p[2] = {{io_, POLLOUT, 0}, {err_, POLLIN, 0}};
      int r = ::poll(p, err_ >= 0 ? 2 : 1, remaining_ms(until));
      if (r == 0)
        return make_error(errc::timeout, "reward command: stdin full past the deadline");
      if (r > 0 && err_ >= 0 && p[1].revents)
        drain_stderr();
    }
    return {};
  }

  caf::expected<std::string> read_line(steady_deadline until) override {
    for (;;) {
      auto nl = out_.find('\n');
      if (nl != std::string::npos) {
        auto line = out_.substr(0, nl);
        out_.erase(0, nl + 1);
        return line;
      }
      if (out_.size() > max_line)
        return make_error(errc::malformed_message, "reward command: a line over 1 MiB");
      pollfd p[2] = {{io_, POLLIN, 0}, {err_, POLLIN, 0}};
      int r = ::poll(p, err_ >= 0 ? 2 : 1, remaining_ms(until));
      if (r == 0)
        return make_error(errc::timeout, "reward command: no reply before the deadline");
      if (r < 0 && errno == EINTR)
        continue;
      if (err_ >= 0 && p[1].revents)
        drain_stderr();
      if (p[0].revents && !read_into(io_, out_))
        return make_error(errc::process_failure, "reward command: it closed its stdout"
                                                   + exit_text());
    }
  }

  void kill() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0); // SIGKILL cannot be caught: this returns at once
      pid_ = -1;
    }
    if (err_ >= 0)
      drain_stderr();
    close_fd(io_);
    close_fd(err_);
  }

private:
  static void close_fd(int& fd) {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }

  // Non-blocking read; false at end of file or on error.
  static bool read_into(int fd, std::string& buf) {
    char tmp[4096];
    auto n = ::read(fd, tmp, sizeof(tmp));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return true;
    if (n <= 0)
      return false;
    buf.append(tmp, static_cast<size_t>(n));
    return true;
  }

  void drain_stderr() {
    bool open = read_into(err_, errbuf_);
    for (auto nl = errbuf_.find('\n'); nl != std::string::npos; nl = errbuf_.find('\n')) {
      log_(errbuf_.substr(0, nl));
      errbuf_.erase(0, nl + 1);
    }
    if (!open || errbuf_.size() > max_line) {
      if (!errbuf_.empty())
        log_(errbuf_);
      errbuf_.clear();
      if (!open)
        close_fd(err_);
    }
  }

  std::string exit_text() {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status))
        return " (exit code " + std::to_string(WEXITSTATUS(status)) + ")";
      if (WIFSIGNALED(status))
        return " (killed by signal " + std::to_string(WTERMSIG(status)) + ")";
    }
    return "";
  }

  pid_t pid_;
  int io_;
  int err_;
  std::function<void(const std::string&)> log_;
  std::string out_;
  std::string errbuf_;
};

} // namespace

caf::expected<std::unique_ptr<line_process>>
spawn_line_process(const std::vector<std::string>& argv,
                   std::function<void(const std::string&)> log) {
  if (argv.empty())
    return make_error(errc::invalid_argument, "reward.command is empty");
  int sv[2];
  int ep[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return make_error(errc::process_failure, "socketpair: " + std::string(strerror(errno)));
  if (::pipe2(ep, O_CLOEXEC) != 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    return make_error(errc::process_failure, "pipe: " + std::string(strerror(errno)));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
  posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(sv[1]);
  ::close(ep[1]);
  if (rc != 0) {
    ::close(sv[0]);
    ::close(ep[0]);
    return make_error(errc::process_failure,
                      "reward.command: cannot start '" + argv[0] + "': " + strerror(rc));
  }
  ::fcntl(sv[0], F_SETFL, O_NONBLOCK);
  ::fcntl(ep[0], F_SETFL, O_NONBLOCK);
  return std::unique_ptr<line_process>(new pipe_process(pid, sv[0], ep[0], std::move(log)));
}

} // namespace tandem
