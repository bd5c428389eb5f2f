#include "app/chaos_report.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace tandem {

spread spread_of(std::vector<double> xs) {
  spread s;
  s.n = xs.size();
  if (xs.empty())
    return s;
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  s.median = n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
  s.max = xs.back();
  return s;
}

void chaos_ledger::killed(const std::string& kind, int64_t pid, double t, int64_t step_before) {
  chaos_kill k;
  k.kind = kind, k.pid = pid, k.t = t, k.step_before = step_before;
  kills_.push_back(k);
}

void chaos_ledger::on_exit(int64_t pid, double t) {
  for (auto& k : kills_)
    if (k.pid == pid && !k.detected && t >= k.t - 0.5)
      k.detected = std::max(0.0, t - k.t);
}

void chaos_ledger::on_step(int64_t step, double t) {
  for (auto& k : kills_) {
    if (k.recovered || t < k.t)
      continue;
    k.recovered = t - k.t;
  }
}

void chaos_ledger::on_resume(int64_t step) {
  for (auto it = kills_.rbegin(); it != kills_.rend(); ++it)
    if (it->kind == "head") {
      if (!it->steps_lost)
        it->steps_lost = std::max<int64_t>(0, it->step_before - step);
      return;
    }
}

size_t chaos_ledger::count(const std::string& kind) const {
  return static_cast<size_t>(std::count_if(kills_.begin(), kills_.end(),
                                           [&](auto& k) { return k.kind == kind; }));
}

spread chaos_ledger::detection(const std::string& kind) const {
  std::vector<double> xs;
  for (auto& k : kills_)
    if (k.detected && (kind.empty() || k.kind == kind))
      xs.push_back(*k.detected);
  return spread_of(xs);
}

spread chaos_ledger::recovery(const std::string& kind) const {
  std::vector<double> xs;
  for (auto& k : kills_)
    if (k.recovered && (kind.empty() || k.kind == kind))
      xs.push_back(*k.recovered);
  return spread_of(xs);
}

int64_t chaos_ledger::steps_lost() const {
  int64_t n = 0;
  for (auto& k : kills_)
    n += k.steps_lost.value_or(0);
  return n;
}

int64_t chaos_ledger::max_steps_lost() const {
  int64_t n = 0;
  for (auto& k : kills_)
    n = std::max(n, k.steps_lost.value_or(0));
  return n;
}

namespace {

std::string seconds(const spread& s) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "median %.2f s, max %.2f s (%zu)", s.median, s.max, s.n);
  return buf;
}

} // namespace

std::string format_chaos(const chaos_ledger& l, int exit_code, const std::string& summary,
                         const std::string& audit) {
  std::ostringstream o;
  o << "kills:           " << l.count("head") << " head, " << l.count("worker") << " worker\n"
    << "detection:       head " << seconds(l.detection("head")) << "; worker "
    << seconds(l.detection("worker")) << "  (kill -> the supervisor saw the exit)\n"
    << "recovery:        head " << seconds(l.recovery("head")) << "; worker "
    << seconds(l.recovery("worker")) << "  (kill -> next trained step)\n"
    << "steps lost:      " << l.steps_lost() << " in all, at most " << l.max_steps_lost()
    << " per head kill\n"
    << audit << "final status:    exit " << exit_code << ", " << summary << "\n";
  return o.str();
}

} // namespace tandem
