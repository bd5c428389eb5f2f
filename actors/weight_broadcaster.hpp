// weight_broadcaster: delivers policy versions as bytes over CAF to the
// samplers subscribed to it.
// accepts:   publish_atom(version, bytes)   from the learner, for the versions
//                                           its weight roster sends as bytes
//            subscribe_atom(actor)          a CAF-fed sampler joining (sent by
//                                           the learner)
//            weights_ack_atom(version)      a sampler confirming a complete version
//            status_atom                    -> (latest version, subscribers, min acked)
// sends:     weights_chunk...               -> samplers
// waits for: the learner's first publish before it can serve anyone
// unblocked by: publish_atom
//
// Which versions come here is the learner's decision
// (actors/internal/weight_roster.hpp): every version without NCCL, and with
// NCCL only while some subscriber is outside the live epoch. The ZeroMQ
// weights server gets its versions from the learner directly.
//
// Flow control: at most one version is in transit to a given sampler. When
// it acknowledges, it gets the newest version if that is newer (versions in
// between are skipped: a sampler only ever needs the newest). Memory is thus
// bounded by one weight set plus one in transit per sampler. A sampler that
// does not acknowledge within `ack_timeout` gets the newest version again
// (a deadline breach on the console).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/internal/health_cell.hpp"
#include "runtime/messages.hpp"

namespace tandem {

struct broadcaster_settings {
  size_t chunk_bytes = size_t{1} << 20;
  caf::timespan ack_timeout = std::chrono::seconds{30};
};

struct broadcaster_state {
  struct subscriber {
    caf::actor handle;
    int64_t acked = -1;      // newest version it confirmed
    int64_t in_transit = -1; // version sent and not yet confirmed (-1: none)
    uint64_t resends = 0;
  };
  broadcaster_settings settings;
  int64_t latest = -1;
  std::shared_ptr<const std::vector<weights_chunk>> chunks; // of `latest`
  std::map<caf::actor_addr, subscriber> subscribers;
  uint64_t chunks_sent = 0;
  uint64_t in_transit = 0; // subscribers with a version in transit (kept, not counted per report)
  std::shared_ptr<health_cell> health; // null without a health board
  static inline const char* name = "weight_broadcaster";
};

using broadcaster_actor_t = caf::stateful_actor<broadcaster_state>;

caf::behavior weight_broadcaster_actor(broadcaster_actor_t* self,
                                       broadcaster_settings settings);

} // namespace tandem
