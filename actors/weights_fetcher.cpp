#include "actors/weights_fetcher.hpp"

#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"
#include "runtime/messages.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem {

namespace {

void hand_out(fetcher_actor_t* self, const weights_version& w) {
  auto& st = self->state;
  auto chunks = split_weights(w.version, w.bytes, st.settings.chunk_bytes);
  for (auto& s : st.samplers)
    for (auto& c : chunks)
      self->send(s, c);
  st.delivered = w.version;
  ++st.versions;
}

void fetch_once(fetcher_actor_t* self) {
  auto& st = self->state;
  auto got = st.subscriber->fetch(transport::clock::now() + st.settings.fetch_deadline);
  if (got && *got) {
    hand_out(self, **got);
    self->send(self, tick_atom::value); // a newer one may be waiting already
    return;
  }
  if (!got && !is(got.error(), errc::timeout))
    std::cerr << "[weights_fetcher] " << describe(got.error()) << "\n";
  self->delayed_send(self, st.settings.idle_poll, tick_atom::value);
}

} // namespace

caf::behavior weights_fetcher_actor(fetcher_actor_t* self, fetcher_settings settings,
                                    std::shared_ptr<transport::weights_subscriber> subscriber,
                                    std::vector<caf::actor> samplers) {
  auto& st = self->state;
  st.settings = settings;
  st.subscriber = std::move(subscriber);
  st.samplers = std::move(samplers);
  for (auto& s : st.samplers)
    self->monitor(s);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& v = self->state.samplers;
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const caf::actor& a) { return a.address() == dm.source; }),
            v.end());
    if (v.empty())
      self->quit(); // nothing left to feed in this process
  });
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) { fetch_once(self); },
    [=](weights_ack_atom, int64_t) {}, // the samplers' receipts; the server paces by request
    [=](status_atom) {
      auto s = self->state.subscriber->stats();
      return caf::make_message(self->state.delivered, static_cast<int64_t>(s.versions),
                               static_cast<int64_t>(s.malformed));
    },
  };
}

} // namespace tandem
