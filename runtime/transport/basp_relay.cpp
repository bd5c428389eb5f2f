#include "runtime/transport/basp_relay.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/error.hpp"

namespace tandem::transport {

bool basp_meter::feed(const uint8_t* data, size_t n) {
  while (n > 0 && !violated_) {
    if (payload_left_ > 0) {
      auto k = static_cast<size_t>(std::min<uint64_t>(payload_left_, n));
      payload_left_ -= k;
      data += k;
      n -= k;
      continue;
    }
    auto k = std::min(header_size - header_len_, n);
    std::memcpy(header_.data() + header_len_, data, k);
    header_len_ += k;
    data += k;
    n -= k;
    if (header_len_ < header_size)
      break;
    header_len_ = 0;
    ++frames_;
    const uint8_t* p = header_.data() + length_offset;
    uint32_t len = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8)
                   | uint32_t{p[3]};
    if (len > max_payload_) {
      violated_ = true;
      announced_ = len;
      break;
    }
    payload_left_ = len;
  }
  return !violated_;
}

namespace {

/// A bounded byte buffer: append at the tail, consume at the head.
struct byte_queue {
  std::vector<uint8_t> buf;
  size_t head = 0;
  size_t tail = 0;

  explicit byte_queue(size_t capacity) : buf(capacity) {
  }
  size_t size() const { return tail - head; }
  bool empty() const { return head == tail; }
  /// Room for appending, after moving the unread bytes to the front.
  size_t room() {
    if (head == tail)
      head = tail = 0;
    else if (tail == buf.size() && head > 0) {
      std::memmove(buf.data(), buf.data() + head, size());
      tail -= head;
      head = 0;
    }
    return buf.size() - tail;
  }
};

enum class io { ok, eof, error };

/// Reads from `fd` into `q` until it would block, `q` is full, or the end.
io read_into(int fd, byte_queue& q, size_t& got) {
  got = 0;
  for (;;) {
    auto room = q.room();
    if (room == 0)
      return io::ok;
    auto n = ::recv(fd, q.buf.data() + q.tail, room, 0);
    if (n > 0) {
      q.tail += static_cast<size_t>(n);
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0)
      return io::eof;
    if (errno == EINTR)
      continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? io::ok : io::error;
  }
}

/// Writes what `q` holds to `fd` until it would block or `q` is empty.
io write_from(int fd, byte_queue& q) {
  while (!q.empty()) {
    auto n = ::send(fd, q.buf.data() + q.head, q.size(), MSG_NOSIGNAL);
    if (n > 0) {
      q.head += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? io::ok : io::error;
  }
  return io::ok;
}

} // namespace

struct basp_relay::link {
  int net;   // the authenticated peer
  int local; // our end of the socketpair whose other end CAF has
  std::string peer;
  basp_meter meter;
  byte_queue in;  // net -> local (metered)
  byte_queue out; // local -> net
  bool net_eof = false;
  bool local_eof = false;
  bool local_shut = false; // write end of `local` shut after net_eof
  bool net_shut = false;   // write end of `net` shut after local_eof

  link(int n, int l, std::string p, const basp_relay_settings& s)
    : net(n), local(l), peer(std::move(p)), meter(s.max_payload), in(s.buffer_bytes),
      out(s.buffer_bytes) {
  }
  link(link&&) = default;
  link& operator=(link&&) = default;
};

struct basp_relay::impl {
  basp_relay_settings settings;
  log_fn log;
  int wake_fd = -1;
  std::atomic<bool> stop{false}; // set after drain_until
  std::chrono::steady_clock::time_point drain_until;
  std::mutex mx;
  std::vector<link> incoming; // guarded by mx; bounded through live_
  std::vector<link> links;    // the relay thread's

  ~impl() {
    for (auto* v : {&incoming, &links})
      for (auto& l : *v) {
        ::close(l.net);
        ::close(l.local);
      }
    if (wake_fd >= 0)
      ::close(wake_fd);
  }
};

caf::expected<std::unique_ptr<basp_relay>> basp_relay::start(basp_relay_settings settings,
                                                             log_fn log) {
  std::unique_ptr<basp_relay> self{new basp_relay};
  self->impl_ = std::make_unique<impl>();
  self->impl_->settings = settings;
  self->impl_->log = std::move(log);
  self->impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (self->impl_->wake_fd < 0)
    return make_error(errc::io_failure, std::string("relay: eventfd: ") + std::strerror(errno));
  self->thread_ = std::thread([p = self.get()] { p->run(); });
  return self;
}

basp_relay::~basp_relay() {
  if (thread_.joinable()) {
    impl_->drain_until = std::chrono::steady_clock::now() + drain_deadline;
    impl_->stop = true;
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof(one));
    thread_.join();
  }
}

basp_relay_stats basp_relay::stats() const {
  return {opened_.load(), closed_.load(), over_cap_.load(), refused_.load()};
}

caf::expected<int> basp_relay::add(int net_fd, const std::string& peer) {
  if (live_.load() >= impl_->settings.max_connections) {
    refused_++; // counted before the peer can see the close
    ::close(net_fd);
    return make_error(errc::capacity_exceeded,
                      "relay: " + std::to_string(impl_->settings.max_connections)
                        + " connections open; refused " + peer);
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    auto e = errno;
    ::close(net_fd);
    return make_error(errc::io_failure, std::string("relay: socketpair: ") + std::strerror(e));
  }
  ::fcntl(net_fd, F_SETFL, ::fcntl(net_fd, F_GETFL) | O_NONBLOCK);
  {
    std::lock_guard<std::mutex> g{impl_->mx};
    impl_->incoming.emplace_back(net_fd, pair[0], peer, impl_->settings);
  }
  live_++;
  opened_++;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof(one));
  return pair[1];
}

void basp_relay::take_new_links() {
  uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(impl_->wake_fd, &count, sizeof(count));
  std::lock_guard<std::mutex> g{impl_->mx};
  for (auto& l : impl_->incoming)
    impl_->links.push_back(std::move(l));
  impl_->incoming.clear();
}

/// One round of a link: reads, meters, writes, propagates ends. False when
/// the link is over (both ends finished, an error, an over-size header).
bool basp_relay::service(link& l, short net_ev, short local_ev) {
  if ((net_ev | local_ev) & (POLLERR | POLLNVAL))
    return false;
  size_t got = 0;
  if ((net_ev & (POLLIN | POLLHUP)) && !l.net_eof) {
    auto r = read_into(l.net, l.in, got);
    if (r == io::error)
      return false;
    l.net_eof = r == io::eof;
    // Nothing left the buffer while reading: the new bytes are the last
    // `got` before the tail (room() may have moved them to the front).
    // They reach CAF only below, after the meter passed them.
    if (!l.meter.feed(l.in.buf.data() + l.in.tail - got, got)) {
      over_cap_++;
      if (impl_->log)
        impl_->log("control port: closed " + l.peer + ": a BASP header announced "
                   + std::to_string(l.meter.announced()) + " payload bytes (limit "
                   + std::to_string(impl_->settings.max_payload) + ")");
      return false;
    }
  }
  if ((local_ev & (POLLIN | POLLHUP)) && !l.local_eof) {
    auto r = read_into(l.local, l.out, got);
    if (r == io::error)
      return false;
    l.local_eof = r == io::eof;
  }
  if (write_from(l.local, l.in) == io::error || write_from(l.net, l.out) == io::error)
    return false;
  if (l.net_eof && l.in.empty() && !l.local_shut) {
    ::shutdown(l.local, SHUT_WR);
    l.local_shut = true;
  }
  if (l.local_eof && l.out.empty() && !l.net_shut) {
    ::shutdown(l.net, SHUT_WR);
    l.net_shut = true;
  }
  return !(l.net_eof && l.local_eof && l.in.empty() && l.out.empty());
}

/// True once stopping and every byte CAF wrote before closing its end went
/// out (or the drain deadline passed).
bool basp_relay::drained() const {
  auto& im = *impl_;
  if (!im.stop)
    return false;
  if (std::chrono::steady_clock::now() >= im.drain_until)
    return true;
  for (auto& l : im.links)
    if (!(l.local_eof && l.out.empty()))
      return false;
  return true;
}

void basp_relay::run() {
  auto& im = *impl_;
  std::vector<pollfd> fds;
  for (;;) {
    take_new_links(); // before drained(): a link added just before the stop counts
    if (drained())
      return;
    fds.clear();
    fds.push_back({im.wake_fd, POLLIN, 0});
    for (auto& l : im.links) {
      short net_ev = short((!l.net_eof && l.in.room() > 0 ? POLLIN : 0)
                           | (!l.out.empty() ? POLLOUT : 0));
      short local_ev = short((!l.local_eof && l.out.room() > 0 ? POLLIN : 0)
                             | (!l.in.empty() ? POLLOUT : 0));
      // An fd with nothing to wait for is left out (poll would still
      // report its hang-up, again and again).
      fds.push_back({net_ev ? l.net : -1, net_ev, 0});
      fds.push_back({local_ev ? l.local : -1, local_ev, 0});
    }
    // Running: every wait ends with traffic, a peer's end, or the stop
    // eventfd; a silent authenticated peer is BASP's to time out
    // (middleman.connection-timeout). Stopping: the drain deadline.
    int timeout_ms = -1;
    if (im.stop) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(
        im.drain_until - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(left.count(), 0));
      fds[0].fd = -1; // the stop signal stays readable: do not spin on it
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR)
      return;
    std::vector<link> keep;
    for (size_t i = 0; i < im.links.size(); ++i) {
      auto& l = im.links[i];
      if (service(l, fds[1 + 2 * i].revents, fds[2 + 2 * i].revents)) {
        keep.push_back(std::move(l));
        continue;
      }
      live_--;
      closed_++;
      ::close(l.net);
      ::close(l.local);
    }
    im.links = std::move(keep);
  }
}

} // namespace tandem::transport
