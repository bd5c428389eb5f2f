#include "wiring/data_plane.hpp"

#include <caf/all.hpp>

#include "wiring/zmq_outbox.hpp"
#include "actors/rollout_intake.hpp"
#include "actors/weights_fetcher.hpp"
#include "actors/weights_server.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

std::string tcp_endpoint(const std::string& host, uint16_t port) {
  return "tcp://" + host + ":" + (port == 0 ? std::string{"*"} : std::to_string(port));
}

} // namespace

caf::expected<std::shared_ptr<transport::transport_context>>
make_transport_context(const std::string& secret) {
  return transport::transport_context::with_secret(secret);
}

caf::expected<head_data_plane> bind_head_data_plane(const run_plan& plan,
                                                    const std::string& secret) {
  head_data_plane hp;
  const bool zmq_rollouts = plan.transports.rollouts == "zmq";
  const bool zmq_weights = plan.transports.weights == "zmq";
  // Learner ranks in worker processes sum over a socket_collective, which
  // runs CURVE on the same context (components.cpp make_spread_trainer).
  const bool spread_learner = !plan.processes.empty()
                              && static_cast<size_t>(plan.total(topology::LEARNER))
                                   > plan.head().learner_ranks.size();
  if (!zmq_rollouts && !zmq_weights && !spread_learner)
    return hp;
  auto ctx = make_transport_context(secret);
  if (!ctx)
    return ctx.error();
  hp.ctx = *ctx;
  if (zmq_rollouts) {
    transport::rollout_channel_options o;
    o.endpoint = tcp_endpoint(plan.bind_host, plan.data_port);
    o.name = "head";
    auto rx = transport::rollout_receiver::bind(hp.ctx, o);
    if (!rx)
      return rx.error();
    hp.info.rollouts = (*rx)->endpoint();
    hp.rollouts = std::move(*rx);
  }
  if (zmq_weights) {
    transport::weights_publisher_options o;
    uint16_t port = plan.weights_port;
    if (port == 0 && plan.data_port != 0)
      port = static_cast<uint16_t>(plan.data_port + 1);
    o.endpoint = tcp_endpoint(plan.bind_host, port);
    o.name = "head";
    auto pub = transport::weights_publisher::bind(hp.ctx, o);
    if (!pub)
      return pub.error();
    hp.info.weights = (*pub)->endpoint();
    hp.weights = std::move(*pub);
  }
  return hp;
}

caf::actor spawn_weights_server(caf::actor_system& sys, head_data_plane& plane) {
  if (!plane.weights)
    return {};
  auto a = sys.spawn<caf::detached>(weights_server_actor, std::move(plane.weights));
  plane.weights.reset();
  return caf::actor{a};
}

caf::actor spawn_rollout_intake(caf::actor_system& sys, head_data_plane& plane,
                                const caf::actor& controller) {
  if (!plane.rollouts)
    return {};
  auto a = sys.spawn<caf::detached>(rollout_intake_actor, std::move(plane.rollouts), controller);
  plane.rollouts.reset();
  return caf::actor{a};
}

std::string describe_plane(const data_plane_info& info) {
  return "rollouts " + (info.rollouts.empty() ? std::string{"caf"} : info.rollouts) + ", weights "
         + (info.weights.empty() ? std::string{"caf"} : info.weights);
}

caf::expected<std::shared_ptr<rollout_outbox>>
connect_outbox(std::shared_ptr<transport::transport_context> ctx, const std::string& endpoint,
               const std::string& sampler_name) {
  transport::rollout_channel_options o;
  o.endpoint = endpoint;
  o.name = sampler_name;
  auto tx = transport::rollout_sender::connect(std::move(ctx), o);
  if (!tx)
    return tx.error();
  return std::shared_ptr<rollout_outbox>{std::make_shared<zmq_outbox>(std::move(*tx))};
}

caf::expected<caf::actor> spawn_weights_fetcher(caf::actor_system& sys,
                                                std::shared_ptr<transport::transport_context> ctx,
                                                const std::string& endpoint,
                                                const std::string& process_name,
                                                std::vector<caf::actor> samplers) {
  transport::weights_subscriber_options o;
  o.endpoint = endpoint;
  o.name = process_name;
  auto sub = transport::weights_subscriber::connect(std::move(ctx), o);
  if (!sub)
    return sub.error();
  std::shared_ptr<transport::weights_subscriber> shared{std::move(*sub)};
  return caf::actor{sys.spawn<caf::detached>(weights_fetcher_actor, fetcher_settings{}, shared,
                                             std::move(samplers))};
}

} // namespace tandem
