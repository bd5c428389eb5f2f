// fake_collective.cpp: the single-threaded fabric and its ranks.
#include "runtime/nccl/fake_collective.hpp"

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
  dead_.push_back(false);
  return static_cast<int>(dead_.size()) - 1;
}

fake_fabric::comm_state* fake_fabric::find(const comm_id& id) {
  auto i = comms_.find(id.bytes);
  return i == comms_.end() ? nullptr : &i->second;
}

bool fake_fabric::peers_alive(const comm_state& c, int self) const {
  for (auto e : c.endpoint_of_rank)
    if (e >= 0 && e != self && dead_[e])
      return false;
  return true;
}

bool fake_fabric::all_joined(const comm_state& c) const {
  for (auto e : c.endpoint_of_rank)
    if (e < 0)
      return false;
  return true;
}

// -- fake_collective: lifecycle -----------------------------------------------

fake_collective::fake_collective(fake_fabric& fabric, clock_source& clock)
  : fabric_(fabric), clock_(clock), endpoint_(fabric.add_endpoint()) {}

caf::expected<comm_id> fake_collective::make_id() {
  if (fabric_.dead_[endpoint_])
    return make_error(errc::backend_failure, "fake rank crashed");
  return fabric_.next_id();
}

caf::error fake_collective::check_init_args(int rank, int nranks,
                                            const comm_id& id) {
  if (ready_)
    return make_error(errc::invalid_argument, "init: still ready; close first");
  if (fabric_.dead_[endpoint_])
    return make_error(errc::backend_failure, "fake rank crashed");
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
  next_op_ = c.ops.size();
  ready_ = true;
  if (rank != 0)
    return {};
  peer_error_ = caf::error{};
  auto state = poll_until(clock_, until, [&] {
    if (!fabric_.peers_alive(c, endpoint_) && fabric_.mode_ == death_mode::remote_error) {
      peer_error_ = make_error(errc::peer_down, "a peer died during init");
      return poll_state::failed;
    }
    return fabric_.all_joined(c) && fabric_.peers_alive(c, endpoint_)
             ? poll_state::done
             : poll_state::pending;
  });
  return state == poll_state::done ? caf::error{} : fail(state, "init");
}

void fake_collective::leave() {
  if (auto* c = fabric_.find(id_); c && rank_ >= 0
                                   && c->endpoint_of_rank[rank_] == endpoint_)
    c->endpoint_of_rank[rank_] = -2; // left: never counts as joined again
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
  fabric_.dead_[endpoint_] = true;
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

poll_state fake_collective::probe_root(const std::vector<device_span>& spans,
                                       time_point start) {
  auto& c = *fabric_.find(id_);
  if (!fabric_.peers_alive(c, endpoint_)) {
    if (fabric_.mode_ == death_mode::hang)
      return poll_state::pending;
    peer_error_ = make_error(errc::peer_down, "a peer of the broadcast died");
    return poll_state::failed;
  }
  if (!fabric_.all_joined(c))
    return poll_state::pending;
  if (fabric_.link_rate_ > 0) {
    size_t bytes = 0;
    for (auto& s : spans)
      bytes += s.bytes;
    auto need = std::chrono::duration<double>(bytes / fabric_.link_rate_);
    if (clock_.now() - start < std::chrono::duration_cast<duration>(need))
      return poll_state::pending;
  }
  fake_fabric::op op{rank_, {}};
  for (auto& s : spans) {
    auto* p = static_cast<const uint8_t*>(s.data);
    op.spans.emplace_back(p, p + s.bytes);
  }
  c.ops.push_back(std::move(op));
  return poll_state::done;
}

poll_state fake_collective::probe_receiver(const std::vector<device_span>& spans,
                                           int root) {
  auto& c = *fabric_.find(id_);
  if (c.ops.size() <= next_op_) {
    int root_endpoint = c.endpoint_of_rank[root];
    bool root_dead = root_endpoint >= 0 && fabric_.dead_[root_endpoint];
    if (root_dead && fabric_.mode_ == death_mode::remote_error) {
      peer_error_ = make_error(errc::peer_down, "the broadcast's root died");
      return poll_state::failed;
    }
    return poll_state::pending;
  }
  auto& op = c.ops[next_op_];
  bool same = op.root == root && op.spans.size() == spans.size();
  for (size_t i = 0; same && i < spans.size(); ++i)
    same = op.spans[i].size() == spans[i].bytes;
  if (!same) { // real NCCL would hang or corrupt; the fake says so
    peer_error_ = make_error(errc::backend_failure,
                             "broadcast shapes differ between root and receiver");
    return poll_state::failed;
  }
  for (size_t i = 0; i < spans.size(); ++i)
    if (spans[i].bytes > 0)
      std::memcpy(spans[i].data, op.spans[i].data(), spans[i].bytes);
  return poll_state::done;
}

caf::error fake_collective::broadcast(const std::vector<device_span>& spans,
                                      int root, time_point until) {
  if (!ready_)
    return make_error(errc::not_ready, "broadcast: no communicator");
  auto call = calls_++;
  auto start = clock_.now();
  peer_error_ = caf::error{};
  auto state = poll_until(clock_, until, [&] {
    if (call == hang_at_)
      return poll_state::pending;
    return rank_ == root ? probe_root(spans, start) : probe_receiver(spans, root);
  });
  if (state != poll_state::done)
    return fail(state, "broadcast");
  ++next_op_;
  return {};
}

} // namespace tandem::nccl
