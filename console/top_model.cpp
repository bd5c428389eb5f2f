#include "console/top_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"

namespace tandem {

namespace {

int64_t int_of(const json_value& o, std::string_view key, int64_t fallback) {
  auto* v = o.find(key);
  auto* n = v ? v->as_number() : nullptr;
  if (!n)
    return fallback;
  if (n->is_integer)
    return n->integer;
  if (!std::isfinite(n->value) || std::fabs(n->value) > 9e18)
    return fallback;
  return static_cast<int64_t>(n->value);
}

uint64_t count_of(const json_value& o, std::string_view key) {
  return static_cast<uint64_t>(std::max<int64_t>(0, int_of(o, key, 0)));
}

double number_of(const json_value& o, std::string_view key, double fallback) {
  auto* v = o.find(key);
  auto* n = v ? v->as_number() : nullptr;
  return n ? n->value : fallback;
}

std::string text_of(const json_value& o, std::string_view key, std::string fallback = {}) {
  auto* v = o.find(key);
  auto* s = v ? v->as_string() : nullptr;
  return s ? *s : fallback;
}

const json_value::array_type& array_of(const json_value& o, std::string_view key) {
  static const json_value::array_type none;
  auto* v = o.find(key);
  auto* a = v ? v->as_array() : nullptr;
  return a ? *a : none;
}

caf::expected<json_value> parse_object(std::string_view json, const char* endpoint) {
  json_options opts;
  opts.code = errc::malformed_message;
  auto doc = parse_json(json, endpoint, opts);
  if (!doc)
    return doc.error();
  if (!doc->as_object())
    return make_error(errc::malformed_message,
                      std::string(endpoint) + ": expected a JSON object, got " + doc->type_name());
  return doc;
}

// Forgets the rewards of steps above `step` (a resumed run repeats them).
void rewind_rewards(top_model& m, int64_t step) {
  while (!m.rewards.empty() && m.rewards.back().first > step)
    m.rewards.pop_back();
  m.last_step = std::min(m.last_step, step);
}

top_actor actor_of(const json_value& a) {
  top_actor out;
  out.role = text_of(a, "role");
  out.name = text_of(a, "name");
  out.node = text_of(a, "node");
  out.pid = int_of(a, "pid", 0);
  out.state = text_of(a, "state", "starting");
  out.reported_state = text_of(a, "reported_state");
  out.version = int_of(a, "version", -1);
  out.in_flight = count_of(a, "in_flight");
  for (auto& q : array_of(a, "queues"))
    out.queues.push_back({text_of(q, "name"), count_of(q, "depth"), count_of(q, "capacity")});
  out.tokens_per_s = number_of(a, "tokens_per_s", 0);
  out.phase = text_of(a, "phase");
  out.nccl_epoch = count_of(a, "nccl_epoch");
  out.deadline_breaches = count_of(a, "deadline_breaches");
  out.heartbeat_age_ms = int_of(a, "heartbeat_age_ms", 0);
  out.restarts = count_of(a, "restarts");
  out.errors = count_of(a, "errors");
  out.last_error = text_of(a, "last_error");
  return out;
}

} // namespace

caf::error parse_run(std::string_view json, top_model& m) {
  auto doc = parse_object(json, "/api/run");
  if (!doc)
    return doc.error();
  top_run r;
  r.status = text_of(*doc, "status", r.status);
  r.run_dir = text_of(*doc, "run_dir");
  r.incarnation = int_of(*doc, "incarnation", 1);
  r.step = int_of(*doc, "step", 0);
  r.steps = int_of(*doc, "steps", 0);
  r.version = int_of(*doc, "version", 0);
  r.elapsed_s = number_of(*doc, "elapsed_s", 0);
  r.reward_mean = number_of(*doc, "reward_mean", 0);
  r.accuracy = number_of(*doc, "accuracy", 0);
  r.tokens_per_s = number_of(*doc, "tokens_per_s", 0);
  r.samplers = int_of(*doc, "samplers", 0);
  r.rewards = int_of(*doc, "rewards", 0);
  if (auto* c = doc->find("cause"); c && c->as_object())
    r.cause = top_cause{text_of(*c, "kind"), text_of(*c, "text"), number_of(*c, "since_s", 0)};
  if (auto* o = doc->find("reward_outcomes"); o && o->as_object()) {
    r.reward_ok = count_of(*o, "ok");
    r.reward_invalid = count_of(*o, "invalid");
    r.reward_timeout = count_of(*o, "timeout");
    r.reward_error = count_of(*o, "error");
  }
  if (r.step < m.last_step)
    rewind_rewards(m, r.step);
  m.run = std::move(r);
  return {};
}

caf::error parse_actors(std::string_view json, top_model& m) {
  auto doc = parse_object(json, "/api/actors");
  if (!doc)
    return doc.error();
  std::vector<top_actor> actors;
  for (auto& a : array_of(*doc, "actors"))
    if (a.as_object())
      actors.push_back(actor_of(a));
  std::vector<std::pair<std::string, uint64_t>> counts;
  if (auto* c = doc->find("counts"); c && c->as_object())
    for (auto& [state, n] : *c->as_object())
      counts.emplace_back(state, n.as_number() ? static_cast<uint64_t>(n.as_number()->value) : 0);
  m.actors = std::move(actors);
  m.counts = std::move(counts);
  return {};
}

caf::error parse_metrics(std::string_view json, top_model& m) {
  auto doc = parse_object(json, "/api/metrics");
  if (!doc)
    return doc.error();
  // The console holds fewer steps than we do: it restarted with a resumed run.
  auto served = int_of(*doc, "last_step", std::numeric_limits<int64_t>::max());
  if (served < m.last_step)
    rewind_rewards(m, served);
  for (auto& rec : array_of(*doc, "records")) {
    auto step = int_of(rec, "step", -1);
    if (step < 0)
      continue;
    rewind_rewards(m, step - 1);
    m.rewards.emplace_back(step, number_of(rec, "reward_mean", std::nan("")));
    if (m.rewards.size() > top_model::reward_history)
      m.rewards.pop_front();
    m.last_step = step;
  }
  return {};
}

caf::error refresh_model(top_model& m, const top_fetch& fetch) {
  auto fail = [&m](const caf::error& err) {
    m.reachable = false;
    m.fetch_error = describe(err);
    return err;
  };
  auto run = fetch("/api/run");
  if (!run)
    return fail(run.error());
  auto actors = fetch("/api/actors");
  if (!actors)
    return fail(actors.error());
  if (auto err = parse_run(*run, m))
    return fail(err);
  if (auto err = parse_actors(*actors, m))
    return fail(err);
  auto metrics = fetch("/api/metrics?after=" + std::to_string(m.last_step));
  if (!metrics)
    return fail(metrics.error());
  if (auto err = parse_metrics(*metrics, m))
    return fail(err);
  m.reachable = true;
  m.ever_reached = true;
  m.fetch_error.clear();
  return {};
}

} // namespace tandem
