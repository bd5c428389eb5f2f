// zmq_channel.hpp: tandem's data plane over ZeroMQ: rollout batches
// (PUSH/PULL) and weight versions (ROUTER/DEALER), framed by frame.hpp.
// Control stays on CAF; these classes only move bytes with deadlines.
//
// Ownership and shutdown: every channel holds a shared_ptr to one
// transport_context (one zmq::context_t per process, so inproc endpoints work
// and the ZAP handler sees every socket). A channel closes its socket in its
// destructor; ZMQ_LINGER (default 1000 ms) bounds how long unsent frames keep
// the context's termination waiting, so shutdown never hangs and frames still
// queued after that are lost (the controller's deadlines requeue that work).
//
// Limits on every socket: ZMQ_MAXMSGSIZE = the channel's max frame bytes, so
// libzmq drops an oversized message (and disconnects its sender) while
// decoding its header, before allocating it; decode_frame checks the same
// bound again. Every socket runs CURVE (transport_context), loopback
// included.
//
// Thread safety: a channel is used by one thread at a time (ZeroMQ sockets
// are not thread-safe); stats() likewise. Different channels sharing one
// transport_context may live on different threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <zmq.hpp>

#include "runtime/transport/auth.hpp"
#include "runtime/transport/frame.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem::transport {

using clock = std::chrono::steady_clock;
using deadline = clock::time_point;

/// Receives log lines (malformed frames, dropped answers). Never gets secrets.
using log_fn = std::function<void(const std::string&)>;

/// One zmq context plus the CURVE keys and the ZAP handler. There is no
/// unauthenticated mode: every socket a channel opens is a CURVE server
/// (binding side, with the ZAP check) or client (connecting side), loopback
/// included, so a peer without the run's secret never gets a frame to the
/// decoder. Destruction stops the ZAP handler, then terminates the context
/// (which waits for channels' linger; channels hold a shared_ptr, so they are
/// gone by then).
class transport_context {
public:
  /// Every socket uses `keys`; the ZAP handler admits keys.client only.
  static caf::expected<std::shared_ptr<transport_context>> make(curve_keys keys);

  /// Derives the keys from `secret` (see auth.hpp); errc::invalid_argument
  /// for a secret shorter than min_secret_bytes (an empty one included).
  static caf::expected<std::shared_ptr<transport_context>>
  with_secret(const std::string& secret);

  zmq::context_t& zmq() { return ctx_; }
  const curve_keys& keys() const { return keys_; }
  zap_stats zap() const { return zap_->stats(); }

private:
  transport_context() = default;
  zmq::context_t ctx_; // first member: destroyed last
  curve_keys keys_;
  std::unique_ptr<zap_handler> zap_; // never null once make() returned
};

// -- interfaces (fakes in fake_channel.hpp) -------------------------------------

class frame_sink {
public:
  virtual ~frame_sink() = default;
  /// Queues `f` for delivery, blocking at most until `until`.
  virtual caf::error send(frame f, deadline until) = 0;
};

class frame_source {
public:
  virtual ~frame_source() = default;
  /// The next well-formed frame, or errc::timeout at `until`.
  virtual caf::expected<frame> recv(deadline until) = 0;
};

// -- rollouts: PUSH (connects) -> PULL (binds) ---------------------------------

struct rollout_channel_options {
  std::string endpoint;        // "tcp://127.0.0.1:5601"; bind side may use port *
  std::string name = "tandem"; // stamped into every sent frame
  // Frames queued per peer before send() blocks. 64 batches of rollouts is
  // several learner steps of work: enough to ride out a learner pause, small
  // enough that a dead receiver is noticed within a few sends.
  int hwm = 64;
  // 64 MiB: ~4M tokens of rollouts (about 17 bytes per token on the wire).
  size_t max_frame_bytes = size_t{64} << 20;
  std::chrono::milliseconds linger{1000};
  log_fn log; // default: stderr
};

struct receiver_stats {
  uint64_t frames = 0;    // well-formed frames handed to the caller
  uint64_t malformed = 0; // rejected: bad envelope, kind or payload
};

class rollout_sender : public frame_sink {
public:
  static caf::expected<std::unique_ptr<rollout_sender>>
  connect(std::shared_ptr<transport_context> ctx, rollout_channel_options opts);

  /// Stamps the sender name and the next sequence number into `f` and queues
  /// it. At the HWM the sender BLOCKS until `until`, then returns
  /// errc::timeout; it never drops silently, because a rollout is accepted
  /// work that the controller counts on. Success means queued in libzmq, not
  /// delivered.
  caf::error send(frame f, deadline until) override;

  caf::error send_rollouts(const std::vector<rollout_group>& groups, deadline until);

private:
  rollout_sender(std::shared_ptr<transport_context> ctx, rollout_channel_options opts);
  std::shared_ptr<transport_context> ctx_;
  rollout_channel_options opts_;
  zmq::socket_t socket_;
  uint64_t next_seq_ = 0;
};

class rollout_receiver : public frame_source {
public:
  static caf::expected<std::unique_ptr<rollout_receiver>>
  bind(std::shared_ptr<transport_context> ctx, rollout_channel_options opts);

  /// The bound endpoint (resolves "tcp://127.0.0.1:*" to the real port).
  std::string endpoint() const;

  /// Waits until `until` for a well-formed rollouts frame. Malformed frames
  /// are logged, counted and skipped; waiting continues within the same
  /// deadline. errc::timeout when it passes.
  caf::expected<frame> recv(deadline until) override;

  /// recv() plus decode_rollouts; an undecodable payload counts as malformed
  /// and is skipped like a bad envelope.
  caf::expected<std::vector<rollout_group>> recv_rollouts(deadline until);

  receiver_stats stats() const { return stats_; }

private:
  rollout_receiver(std::shared_ptr<transport_context> ctx, rollout_channel_options opts);
  caf::expected<frame> recv_checked(deadline until, bool decode_payload,
                                    std::vector<rollout_group>* groups);
  std::shared_ptr<transport_context> ctx_;
  rollout_channel_options opts_;
  zmq::socket_t socket_;
  receiver_stats stats_;
};

// -- weights: ROUTER publisher (binds) <- DEALER subscribers (connect) ---------
//
// Request-driven: a subscriber sends hello{have_version, next_version,
// next_index, window}; the publisher answers with an ack{version, first_index,
// n} and then n <= window chunks of its NEWEST version (nothing when the
// subscriber is current). The subscriber asks again for the rest. A slow
// subscriber thus never accumulates a backlog: nothing is pushed that it did
// not ask for, and versions published while it was busy are skipped, since
// only the newest is ever served. The publisher keeps only the newest version.

struct weights_publisher_options {
  std::string endpoint;
  std::string name = "weights";
  size_t chunk_bytes = default_chunk_bytes;
  // Largest answer (in chunks) to one hello; bounds what one subscriber can
  // have in flight: window x chunk_bytes (8 MiB by default).
  uint32_t max_window = 8;
  std::chrono::milliseconds linger{1000};
  log_fn log;
};

struct publisher_stats {
  uint64_t requests = 0;       // well-formed hellos answered
  uint64_t malformed = 0;      // rejected requests
  uint64_t answers_dropped = 0; // subscriber's pipe full or subscriber gone
  uint64_t chunks_sent = 0;
};

class weights_publisher {
public:
  static caf::expected<std::unique_ptr<weights_publisher>>
  bind(std::shared_ptr<transport_context> ctx, weights_publisher_options opts);

  std::string endpoint() const;

  /// Makes `version` the newest one served; older versions are forgotten.
  caf::error publish(int64_t version, const std::vector<char>& blob);

  int64_t newest_version() const { return version_; }

  /// Answers at most one request; errc::timeout if none came by `until`.
  caf::error serve_one(deadline until);

  /// Answers requests until `until`; returns how many were answered.
  caf::expected<size_t> serve_until(deadline until);

  publisher_stats stats() const { return stats_; }

private:
  weights_publisher(std::shared_ptr<transport_context> ctx, weights_publisher_options opts);
  void answer(const zmq::message_t& peer, const frame& request);
  bool send_to(const zmq::message_t& peer, frame f);
  std::shared_ptr<transport_context> ctx_;
  weights_publisher_options opts_;
  zmq::socket_t socket_;
  int64_t version_ = -1;
  std::vector<std::vector<char>> chunks_; // encoded weights_chunk payloads
  publisher_stats stats_;
};

struct weights_subscriber_options {
  std::string endpoint;
  std::string name = "subscriber";
  uint32_t window = 8;                        // chunks asked for per hello
  size_t max_chunk_bytes = default_chunk_bytes; // must be >= publisher's chunk_bytes
  uint64_t max_total_bytes = weights_assembler::max_total_bytes;
  std::chrono::milliseconds linger{1000};
  log_fn log;
};

struct subscriber_stats {
  uint64_t versions = 0;  // complete, checksummed versions delivered
  uint64_t chunks = 0;    // chunks accepted into assembly
  uint64_t malformed = 0; // rejected frames or chunks
  uint64_t stale = 0;     // answers to an earlier, timed-out request
};

class weights_subscriber {
public:
  static caf::expected<std::unique_ptr<weights_subscriber>>
  connect(std::shared_ptr<transport_context> ctx, weights_subscriber_options opts);

  /// Asks for the newest version it lacks and assembles it. Returns the
  /// complete, checksum-verified version; std::nullopt when the publisher
  /// has nothing newer; errc::timeout at `until` (assembly progress is kept
  /// for the next call).
  caf::expected<std::optional<weights_version>> fetch(deadline until);

  /// Newest complete version delivered (-1: none).
  int64_t version() const { return have_; }

  subscriber_stats stats() const { return stats_; }

private:
  weights_subscriber(std::shared_ptr<transport_context> ctx, weights_subscriber_options opts);
  caf::expected<frame> await(frame_kind kind, uint64_t seq, deadline until);
  caf::expected<std::optional<weights_version>> take_chunk(const frame& f,
                                                           int64_t version,
                                                           uint32_t index);
  std::shared_ptr<transport_context> ctx_;
  weights_subscriber_options opts_;
  zmq::socket_t socket_;
  weights_assembler assembler_;
  int64_t have_ = -1;
  uint32_t next_index_ = 0;
  uint64_t seq_ = 0;
  subscriber_stats stats_;
};

} // namespace tandem::transport
