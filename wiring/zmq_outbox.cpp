#include "wiring/zmq_outbox.hpp"

namespace tandem {

zmq_outbox::zmq_outbox(std::unique_ptr<transport::rollout_sender> sender,
                       std::chrono::milliseconds send_deadline)
  : sender_(std::move(sender)), send_deadline_(send_deadline) {
}

caf::error zmq_outbox::send(const std::vector<rollout_group>& groups) {
  return sender_->send_rollouts(groups, transport::clock::now() + send_deadline_);
}

} // namespace tandem
