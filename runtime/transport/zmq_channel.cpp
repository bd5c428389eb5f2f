#include "runtime/transport/zmq_channel.hpp"

#include <algorithm>
#include <climits>
#include <iostream>
#include <iterator>

#include <zmq_addon.hpp>

#include "runtime/error.hpp"

namespace tandem::transport {

namespace {

// Envelope and chunk headers around a chunk's bytes: magic, version, kind,
// sender (<= max_sender_bytes), seq, checksum and the six chunk fields.
constexpr size_t frame_overhead_bytes = 4096;

int remaining_ms(deadline until) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(until - clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX));
}

void log_line(const log_fn& log, const std::string& line) {
  if (log)
    log(line);
  else
    std::cerr << "[transport] " << line << "\n";
}

caf::error zmq_failure(const char* what, const zmq::error_t& e) {
  return make_error(errc::io_failure, std::string{what} + ": " + e.what());
}

struct socket_settings {
  int sndhwm;
  int rcvhwm;
  size_t max_bytes;
  std::chrono::milliseconds linger;
  bool server; // binding side: CURVE server (else CURVE client)
};

caf::expected<zmq::socket_t> open_socket(transport_context& ctx,
                                         zmq::socket_type type,
                                         const socket_settings& s) {
  try {
    zmq::socket_t sock(ctx.zmq(), type);
    sock.set(zmq::sockopt::linger, static_cast<int>(s.linger.count()));
    sock.set(zmq::sockopt::sndhwm, s.sndhwm);
    sock.set(zmq::sockopt::rcvhwm, s.rcvhwm);
    sock.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(s.max_bytes));
    auto err = s.server ? apply_curve_server(sock, ctx.keys())
                        : apply_curve_client(sock, ctx.keys());
    if (err)
      return err;
    return sock;
  } catch (const zmq::error_t& e) {
    return zmq_failure("creating a socket", e);
  }
}

caf::error bind_to(zmq::socket_t& s, const std::string& endpoint) {
  try {
    s.bind(endpoint);
    return caf::none;
  } catch (const zmq::error_t& e) {
    return make_error(errc::io_failure, "bind " + endpoint + ": " + e.what());
  }
}

caf::error connect_to(zmq::socket_t& s, const std::string& endpoint) {
  try {
    s.connect(endpoint);
    return caf::none;
  } catch (const zmq::error_t& e) {
    return make_error(errc::io_failure, "connect " + endpoint + ": " + e.what());
  }
}

std::string last_endpoint(const zmq::socket_t& s) {
  try {
    return s.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t&) {
    return {};
  }
}

// True when `s` is readable, false when `until` passed first.
caf::expected<bool> wait_readable(zmq::socket_t& s, deadline until) {
  for (;;) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(remaining_ms(until)));
      if (item.revents & ZMQ_POLLIN)
        return true;
      if (clock::now() >= until)
        return false;
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR)
        return zmq_failure("poll", e);
    }
  }
}

// Blocking send bounded by `until` through ZMQ_SNDTIMEO.
caf::error send_bytes(zmq::socket_t& s, const std::vector<char>& bytes,
                      deadline until, const char* what) {
  zmq::message_t msg(bytes.data(), bytes.size());
  for (;;) {
    try {
      s.set(zmq::sockopt::sndtimeo, remaining_ms(until));
      if (s.send(msg, zmq::send_flags::none))
        return caf::none;
      return make_error(errc::timeout, std::string{what}
                                         + ": peer queue full (HWM) until the deadline");
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR || clock::now() >= until)
        return zmq_failure(what, e);
    }
  }
}

// One message (single part) or nothing if none is ready.
caf::expected<std::optional<zmq::message_t>> recv_now(zmq::socket_t& s) {
  try {
    zmq::message_t msg;
    if (!s.recv(msg, zmq::recv_flags::dontwait))
      return std::optional<zmq::message_t>{};
    return std::optional<zmq::message_t>{std::move(msg)};
  } catch (const zmq::error_t& e) {
    return zmq_failure("recv", e);
  }
}

caf::error timeout_error(const char* what) {
  return make_error(errc::timeout, std::string{what} + ": deadline passed");
}

} // namespace

// -- transport_context ------------------------------------------------------------

caf::expected<std::shared_ptr<transport_context>>
transport_context::make(curve_keys keys) {
  std::shared_ptr<transport_context> ctx{new transport_context};
  auto zap = zap_handler::start(ctx->ctx_, keys.client.public_key);
  if (!zap)
    return zap.error();
  ctx->zap_ = std::move(*zap);
  ctx->keys_ = std::move(keys);
  return ctx;
}

caf::expected<std::shared_ptr<transport_context>>
transport_context::with_secret(const std::string& secret) {
  auto keys = derive_curve_keys(secret);
  if (!keys)
    return keys.error();
  return make(std::move(*keys));
}

// -- rollout_sender -----------------------------------------------------------------

rollout_sender::rollout_sender(std::shared_ptr<transport_context> ctx,
                               rollout_channel_options opts)
  : ctx_(std::move(ctx)), opts_(std::move(opts)) {
}

caf::expected<std::unique_ptr<rollout_sender>>
rollout_sender::connect(std::shared_ptr<transport_context> ctx,
                        rollout_channel_options opts) {
  std::unique_ptr<rollout_sender> s{new rollout_sender(std::move(ctx), std::move(opts))};
  auto& o = s->opts_;
  auto sock = open_socket(*s->ctx_, zmq::socket_type::push,
                          {o.hwm, o.hwm, o.max_frame_bytes, o.linger, false});
  if (!sock)
    return sock.error();
  s->socket_ = std::move(*sock);
  if (auto err = connect_to(s->socket_, o.endpoint))
    return err;
  return s;
}

caf::error rollout_sender::send(frame f, deadline until) {
  f.sender = opts_.name;
  f.seq = next_seq_++;
  auto bytes = encode_frame(f);
  if (bytes.size() > opts_.max_frame_bytes)
    return make_error(errc::capacity_exceeded,
                      "rollout frame of " + std::to_string(bytes.size())
                        + " bytes exceeds max_frame_bytes; split the batch");
  return send_bytes(socket_, bytes, until, "rollout send");
}

caf::error rollout_sender::send_rollouts(const std::vector<rollout_group>& groups,
                                         deadline until) {
  return send(frame{frame_kind::rollouts, {}, 0, encode_rollouts(groups)}, until);
}

// -- rollout_receiver ---------------------------------------------------------------

rollout_receiver::rollout_receiver(std::shared_ptr<transport_context> ctx,
                                   rollout_channel_options opts)
  : ctx_(std::move(ctx)), opts_(std::move(opts)) {
}

caf::expected<std::unique_ptr<rollout_receiver>>
rollout_receiver::bind(std::shared_ptr<transport_context> ctx,
                       rollout_channel_options opts) {
  std::unique_ptr<rollout_receiver> r{new rollout_receiver(std::move(ctx), std::move(opts))};
  auto& o = r->opts_;
  auto sock = open_socket(*r->ctx_, zmq::socket_type::pull,
                          {o.hwm, o.hwm, o.max_frame_bytes, o.linger, true});
  if (!sock)
    return sock.error();
  r->socket_ = std::move(*sock);
  if (auto err = bind_to(r->socket_, o.endpoint))
    return err;
  return r;
}

std::string rollout_receiver::endpoint() const {
  return last_endpoint(socket_);
}

caf::expected<frame> rollout_receiver::recv(deadline until) {
  return recv_checked(until, false, nullptr);
}

caf::expected<std::vector<rollout_group>>
rollout_receiver::recv_rollouts(deadline until) {
  std::vector<rollout_group> groups;
  auto f = recv_checked(until, true, &groups);
  if (!f)
    return f.error();
  return groups;
}

caf::expected<frame> rollout_receiver::recv_checked(deadline until,
                                                    bool decode_payload,
                                                    std::vector<rollout_group>* groups) {
  auto reject = [this](const std::string& why) {
    ++stats_.malformed;
    log_line(opts_.log, "rollout receiver dropped a frame: " + why);
  };
  for (;;) {
    auto ready = wait_readable(socket_, until);
    if (!ready)
      return ready.error();
    if (!*ready)
      return timeout_error("rollout recv");
    auto msg = recv_now(socket_);
    if (!msg)
      return msg.error();
    if (!*msg)
      continue;
    auto f = decode_frame((*msg)->data<char>(), (*msg)->size(), opts_.max_frame_bytes);
    if (!f) {
      reject(describe(f.error()));
      continue;
    }
    if (f->kind != frame_kind::rollouts) {
      reject(std::string{"unexpected kind "} + to_string(f->kind));
      continue;
    }
    if (decode_payload) {
      auto g = decode_rollouts(f->payload.data(), f->payload.size());
      if (!g) {
        reject(describe(g.error()));
        continue;
      }
      *groups = std::move(*g);
    }
    ++stats_.frames;
    return f;
  }
}

// -- weights_publisher --------------------------------------------------------------

// A hello is a few dozen bytes plus the sender name.
constexpr size_t max_request_bytes = 4096;

weights_publisher::weights_publisher(std::shared_ptr<transport_context> ctx,
                                     weights_publisher_options opts)
  : ctx_(std::move(ctx)), opts_(std::move(opts)) {
}

caf::expected<std::unique_ptr<weights_publisher>>
weights_publisher::bind(std::shared_ptr<transport_context> ctx,
                        weights_publisher_options opts) {
  std::unique_ptr<weights_publisher> p{new weights_publisher(std::move(ctx), std::move(opts))};
  auto& o = p->opts_;
  o.max_window = std::max<uint32_t>(o.max_window, 1);
  // SNDHWM (per subscriber): one full answer (ack + max_window chunks) twice
  // over, so answering a well-behaved subscriber never finds its pipe full;
  // a subscriber that stops reading fills it and its answers are dropped
  // (it re-asks after its deadline) instead of blocking the publisher.
  // RCVHWM: a subscriber has one hello outstanding; 16 absorbs retries.
  int sndhwm = static_cast<int>(2 * (o.max_window + 1));
  auto sock = open_socket(*p->ctx_, zmq::socket_type::router,
                          {sndhwm, 16, max_request_bytes, o.linger, true});
  if (!sock)
    return sock.error();
  p->socket_ = std::move(*sock);
  try {
    // Report full pipes (EAGAIN) and gone peers (EHOSTUNREACH) instead of
    // silently discarding, so drops are counted.
    p->socket_.set(zmq::sockopt::router_mandatory, 1);
  } catch (const zmq::error_t& e) {
    return zmq_failure("ZMQ_ROUTER_MANDATORY", e);
  }
  if (auto err = bind_to(p->socket_, o.endpoint))
    return err;
  return p;
}

std::string weights_publisher::endpoint() const {
  return last_endpoint(socket_);
}

caf::error weights_publisher::publish(int64_t version,
                                      const std::vector<char>& blob) {
  if (version <= version_)
    return make_error(errc::version_mismatch,
                      "publish v" + std::to_string(version) + " after v"
                        + std::to_string(version_));
  auto chunks = split_weights(version, blob, opts_.chunk_bytes);
  chunks_.clear();
  chunks_.reserve(chunks.size());
  for (const auto& c : chunks)
    chunks_.push_back(encode_chunk(c));
  version_ = version;
  return caf::none;
}

caf::error weights_publisher::serve_one(deadline until) {
  auto ready = wait_readable(socket_, until);
  if (!ready)
    return ready.error();
  if (!*ready)
    return timeout_error("weights publisher");
  std::vector<zmq::message_t> parts;
  try {
    if (!zmq::recv_multipart(socket_, std::back_inserter(parts), zmq::recv_flags::dontwait))
      return caf::none;
  } catch (const zmq::error_t& e) {
    return zmq_failure("weights publisher recv", e);
  }
  auto f = parts.size() == 2
             ? decode_frame(parts[1].data<char>(), parts[1].size(), max_request_bytes)
             : caf::expected<frame>{make_error(errc::malformed_message, "not [peer, frame]")};
  if (f && f->kind != frame_kind::hello)
    f = make_error(errc::malformed_message, std::string{"unexpected kind "} + to_string(f->kind));
  if (!f) {
    ++stats_.malformed;
    log_line(opts_.log, "weights publisher dropped a request: " + describe(f.error()));
    return caf::none;
  }
  answer(parts[0], *f);
  return caf::none;
}

caf::expected<size_t> weights_publisher::serve_until(deadline until) {
  size_t before = stats_.requests;
  for (;;) {
    auto err = serve_one(until);
    if (is(err, errc::timeout))
      return static_cast<size_t>(stats_.requests - before);
    if (err)
      return err;
  }
}

bool weights_publisher::send_to(const zmq::message_t& peer, frame f) {
  f.sender = opts_.name;
  auto bytes = encode_frame(f);
  try {
    zmq::message_t id(peer.data(), peer.size());
    if (!socket_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait))
      return false; // the subscriber's pipe is full
    socket_.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::dontwait);
    return true;
  } catch (const zmq::error_t&) {
    return false; // EHOSTUNREACH: the subscriber went away
  }
}

void weights_publisher::answer(const zmq::message_t& peer, const frame& request) {
  auto h = decode_hello(request.payload.data(), request.payload.size());
  if (!h) {
    ++stats_.malformed;
    log_line(opts_.log, "weights publisher dropped a request: " + describe(h.error()));
    return;
  }
  ack_msg a{version_, 0, 0};
  if (version_ >= 0 && version_ > h->have_version) {
    auto count = static_cast<uint32_t>(chunks_.size());
    uint32_t first = h->next_version == version_ ? h->next_index : 0;
    if (first >= count)
      first = 0;
    auto window = std::clamp<uint32_t>(h->window, 1, opts_.max_window);
    a.first_index = first;
    a.chunks_following = std::min(window, count - first);
  }
  ++stats_.requests;
  bool ok = send_to(peer, frame{frame_kind::ack, {}, request.seq, encode_ack(a)});
  for (uint32_t i = 0; ok && i < a.chunks_following; ++i) {
    ok = send_to(peer, frame{frame_kind::weights_chunk, {}, request.seq,
                             chunks_[a.first_index + i]});
    stats_.chunks_sent += ok ? 1 : 0;
  }
  if (!ok) {
    ++stats_.answers_dropped;
    log_line(opts_.log, "weights publisher dropped an answer to " + request.sender
                          + ": its queue is full or it is gone");
  }
}

// -- weights_subscriber -------------------------------------------------------------

weights_subscriber::weights_subscriber(std::shared_ptr<transport_context> ctx,
                                       weights_subscriber_options opts)
  : ctx_(std::move(ctx)), opts_(std::move(opts)) {
}

caf::expected<std::unique_ptr<weights_subscriber>>
weights_subscriber::connect(std::shared_ptr<transport_context> ctx,
                            weights_subscriber_options opts) {
  std::unique_ptr<weights_subscriber> s{new weights_subscriber(std::move(ctx), std::move(opts))};
  auto& o = s->opts_;
  o.window = std::max<uint32_t>(o.window, 1);
  // SNDHWM: one hello is outstanding at a time; 4 leaves room for retries.
  // RCVHWM: one answer (ack + window chunks) twice over, so an answer is
  // never cut short by this side while a stale one is still queued.
  int rcvhwm = static_cast<int>(2 * (o.window + 1));
  auto sock = open_socket(*s->ctx_, zmq::socket_type::dealer,
                          {4, rcvhwm, o.max_chunk_bytes + frame_overhead_bytes,
                           o.linger, false});
  if (!sock)
    return sock.error();
  s->socket_ = std::move(*sock);
  if (auto err = connect_to(s->socket_, o.endpoint))
    return err;
  return s;
}

caf::expected<frame> weights_subscriber::await(frame_kind kind, uint64_t seq,
                                               deadline until) {
  for (;;) {
    auto ready = wait_readable(socket_, until);
    if (!ready)
      return ready.error();
    if (!*ready)
      return timeout_error("weights fetch");
    auto msg = recv_now(socket_);
    if (!msg)
      return msg.error();
    if (!*msg)
      continue;
    auto f = decode_frame((*msg)->data<char>(), (*msg)->size(),
                          opts_.max_chunk_bytes + frame_overhead_bytes);
    if (f && f->seq != seq) {
      ++stats_.stale; // an answer to a request that already timed out
      continue;
    }
    if (f && f->kind == kind)
      return f;
    ++stats_.malformed;
    log_line(opts_.log, "weights subscriber dropped a frame: "
                          + (f ? std::string{"unexpected kind "} + to_string(f->kind)
                               : describe(f.error())));
  }
}

caf::expected<std::optional<weights_version>>
weights_subscriber::take_chunk(const frame& f, int64_t version, uint32_t index) {
  auto c = decode_chunk(f.payload.data(), f.payload.size());
  caf::expected<std::optional<weights_version>> r{std::optional<weights_version>{}};
  if (!c)
    r = c.error();
  else if (c->version != version || c->index != index)
    r = make_error(errc::malformed_message, "chunk out of the announced order");
  else if (c->bytes.size() > opts_.max_chunk_bytes || c->total_size > opts_.max_total_bytes)
    r = make_error(errc::malformed_message, "chunk or weight set larger than allowed");
  else
    r = assembler_.add(*c);
  if (!r) {
    ++stats_.malformed;
    next_index_ = 0;
    log_line(opts_.log, "weights subscriber dropped a chunk: " + describe(r.error()));
    return r;
  }
  ++stats_.chunks;
  next_index_ = index + 1;
  if (*r) {
    have_ = (*r)->version;
    next_index_ = 0;
    ++stats_.versions;
  }
  return r;
}

caf::expected<std::optional<weights_version>>
weights_subscriber::fetch(deadline until) {
  for (;;) {
    auto seq = ++seq_;
    hello_msg h{have_, assembler_.pending_version(), next_index_, opts_.window};
    frame req{frame_kind::hello, opts_.name, seq, encode_hello(h)};
    if (auto err = send_bytes(socket_, encode_frame(req), until, "weights hello"))
      return err;
    auto ackf = await(frame_kind::ack, seq, until);
    if (!ackf)
      return ackf.error();
    auto a = decode_ack(ackf->payload.data(), ackf->payload.size());
    if (!a) {
      ++stats_.malformed;
      continue;
    }
    if (a->version <= have_)
      return std::optional<weights_version>{}; // nothing newer
    for (uint32_t i = 0; i < a->chunks_following; ++i) {
      auto cf = await(frame_kind::weights_chunk, seq, until);
      if (!cf)
        return cf.error();
      auto r = take_chunk(*cf, a->version, a->first_index + i);
      if (!r)
        break; // re-ask from a clean state
      if (*r)
        return r;
    }
  }
}

} // namespace tandem::transport
