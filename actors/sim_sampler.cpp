#include "actors/sim_sampler.hpp"

#include <algorithm>
#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"
#include "tasks/tokenizer.hpp"

namespace tandem {

namespace {

using sim = sim_sampler_actor_t;

const char_tokenizer& tokenizer() {
  static const char_tokenizer tok; // immutable after construction
  return tok;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

int64_t required_version(const generate_request& req) {
  int64_t v = 0;
  for (auto& g : req.groups)
    v = std::max(v, g.min_version);
  return v;
}

/// Version used for the decode step that starts at `t`.
int64_t version_at(const sim_sampler_state& st, caf::actor_clock::time_point t) {
  auto v = st.start_version;
  for (auto& [when, version] : st.switches)
    if (when <= t)
      v = version;
  return v;
}

struct draw {
  int32_t length = 0; // sim_completion_tokens returns exactly this many tokens
  bool correct = false;
};

draw draw_completion(const sim_sampler_settings& s, const group_task& g, int32_t index) {
  auto r = splitmix64(s.seed ^ splitmix64(g.seed ^ splitmix64(static_cast<uint64_t>(index))));
  auto lo = std::max(1, s.lengths.min_tokens);
  auto hi = std::max(lo, s.lengths.max_tokens);
  auto u = static_cast<double>(splitmix64(r) >> 11) * 0x1.0p-53;
  return {lo + static_cast<int32_t>(r % static_cast<uint64_t>(hi - lo + 1)), u < s.accuracy};
}

completion_record simulate_completion(const sim_sampler_state& st, const group_task& g,
                                      int32_t index) {
  auto& s = st.settings;
  auto d = draw_completion(s, g, index);
  completion_record c;
  c.tokens = sim_completion_tokens(g.answer, d.correct, d.length);
  c.finished = !c.tokens.empty() && c.tokens.back() == char_tokenizer::answer_close_id;
  c.logprobs.assign(c.tokens.size(), -1.0f);
  for (size_t i = 0; i < c.tokens.size(); ++i)
    c.versions.push_back(version_at(st, st.active_started + s.overhead
                                          + s.per_token * static_cast<int64_t>(i)));
  return c;
}

void try_start(sim* self);

void finish_active(sim* self, uint64_t serial) {
  auto& st = self->state;
  if (!st.active || serial != st.serial)
    return; // a timer of a batch that is gone
  generate_result res;
  for (auto& g : st.active->request.groups) {
    rollout_group r;
    r.group_id = g.group_id;
    r.problem_id = g.problem_id;
    r.prompt = g.prompt;
    r.answer = g.answer;
    r.sampler = st.settings.name;
    for (int32_t i = 0; i < g.group_size; ++i) {
      r.completions.push_back(simulate_completion(st, g, i));
      res.tokens += static_cast<int64_t>(r.completions.back().tokens.size());
    }
    res.groups.push_back(std::move(r));
  }
  res.seconds = std::chrono::duration<double>(self->clock().now() - st.active_started).count();
  st.stats.tokens += res.tokens;
  if (auto err = divert_to_outbox(st.settings.outbox.get(), res))
    st.active->promise.deliver(err); // the controller requeues the groups
  else
    st.active->promise.deliver(std::move(res));
  st.active.reset();
  st.switches.clear();
  try_start(self);
}

/// Longest completion the active batch will produce (its lockstep length).
int32_t longest_completion(const sim_sampler_state& st) {
  int32_t longest = 0;
  for (auto& g : st.active->request.groups)
    for (int32_t i = 0; i < g.group_size; ++i)
      longest = std::max(longest, draw_completion(st.settings, g, i).length);
  return longest;
}

void try_start(sim* self) {
  auto& st = self->state;
  if (st.active || st.queue.empty() || st.version < 0
      || st.version < required_version(st.queue.front().request))
    return;
  st.active = std::move(st.queue.front());
  st.queue.pop_front();
  st.active_started = self->clock().now();
  st.start_version = st.version;
  st.switches.clear();
  auto delay = sim_decode_time(st.settings, longest_completion(st));
  st.stats.busy += delay;
  st.stats.longest = std::max(st.stats.longest, delay);
  auto serial = ++st.serial;
  if (delay.count() <= 0)
    self->send(self, sim_done_atom::value, serial);
  else
    self->delayed_send(self, delay, sim_done_atom::value, serial);
}

void on_chunk(sim* self, const weights_chunk& c) {
  auto& st = self->state;
  ++st.stats.chunks;
  auto got = accept_chunk(st.assembler, c, st.settings.name, st.bad_chunks);
  if (!got)
    return;
  st.version = got->version;
  if (st.active)
    st.switches.emplace_back(self->clock().now(), st.version);
  if (auto src = caf::actor_cast<caf::actor>(self->current_sender())) {
    self->send(src, weights_ack_atom::value, st.version);
    ++st.stats.acks;
  }
  try_start(self);
}

caf::result<generate_result> on_request(sim* self, generate_request& req) {
  auto& st = self->state;
  if (req.groups.empty())
    return make_error(errc::invalid_argument, "empty generate request");
  if (st.queue.size() >= static_cast<size_t>(st.settings.max_queued))
    return make_error(errc::capacity_exceeded, st.settings.name + " queue is full");
  ++st.stats.requests;
  st.stats.groups += static_cast<int64_t>(req.groups.size());
  auto rp = self->make_response_promise();
  st.queue.push_back({std::move(req), rp});
  try_start(self);
  return caf::delegated<generate_result>{};
}

/// sampler_reset.hpp. The active batch's timer finds its serial gone.
void reset(sim* self, sampler_reset& r) {
  auto& st = self->state;
  auto gone = make_error(errc::peer_down, st.settings.name + " was reset: its head is gone");
  if (st.active)
    st.active->promise.deliver(gone);
  st.active.reset();
  st.switches.clear();
  for (auto& p : st.queue)
    p.promise.deliver(gone);
  st.queue.clear();
  st.version = -1;
  st.assembler = weights_assembler{};
  if (r.outbox)
    st.settings.outbox = std::move(r.outbox);
}

} // namespace

caf::timespan sim_decode_time(const sim_sampler_settings& s, int32_t tokens) {
  return s.overhead + s.per_token * static_cast<int64_t>(tokens);
}

std::vector<int32_t> sim_completion_tokens(const std::string& answer, bool correct,
                                           int32_t length) {
  auto text = answer.empty() ? std::string{"0"} : answer;
  if (!correct) {
    auto& last = text.back();
    last = (last >= '0' && last <= '9') ? static_cast<char>('0' + (last - '0' + 1) % 10) : '0';
  }
  auto sign = text.front() == '-' ? std::string{"-"} : std::string{};
  auto digits = text.substr(sign.size());
  auto needed = static_cast<int32_t>(text.size()) + 1; // + </answer>
  if (length > needed)
    digits.insert(0, static_cast<size_t>(length - needed), '0');
  auto ids = tokenizer().encode(sign + digits);
  std::vector<int32_t> out = ids ? std::move(*ids) : std::vector<int32_t>{};
  out.push_back(char_tokenizer::answer_close_id);
  if (static_cast<int32_t>(out.size()) > length)
    out.resize(static_cast<size_t>(std::max(0, length)));
  return out;
}

namespace {

/// The simulated sampler's line on the console (as the real sampler's).
void report(sim* self) {
  auto& st = self->state;
  if (st.health)
    report_sampler(*st.health, st.active.has_value(), st.queue.size(),
                   static_cast<size_t>(st.settings.max_queued), st.version);
  if (st.health)
    st.health->add_tokens(static_cast<uint64_t>(st.stats.tokens - st.tokens_reported));
  st.tokens_reported = st.stats.tokens;
}

} // namespace

caf::behavior sim_sampler_actor(sim* self, sim_sampler_settings settings) {
  self->state.settings = std::move(settings);
  self->state.health = enlist_health(self->home_system(), "sampler", self->state.settings.name,
                                     caf::actor_cast<caf::actor>(self));
  report(self);
  return {
    [=](generate_request& req) -> caf::result<generate_result> {
      auto r = on_request(self, req);
      report(self);
      return r;
    },
    [=](const weights_chunk& c) {
      on_chunk(self, c);
      report(self);
    },
    [=](sim_done_atom, uint64_t serial) {
      finish_active(self, serial);
      report(self);
    },
    [=](sampler_reset& r) {
      reset(self, r);
      report(self);
    },
    [=](status_atom) {
      auto& st = self->state;
      auto& s = st.stats;
      // The real sampler's four fields first, then the simulation counters.
      return caf::make_message(st.settings.name, st.version, s.tokens,
                               static_cast<int64_t>(st.queue.size()) + (st.active ? 1 : 0),
                               s.requests, s.groups, s.chunks, s.acks,
                               static_cast<int64_t>(s.busy.count()),
                               static_cast<int64_t>(s.longest.count()));
    },
  };
}

} // namespace tandem
