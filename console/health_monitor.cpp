#include "console/health_monitor.hpp"

#include <chrono>
#include <map>

#include <caf/all.hpp>

#include "console/prometheus_text.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/messages.hpp"

namespace tandem {

namespace {

struct process_key {
  std::string node;
  int64_t pid = 0;
};

struct monitor_state {
  health_monitor_settings cfg;
  health_monitor_deps deps;
  actor_registry registry;
  watchdog dog;
  run_histograms hist;
  run_totals totals;
  caf::actor controller;
  std::map<caf::actor_addr, std::string> watched;    // actor -> name
  std::map<caf::actor_addr, process_key> reporters;  // reporter -> its process
  std::optional<diagnosis> cause;
  std::string last_record = "null"; // the newest metrics record
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

  monitor_state(health_monitor_settings s, health_monitor_deps d)
    : cfg(std::move(s)), deps(std::move(d)), registry(cfg.registry), dog(cfg.watchdog) {}
  void log(const std::string& line) const {
    if (deps.log)
      deps.log(line);
  }
};

using state_ptr = std::shared_ptr<monitor_state>;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// The console's event object (console_state adds the id).
std::string event_json(const std::string& kind, const std::string& name, const std::string& role,
                       const std::string& node, int64_t pid, const std::string& from,
                       const std::string& to, const std::string& detail) {
  std::string out = "{\"time\":" + json_number_text(unix_now());
  out += ",\"kind\":" + json_quote(kind);
  if (!name.empty())
    out += ",\"name\":" + json_quote(name) + ",\"role\":" + json_quote(role)
           + ",\"node\":" + json_quote(node) + ",\"pid\":" + std::to_string(pid)
           + ",\"from\":" + json_quote(from) + ",\"to\":" + json_quote(to);
  return out + ",\"detail\":" + json_quote(detail) + "}";
}

void push_actor_event(const state_ptr& st, const actor_event& e) {
  st->deps.console->add_event(event_json(to_string(e.kind), e.name, e.role, e.node, e.pid,
                                         to_string(e.from), to_string(e.to), e.detail));
  // Once the run has ended its actors stop one by one: the event log keeps
  // that, the terminal does not need a line per actor.
  bool live = st->totals.status == "starting" || st->totals.status == "training";
  if (live && (e.kind == actor_event_kind::dead || e.kind == actor_event_kind::stalled
               || e.kind == actor_event_kind::restarted))
    st->log(std::string("[console] ") + e.role + " " + e.name + " (" + e.node + " pid "
            + std::to_string(e.pid) + "): " + to_string(e.kind));
}

/// Registry events since `after` go to the console's log.
void flush_events(const state_ptr& st, uint64_t after) {
  for (auto& e : st->registry.events_after(after))
    push_actor_event(st, e);
}

void on_beat(caf::event_based_actor* self, const state_ptr& st, const health_beat& b) {
  auto before = st->registry.last_event_id();
  auto now = self->clock().now();
  if (auto src = self->current_sender(); src && !st->reporters.count(src->address())) {
    st->reporters.emplace(src->address(), process_key{b.node, b.pid});
    self->monitor(caf::actor_cast<caf::actor_addr>(src));
  }
  for (size_t i = 0; i < b.reports.size(); ++i) {
    if (auto err = st->registry.heartbeat(b.reports[i], now))
      st->log("[console] refused a report from " + b.node + " pid " + std::to_string(b.pid)
              + ": " + describe(err));
    if (i < b.handles.size() && b.handles[i]) {
      auto addr = b.handles[i].address();
      if (st->watched.emplace(addr, b.reports[i].name).second)
        self->monitor(b.handles[i]);
    }
  }
  flush_events(st, before);
}

void on_down(const state_ptr& st, const caf::down_msg& dm, registry_time now) {
  auto before = st->registry.last_event_id();
  if (auto it = st->watched.find(dm.source); it != st->watched.end()) {
    st->registry.actor_down(it->second, now);
    st->watched.erase(it);
  } else if (auto p = st->reporters.find(dm.source); p != st->reporters.end()) {
    st->registry.process_gone(p->second.node, p->second.pid, now);
    st->reporters.erase(p);
  }
  for (auto& e : st->registry.events_after(before)) {
    auto copy = e;
    copy.detail = describe(dm.reason);
    push_actor_event(st, copy);
  }
}

uint64_t uint_field(const json_value& j, const char* key) {
  auto v = j.find(key);
  auto n = v ? v->as_number() : nullptr;
  return n && n->value > 0 ? static_cast<uint64_t>(n->value) : 0;
}

int64_t int_field(const json_value& j, const char* key) {
  auto v = j.find(key);
  auto n = v ? v->as_number() : nullptr;
  return n ? static_cast<int64_t>(n->value) : 0;
}

double double_field(const json_value& j, const char* key) {
  auto v = j.find(key);
  auto n = v ? v->as_number() : nullptr;
  return n ? n->value : 0;
}

/// The controller's status_atom reply (controller.cpp status_json).
void on_status(const state_ptr& st, const std::string& text, registry_time now) {
  auto j = parse_json(text);
  if (!j)
    return st->log("[console] unreadable controller status: " + describe(j.error()));
  run_progress p;
  p.version = int_field(*j, "version");
  p.max_staleness = int_field(*j, "max_staleness");
  p.queued = uint_field(*j, "queued");
  p.in_flight = uint_field(*j, "in_flight");
  p.scoring = uint_field(*j, "scoring");
  p.scored = uint_field(*j, "scored");
  p.training = uint_field(*j, "training");
  p.admit_capacity = int_field(*j, "admit_capacity");
  p.reward_ok = uint_field(*j, "reward_ok");
  p.reward_invalid = uint_field(*j, "reward_invalid");
  p.reward_timeout = uint_field(*j, "reward_timeout");
  p.reward_error = uint_field(*j, "reward_error");
  st->dog.observe(p, now);
  auto& t = st->totals;
  if (t.status == "starting")
    t.status = "training";
  t.step = int_field(*j, "step");
  t.version = p.version;
  t.groups_consumed = uint_field(*j, "consumed");
  t.groups_requeued = uint_field(*j, "requeued");
  t.groups_dropped = uint_field(*j, "dropped");
  t.groups_filtered = uint_field(*j, "filtered");
  t.groups_stale_refused = uint_field(*j, "stale_refused");
  t.elapsed_s = double_field(*j, "elapsed_s");
  t.reward_ok = p.reward_ok;
  t.reward_invalid = p.reward_invalid;
  t.reward_timeout = p.reward_timeout;
  t.reward_error = p.reward_error;
}

void on_metrics(const state_ptr& st, int64_t step, const std::string& record) {
  st->deps.console->add_metrics(step, record);
  st->last_record = record;
  auto j = parse_json(record);
  if (!j)
    return;
  static const char* phases[][2] = {{"generate", "generate_s"}, {"score", "score_s"},
                                    {"train", "train_s"}, {"wall", "step_wall_s"}};
  for (auto& ph : phases)
    if (j->find(ph[1]))
      st->hist.observe_phase(ph[0], double_field(*j, ph[1]));
  if (auto h = j->find("staleness_hist"); h && h->as_array()) {
    std::vector<int64_t> counts;
    for (auto& v : *h->as_array())
      counts.push_back(v.as_number() ? static_cast<int64_t>(v.as_number()->value) : 0);
    st->hist.observe_staleness(counts);
  }
  auto& t = st->totals;
  t.reward_mean = double_field(*j, "reward_mean");
  t.accuracy = double_field(*j, "accuracy");
  t.kl = double_field(*j, "kl");
  t.entropy = double_field(*j, "entropy");
  t.tokens_per_s = double_field(*j, "tokens_per_s");
}

std::string cause_json(const state_ptr& st, registry_time now) {
  if (!st->cause)
    return "null";
  auto& c = *st->cause;
  return "{\"kind\":" + json_quote(to_string(c.cause)) + ",\"text\":" + json_quote(c.text)
         + ",\"since_s\":"
         + json_number_text(std::chrono::duration<double>(now - c.since).count()) + "}";
}

size_t count_role(const std::vector<actor_health>& all, const char* role) {
  size_t n = 0;
  for (auto& a : all)
    n += a.report.role == role && a.state != actor_state::dead;
  return n;
}

std::string run_json(const state_ptr& st, const std::vector<actor_health>& all,
                     registry_time now) {
  auto& t = st->totals;
  json_record j;
  j.add("status", t.status).add("run_dir", st->cfg.run_dir)
    .add("incarnation", static_cast<int64_t>(st->cfg.incarnation)).add("step", t.step)
    .add("steps", st->cfg.steps).add("version", t.version).add("elapsed_s", t.elapsed_s)
    .add("reward_mean", t.reward_mean).add("accuracy", t.accuracy)
    .add("tokens_per_s", t.tokens_per_s)
    .add("samplers", static_cast<int64_t>(count_role(all, "sampler")))
    .add("rewards", static_cast<int64_t>(count_role(all, "reward")))
    .add("groups_consumed", static_cast<int64_t>(t.groups_consumed))
    .add("groups_requeued", static_cast<int64_t>(t.groups_requeued))
    .add("groups_dropped", static_cast<int64_t>(t.groups_dropped))
    .add("groups_filtered", static_cast<int64_t>(t.groups_filtered));
  auto out = j.str();
  out.pop_back();
  out += ",\"cause\":" + cause_json(st, now);
  out += ",\"reward_outcomes\":{\"ok\":" + std::to_string(t.reward_ok) + ",\"invalid\":"
         + std::to_string(t.reward_invalid) + ",\"timeout\":" + std::to_string(t.reward_timeout)
         + ",\"error\":" + std::to_string(t.reward_error) + "}";
  out += ",\"last_record\":" + st->last_record;
  if (st->deps.console_counters)
    out += ",\"console\":" + st->deps.console_counters();
  return out + "}";
}

/// The watchdog's cause; a change is logged and goes to the event log.
void diagnose(const state_ptr& st, const std::vector<actor_health>& all, registry_time now) {
  auto d = st->dog.diagnose(all, now);
  bool changed = d.has_value() != st->cause.has_value()
                 || (d && (d->cause != st->cause->cause));
  st->cause = d;
  st->totals.cause = d ? to_string(d->cause) : "";
  if (!changed)
    return;
  auto text = d ? std::string(to_string(d->cause)) + ": " + d->text : "training again";
  st->log("[watchdog] " + text);
  st->deps.console->add_event(
    event_json("watchdog", "", "", "", 0, "", "", text));
}

void on_tick(caf::event_based_actor* self, const state_ptr& st) {
  auto now = self->clock().now();
  for (auto& e : st->registry.tick(now))
    push_actor_event(st, e);
  auto all = st->registry.snapshot(now);
  if (st->totals.status == "training" || st->totals.status == "starting")
    diagnose(st, all, now);
  st->deps.console->publish(actors_json(st->registry, now), run_json(st, all, now),
                            prometheus_text(st->totals, all, st->hist, now));
  if (st->controller && st->totals.status != "finished")
    self->request(st->controller, std::chrono::seconds(1), status_atom::value)
      .then([self, st](const std::string& s) { on_status(st, s, self->clock().now()); },
            [](caf::error&) {});
  self->delayed_send(self, st->cfg.interval, tick_atom::value);
}

} // namespace

caf::behavior health_monitor_actor(caf::event_based_actor* self,
                                   health_monitor_settings settings, health_monitor_deps deps) {
  auto st = std::make_shared<monitor_state>(std::move(settings), std::move(deps));
  self->set_down_handler([self, st](caf::down_msg& dm) { on_down(st, dm, self->clock().now()); });
  self->send(self, tick_atom::value);
  return {
    [=](const health_beat& b) { on_beat(self, st, b); },
    [=](tick_atom) { on_tick(self, st); },
    [=](metrics_atom, int64_t step, const std::string& record) { on_metrics(st, step, record); },
    [=](watch_atom, const caf::actor& controller) { st->controller = controller; },
    [=](status_atom, const std::string& status) {
      st->totals.status = status;
      st->cause.reset();
      st->totals.cause.clear();
    },
    [=](event_atom, const std::string& kind, const std::string& text) {
      st->log("[console] " + kind + ": " + text);
      st->deps.console->add_event(event_json(kind, "", "", "", 0, "", "", text));
    },
  };
}

caf::error console_metrics_sink::write(const json_record& rec) {
  int64_t step = 0;
  for (auto& [k, v] : rec.fields())
    if (k == "step")
      step = std::strtoll(v.c_str(), nullptr, 10);
  caf::anon_send(monitor_, metrics_atom::value, step, rec.str());
  return {};
}

} // namespace tandem
