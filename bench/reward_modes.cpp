// reward_modes.cpp: the bench's scorers and callers (reward_modes.hpp).
#include "bench/reward_modes.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "actors/reward.hpp"
#include "bench/plugin_reward_server.hpp"
#include "bench/timing.hpp"
#include "runtime/error.hpp"
#include "tasks/command_scorer.hpp"
#include "tasks/http_scorer.hpp"

namespace tandem {

struct reward_bench_rig::server_holder {
  std::unique_ptr<plugin_reward_server> server;
};

const char* to_string(reward_mode m) {
  switch (m) {
    case reward_mode::rules:
      return "rules";
    case reward_mode::math:
      return "math";
    case reward_mode::http:
      return "http";
    case reward_mode::command:
      return "command";
  }
  return "?";
}

reward_scorer_kind scorer_kind(reward_mode m) {
  return m == reward_mode::rules  ? reward_scorer_kind::rules
         : m == reward_mode::math ? reward_scorer_kind::math
                                  : reward_scorer_kind::plugin;
}

reward_bench_rig::reward_bench_rig(reward_mode_settings s)
  : s_(std::move(s)), server_(std::make_unique<server_holder>()) {
}

reward_bench_rig::~reward_bench_rig() = default;

caf::expected<std::unique_ptr<reward_bench_rig>> reward_bench_rig::start(reward_mode_settings s) {
  if (s.concurrency < 1)
    s.concurrency = 1;
  std::unique_ptr<reward_bench_rig> rig(new reward_bench_rig(s));
  rig->url_ = s.url;
  if (s.url.empty()) {
    // One worker per keep-alive connection (one per caller), one spare.
    auto srv = plugin_reward_server::start(s.concurrency + 1);
    if (!srv)
      return srv.error();
    rig->url_ = (*srv)->url();
    rig->server_->server = std::move(*srv);
  }
  http_scorer_config hc;
  hc.url = rig->url_;
  hc.timeout = s.timeout;
  hc.concurrency = s.concurrency;
  auto http = http_scorer::make(hc);
  if (!http)
    return http.error();
  rig->http_ = std::move(*http);
  // The first call to a program allows for its start-up, as in a run.
  std::vector<score_item> warm(static_cast<size_t>(s.instances), {"1+1=", "2</answer>", "2"});
  for (int32_t i = 0; i < s.concurrency; ++i) {
    rig->math_.push_back(std::make_shared<math_scorer>(s.weights));
    auto c = std::make_shared<command_scorer>(command_factory(s.command), s.instances, s.timeout,
                                              s.timeout);
    auto r = c->score(warm);
    if (!r)
      return make_error(errc::process_failure,
                        "bench reward: the reward command failed its first call: "
                          + describe(r.error()));
    rig->command_.push_back(std::move(c));
  }
  return rig;
}

int64_t reward_bench_rig::server_requests() const {
  return server_->server ? server_->server->requests() : 0;
}

std::shared_ptr<reward_scorer> reward_bench_rig::scorer_for(reward_mode m, size_t caller) const {
  switch (m) {
    case reward_mode::math:
      return math_[caller];
    case reward_mode::http:
      return http_;
    case reward_mode::command:
      return command_[caller];
    default:
      return nullptr;
  }
}

caf::expected<reward_pass> reward_bench_rig::pass(reward_mode m, const reward_workload& w) {
  static const byte_tokenizer tok;
  reward_pass out;
  out.rewards.assign(w.completions(), 0.0);
  std::vector<size_t> offset(w.groups.size() + 1, 0);
  for (size_t i = 0; i < w.groups.size(); ++i)
    offset[i + 1] = offset[i] + w.groups[i].completions.size();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mtx;
  caf::error first;
  auto caller = [&](size_t c) {
    auto scorer = scorer_for(m, c);
    for (size_t i = next++; i < w.groups.size() && !failed; i = next++) {
      auto r = scorer ? score_group_with(w.groups[i], tok, *scorer)
                      : score_group(w.groups[i], tok, s_.weights);
      if (!r) {
        std::lock_guard<std::mutex> g(mtx);
        if (!failed.exchange(true))
          first = make_error(errc::process_failure, std::string(to_string(m)) + ", group "
                                                      + std::to_string(i) + ": "
                                                      + describe(r.error()));
        return;
      }
      std::copy(r->rewards.begin(), r->rewards.end(), out.rewards.begin() + offset[i]);
    }
  };
  auto cpu0 = process_tree_cpu_seconds();
  auto t0 = bench_clock::now();
  std::vector<std::thread> callers;
  for (int32_t c = 0; c < s_.concurrency; ++c)
    callers.emplace_back(caller, static_cast<size_t>(c));
  for (auto& t : callers)
    t.join();
  out.wall_s = since(t0);
  out.cpu_s = process_tree_cpu_seconds() - cpu0;
  if (failed)
    return first;
  return out;
}

namespace {

double ticks_to_s(unsigned long long ticks) {
  static const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return static_cast<double>(ticks) / hz;
}

// utime + stime of process `pid` (/proc/PID/stat fields 14 and 15), 0 when gone.
double process_cpu_seconds(const std::string& pid) {
  std::ifstream f("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(f, line))
    return 0;
  auto close = line.rfind(')'); // the command name may hold spaces
  if (close == std::string::npos)
    return 0;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::stoull(field);
    if (i == 15)
      stime = std::stoull(field);
  }
  return ticks_to_s(utime + stime);
}

} // namespace

double process_tree_cpu_seconds() {
  rusage self{};
  ::getrusage(RUSAGE_SELF, &self);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  double total = tv(self.ru_utime) + tv(self.ru_stime);
  DIR* tasks = ::opendir("/proc/self/task");
  if (!tasks)
    return total;
  while (auto* e = ::readdir(tasks)) {
    if (e->d_name[0] == '.')
      continue;
    std::ifstream children(std::string("/proc/self/task/") + e->d_name + "/children");
    std::string pid;
    while (children >> pid)
      total += process_cpu_seconds(pid);
  }
  ::closedir(tasks);
  return total;
}

} // namespace tandem
