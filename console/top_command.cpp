// top_command.cpp: `tandem top`. Two parts around the pure view
// (console/top_view.hpp): a poller thread that fetches the console's JSON
// endpoints every --interval (each request with 2 s connect and read
// deadlines, so a head that hangs or restarts only ages the data), and the
// terminal loop (alternate screen, raw mode, poll() on the keyboard, the
// poller's wake-up pipe and a signal pipe). The terminal is restored on every
// way out: q, Ctrl-C (a key in raw mode), SIGINT/SIGTERM/SIGHUP (through the
// signal pipe, so the loop ends normally) and any early return (RAII).
#include "console/top_command.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <httplib.h>

#include "console/top_keys.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

using top_clock = std::chrono::steady_clock;

/// A head that answers nothing within this is reported (exit 1).
constexpr auto first_contact_deadline = std::chrono::seconds{10};
/// Each request's connect and read deadline.
constexpr time_t request_timeout_s = 2;

// --- where the console is ------------------------------------------------------

struct console_target {
  std::string host;
  int port = 0;
  std::string url; // http://HOST:PORT/
};

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// HOST:PORT, http://HOST:PORT or http://HOST:PORT/ (a path is ignored);
// an IPv6 host is bracketed.
std::optional<console_target> parse_address(std::string text) {
  text = trim(text);
  if (text.rfind("http://", 0) == 0)
    text = text.substr(7);
  else if (text.find("://") != std::string::npos)
    return std::nullopt; // the console speaks plain http
  text = text.substr(0, text.find('/'));
  console_target t;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || text.compare(close + 1, 1, ":") != 0)
      return std::nullopt;
    t.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon)
      return std::nullopt;
    t.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto p = parse_port(port);
  if (t.host.empty() || !p)
    return std::nullopt;
  t.port = static_cast<int>(*p);
  bool v6 = t.host.find(':') != std::string::npos;
  t.url = "http://" + (v6 ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port) + "/";
  return t;
}

// A run directory (its console.url) or an address. invalid_argument when the
// argument is neither (exit 2); not_found / invalid_config for a run
// directory whose console.url is missing or wrong (exit 1).
caf::expected<console_target> resolve_target(const std::string& arg) {
  std::error_code ec;
  if (!std::filesystem::is_directory(arg, ec)) {
    if (auto t = parse_address(arg))
      return *t;
    return make_error(errc::invalid_argument,
                      "HEAD_OR_RUN_DIR: '" + arg
                        + "' is neither a run directory nor HOST:PORT or http://HOST:PORT/");
  }
  auto file = (std::filesystem::path(arg) / "console.url").string();
  std::ifstream in(file);
  if (!in)
    return make_error(errc::not_found, file + " is missing: the run's head has not started "
                                              "its console (or the run is over)");
  std::stringstream text;
  text << in.rdbuf();
  if (auto t = parse_address(text.str()))
    return *t;
  return make_error(errc::invalid_config,
                    file + ": '" + trim(text.str()) + "' is not http://HOST:PORT/");
}

// --- fetching -----------------------------------------------------------------

std::string describe_http(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "cannot connect";
    case httplib::Error::ConnectionTimeout: return "no connection within 2 s";
    case httplib::Error::Read: return "no reply within 2 s";
    case httplib::Error::Canceled: return "stopped";
    default: return httplib::to_string(e);
  }
}

// One HTTP client for the console; stop() (from another thread) cuts a
// request that is under way.
class console_client {
public:
  console_client(const console_target& t, const std::string& token) : cli_(t.host, t.port) {
    cli_.set_connection_timeout(request_timeout_s, 0);
    cli_.set_read_timeout(request_timeout_s, 0);
    cli_.set_write_timeout(request_timeout_s, 0);
    if (!token.empty())
      cli_.set_bearer_token_auth(token);
  }

  caf::expected<std::string> get(const std::string& path) {
    auto res = cli_.Get(path);
    if (!res)
      return make_error(errc::io_failure, "GET " + path + ": " + describe_http(res.error()));
    if (res->status == 401 || res->status == 403)
      return make_error(errc::io_failure,
                        "GET " + path + ": HTTP " + std::to_string(res->status)
                          + " (the console wants its token: --token or TANDEM_CONSOLE_TOKEN)");
    if (res->status != 200)
      return make_error(errc::io_failure,
                        "GET " + path + ": HTTP " + std::to_string(res->status));
    return std::move(res->body);
  }

  void stop() { cli_.stop(); }

private:
  httplib::Client cli_;
};

// Refreshes a model every `interval` on its own thread and wakes the
// terminal loop through `wake_fd` after each refresh.
//
// States: running (fetch, publish, wait `interval` or until stopped) ->
// stopped (stop(): flag, wake, cut the request under way, join). A stopping
// poller sends no further request; a connect under way still takes up to its
// 2 s deadline, so stop() returns within about 2 s.
class poller {
public:
  poller(const console_target& t, const std::string& token, std::chrono::milliseconds interval,
         int wake_fd)
    : client_(t, token), interval_(interval), wake_fd_(wake_fd) {
    model_.source = t.url;
    thread_ = std::thread([this] { loop(); });
  }
  ~poller() { stop(); }

  void stop() {
    {
      std::lock_guard<std::mutex> guard(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    client_.stop();
    if (thread_.joinable())
      thread_.join();
  }

  /// The latest model and when it was last refreshed successfully.
  std::pair<top_model, top_clock::time_point> latest() const {
    std::lock_guard<std::mutex> guard(mu_);
    return {model_, last_ok_};
  }

private:
  void loop() {
    top_model m = latest().first;
    auto fetch = [this](const std::string& path) -> caf::expected<std::string> {
      if (stopping_)
        return make_error(errc::io_failure, "GET " + path + ": stopped");
      return client_.get(path);
    };
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      lock.unlock();
      auto err = refresh_model(m, fetch);
      lock.lock();
      model_ = m;
      if (!err)
        last_ok_ = top_clock::now();
      char b = 1;
      [[maybe_unused]] auto n = ::write(wake_fd_, &b, 1); // full pipe: a wake-up is pending
      wake_.wait_for(lock, interval_, [this] { return stopping_.load(); });
    }
  }

  console_client client_;
  std::chrono::milliseconds interval_;
  int wake_fd_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false}; // written under mu_ (for wake_), read without
  top_model model_;
  top_clock::time_point last_ok_{};
  std::thread thread_;
};

// --- the terminal ----------------------------------------------------------------

int signal_fd = -1; // the write end of the signal pipe, for the handler

extern "C" void on_signal(int sig) {
  int saved = errno;
  auto b = static_cast<unsigned char>(sig);
  [[maybe_unused]] auto n = ::write(signal_fd, &b, 1);
  errno = saved;
}

// A nonblocking pipe; both ends close with the owner.
struct pipe_pair {
  int fds[2] = {-1, -1};
  pipe_pair() {
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
      fds[0] = fds[1] = -1;
  }
  ~pipe_pair() {
    for (int fd : fds)
      if (fd >= 0)
        ::close(fd);
  }
  bool ok() const { return fds[0] >= 0; }
  void drain(std::string* into = nullptr) const {
    char buf[256];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
      if (into)
        into->append(buf, static_cast<size_t>(n));
  }
};

void write_all(const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    auto n = ::write(STDOUT_FILENO, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += static_cast<size_t>(n);
  }
}

// Raw mode, the alternate screen and the signal handlers, undone by the
// destructor.
class terminal_session {
public:
  static constexpr int signals[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP};

  bool open() {
    if (!sig_.ok() || ::tcgetattr(STDIN_FILENO, &saved_) != 0)
      return false;
    auto raw = saved_;
    ::cfmakeraw(&raw);
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0)
      return false;
    raw_ = true;
    signal_fd = sig_.fds[1];
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < std::size(signals); ++i)
      ::sigaction(signals[i], &sa, &old_[i]);
    write_all("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J"); // alternate screen, no cursor
    return true;
  }

  ~terminal_session() {
    if (!raw_)
      return;
    write_all("\x1b[0m\x1b[?25h\x1b[?1049l");
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    for (size_t i = 0; i < std::size(signals); ++i)
      ::sigaction(signals[i], &old_[i], nullptr);
    signal_fd = -1;
  }

  /// Columns and rows (80x24 when the terminal does not say).
  static std::pair<int, int> size() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0)
      return {ws.ws_col, ws.ws_row};
    return {80, 24};
  }

  const pipe_pair& signal_pipe() const { return sig_; }

private:
  pipe_pair sig_;
  termios saved_{};
  bool raw_ = false;
  struct sigaction old_[std::size(signals)] {};
};

void draw(const std::vector<std::string>& lines) {
  std::string out = "\x1b[H";
  for (size_t i = 0; i < lines.size(); ++i) {
    out += lines[i];
    out += "\x1b[K";
    if (i + 1 < lines.size())
      out += "\r\n";
  }
  write_all(out + "\x1b[J");
}

// The terminal loop. Members are destroyed in reverse order: the terminal
// is restored first, then the poller stops (up to a connect deadline).
class screen_loop {
public:
  screen_loop(const console_target& t, const std::string& token,
              std::chrono::milliseconds interval)
    : target_(t), token_(token), interval_(interval) {
    view_.color = std::getenv("NO_COLOR") == nullptr;
    model_.source = t.url;
  }

  /// The exit code; `why` says what went wrong (print it after the
  /// terminal is restored, i.e. after this object is gone).
  int run(std::string& why);

private:
  bool on_signals(); // false: quit
  bool on_keys();    // false: quit
  void render();

  console_target target_;
  std::string token_;
  std::chrono::milliseconds interval_;
  view_options view_;
  top_model model_;
  top_clock::time_point last_ok_{};
  int exit_code_ = 0;
  pipe_pair wake_;
  std::unique_ptr<poller> poller_;
  terminal_session term_;
};

bool screen_loop::on_signals() {
  std::string sigs;
  term_.signal_pipe().drain(&sigs);
  for (unsigned char s : sigs)
    if (s != SIGWINCH) {
      exit_code_ = 128 + s;
      return false;
    }
  return true;
}

bool screen_loop::on_keys() {
  char buf[256];
  auto n = ::read(STDIN_FILENO, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    exit_code_ = 1; // the terminal is gone
    return false;
  }
  if (n < 0)
    return true;
  auto [cols, rows] = terminal_session::size();
  for (auto& k : decode_keys(std::string_view(buf, static_cast<size_t>(n)))) {
    auto total = table_rows(model_, view_).size();
    if (handle_key(view_, k, total, table_page(model_, view_, rows)) == top_action::quit)
      return false;
  }
  return true;
}

void screen_loop::render() {
  auto [cols, rows] = terminal_session::size();
  std::chrono::duration<double> age = top_clock::now() - last_ok_;
  model_.data_age_s = age.count();
  clamp_view(view_, table_rows(model_, view_).size(), table_page(model_, view_, rows));
  draw(render_top(model_, view_, cols, rows));
}

int screen_loop::run(std::string& why) {
  if (!wake_.ok() || !term_.open()) {
    why = "tandem top: cannot set up the terminal (use --once for scripts)";
    return 2;
  }
  poller_ = std::make_unique<poller>(target_, token_, interval_, wake_.fds[1]);
  auto start = top_clock::now();
  for (;;) {
    render();
    pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0},
                     {term_.signal_pipe().fds[0], POLLIN, 0},
                     {wake_.fds[0], POLLIN, 0}};
    // Wakes at least every second: the "data N s old" line keeps counting.
    if (::poll(fds, 3, 1000) < 0 && errno != EINTR)
      return 1;
    if ((fds[1].revents & POLLIN) && !on_signals())
      return exit_code_;
    if ((fds[0].revents & (POLLIN | POLLHUP)) && !on_keys())
      return exit_code_;
    if (fds[2].revents & POLLIN) {
      wake_.drain();
      std::tie(model_, last_ok_) = poller_->latest();
    }
    if (!model_.ever_reached && top_clock::now() - start > first_contact_deadline) {
      why = "tandem top: " + target_.url + " did not answer within 10 s: " + model_.fetch_error;
      return 1;
    }
  }
}

// --once: one frame on stdout, as soon as the console answers.
int print_once(const console_target& t, const std::string& token,
               std::chrono::milliseconds interval) {
  console_client client(t, token);
  top_model m;
  m.source = t.url;
  auto fetch = [&client](const std::string& path) { return client.get(path); };
  auto deadline = top_clock::now() + first_contact_deadline;
  while (refresh_model(m, fetch)) {
    auto now = top_clock::now();
    if (now >= deadline) {
      std::cerr << "tandem top: " << t.url << " did not answer within 10 s: " << m.fetch_error
                << "\n";
      return 1;
    }
    // The head may still be starting (or restarting under its supervisor).
    std::this_thread::sleep_for(std::min<top_clock::duration>(interval, deadline - now));
  }
  int width = 160;
  if (::isatty(STDOUT_FILENO))
    width = terminal_session::size().first;
  else if (auto cols = std::getenv("COLUMNS"); cols && parse_integer(cols).value_or(0) > 0)
    width = static_cast<int>(*parse_integer(cols));
  view_options v;
  for (auto& l : render_top(m, v, width, 0))
    std::cout << l << "\n";
  std::cout.flush();
  return 0;
}

} // namespace

int top_command(const std::vector<std::string>& args) {
  command_line cl("tandem top HEAD_OR_RUN_DIR [flags]",
                  "a live, htop-like view of a running head's console: the actor table, the "
                  "reward curve and the watchdog's cause (keys: q quit, s/S sort, r reverse, "
                  "/ filter, d dead actors, arrows scroll)");
  cl.positional("HEAD_OR_RUN_DIR",
                "a run directory (its console.url names the console), HOST:PORT or "
                "http://HOST:PORT/")
    .integer("--interval", "milliseconds between refreshes", 500, 100, 10000)
    .toggle("--once", "print one frame to stdout and exit (for scripts)")
    .text("--token", "T",
          "the console's token, sent as a bearer token (default: $TANDEM_CONSOLE_TOKEN); "
          "consoles bound to other than loopback want it");
  if (auto code = parse_or_exit(cl, args))
    return *code;
  // A console that closes a connection while a request is written must not
  // kill top: the write fails and the refresh says so.
  std::signal(SIGPIPE, SIG_IGN);
  auto target = resolve_target(cl.positionals()[0]);
  if (!target) {
    std::cerr << "tandem top: " << describe(target.error()) << "\n";
    return is(target.error(), errc::invalid_argument) ? 2 : 1;
  }
  auto token = cl.value("--token");
  if (!cl.given("--token"))
    if (auto* env = std::getenv("TANDEM_CONSOLE_TOKEN"))
      token = env;
  std::chrono::milliseconds interval{cl.as_int("--interval")};
  if (cl.on("--once"))
    return print_once(*target, token, interval);
  if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
    std::cerr << "tandem top: stdin and stdout must be a terminal (--once prints one frame)\n";
    return 2;
  }
  std::string why;
  int code;
  {
    screen_loop loop(*target, token, interval);
    code = loop.run(why);
  }
  if (!why.empty())
    std::cerr << why << "\n";
  return code;
}

} // namespace tandem
