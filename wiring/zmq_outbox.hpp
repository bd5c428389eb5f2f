// zmq_outbox.hpp: the sampler's rollout_outbox over ZeroMQ (a rollout_sender
// PUSH socket connected to the head's rollout intake).
//
// send() blocks at most `send_deadline` when the socket is at its high-water
// mark (the head's intake is behind), then fails with errc::timeout; the
// sampler then fails its request and the controller requeues the groups.
// Nothing is dropped silently.
//
// Thread safety: used by one sampler actor (one thread at a time).
#pragma once

#include <chrono>
#include <memory>

#include "actors/backends.hpp"
#include "runtime/transport/zmq_channel.hpp"

namespace tandem {

class zmq_outbox : public rollout_outbox {
public:
  // 10 s: a head that cannot take one batch in that long is overloaded or
  // gone; the generate request fails and its groups are redone elsewhere.
  static constexpr std::chrono::milliseconds default_send_deadline{10000};

  explicit zmq_outbox(std::unique_ptr<transport::rollout_sender> sender,
                      std::chrono::milliseconds send_deadline = default_send_deadline);

  caf::error send(const std::vector<rollout_group>& groups) override;

private:
  std::unique_ptr<transport::rollout_sender> sender_;
  std::chrono::milliseconds send_deadline_;
};

} // namespace tandem
