// fake_channel.hpp: an in-memory frame_sink + frame_source for tests of code
// that uses the data plane without sockets.
//
// Same contract as the ZeroMQ channels: send() blocks at capacity until its
// deadline, then returns errc::timeout (never drops); recv() waits until its
// deadline, then returns errc::timeout.
//
// Thread safety: all members are safe from any thread (one mutex).
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

#include "runtime/error.hpp"
#include "runtime/transport/zmq_channel.hpp"

namespace tandem::transport {

class fake_channel : public frame_sink, public frame_source {
public:
  /// `capacity` plays the role of the HWM.
  explicit fake_channel(size_t capacity) : capacity_(capacity) {
  }

  caf::error send(frame f, deadline until) override {
    std::unique_lock<std::mutex> guard{mtx_};
    if (!cv_.wait_until(guard, until, [&] { return queue_.size() < capacity_; }))
      return make_error(errc::timeout, "fake channel full until the deadline");
    f.seq = next_seq_++;
    queue_.push_back(std::move(f));
    cv_.notify_all();
    return caf::none;
  }

  caf::expected<frame> recv(deadline until) override {
    std::unique_lock<std::mutex> guard{mtx_};
    if (!cv_.wait_until(guard, until, [&] { return !queue_.empty(); }))
      return make_error(errc::timeout, "fake channel empty until the deadline");
    auto f = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    return f;
  }

private:
  size_t capacity_;
  uint64_t next_seq_ = 0;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<frame> queue_; // bounded by capacity_ (the fake's HWM)
};

} // namespace tandem::transport
