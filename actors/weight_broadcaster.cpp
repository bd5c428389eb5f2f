#include "actors/weight_broadcaster.hpp"

#include <caf/all.hpp>

#include "runtime/weights_blob.hpp"

namespace tandem {

namespace {

using check_atom = caf::atom_constant<caf::atom("ackcheck")>;

/// The broadcaster's line on the console: versions in transit = in flight.
void report(broadcaster_actor_t* self) {
  auto& st = self->state;
  if (st.health)
    st.health->update(st.in_transit > 0 ? actor_state::busy : actor_state::ready, st.latest,
                      st.in_transit);
}

/// Every change of a subscriber's in-transit version goes through here, so
/// the count stays exact without a scan per message (1,024 subscribers).
void set_in_transit(broadcaster_state& st, broadcaster_state::subscriber& s, int64_t v) {
  st.in_transit = st.in_transit + (v >= 0 ? 1 : 0) - (s.in_transit >= 0 ? 1 : 0);
  s.in_transit = v;
}

void send_latest(broadcaster_actor_t* self, broadcaster_state::subscriber& s) {
  auto& st = self->state;
  if (!st.chunks || st.latest <= s.acked || s.in_transit >= 0)
    return;
  for (auto& c : *st.chunks)
    self->send(s.handle, c);
  st.chunks_sent += st.chunks->size();
  set_in_transit(st, s, st.latest);
  self->delayed_send(self, st.settings.ack_timeout, check_atom::value,
                     s.handle.address(), st.latest);
}

void on_publish(broadcaster_actor_t* self, int64_t version, const std::vector<char>& bytes) {
  auto& st = self->state;
  if (version <= st.latest)
    return; // a late duplicate; the newer version is already out
  st.latest = version;
  st.chunks = std::make_shared<const std::vector<weights_chunk>>(
    split_weights(version, bytes, st.settings.chunk_bytes));
  for (auto& [addr, s] : st.subscribers)
    send_latest(self, s);
}

void on_ack(broadcaster_actor_t* self, int64_t version) {
  auto& st = self->state;
  auto it = st.subscribers.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
  if (it == st.subscribers.end())
    return;
  auto& s = it->second;
  s.acked = std::max(s.acked, version);
  if (version >= s.in_transit)
    set_in_transit(st, s, -1);
  send_latest(self, s);
}

void on_ack_check(broadcaster_actor_t* self, const caf::actor_addr& addr, int64_t version) {
  auto& st = self->state;
  auto it = st.subscribers.find(addr);
  if (it == st.subscribers.end() || it->second.acked >= version
      || it->second.in_transit != version)
    return;
  ++it->second.resends;
  if (st.health)
    st.health->add_deadline_breach();
  set_in_transit(st, it->second, -1); // assume lost; send the newest again
  send_latest(self, it->second);
}

} // namespace

caf::behavior weight_broadcaster_actor(broadcaster_actor_t* self,
                                       broadcaster_settings settings) {
  self->state.settings = settings;
  self->state.health = enlist_health(self->home_system(), "broadcaster", "weight-broadcaster",
                                     caf::actor_cast<caf::actor>(self));
  report(self);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (auto it = st.subscribers.find(dm.source); it != st.subscribers.end()) {
      set_in_transit(st, it->second, -1);
      st.subscribers.erase(it);
    }
    report(self);
  });
  return {
    [=](publish_atom, int64_t version, const std::vector<char>& bytes) {
      on_publish(self, version, bytes);
      report(self);
    },
    [=](subscribe_atom, const caf::actor& sampler) {
      auto& st = self->state;
      if (!sampler || st.subscribers.count(sampler.address()) > 0)
        return;
      self->monitor(sampler);
      auto& s = st.subscribers[sampler.address()];
      s.handle = sampler;
      send_latest(self, s);
    },
    [=](weights_ack_atom, int64_t version) {
      on_ack(self, version);
      report(self);
    },
    [=](check_atom, const caf::actor_addr& addr, int64_t version) {
      on_ack_check(self, addr, version);
    },
    [=](status_atom) {
      auto& st = self->state;
      int64_t min_acked = st.subscribers.empty() ? -1 : INT64_MAX;
      for (auto& [a, s] : st.subscribers)
        min_acked = std::min(min_acked, s.acked);
      return caf::make_message(st.latest, static_cast<int64_t>(st.subscribers.size()),
                               min_acked);
    },
  };
}

} // namespace tandem
