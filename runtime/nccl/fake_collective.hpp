// fake_collective.hpp: a deterministic collective for tests (the fake beside
// nccl_collective.hpp). Ranks are fake_collective objects on one thread that
// share a fake_fabric; "device" memory is host memory.
//
// One thread cannot rendezvous, so the fake orders the ranks the way the
// learner sees them:
//   * init: rank 0 waits (on the clock) until every rank has registered;
//     other ranks register and return at once. Tests init members first.
//   * broadcast: the root's posts form the communicator's queue, which runs
//     like one CUDA stream: op k starts when it was posted and op k-1 is done,
//     and takes bytes / link rate of fake time (0: instant). It completes --
//     the root's bytes are copied into the fabric -- once every rank has
//     joined and none has died by its completion time; a receiver's op k
//     completes when the root's op k has, copying those bytes. Tests call the
//     root first. The queue is settled lazily, whenever a rank polls.
// A dead rank (crash(), crash_at()) makes the others wait until their
// deadline (death_mode::hang, what NVLink/P2P does when a peer process is
// killed) or fail with errc::peer_down (death_mode::remote_error, a socket
// transport). crash() lets every op already due complete first; crash_at(t)
// stops the ops that would complete at or after t. Waiting goes through
// poll_until, so with a manual_clock every deadline expires at an exact fake
// time and nothing sleeps.
//
// Limits: one root per communicator at a time; a rank that joins after the
// root posted does not see those ops.
// Thread safety: none; one test thread owns the fabric and its ranks.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "runtime/nccl/collective.hpp"
#include "runtime/nccl/poll.hpp"

namespace tandem::nccl {

enum class death_mode { hang, remote_error };

class fake_fabric {
public:
  explicit fake_fabric(death_mode mode = death_mode::hang) : mode_(mode) {}

  /// Root broadcasts take bytes / rate of fake time; 0 means instant.
  void set_link_bytes_per_s(double rate) { link_rate_ = rate; }

  /// Broadcasts completed by the root of communicator `id` so far.
  size_t broadcasts(const comm_id& id) const;

private:
  friend class fake_collective;
  struct op { // completed: the root's bytes
    int root = 0;
    std::vector<std::vector<uint8_t>> spans;
  };
  struct queued { // posted by the root, not yet complete
    int root = 0;
    std::vector<device_span> spans;
    size_t bytes = 0;
    time_point posted{};
    bool hang = false;
  };
  struct comm_state {
    int nranks = 0;
    std::vector<int> endpoint_of_rank; // -1 before joining, -2 after leaving
    std::vector<op> ops;
    std::deque<queued> queue;
    time_point last_done{}; // when ops.back() completed
  };
  using key = std::array<uint8_t, comm_id::size>;

  comm_id next_id();
  int add_endpoint();
  comm_state* find(const comm_id& id);
  bool dead(int endpoint, time_point t) const { return dead_at_[endpoint] <= t; }
  bool peers_alive(const comm_state& c, int self, time_point t) const;
  bool all_joined(const comm_state& c) const;
  void settle(comm_state& c, time_point now);
  void settle_all(time_point now);

  death_mode mode_;
  double link_rate_ = 0;
  uint64_t ids_made_ = 0;
  std::vector<time_point> dead_at_; // by endpoint; time_point::max() if alive
  std::map<key, comm_state> comms_;
};

class fake_collective final : public collective {
public:
  fake_collective(fake_fabric& fabric, clock_source& clock);

  caf::expected<comm_id> make_id() override;
  caf::error init(int rank, int nranks, const comm_id& id,
                  time_point until) override;
  caf::expected<ticket> post(const std::vector<device_span>& spans, int root,
                             time_point until) override;
  caf::error wait(ticket t, time_point until) override;
  void close(time_point until) override;
  void abort() override;
  bool ready() const override;

  // -- fault injection --------------------------------------------------------

  /// This rank's process dies now: it leaves every communicator without a
  /// word, after the ops already due by now completed.
  void crash();

  /// This rank's process dies at fake time `t`: ops that would complete at
  /// or after `t` never do.
  void crash_at(time_point t);

  /// The `n`-th broadcast posted by this object (0-based) never completes,
  /// nor, in stream order, any posted after it.
  void hang_at_broadcast(size_t n) { hang_at_ = n; }

  // -- observation ------------------------------------------------------------

  size_t aborts() const { return aborts_; }
  size_t closes() const { return closes_; }
  int rank() const { return rank_; }
  /// Broadcasts posted and not yet seen complete.
  size_t in_flight() const { return in_flight_.size(); }

private:
  struct posted_op {
    std::vector<device_span> spans;
    int root = 0;
    bool hang = false;
    size_t seq = 0; // its place in the communicator's sequence of ops
  };

  caf::error check_alive();
  caf::error check_init_args(int rank, int nranks, const comm_id& id);
  poll_state probe(const posted_op& p);
  poll_state probe_receiver(const posted_op& p);
  poll_state complete_through(ticket t);
  caf::error fail(poll_state state, const char* what);
  void leave();

  fake_fabric& fabric_;
  clock_source& clock_;
  int endpoint_;
  bool ready_ = false;
  int rank_ = -1;
  comm_id id_;
  std::deque<posted_op> in_flight_; // tickets [done_, next_)
  ticket first_ = 0;                // first ticket of the current init
  ticket done_ = 0;
  ticket next_ = 0;
  size_t next_seq_ = 0;
  size_t calls_ = 0;
  size_t hang_at_ = SIZE_MAX;
  size_t aborts_ = 0;
  size_t closes_ = 0;
  caf::error peer_error_; // set by a probe that saw a dead peer
};

} // namespace tandem::nccl
