#include "console/prometheus_text.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <string_view>
#include <utility>

namespace tandem {

namespace {

constexpr std::array<const char*, 5> run_statuses{"starting", "training", "finished", "failed",
                                                  "interrupted"};
constexpr std::array<const char*, 7> cause_kinds{
    "no_sampler_alive", "samplers_waiting_for_weights", "staleness_gate_closed", "reward_hung",
    "reward_failing",   "learner_stuck",                "weights_behind"};
constexpr std::array<const char*, 4> phases{"generate", "score", "train", "wall"};
constexpr size_t learner_phase_count = 5;

using label_list = std::vector<std::pair<const char*, std::string>>;

// A sample value as Go's strconv.ParseFloat reads it (what promtool and the
// Prometheus server use): the shortest round-trip decimal, NaN, +Inf, -Inf.
std::string number(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, res.ptr);
}

std::string number(uint64_t x) { return std::to_string(x); }
std::string number(int64_t x) { return std::to_string(x); }
std::string number(uint32_t x) { return std::to_string(x); }
std::string number(bool b) { return b ? "1" : "0"; }

// HELP text escapes backslash and newline only (the exposition format).
std::string help_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help_text(help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, std::string_view name, const label_list& labels,
            const std::string& value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0)
        out += ',';
      out += labels[i].first;
      out += "=\"";
      out += prometheus_label(labels[i].second);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

// A family with one sample and no labels.
void single(std::string& out, const char* name, const char* type, const char* help,
            const std::string& value) {
  family(out, name, type, help);
  sample(out, name, {}, value);
}

// One sample per known value (1 for `current`, 0 for the others); a current
// value outside the known set gets a sample of its own so it stays visible.
template <size_t N>
void one_hot(std::string& out, const char* name, const char* label,
             const std::array<const char*, N>& known, const std::string& current) {
  bool found = false;
  for (auto* k : known) {
    found = found || current == k;
    sample(out, name, {{label, k}}, number(current == k));
  }
  if (!found && !current.empty())
    sample(out, name, {{label, current}}, "1");
}

void run_gauges(std::string& out, const run_totals& r) {
  single(out, "tandem_run_step", "gauge", "Last completed training step.", number(r.step));
  single(out, "tandem_run_steps_target", "gauge", "Steps the run is configured to train.",
         number(r.steps));
  single(out, "tandem_run_policy_version", "gauge", "Newest policy version the learner published.",
         number(r.version));
  single(out, "tandem_run_elapsed_seconds", "gauge", "Seconds of training since the run started.",
         number(r.elapsed_s));
  single(out, "tandem_run_reward_mean", "gauge", "Mean reward of the last step's batch.",
         number(r.reward_mean));
  single(out, "tandem_run_accuracy", "gauge", "Fraction of correct completions in the last step.",
         number(r.accuracy));
  single(out, "tandem_run_kl", "gauge", "KL estimate against the reference policy, last step.",
         number(r.kl));
  single(out, "tandem_run_entropy", "gauge", "Mean token entropy of the last step.",
         number(r.entropy));
  single(out, "tandem_run_tokens_per_second", "gauge",
         "Generated tokens per second over the last step.", number(r.tokens_per_s));
  single(out, "tandem_run_incarnation", "gauge", "Head starts of this run (1 + restarts).",
         number(r.incarnation));
  family(out, "tandem_run_status", "gauge", "The run's status (one-hot).");
  one_hot(out, "tandem_run_status", "status", run_statuses, r.status);
  family(out, "tandem_run_watchdog_cause", "gauge",
         "Why the run is not training, as the watchdog names it (one-hot; all 0 while "
         "training).");
  one_hot(out, "tandem_run_watchdog_cause", "cause", cause_kinds, r.cause);
}

void run_counters(std::string& out, const run_totals& r) {
  single(out, "tandem_groups_consumed_total", "counter", "Rollout groups trained on.",
         number(r.groups_consumed));
  single(out, "tandem_groups_requeued_total", "counter",
         "Rollout groups requeued after their sampler or reward actor was lost.",
         number(r.groups_requeued));
  single(out, "tandem_groups_dropped_total", "counter", "Rollout groups dropped.",
         number(r.groups_dropped));
  single(out, "tandem_groups_filtered_total", "counter",
         "Rollout groups filtered by dynamic sampling (all rewards equal).",
         number(r.groups_filtered));
  single(out, "tandem_groups_stale_refused_total", "counter",
         "Rollout groups refused for being too far behind the policy.",
         number(r.groups_stale_refused));
  family(out, "tandem_reward_outcomes_total", "counter",
         "Scoring outcomes of completions (only ok becomes a reward).");
  sample(out, "tandem_reward_outcomes_total", {{"outcome", "ok"}}, number(r.reward_ok));
  sample(out, "tandem_reward_outcomes_total", {{"outcome", "invalid"}}, number(r.reward_invalid));
  sample(out, "tandem_reward_outcomes_total", {{"outcome", "timeout"}}, number(r.reward_timeout));
  sample(out, "tandem_reward_outcomes_total", {{"outcome", "error"}}, number(r.reward_error));
}

label_list actor_labels(const actor_health& a) {
  return {{"role", a.report.role}, {"node", a.report.node}, {"actor", a.report.name}};
}

label_list with(label_list ls, const char* key, std::string value) {
  ls.emplace_back(key, std::move(value));
  return ls;
}

// A family with one sample per actor: value(actor) -> text.
template <class F>
void per_actor(std::string& out, const std::vector<actor_health>& actors, const char* name,
               const char* type, const char* help, F value) {
  family(out, name, type, help);
  for (auto& a : actors)
    sample(out, name, actor_labels(a), value(a));
}

void actor_queues(std::string& out, const std::vector<actor_health>& actors) {
  family(out, "tandem_actor_queue_depth", "gauge", "Items in one of the actor's bounded queues.");
  for (auto& a : actors)
    for (auto& q : a.report.queues)
      sample(out, "tandem_actor_queue_depth", with(actor_labels(a), "queue", q.name),
             number(q.depth));
  family(out, "tandem_actor_queue_capacity", "gauge", "Capacity of one of the actor's queues.");
  for (auto& a : actors)
    for (auto& q : a.report.queues)
      sample(out, "tandem_actor_queue_capacity", with(actor_labels(a), "queue", q.name),
             number(q.capacity));
}

void actor_states(std::string& out, const std::vector<actor_health>& actors) {
  family(out, "tandem_actor_state", "gauge", "The actor's state as the head sees it (one-hot).");
  for (auto& a : actors)
    for (size_t s = 0; s < actor_state_count; ++s) {
      auto st = static_cast<actor_state>(s);
      sample(out, "tandem_actor_state", with(actor_labels(a), "state", to_string(st)),
             number(a.state == st));
    }
  family(out, "tandem_learner_phase", "gauge", "What a learner rank is doing (one-hot).");
  for (auto& a : actors) {
    if (!a.report.phase)
      continue;
    for (size_t p = 0; p < learner_phase_count; ++p) {
      auto ph = static_cast<learner_phase>(p);
      sample(out, "tandem_learner_phase", with(actor_labels(a), "phase", to_string(ph)),
             number(*a.report.phase == ph));
    }
  }
}

void actor_gauges(std::string& out, const std::vector<actor_health>& actors, registry_time now) {
  per_actor(out, actors, "tandem_actor_up", "gauge", "1 unless the actor is dead.",
            [](auto& a) { return number(a.state != actor_state::dead); });
  actor_states(out, actors);
  per_actor(out, actors, "tandem_actor_policy_version", "gauge",
            "Policy version the actor holds (-1 before its first).",
            [](auto& a) { return number(a.report.version); });
  per_actor(out, actors, "tandem_actor_in_flight", "gauge", "Work items the actor holds now.",
            [](auto& a) { return number(a.report.in_flight); });
  actor_queues(out, actors);
  per_actor(out, actors, "tandem_actor_tokens_per_second", "gauge",
            "Tokens per second the actor reported.",
            [](auto& a) { return number(a.report.tokens_per_s); });
  per_actor(out, actors, "tandem_actor_heartbeat_age_seconds", "gauge",
            "Seconds since the head accepted the actor's last heartbeat.", [now](auto& a) {
              std::chrono::duration<double> age = now - a.last_heartbeat;
              return number(std::max(0.0, age.count()));
            });
  per_actor(out, actors, "tandem_actor_nccl_epoch", "gauge",
            "NCCL communicator epoch the actor is in.",
            [](auto& a) { return number(a.report.nccl_epoch); });
}

void actor_counters(std::string& out, const std::vector<actor_health>& actors) {
  per_actor(out, actors, "tandem_actor_restarts_total", "counter",
            "Times the actor came back in a new process or incarnation.",
            [](auto& a) { return number(a.restarts); });
  per_actor(out, actors, "tandem_actor_errors_total", "counter",
            "Errors the actor's current incarnation reported.",
            [](auto& a) { return number(a.report.errors); });
  per_actor(out, actors, "tandem_actor_deadline_breaches_total", "counter",
            "Waits of the actor that ran past their deadline.",
            [](auto& a) { return number(a.report.deadline_breaches); });
}

void role_counts(std::string& out, const std::vector<actor_health>& actors) {
  std::map<std::string, std::array<size_t, actor_state_count>> by_role;
  for (auto& a : actors)
    ++by_role[a.report.role][static_cast<size_t>(a.state)];
  family(out, "tandem_role_actors", "gauge", "Actors of a role in each state.");
  for (auto& [role, counts] : by_role)
    for (size_t s = 0; s < actor_state_count; ++s)
      sample(out, "tandem_role_actors",
             {{"role", role}, {"state", to_string(static_cast<actor_state>(s))}},
             number(static_cast<uint64_t>(counts[s])));
}

template <size_t N>
void histogram_samples(std::string& out, const std::string& name, const label_list& labels,
                       const std::array<double, N>& bounds, const run_histograms::histogram& h) {
  for (size_t i = 0; i <= N; ++i) {
    auto le = i < N ? number(bounds[i]) : std::string("+Inf");
    uint64_t c = i < h.buckets.size() ? h.buckets[i] : 0;
    sample(out, name + "_bucket", with(labels, "le", le), number(c));
  }
  sample(out, name + "_sum", labels, number(h.sum));
  sample(out, name + "_count", labels, number(h.count));
}

void histograms(std::string& out, const run_histograms& hist) {
  family(out, "tandem_step_phase_seconds", "histogram",
         "Seconds a step spent generating, scoring, training, and in all (wall).");
  for (auto* p : phases)
    histogram_samples(out, "tandem_step_phase_seconds", {{"phase", p}},
                      run_histograms::seconds_buckets, hist.phase(p));
  family(out, "tandem_token_staleness", "histogram",
         "Policy versions between the tokens trained on and the policy that trained on them.");
  histogram_samples(out, "tandem_token_staleness", {}, run_histograms::staleness_buckets,
                    hist.staleness());
}

// Adds `n` observations of `value` to a histogram over `bounds`.
template <size_t N>
void observe(run_histograms::histogram& h, const std::array<double, N>& bounds, double value,
             uint64_t n) {
  if (h.buckets.empty())
    h.buckets.assign(N + 1, 0);
  for (size_t i = 0; i < N; ++i)
    if (value <= bounds[i])
      h.buckets[i] += n;
  h.buckets[N] += n;
  h.sum += value * static_cast<double>(n);
  h.count += n;
}

// Appends the UTF-8 sequence at s[i] when it is well formed (returns its
// length), else 0. Prometheus refuses label values that are not UTF-8.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size())
    return 0;
  uint32_t cp = len == 1 ? b : b & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  static constexpr uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

} // namespace

void run_histograms::observe_phase(const std::string& phase, double seconds) {
  if (!std::isfinite(seconds))
    return; // a missing figure, not an observation: keeps _sum finite
  histogram* h = phase == "generate" ? &generate_
                 : phase == "score"  ? &score_
                 : phase == "train"  ? &train_
                 : phase == "wall"   ? &wall_
                                     : nullptr;
  if (h)
    observe(*h, seconds_buckets, seconds, 1);
}

void run_histograms::observe_staleness(const std::vector<int64_t>& counts) {
  for (size_t s = 0; s < counts.size(); ++s)
    if (counts[s] > 0)
      observe(staleness_, staleness_buckets, static_cast<double>(s),
              static_cast<uint64_t>(counts[s]));
}

const run_histograms::histogram& run_histograms::phase(const std::string& name) const {
  if (name == "generate")
    return generate_;
  if (name == "score")
    return score_;
  if (name == "train")
    return train_;
  if (name == "wall")
    return wall_;
  return none_;
}

std::string prometheus_label(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size();) {
    auto len = utf8_sequence(value, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD"; // U+FFFD for a byte that is not UTF-8
      ++i;
      continue;
    }
    char c = value[i];
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.append(value, i, len);
    i += len;
  }
  return out;
}

std::string prometheus_text(const run_totals& run, const std::vector<actor_health>& actors,
                            const run_histograms& hist, registry_time now) {
  std::string out;
  out.reserve(4096 + actors.size() * 2048);
  run_gauges(out, run);
  run_counters(out, run);
  actor_gauges(out, actors, now);
  actor_counters(out, actors);
  role_counts(out, actors);
  histograms(out, hist);
  return out;
}

} // namespace tandem
