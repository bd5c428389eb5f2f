// socket_collective.hpp: a reduce_collective (runtime/nccl/reduce_collective.hpp)
// for learner ranks on the CPU that live in different processes or nodes:
// float32 sums and gathers over ZeroMQ, a star through rank 0.
//
// Why a star: the ranks of a CPU learner are few (2..8) and a step's buckets
// are small next to the compute; a star lets rank 0 add the inputs in rank
// order, ((x0 + x1) + x2) ..., exactly as thread_group_collective does, so
// every rank gets the same bits whatever the arrival order, and the same bits
// as the in-process ranks (socket_collective_test checks both).
//
// Wire: rank 0 binds a ROUTER, rank r > 0 connects a DEALER whose routing id
// is "rank-r"; both run CURVE from the run's secret (transport_context), so
// only holders of the secret take part. One message = a fixed 48-byte header
// (magic, group, kind, operation, sender rank, operation index, count, and for
// an abort the code and the rank to blame) + one payload part. Floats travel
// in host byte order: every rank of one learner runs the same build.
//   contribute  r -> 0   all_reduce/reduce_scatter: the whole buffer;
//                        all_gather: rank r's shard
//   result      0 -> r   all_reduce, all_gather: the whole buffer;
//                        reduce_scatter: rank r's shard of the sum
//   abort       either   this member failed (code, rank to blame, text)
//   leave       r -> 0   this member closed while healthy (its process ends)
// A message of another group (options.group), with a wrong magic or size,
// or whose routing id does not match its rank is dropped and counted.
//
// Progress: post() sends (rank r) or stores (rank 0) the input and returns a
// ticket; wait(t) completes operations in order up to t. Rank 0 adds and
// answers inside its wait(), so every rank's wait needs rank 0 to wait as
// well (as with NCCL, every rank runs the same sequence of operations).
//
// Failures (every one closes the member; ready() == false afterwards):
//   errc::collective_timeout  rank 0: a rank's input for the operation had
//                             not come by the deadline (the text names it);
//                             rank r: rank 0's answer had not come (names 0)
//   errc::peer_down           a member said it left or failed (names it);
//                             rank 0 could not reach rank r (names r)
//   errc::backend_failure     ranks posted different operations or counts
//                             (names both), or a socket failed
// A member that fails tells the others (abort, best effort, no waiting), so
// they stop at once with the code and the blamed rank instead of at their own
// deadline: rank 0 relays it to every rank connected to it (one that is not
// yet, at a run's very first operation, stops at its own deadline). A SIGKILLed process tells no one:
// the others reach their deadline, unless someone who learns of the death
// sooner (the head's proxy of that rank, through CAF's down message) calls
// abort_from_outside(), which ends this member's wait within about 100 ms
// (waits poll in slices of that length to look for it). The refusals
// (not_ready, invalid_argument, capacity_exceeded) change nothing.
//
// Bounds: a member has at most max_pending operations posted and not yet
// waited for (errc::capacity_exceeded past that); rank 0 stores inputs of at
// most that many operations ahead of its own, a rank further ahead is a
// protocol error. The sockets' high-water marks are max_pending + 16
// messages, above anything a correct peer queues, so libzmq never drops.
//
// Lifecycle: make() binds or connects; the destructor sends leave (when still
// ready) and closes the socket with options.linger, so it never blocks long.
//
// Thread safety: one thread at a time per object (a ZeroMQ socket); hand it
// to another thread only through a synchronisation (a mutex, a join).
// abort_from_outside() alone may be called from any thread at any time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <zmq.hpp>

#include "runtime/nccl/reduce_collective.hpp"
#include "runtime/transport/zmq_channel.hpp"

namespace tandem::transport {

struct socket_collective_options {
  int rank = 0;
  int ranks = 0;
  /// Rank 0: where to bind ("tcp://0.0.0.0:*" resolves its port: endpoint()).
  /// Rank r > 0: rank 0's endpoint() as it reaches it.
  std::string endpoint;
  /// Every message carries it; another group's are dropped (a stale member of
  /// an earlier learner, a rank of another run on the same secret).
  uint64_t group = 0;
  /// Largest operation in floats (libzmq drops bigger messages before
  /// allocating them). 256 Mi floats = 1 GiB, far above a gradient bucket.
  uint64_t max_floats = uint64_t{1} << 28;
  std::chrono::milliseconds linger{1000};
  log_fn log; // dropped messages; default: stderr
};

struct socket_collective_stats {
  uint64_t operations = 0; // completed on this member
  uint64_t dropped = 0;    // messages refused (group, magic, size, routing id)
};

class socket_collective final : public nccl::reduce_collective {
public:
  static constexpr size_t max_pending = 4096; // far above the buckets of one step

  static caf::expected<std::unique_ptr<socket_collective>>
  make(std::shared_ptr<transport_context> ctx, socket_collective_options opts);

  ~socket_collective() override;
  socket_collective(const socket_collective&) = delete;
  socket_collective& operator=(const socket_collective&) = delete;

  /// Rank 0: the bound endpoint with its real port; rank r: the one it uses.
  std::string endpoint() const;

  int rank() const override { return opts_.rank; }
  int ranks() const override { return ready_ ? opts_.ranks : 0; }
  bool ready() const override { return ready_; }
  bool device_memory() const override { return false; }

  caf::expected<nccl::ticket> post(nccl::reduce_op op, nccl::float_span data,
                                   nccl::time_point until) override;
  caf::error wait(nccl::ticket t, nccl::time_point until) override;

  socket_collective_stats stats() const { return stats_; }

  /// From any thread: rank `blame` is known to be gone (`why`). This
  /// member's current or next post/wait fails with `why` naming it, and
  /// tells the others as after any failure. The first call wins.
  void abort_from_outside(int blame, caf::error why);

  struct header; // the wire header (socket_collective.cpp)

private:
  struct pending {
    nccl::ticket id;
    nccl::reduce_op op;
    nccl::float_span data;
  };
  // Rank 0: one operation's inputs, by rank (index 0 unused: its own buffer).
  struct gathered {
    nccl::reduce_op op = nccl::reduce_op::all_reduce;
    uint64_t count = 0;
    int first_rank = -1; // who announced op/count first (for mismatches)
    std::vector<zmq::message_t> in;
    std::vector<bool> have;
  };

  socket_collective(std::shared_ptr<transport_context> ctx, socket_collective_options opts);
  bool root() const { return opts_.rank == 0; }
  caf::error fail(caf::error err, int blame);
  caf::error send_parts(const std::string& to, const header& h, const void* data,
                        size_t bytes, nccl::time_point until);
  caf::error receive_one(nccl::time_point until, bool& got);
  caf::error on_root_message(const std::string& from, const header& h, zmq::message_t payload);
  caf::error on_member_message(const header& h, zmq::message_t payload);
  caf::error note(gathered& g, int rank, nccl::reduce_op op, uint64_t count, uint64_t k) const;
  void set_peer_error(caf::error err, int blame);
  void tell_peers(uint8_t kind, const caf::error& err, int blame);
  /// Moves an abort_from_outside() into peer_error_; true if there was one.
  bool take_outside_abort();
  caf::error root_wait_one(const pending& p, nccl::time_point until);
  caf::error root_answer(const pending& p, gathered& g, nccl::time_point until);
  caf::error member_wait_one(const pending& p, nccl::time_point until);
  caf::error drop(const std::string& why); // counts and logs; returns none

  std::shared_ptr<transport_context> ctx_;
  socket_collective_options opts_;
  zmq::socket_t socket_;
  bool ready_ = true;
  uint64_t next_ = 0;           // the next operation index this member posts
  std::deque<pending> pending_; // posted, not yet complete, in order
  // Rank 0: inputs of operations not yet answered, by operation index.
  std::map<uint64_t, gathered> ops_;
  bool front_answered_ = false; // rank r: rank 0 answered pending_.front()
  caf::error peer_error_; // a member's abort or leave, not yet reported
  int peer_blame_ = -1;
  // abort_from_outside(): set once under outside_mutex_, then flagged.
  std::atomic<bool> outside_{false};
  std::mutex outside_mutex_;
  caf::error outside_error_;
  int outside_blame_ = -1;
  socket_collective_stats stats_;
};

} // namespace tandem::transport
