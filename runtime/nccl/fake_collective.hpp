// fake_collective.hpp: a deterministic collective for tests (the fake beside
// nccl_collective.hpp). Ranks are fake_collective objects on one thread that
// share a fake_fabric; "device" memory is host memory.
//
// One thread cannot rendezvous, so the fake orders the ranks the way the
// learner sees them:
//   * init: rank 0 waits (on the clock) until every rank has registered;
//     other ranks register and return at once. Tests init members first.
//   * broadcast: the root completes once every other rank is alive and
//     registered, and leaves its bytes in the fabric; a receiver copies the
//     root's next operation, or waits (on the clock) if there is none yet.
//     Tests call the root first.
// A dead rank (crash()) makes the others wait until their deadline
// (death_mode::hang, what NVLink/P2P does when a peer process is killed) or
// fail with errc::peer_down (death_mode::remote_error, a socket transport).
// Waiting goes through poll_until, so with a manual_clock every deadline
// expires at an exact fake time and nothing sleeps.
//
// Thread safety: none; one test thread owns the fabric and its ranks.
#pragma once

#include <array>
#include <cstdint>
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
  struct op {
    int root = 0;
    std::vector<std::vector<uint8_t>> spans;
  };
  struct comm_state {
    int nranks = 0;
    std::vector<int> endpoint_of_rank; // -1 while the rank has not joined
    std::vector<op> ops;
  };
  using key = std::array<uint8_t, comm_id::size>;

  comm_id next_id();
  int add_endpoint();
  comm_state* find(const comm_id& id);
  bool peers_alive(const comm_state& c, int self) const;
  bool all_joined(const comm_state& c) const;

  death_mode mode_;
  double link_rate_ = 0;
  uint64_t ids_made_ = 0;
  std::vector<bool> dead_; // by endpoint
  std::map<key, comm_state> comms_;
};

class fake_collective final : public collective {
public:
  fake_collective(fake_fabric& fabric, clock_source& clock);

  caf::expected<comm_id> make_id() override;
  caf::error init(int rank, int nranks, const comm_id& id,
                  time_point until) override;
  caf::error broadcast(const std::vector<device_span>& spans, int root,
                       time_point until) override;
  void close(time_point until) override;
  void abort() override;
  bool ready() const override { return ready_; }

  // -- fault injection --------------------------------------------------------

  /// This rank's process dies: it leaves every communicator without a word.
  void crash();

  /// The `n`-th broadcast call of this object (0-based) never completes.
  void hang_at_broadcast(size_t n) { hang_at_ = n; }

  // -- observation ------------------------------------------------------------

  size_t aborts() const { return aborts_; }
  size_t closes() const { return closes_; }
  int rank() const { return rank_; }

private:
  caf::error check_init_args(int rank, int nranks, const comm_id& id);
  poll_state probe_root(const std::vector<device_span>& spans, time_point start);
  poll_state probe_receiver(const std::vector<device_span>& spans, int root);
  caf::error fail(poll_state state, const char* what);
  void leave();

  fake_fabric& fabric_;
  clock_source& clock_;
  int endpoint_;
  bool ready_ = false;
  int rank_ = -1;
  comm_id id_;
  size_t next_op_ = 0;
  size_t calls_ = 0;
  size_t hang_at_ = SIZE_MAX;
  size_t aborts_ = 0;
  size_t closes_ = 0;
  caf::error peer_error_; // set by a probe that saw a dead peer
};

} // namespace tandem::nccl
