// socket_collective.cpp: see socket_collective.hpp (wire, progress, failures).
#include "runtime/transport/socket_collective.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <iostream>
#include <type_traits>

#include "runtime/error.hpp"

namespace tandem::transport {

using nccl::float_span;
using nccl::reduce_op;
using nccl::ticket;
using nccl::time_point;

struct socket_collective::header {
  uint32_t magic = 0;
  uint8_t kind = 0;
  uint8_t op = 0;
  uint8_t code = 0; // abort: the errc
  uint8_t unused = 0;
  int32_t rank = -1;  // sender
  int32_t blame = -1; // abort: the rank that failed (-1: none known)
  uint64_t group = 0;
  uint64_t index = 0; // operation index
  uint64_t count = 0; // floats of the whole operation
  uint64_t reserved = 0;
};

namespace {

using header = socket_collective::header;
static_assert(std::is_trivially_copyable_v<header> && sizeof(header) == 48);

constexpr uint32_t magic = 0x43524454; // "TDRC"
enum kind : uint8_t { contribute = 1, result = 2, abort_kind = 3, leave = 4 };

std::string routing_id(int rank) {
  return "rank-" + std::to_string(rank);
}

std::string op_name(reduce_op op, uint64_t k) {
  return std::string(nccl::to_string(op)) + " #" + std::to_string(k);
}

int remaining_ms(time_point until) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(until - nccl::clock_type::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX));
}

/// Floats a rank sends with its input (all_gather: its shard only).
uint64_t contribution_floats(reduce_op op, uint64_t count, int ranks) {
  return op == reduce_op::all_gather ? count / static_cast<uint64_t>(ranks) : count;
}

/// Floats rank 0 answers with (reduce_scatter: the receiver's shard only).
uint64_t result_floats(reduce_op op, uint64_t count, int ranks) {
  return op == reduce_op::reduce_scatter ? count / static_cast<uint64_t>(ranks) : count;
}

/// The text of a tandem error (its context string), else its description.
std::string text_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return describe(err);
}

errc code_of(const caf::error& err) {
  return err.category() == error_category ? static_cast<errc>(err.code())
                                          : errc::backend_failure;
}

} // namespace

socket_collective::socket_collective(std::shared_ptr<transport_context> ctx,
                                     socket_collective_options opts)
  : ctx_(std::move(ctx)), opts_(std::move(opts)) {}

caf::expected<std::unique_ptr<socket_collective>>
socket_collective::make(std::shared_ptr<transport_context> ctx, socket_collective_options opts) {
  if (!ctx)
    return make_error(errc::invalid_argument, "socket collective: no transport context");
  if (opts.ranks < 2 || opts.rank < 0 || opts.rank >= opts.ranks)
    return make_error(errc::invalid_argument,
                      "socket collective: rank " + std::to_string(opts.rank) + " of "
                        + std::to_string(opts.ranks) + " (needs 0 <= rank < ranks, ranks >= 2)");
  if (opts.endpoint.empty())
    return make_error(errc::invalid_argument, "socket collective: no endpoint");
  std::unique_ptr<socket_collective> c{new socket_collective(std::move(ctx), std::move(opts))};
  const bool root = c->root();
  try {
    c->socket_ = zmq::socket_t(c->ctx_->zmq(), root ? zmq::socket_type::router
                                                    : zmq::socket_type::dealer);
    auto& s = c->socket_;
    s.set(zmq::sockopt::linger, static_cast<int>(c->opts_.linger.count()));
    // max_pending operations in flight, one message each per peer, plus the
    // abort/leave notes: a correct peer never reaches it (see the header).
    const int hwm = static_cast<int>(max_pending + 16);
    s.set(zmq::sockopt::sndhwm, hwm);
    s.set(zmq::sockopt::rcvhwm, hwm);
    s.set(zmq::sockopt::maxmsgsize,
          static_cast<int64_t>(c->opts_.max_floats * sizeof(float) + sizeof(header)));
    if (root) {
      s.set(zmq::sockopt::router_mandatory, 1); // a send to a gone rank fails, never drops
      if (auto err = apply_curve_server(s, c->ctx_->keys()))
        return err;
      s.bind(c->opts_.endpoint);
    } else {
      s.set(zmq::sockopt::routing_id, routing_id(c->opts_.rank));
      if (auto err = apply_curve_client(s, c->ctx_->keys()))
        return err;
      s.connect(c->opts_.endpoint);
    }
  } catch (const zmq::error_t& e) {
    return make_error(errc::io_failure, std::string("socket collective rank ")
                                          + std::to_string(c->opts_.rank) + ": "
                                          + (root ? "bind " : "connect ") + c->opts_.endpoint
                                          + ": " + e.what());
  }
  return c;
}

socket_collective::~socket_collective() {
  if (ready_)
    tell_peers(leave, make_error(errc::peer_down, "closed"), opts_.rank);
}

std::string socket_collective::endpoint() const {
  if (!root())
    return opts_.endpoint;
  try {
    return socket_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t&) {
    return {};
  }
}

caf::error socket_collective::drop(const std::string& why) {
  ++stats_.dropped;
  const auto line = "socket collective rank " + std::to_string(opts_.rank)
                    + " dropped a message: " + why;
  if (opts_.log)
    opts_.log(line);
  else
    std::cerr << "[transport] " << line << "\n";
  return caf::none;
}

void socket_collective::set_peer_error(caf::error err, int blame) {
  if (peer_error_)
    return; // the first cause wins
  peer_error_ = std::move(err);
  peer_blame_ = blame;
}

// Best effort, no waiting: a peer that cannot take the note now learns of the
// failure at its own deadline.
void socket_collective::tell_peers(uint8_t k, const caf::error& err, int blame) {
  header h;
  h.magic = magic;
  h.kind = k;
  h.code = static_cast<uint8_t>(code_of(err));
  h.rank = opts_.rank;
  h.blame = blame;
  h.group = opts_.group;
  const auto text = text_of(err);
  const auto now = nccl::clock_type::now();
  if (!root()) {
    (void) send_parts({}, h, text.data(), text.size(), now);
    return;
  }
  for (int q = 1; q < opts_.ranks; ++q)
    (void) send_parts(routing_id(q), h, text.data(), text.size(), now);
}

caf::error socket_collective::fail(caf::error err, int blame) {
  if (!ready_)
    return err;
  ready_ = false;
  tell_peers(abort_kind, err, blame);
  pending_.clear();
  ops_.clear();
  return err;
}

caf::error socket_collective::send_parts(const std::string& to, const header& h,
                                         const void* data, size_t bytes, time_point until) {
  for (;;) {
    try {
      // Only the first part may find the queue full: once it is accepted,
      // libzmq takes the rest of the message.
      const auto first = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
      const bool sent = root() ? socket_.send(zmq::buffer(to), first).has_value()
                               : socket_.send(zmq::message_t(&h, sizeof h), first).has_value();
      if (sent) {
        if (root())
          socket_.send(zmq::message_t(&h, sizeof h), zmq::send_flags::sndmore);
        socket_.send(zmq::message_t(data, bytes), zmq::send_flags::none);
        return caf::none;
      }
    } catch (const zmq::error_t& e) {
      if (e.num() == EHOSTUNREACH)
        return make_error(errc::peer_down, "rank 0 cannot reach " + to + " (not connected)");
      if (e.num() != EAGAIN && e.num() != EINTR)
        return make_error(errc::backend_failure, std::string("send: ") + e.what());
    }
    const int ms = remaining_ms(until);
    if (ms == 0)
      return make_error(errc::collective_timeout,
                        root() ? to + " does not take messages (queue full) by the deadline"
                               : std::string("rank 0 does not take messages by the deadline"));
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLOUT, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(ms));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR)
        return make_error(errc::backend_failure, std::string("poll: ") + e.what());
    }
  }
}

void socket_collective::abort_from_outside(int blame, caf::error why) {
  std::lock_guard<std::mutex> guard{outside_mutex_};
  if (outside_.load())
    return;
  outside_error_ = std::move(why);
  outside_blame_ = blame;
  outside_.store(true);
}

bool socket_collective::take_outside_abort() {
  if (!outside_.load())
    return false;
  std::lock_guard<std::mutex> guard{outside_mutex_};
  set_peer_error(outside_error_, outside_blame_);
  return true;
}

// How long one poll may wait before looking for an abort_from_outside().
constexpr int outside_check_ms = 100;

caf::error socket_collective::receive_one(time_point until, bool& got) {
  got = false;
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1,
              std::chrono::milliseconds(std::min(remaining_ms(until), outside_check_ms)));
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR)
      return caf::none;
    return make_error(errc::backend_failure, std::string("poll: ") + e.what());
  }
  if (!(item.revents & ZMQ_POLLIN))
    return caf::none;
  std::vector<zmq::message_t> parts;
  try {
    for (;;) {
      zmq::message_t m;
      if (!socket_.recv(m, zmq::recv_flags::dontwait))
        return caf::none;
      const bool more = m.more();
      if (parts.size() < 4) // a longer message is malformed; read it to its end
        parts.push_back(std::move(m));
      if (!more)
        break;
    }
  } catch (const zmq::error_t& e) {
    return make_error(errc::backend_failure, std::string("recv: ") + e.what());
  }
  got = true;
  const size_t want = root() ? 3 : 2;
  if (parts.size() != want)
    return drop(std::to_string(parts.size()) + " parts");
  const auto& hp = parts[want - 2];
  if (hp.size() != sizeof(header))
    return drop("a header of " + std::to_string(hp.size()) + " bytes");
  header h;
  std::memcpy(&h, hp.data(), sizeof h);
  if (h.magic != magic)
    return drop("wrong magic");
  if (h.group != opts_.group)
    return drop("group " + std::to_string(h.group) + " (this is "
                + std::to_string(opts_.group) + ")");
  if (root())
    return on_root_message(parts[0].to_string(), h, std::move(parts[2]));
  return on_member_message(h, std::move(parts[1]));
}

// -- rank 0 ---------------------------------------------------------------------

caf::error socket_collective::note(gathered& g, int r, reduce_op op, uint64_t count,
                                   uint64_t k) const {
  if (g.first_rank < 0) {
    g.op = op;
    g.count = count;
    g.first_rank = r;
    g.in.resize(static_cast<size_t>(opts_.ranks));
    g.have.assign(static_cast<size_t>(opts_.ranks), false);
    return caf::none;
  }
  if (g.op == op && g.count == count)
    return caf::none;
  return make_error(errc::backend_failure,
                    "operation #" + std::to_string(k) + ": rank " + std::to_string(r) + " posted "
                      + nccl::to_string(op) + " of " + std::to_string(count) + " floats, rank "
                      + std::to_string(g.first_rank) + " " + nccl::to_string(g.op) + " of "
                      + std::to_string(g.count));
}

caf::error socket_collective::on_root_message(const std::string& from, const header& h,
                                              zmq::message_t payload) {
  if (h.rank < 1 || h.rank >= opts_.ranks)
    return drop("sender rank " + std::to_string(h.rank));
  if (from != routing_id(h.rank))
    return drop("rank " + std::to_string(h.rank) + " sent as " + from);
  const auto r = static_cast<size_t>(h.rank);
  if (h.kind == leave) {
    set_peer_error(make_error(errc::peer_down, "rank " + std::to_string(h.rank) + " left"),
                   h.rank);
    return caf::none;
  }
  if (h.kind == abort_kind) {
    const auto code = h.code <= static_cast<uint8_t>(errc::in_use) && h.code != 0
                        ? static_cast<errc>(h.code)
                        : errc::backend_failure;
    set_peer_error(make_error(code, "rank " + std::to_string(h.rank)
                                      + " failed: " + payload.to_string()),
                   h.blame >= 0 && h.blame < opts_.ranks ? h.blame : h.rank);
    return caf::none;
  }
  if (h.kind != contribute || h.op > static_cast<uint8_t>(reduce_op::all_gather))
    return drop("kind " + std::to_string(h.kind));
  const auto op = static_cast<reduce_op>(h.op);
  const auto n = static_cast<uint64_t>(opts_.ranks);
  if (h.count > opts_.max_floats || (op != reduce_op::all_reduce && h.count % n != 0)
      || payload.size() != contribution_floats(op, h.count, opts_.ranks) * sizeof(float))
    return drop("rank " + std::to_string(h.rank) + ": " + op_name(op, h.index) + " of "
                + std::to_string(h.count) + " floats with " + std::to_string(payload.size())
                + " bytes");
  const uint64_t done = pending_.empty() ? next_ : pending_.front().id;
  if (h.index < done || h.index >= done + max_pending) {
    set_peer_error(make_error(errc::backend_failure,
                              "rank " + std::to_string(h.rank) + " sent operation #"
                                + std::to_string(h.index) + " while rank 0 is at #"
                                + std::to_string(done)),
                   h.rank);
    return caf::none;
  }
  auto& g = ops_[h.index];
  if (auto err = note(g, h.rank, op, h.count, h.index)) {
    set_peer_error(std::move(err), h.rank);
    return caf::none;
  }
  if (g.have[r]) {
    set_peer_error(make_error(errc::backend_failure, "rank " + std::to_string(h.rank)
                                                       + " sent operation #"
                                                       + std::to_string(h.index) + " twice"),
                   h.rank);
    return caf::none;
  }
  g.in[r] = std::move(payload);
  g.have[r] = true;
  return caf::none;
}

caf::error socket_collective::root_wait_one(const pending& p, time_point until) {
  for (;;) {
    take_outside_abort();
    if (peer_error_)
      return fail(peer_error_, peer_blame_);
    auto& g = ops_[p.id];
    int missing = -1;
    for (int q = 1; q < opts_.ranks && missing < 0; ++q)
      if (!g.have[static_cast<size_t>(q)])
        missing = q;
    if (missing < 0)
      return root_answer(p, g, until);
    bool got = false;
    if (auto err = receive_one(until, got))
      return fail(std::move(err), -1);
    if (!got && nccl::clock_type::now() >= until)
      return fail(make_error(errc::collective_timeout,
                             op_name(p.op, p.id) + ": rank " + std::to_string(missing)
                               + " did not join by the deadline"),
                  missing);
  }
}

// Sums in rank order (((x0 + x1) + x2) ...), as thread_group_collective does,
// into this rank's buffer, then answers every rank. Inputs are read with
// memcpy: a received message's bytes need not be float-aligned.
caf::error socket_collective::root_answer(const pending& p, gathered& g, time_point until) {
  const auto n = static_cast<size_t>(opts_.ranks);
  const size_t count = p.data.count;
  const size_t shard = count / n;
  float* own = p.data.data;
  if (p.op == reduce_op::all_gather) {
    for (size_t q = 1; q < n; ++q)
      std::memcpy(own + q * shard, g.in[q].data(), shard * sizeof(float));
  } else {
    std::vector<const char*> in(n);
    for (size_t q = 1; q < n; ++q)
      in[q] = static_cast<const char*>(g.in[q].data());
    for (size_t i = 0; i < count; ++i) {
      float sum = own[i];
      for (size_t q = 1; q < n; ++q) {
        float x;
        std::memcpy(&x, in[q] + i * sizeof(float), sizeof x);
        sum += x;
      }
      own[i] = sum;
    }
  }
  header h;
  h.magic = magic;
  h.kind = result;
  h.op = static_cast<uint8_t>(p.op);
  h.rank = 0;
  h.group = opts_.group;
  h.index = p.id;
  h.count = count;
  const size_t floats = result_floats(p.op, count, opts_.ranks);
  for (size_t q = 1; q < n; ++q) {
    const float* from = p.op == reduce_op::reduce_scatter ? own + q * shard : own;
    if (auto err = send_parts(routing_id(static_cast<int>(q)), h, from,
                              floats * sizeof(float), until))
      return fail(std::move(err), static_cast<int>(q));
  }
  ops_.erase(p.id);
  ++stats_.operations;
  return caf::none;
}

// -- rank r > 0 -----------------------------------------------------------------

caf::error socket_collective::on_member_message(const header& h, zmq::message_t payload) {
  if (h.rank != 0)
    return drop("sender rank " + std::to_string(h.rank) + " (only rank 0 answers)");
  if (h.kind == abort_kind || h.kind == leave) {
    const auto code = h.kind == leave ? errc::peer_down
                      : h.code <= static_cast<uint8_t>(errc::in_use) && h.code != 0
                        ? static_cast<errc>(h.code)
                        : errc::backend_failure;
    const auto text = h.kind == leave ? std::string("rank 0 left")
                                      : "rank 0 reports: " + payload.to_string();
    set_peer_error(make_error(code, text),
                   h.blame >= 0 && h.blame < opts_.ranks ? h.blame : 0);
    return caf::none;
  }
  if (h.kind != result)
    return drop("kind " + std::to_string(h.kind));
  if (pending_.empty() || front_answered_ || h.index != pending_.front().id) {
    set_peer_error(make_error(errc::backend_failure,
                              "rank 0 answered operation #" + std::to_string(h.index)
                                + " out of order"),
                   0);
    return caf::none;
  }
  const auto& p = pending_.front();
  const size_t floats = result_floats(p.op, p.data.count, opts_.ranks);
  if (h.op != static_cast<uint8_t>(p.op) || h.count != p.data.count
      || payload.size() != floats * sizeof(float)) {
    set_peer_error(make_error(errc::backend_failure,
                              op_name(p.op, p.id) + ": rank 0 answered with "
                                + std::to_string(payload.size()) + " bytes"),
                   0);
    return caf::none;
  }
  float* to = p.op == reduce_op::reduce_scatter
                ? p.data.data + static_cast<size_t>(opts_.rank) * floats
                : p.data.data;
  std::memcpy(to, payload.data(), payload.size());
  front_answered_ = true;
  return caf::none;
}

caf::error socket_collective::member_wait_one(const pending& p, time_point until) {
  for (;;) {
    if (front_answered_) {
      front_answered_ = false;
      ++stats_.operations;
      return caf::none;
    }
    take_outside_abort();
    if (peer_error_)
      return fail(peer_error_, peer_blame_);
    bool got = false;
    if (auto err = receive_one(until, got))
      return fail(std::move(err), -1);
    if (!got && nccl::clock_type::now() >= until)
      return fail(make_error(errc::collective_timeout,
                             op_name(p.op, p.id)
                               + ": rank 0 did not answer by the deadline"),
                  0);
  }
}

// -- both -------------------------------------------------------------------------

caf::expected<ticket> socket_collective::post(reduce_op op, float_span data,
                                              time_point until) {
  const auto self = "rank " + std::to_string(opts_.rank) + ": ";
  if (!ready_)
    return make_error(errc::not_ready, self + "closed");
  const auto n = static_cast<uint64_t>(opts_.ranks);
  if (op != reduce_op::all_reduce && data.count % n != 0)
    return make_error(errc::invalid_argument, self + nccl::to_string(op) + " of "
                                                + std::to_string(data.count) + " floats on "
                                                + std::to_string(n)
                                                + " ranks: pad to a multiple");
  if (data.count > opts_.max_floats)
    return make_error(errc::invalid_argument, self + std::to_string(data.count)
                                                + " floats exceed max_floats");
  if (pending_.size() >= max_pending)
    return make_error(errc::capacity_exceeded,
                      self + std::to_string(max_pending) + " operations not yet waited for");
  if (take_outside_abort())
    return fail(peer_error_, peer_blame_);
  const uint64_t k = next_;
  if (root()) {
    auto& g = ops_[k];
    if (auto err = note(g, 0, op, data.count, k))
      return fail(std::move(err), g.first_rank);
    g.have[0] = true;
  } else {
    header h;
    h.magic = magic;
    h.kind = contribute;
    h.op = static_cast<uint8_t>(op);
    h.rank = opts_.rank;
    h.group = opts_.group;
    h.index = k;
    h.count = data.count;
    const size_t floats = contribution_floats(op, data.count, opts_.ranks);
    const float* from = op == reduce_op::all_gather
                          ? data.data + static_cast<size_t>(opts_.rank) * floats
                          : data.data;
    if (auto err = send_parts({}, h, from, floats * sizeof(float), until))
      return fail(std::move(err), 0);
  }
  pending_.push_back({k, op, data});
  return next_++;
}

caf::error socket_collective::wait(ticket t, time_point until) {
  if (!ready_)
    return make_error(errc::not_ready, "rank " + std::to_string(opts_.rank) + ": closed");
  if (t >= next_)
    return make_error(errc::invalid_argument,
                      "wait: ticket " + std::to_string(t) + " was not posted");
  while (!pending_.empty() && pending_.front().id <= t) {
    const auto p = pending_.front();
    if (auto err = root() ? root_wait_one(p, until) : member_wait_one(p, until))
      return err; // fail() closed this member already
    pending_.pop_front();
  }
  return caf::none;
}

} // namespace tandem::transport
