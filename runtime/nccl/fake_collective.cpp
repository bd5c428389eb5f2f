// fake_collective.cpp: the single-threaded fabric and its ranks.
#include "runtime/nccl/fake_collective.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "runtime/error.hpp"

namespace tandem::nccl {

// -- fake_fabric --------------------------------------------------------------

size_t fake_fabric::broadcasts(const comm_id& id) const {
  auto i = comms_.find(id.bytes);
  return i == comms_.end() ? 0 : i->second.ops.size();
}

comm_id fake_fabric::next_id() {
  comm_id id;
  auto n = ++ids_made_;
  for (size_t i = 0; i < sizeof(n); ++i)
    id.bytes[i] = static_cast<uint8_t>(n >> (8 * i));
  id.bytes[comm_id::size - 1] = 0xfa; // never all-zero, like a real id
  return id;
}

int fake_fabric::add_endpoint() {
  dead_at_.push_back(time_point::max());
  return static_cast<int>(dead_at_.size()) - 1;
}

fake_fabric::comm_state* fake_fabric::find(const comm_id& id) {
  auto i = comms_.find(id.bytes);
  return i == comms_.end() ? nullptr : &i->second;
}

bool fake_fabric::peers_alive(const comm_state& c, int self, time_point t) const {
  for (auto e : c.endpoint_of_rank)
    if (e >= 0 && e != self && dead(e, t))
      return false;
  return true;
}

bool fake_fabric::all_joined(const comm_state& c) const {
  for (auto e : c.endpoint_of_rank)
    if (e < 0)
      return false;
  return true;
}

// Completes the root's queued ops that are done by `now`, in order.
void fake_fabric::settle(comm_state& c, time_point now) {
  while (!c.queue.empty()) {
    auto& q = c.queue.front();
    if (q.hang || !all_joined(c))
      return;
    auto wire = std::chrono::duration<double>(
      link_rate_ > 0 ? static_cast<double>(q.bytes) / link_rate_ : 0.0);
    auto done = std::max(q.posted, c.last_done) + std::chrono::duration_cast<duration>(wire);
    if (done > now || !peers_alive(c, -1, done))
      return; // still on the wire, or a rank died before it could finish
    op o{q.root, {}};
    for (auto& s : q.spans) {
      auto* p = static_cast<const uint8_t*>(s.data);
      o.spans.emplace_back(p, p + s.bytes);
    }
    c.ops.push_back(std::move(o));
    c.last_done = done;
    c.queue.pop_front();
  }
}

void fake_fabric::settle_all(time_point now) {
  for (auto& [k, c] : comms_)
    settle(c, now);
}

// -- fake_collective: lifecycle -----------------------------------------------

fake_collective::fake_collective(fake_fabric& fabric, clock_source& clock)
  : fabric_(fabric), clock_(clock), endpoint_(fabric.add_endpoint()) {}

bool fake_collective::ready() const {
  return ready_ && !fabric_.dead(endpoint_, clock_.now());
}

caf::error fake_collective::check_alive() {
  if (!fabric_.dead(endpoint_, clock_.now()))
    return {};
  ready_ = false;
  return make_error(errc::backend_failure, "fake rank crashed");
}

caf::expected<comm_id> fake_collective::make_id() {
  if (auto err = check_alive())
    return err;
  return fabric_.next_id();
}

caf::error fake_collective::check_init_args(int rank, int nranks,
                                            const comm_id& id) {
  if (ready_)
    return make_error(errc::invalid_argument, "init: still ready; close first");
  if (auto err = check_alive())
    return err;
  if (nranks < 1 || rank < 0 || rank >= nranks)
    return make_error(errc::invalid_argument,
                      "init: rank " + std::to_string(rank) + " of "
                        + std::to_string(nranks));
  auto& c = fabric_.comms_[id.bytes];
  if (c.nranks == 0) {
    c.nranks = nranks;
    c.endpoint_of_rank.assign(nranks, -1);
  }
  if (c.nranks != nranks || c.endpoint_of_rank[rank] >= 0)
    return make_error(errc::invalid_argument,
                      "init: communicator disagrees on nranks or rank taken");
  return {};
}

caf::error fake_collective::init(int rank, int nranks, const comm_id& id,
                                 time_point until) {
  if (auto err = check_init_args(rank, nranks, id))
    return err;
  auto& c = *fabric_.find(id);
  c.endpoint_of_rank[rank] = endpoint_;
  rank_ = rank;
  id_ = id;
  next_seq_ = c.ops.size() + c.queue.size();
  first_ = done_ = next_;
  ready_ = true;
  if (rank != 0)
    return {};
  peer_error_ = caf::error{};
  auto state = poll_until(clock_, until, [&] {
    bool alive = fabric_.peers_alive(c, endpoint_, clock_.now());
    if (!alive && fabric_.mode_ == death_mode::remote_error) {
      peer_error_ = make_error(errc::peer_down, "a peer died during init");
      return poll_state::failed;
    }
    return fabric_.all_joined(c) && alive ? poll_state::done : poll_state::pending;
  });
  return state == poll_state::done ? caf::error{} : fail(state, "init");
}

void fake_collective::leave() {
  if (auto* c = fabric_.find(id_); c && rank_ >= 0
                                   && c->endpoint_of_rank[rank_] == endpoint_) {
    c->endpoint_of_rank[rank_] = -2; // left: never counts as joined again
    auto& q = c->queue; // this rank's posts die with its communicator
    q.erase(std::remove_if(q.begin(), q.end(),
                           [&](const fake_fabric::queued& o) { return o.root == rank_; }),
            q.end());
  }
  in_flight_.clear();
  done_ = next_;
  ready_ = false;
}

void fake_collective::close(time_point) {
  if (!ready_)
    return;
  ++closes_;
  leave();
}

void fake_collective::abort() {
  if (!ready_)
    return;
  ++aborts_;
  leave();
}

void fake_collective::crash() {
  fabric_.settle_all(clock_.now());
  crash_at(clock_.now());
}

void fake_collective::crash_at(time_point t) {
  fabric_.dead_at_[endpoint_] = t;
  if (t <= clock_.now())
    ready_ = false;
}

caf::error fake_collective::fail(poll_state state, const char* what) {
  abort();
  if (state == poll_state::failed)
    return peer_error_;
  return make_error(errc::collective_timeout,
                    std::string{what} + " missed its deadline; communicator aborted");
}

// -- fake_collective: broadcast -----------------------------------------------

caf::expected<ticket> fake_collective::post(const std::vector<device_span>& spans,
                                            int root, time_point) {
  if (!ready_)
    return make_error(errc::not_ready, "post: no communicator");
  if (auto err = check_alive())
    return err;
  auto& c = *fabric_.find(id_);
  if (root < 0 || root >= c.nranks)
    return make_error(errc::invalid_argument, "post: root " + std::to_string(root));
  if (in_flight_.size() >= max_in_flight)
    return make_error(errc::capacity_exceeded,
                      "post: " + std::to_string(max_in_flight) + " broadcasts in flight");
  bool hang = calls_++ == hang_at_;
  if (rank_ == root) {
    size_t bytes = 0;
    for (auto& s : spans)
      bytes += s.bytes;
    c.queue.push_back({root, spans, bytes, clock_.now(), hang});
  }
  in_flight_.push_back({spans, root, hang, next_seq_++});
  return next_++;
}

poll_state fake_collective::probe_receiver(const posted_op& p) {
  auto& c = *fabric_.find(id_);
  auto& op = c.ops[p.seq];
  bool same = op.root == p.root && op.spans.size() == p.spans.size();
  for (size_t i = 0; same && i < p.spans.size(); ++i)
    same = op.spans[i].size() == p.spans[i].bytes;
  if (!same) { // real NCCL would hang or corrupt; the fake says so
    peer_error_ = make_error(errc::backend_failure,
                             "broadcast shapes differ between root and receiver");
    return poll_state::failed;
  }
  for (size_t i = 0; i < p.spans.size(); ++i)
    if (p.spans[i].bytes > 0)
      std::memcpy(p.spans[i].data, op.spans[i].data(), p.spans[i].bytes);
  return poll_state::done;
}

poll_state fake_collective::probe(const posted_op& p) {
  if (p.hang)
    return poll_state::pending;
  auto& c = *fabric_.find(id_);
  auto now = clock_.now();
  fabric_.settle(c, now);
  if (c.ops.size() > p.seq)
    return rank_ == p.root ? poll_state::done : probe_receiver(p);
  if (fabric_.mode_ == death_mode::remote_error) {
    int root_endpoint = c.endpoint_of_rank[p.root];
    bool gone = rank_ == p.root ? !fabric_.peers_alive(c, endpoint_, now)
                                : root_endpoint >= 0 && fabric_.dead(root_endpoint, now);
    if (gone) {
      peer_error_ = make_error(errc::peer_down, rank_ == p.root
                                                  ? "a peer of the broadcast died"
                                                  : "the broadcast's root died");
      return poll_state::failed;
    }
  }
  return poll_state::pending;
}

// Completes tickets in order up to `t` (stream order).
poll_state fake_collective::complete_through(ticket t) {
  while (done_ <= t) {
    auto state = probe(in_flight_.front());
    if (state != poll_state::done)
      return state;
    in_flight_.pop_front();
    ++done_;
  }
  return poll_state::done;
}

caf::error fake_collective::wait(ticket t, time_point until) {
  if (!ready_)
    return make_error(errc::not_ready, "wait: no communicator");
  if (t < first_ || t >= next_)
    return make_error(errc::invalid_argument,
                      "wait: ticket " + std::to_string(t) + " was not posted since init");
  if (auto err = check_alive())
    return err;
  peer_error_ = caf::error{};
  auto state = poll_until(clock_, until, [&] { return complete_through(t); });
  return state == poll_state::done ? caf::error{} : fail(state, "broadcast");
}

} // namespace tandem::nccl
