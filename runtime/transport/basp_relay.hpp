// basp_relay.hpp: the head's end of every authenticated control connection.
// CAF's BASP broker gets one end of a socketpair instead of the TCP socket;
// this relay copies bytes between the two, and on the way in reads each
// BASP header's payload size: a header that announces more than
// `max_payload` closes the connection before CAF sees it, so even a peer
// holding the secret cannot make the head allocate gigabytes on CAF's I/O
// thread (docs/control-auth.md).
//
// basp_meter is the header reader alone (no sockets). BASP 0.17 frames a
// stream as [32-byte header][payload]; the header's bytes 4..7 are the
// payload length, big endian (CAF's io/basp/header.hpp).
//
// Bounds: each direction of a connection buffers at most `buffer_bytes`
// (a full buffer stops reading its source: TCP flow control pushes back);
// at most `max_connections` connections (more are refused at add()).
// States of the relay: running (start) -> draining (destructor: until every
// connection's CAF end has closed and what it wrote went out, at most
// drain_deadline) -> stopped (the thread joined, every socket closed). A connection: open -> half
// closed (one side ended: what it sent is still delivered, then the other
// side's write end is shut) -> closed (both ended, an error, or an
// over-size header: both sockets closed at once).
// Thread safety: add() and stats() from any thread; the rest runs on the
// relay's thread; log_fn is called there.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/expected.hpp>

namespace tandem::transport {

class basp_meter {
public:
  static constexpr size_t header_size = 32;
  static constexpr size_t length_offset = 4;

  explicit basp_meter(uint32_t max_payload) : max_payload_(max_payload) {
  }

  /// Reads `n` more bytes of the stream; false from the first header that
  /// announces more than max_payload on (and for every later call).
  bool feed(const uint8_t* data, size_t n);

  bool violated() const { return violated_; }
  /// The payload size the offending header announced (0 unless violated).
  uint32_t announced() const { return announced_; }
  uint64_t frames() const { return frames_; }

private:
  uint32_t max_payload_;
  std::array<uint8_t, header_size> header_{};
  size_t header_len_ = 0;
  uint64_t payload_left_ = 0;
  uint64_t frames_ = 0;
  uint32_t announced_ = 0;
  bool violated_ = false;
};

struct basp_relay_settings {
  // The largest BASP payload a peer may announce to the head. Workers send
  // rollout groups, health reports and requests: kilobytes to a few
  // megabytes. 64 MiB leaves room for large groups and stops the
  // gigabyte-sized announcements a broken or hostile peer could make.
  uint32_t max_payload = 64u << 20;
  // Per direction and connection; 256 KiB keeps a loopback link near its
  // full speed while 256 connections stay within 128 MiB.
  size_t buffer_bytes = 256u << 10;
  // Far above any run's worker count; bounds descriptors and buffers.
  size_t max_connections = 256;
};

struct basp_relay_stats {
  uint64_t opened = 0;
  uint64_t closed = 0;
  uint64_t over_cap = 0;   // closed for an over-size announcement
  uint64_t refused = 0;    // add() beyond max_connections
};

class basp_relay {
public:
  /// How long the destructor keeps passing on what CAF wrote before it
  /// closed its ends (a stopping head's last messages to its workers).
  static constexpr std::chrono::milliseconds drain_deadline{2000};

  using log_fn = std::function<void(const std::string& line)>;

  static caf::expected<std::unique_ptr<basp_relay>> start(basp_relay_settings settings,
                                                          log_fn log);
  ~basp_relay();
  basp_relay(const basp_relay&) = delete;
  basp_relay& operator=(const basp_relay&) = delete;

  /// Takes `net_fd` (an authenticated peer's socket; closed on failure too)
  /// and returns the socket to give CAF (non-blocking, the caller owns it).
  /// errc::capacity_exceeded at max_connections, errc::io_failure when no
  /// socketpair can be made.
  caf::expected<int> add(int net_fd, const std::string& peer);

  basp_relay_stats stats() const;

private:
  struct link;
  struct impl;
  basp_relay() = default;
  void run();
  bool drained() const;
  void take_new_links();
  bool service(link& l, short net_ev, short local_ev);

  std::unique_ptr<impl> impl_;
  std::thread thread_;
  std::atomic<uint64_t> opened_{0};
  std::atomic<uint64_t> closed_{0};
  std::atomic<uint64_t> over_cap_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<size_t> live_{0};
};

} // namespace tandem::transport
