#include "actors/weights_server.hpp"

#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"
#include "runtime/messages.hpp"

namespace tandem {

caf::behavior weights_server_actor(weights_server_actor_t* self,
                                   std::shared_ptr<transport::weights_publisher> publisher) {
  self->state.publisher = std::move(publisher);
  self->send(self, tick_atom::value);
  return {
    [=](publish_atom, int64_t version, const std::vector<char>& bytes) {
      if (auto err = self->state.publisher->publish(version, bytes))
        std::cerr << "[weights_server] cannot publish v" << version << ": " << describe(err)
                  << "\n";
    },
    [=](tick_atom) {
      auto& st = self->state;
      auto served = st.publisher->serve_until(transport::clock::now() + st.poll);
      if (!served)
        std::cerr << "[weights_server] " << describe(served.error()) << "\n";
      self->send(self, tick_atom::value);
    },
    [=](status_atom) {
      auto s = self->state.publisher->stats();
      return caf::make_message(self->state.publisher->newest_version(),
                               static_cast<int64_t>(s.requests),
                               static_cast<int64_t>(s.chunks_sent),
                               static_cast<int64_t>(s.malformed));
    },
  };
}

} // namespace tandem
