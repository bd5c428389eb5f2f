#include "actors/internal/actor_registry.hpp"

#include <cmath>
#include <utility>

#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

const char* to_string(actor_event_kind k) {
  switch (k) {
    case actor_event_kind::joined: return "joined";
    case actor_event_kind::stalled: return "stalled";
    case actor_event_kind::recovered: return "recovered";
    case actor_event_kind::dead: return "dead";
    case actor_event_kind::restarted: return "restarted";
    case actor_event_kind::error: return "error";
    case actor_event_kind::removed: return "removed";
    case actor_event_kind::deadline_breach: return "deadline_breach";
  }
  return "?";
}

namespace {

caf::error bad_field(const char* field, const std::string& why) {
  return make_error(errc::malformed_message, std::string("actor report: ") + field + " " + why);
}

caf::error check_text(const char* field, const std::string& s, bool required) {
  if (required && s.empty())
    return bad_field(field, "is empty");
  if (s.size() > actor_registry::max_name_bytes)
    return bad_field(field, "is longer than " + std::to_string(actor_registry::max_name_bytes) +
                              " bytes");
  return {};
}

// Cuts at most max bytes without splitting a UTF-8 sequence.
std::string cut_utf8(const std::string& s, size_t max) {
  if (s.size() <= max)
    return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;
  return s.substr(0, n);
}

int64_t millis(registry_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

} // namespace

bool hung(const actor_health& h, registry_time now, registry_clock::duration stall_after) {
  auto& r = h.report;
  return r.state == actor_state::busy && !r.phase
         && r.silent + (now - h.last_heartbeat) >= stall_after;
}

caf::error validate(const actor_report& r) {
  if (auto err = check_text("name", r.name, true))
    return err;
  if (auto err = check_text("role", r.role, true))
    return err;
  if (auto err = check_text("node", r.node, false))
    return err;
  if (r.state == actor_state::stalled || r.state == actor_state::dead
      || static_cast<size_t>(r.state) >= actor_state_count)
    return bad_field("state", "must be a reported state (not stalled or dead)");
  if (r.queues.size() > actor_registry::max_queues)
    return bad_field("queues", "holds more than " + std::to_string(actor_registry::max_queues));
  for (auto& q : r.queues)
    if (auto err = check_text("queues.name", q.name, true))
      return err;
  if (!std::isfinite(r.tokens_per_s) || r.tokens_per_s < 0)
    return bad_field("tokens_per_s", "must be finite and >= 0");
  if (r.phase && static_cast<size_t>(*r.phase) > static_cast<size_t>(learner_phase::publishing))
    return bad_field("phase", "is out of range");
  if (r.last_error_age.count() < 0)
    return bad_field("last_error_age", "is negative");
  return {};
}

actor_registry::actor_registry(actor_registry_config cfg) : cfg_(std::move(cfg)) {}

caf::error actor_registry::heartbeat(const actor_report& r, registry_time now) {
  if (auto err = validate(r)) {
    ++counters_.invalid;
    return err;
  }
  auto it = actors_.find(r.name);
  if (it == actors_.end())
    return admit_new(r, now);
  auto& e = it->second;
  sender s{r.pid, r.incarnation};
  bool retired = false;
  for (auto& old : e.retired)
    retired = retired || old == s;
  bool same = s == e.current;
  // Dead is sticky for the sender that died; its late reports are stale.
  if (retired || (same && (r.seq <= e.health.report.seq
                           || e.health.state == actor_state::dead))) {
    ++counters_.stale;
    return {};
  }
  if (same)
    apply(e, r, now);
  else
    restart(e, r, now);
  ++counters_.accepted;
  return {};
}

caf::error actor_registry::admit_new(const actor_report& r, registry_time now) {
  if (actors_.size() >= cfg_.capacity) {
    ++counters_.refused;
    return make_error(errc::capacity_exceeded,
                      "actor registry holds " + std::to_string(cfg_.capacity)
                        + " actors; refused " + r.name);
  }
  auto& e = actors_[r.name];
  e.current = sender{r.pid, r.incarnation};
  e.health.first_seen = now;
  e.health.report.name = r.name;
  e.health.report.role = r.role;
  e.health.report.node = r.node;
  e.health.report.pid = r.pid;
  push_event(actor_event_kind::joined, e.health, actor_state::starting, now);
  apply(e, r, now);
  ++counters_.accepted;
  return {};
}

void actor_registry::apply(entry& e, const actor_report& r, registry_time now) {
  auto& h = e.health;
  auto from = h.state;
  auto prev_errors = h.report.errors;
  auto prev_breaches = h.report.deadline_breaches;
  h.report = r;
  h.report.last_error = cut_utf8(r.last_error, max_error_bytes);
  h.last_heartbeat = now;
  h.state = hung(h, now, cfg_.stall_after) ? actor_state::stalled : r.state;
  if (from == actor_state::stalled && h.state != actor_state::stalled)
    push_event(actor_event_kind::recovered, h, from, now);
  if (from != actor_state::stalled && h.state == actor_state::stalled)
    push_event(actor_event_kind::stalled, h, from, now);
  if (r.errors > prev_errors && !h.report.last_error.empty()) {
    h.last_error_at = now - r.last_error_age;
    push_event(actor_event_kind::error, h, h.state, now).detail = h.report.last_error;
  }
  if (r.deadline_breaches > prev_breaches)
    push_event(actor_event_kind::deadline_breach, h, h.state, now).detail
      = std::to_string(r.deadline_breaches - prev_breaches) + " missed deadline(s), "
        + std::to_string(r.deadline_breaches) + " in all";
}

void actor_registry::restart(entry& e, const actor_report& r, registry_time now) {
  e.retired.push_back(e.current);
  if (e.retired.size() > retired_senders_kept)
    e.retired.pop_front();
  e.current = sender{r.pid, r.incarnation};
  auto from = e.health.state;
  ++e.health.restarts;
  // The new sender counts its errors from zero.
  e.health.report.errors = 0;
  e.health.last_error_at.reset();
  e.health.state = actor_state::starting;
  e.health.report.pid = r.pid;
  e.health.report.node = r.node;
  push_event(actor_event_kind::restarted, e.health, from, now);
  apply(e, r, now);
}

void actor_registry::mark_dead(entry& e, registry_time now, std::vector<actor_event>* out) {
  auto from = e.health.state;
  e.health.state = actor_state::dead;
  auto& ev = push_event(actor_event_kind::dead, e.health, from, now);
  if (out)
    out->push_back(ev);
}

caf::error actor_registry::actor_down(const std::string& name, registry_time now) {
  auto it = actors_.find(name);
  if (it == actors_.end())
    return make_error(errc::not_found, "actor registry: no actor named " + name);
  if (it->second.health.state != actor_state::dead)
    mark_dead(it->second, now, nullptr);
  return {};
}

std::vector<actor_event> actor_registry::process_gone(const std::string& node, int64_t pid,
                                                      registry_time now) {
  std::vector<actor_event> out;
  for (auto& [name, e] : actors_) {
    auto& rep = e.health.report;
    if (rep.node == node && rep.pid == pid && e.health.state != actor_state::dead)
      mark_dead(e, now, &out);
  }
  return out;
}

std::vector<actor_event> actor_registry::tick(registry_time now) {
  std::vector<actor_event> out;
  for (auto& [name, e] : actors_) {
    auto& h = e.health;
    if (h.state == actor_state::dead || h.state == actor_state::stalled)
      continue;
    if (now - h.last_heartbeat < cfg_.stall_after && !hung(h, now, cfg_.stall_after))
      continue;
    auto from = h.state;
    h.state = actor_state::stalled;
    out.push_back(push_event(actor_event_kind::stalled, h, from, now));
  }
  return out;
}

caf::error actor_registry::remove(const std::string& name, registry_time now) {
  auto it = actors_.find(name);
  if (it == actors_.end())
    return make_error(errc::not_found, "actor registry: no actor named " + name);
  push_event(actor_event_kind::removed, it->second.health, it->second.health.state, now);
  actors_.erase(it);
  return {};
}

actor_event& actor_registry::push_event(actor_event_kind kind, const actor_health& h,
                                        actor_state from, registry_time now) {
  if (cfg_.event_capacity > 0 && events_.size() >= cfg_.event_capacity) {
    events_.pop_front();
    ++counters_.events_dropped;
  }
  actor_event ev;
  ev.id = next_event_id_++;
  ev.at = now;
  ev.kind = kind;
  ev.name = h.report.name;
  ev.role = h.report.role;
  ev.node = h.report.node;
  ev.pid = h.report.pid;
  ev.from = from;
  ev.to = h.state;
  events_.push_back(std::move(ev));
  return events_.back();
}

std::vector<actor_health> actor_registry::snapshot(registry_time now) const {
  std::vector<actor_health> out;
  out.reserve(actors_.size());
  for (auto& [name, e] : actors_) {
    out.push_back(e.health);
    out.back().heartbeat_age = now - e.health.last_heartbeat;
  }
  return out;
}

std::optional<actor_health> actor_registry::find(const std::string& name,
                                                 registry_time now) const {
  auto it = actors_.find(name);
  if (it == actors_.end())
    return std::nullopt;
  auto h = it->second.health;
  h.heartbeat_age = now - h.last_heartbeat;
  return h;
}

std::array<size_t, actor_state_count> actor_registry::count_by_state() const {
  std::array<size_t, actor_state_count> out{};
  for (auto& [name, e] : actors_)
    ++out[static_cast<size_t>(e.health.state)];
  return out;
}

std::vector<actor_event> actor_registry::events_after(uint64_t after_id) const {
  std::vector<actor_event> out;
  for (auto& ev : events_)
    if (ev.id > after_id)
      out.push_back(ev);
  return out;
}

// --- JSON -------------------------------------------------------------------

namespace {

// Appends "k":v to an object being written (a comma unless it is the first).
void field(std::string& out, const char* k, const std::string& v) {
  if (out.back() != '{')
    out += ',';
  out += '"';
  out += k;
  out += "\":";
  out += v;
}

std::string queues_json(const std::vector<queue_depth>& qs) {
  std::string out = "[";
  for (auto& q : qs) {
    if (out.size() > 1)
      out += ',';
    out += "{\"name\":" + json_quote(q.name) + ",\"depth\":" + std::to_string(q.depth)
           + ",\"capacity\":" + std::to_string(q.capacity) + '}';
  }
  return out + ']';
}

std::string age_ms(registry_time now, registry_time then) {
  return std::to_string(millis(now - then));
}

} // namespace

std::string to_json(const actor_health& h, registry_time now) {
  auto& r = h.report;
  std::string out = "{";
  field(out, "role", json_quote(r.role));
  field(out, "name", json_quote(r.name));
  field(out, "node", json_quote(r.node));
  field(out, "pid", std::to_string(r.pid));
  field(out, "state", json_quote(to_string(h.state)));
  field(out, "reported_state", json_quote(to_string(r.state)));
  field(out, "version", std::to_string(r.version));
  field(out, "in_flight", std::to_string(r.in_flight));
  field(out, "queues", queues_json(r.queues));
  field(out, "tokens_per_s", json_number_text(r.tokens_per_s));
  if (r.phase) {
    field(out, "phase", json_quote(to_string(*r.phase)));
    field(out, "phase_age_ms", std::to_string(r.phase_age.count()));
  }
  field(out, "silent_ms", std::to_string(r.silent.count()));
  field(out, "nccl_epoch", std::to_string(r.nccl_epoch));
  field(out, "deadline_breaches", std::to_string(r.deadline_breaches));
  field(out, "heartbeat_age_ms", age_ms(now, h.last_heartbeat));
  field(out, "first_seen_age_ms", age_ms(now, h.first_seen));
  field(out, "restarts", std::to_string(h.restarts));
  field(out, "errors", std::to_string(r.errors));
  field(out, "last_error", json_quote(r.last_error));
  if (h.last_error_at)
    field(out, "last_error_age_ms", age_ms(now, *h.last_error_at));
  return out + '}';
}

std::string actors_json(const actor_registry& reg, registry_time now) {
  std::string out = "{\"actors\":[";
  auto all = reg.snapshot(now);
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0)
      out += ',';
    out += to_json(all[i], now);
  }
  out += "],\"counts\":{";
  auto counts = reg.count_by_state();
  for (size_t i = 0; i < counts.size(); ++i)
    field(out, to_string(static_cast<actor_state>(i)), std::to_string(counts[i]));
  return out + "}}";
}

std::string to_json(const actor_event& e, registry_time now) {
  std::string out = "{";
  field(out, "id", std::to_string(e.id));
  field(out, "age_ms", age_ms(now, e.at));
  field(out, "kind", json_quote(to_string(e.kind)));
  field(out, "name", json_quote(e.name));
  field(out, "role", json_quote(e.role));
  field(out, "node", json_quote(e.node));
  field(out, "pid", std::to_string(e.pid));
  field(out, "from", json_quote(to_string(e.from)));
  field(out, "to", json_quote(to_string(e.to)));
  field(out, "detail", json_quote(e.detail));
  return out + '}';
}

} // namespace tandem
