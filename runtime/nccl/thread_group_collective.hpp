// thread_group_collective.hpp: a reduce_collective for N ranks that are
// threads of one process (the fake beside the NCCL reductions of
// nccl_collective.hpp). The data-parallel learner's tests and the CPU
// learner bench run every rank on its own thread against one thread_group.
//
// How an operation runs: the k-th post() of every rank names operation k of
// the group; post() copies the rank's input into the group and returns at
// once; wait(k) blocks (a condition variable, bounded by the deadline) until
// every rank has posted operation k, then writes this rank's result from the
// stored inputs. Sums add the inputs in rank order (((x0 + x1) + x2) ...), so
// the result is bit-identical on every rank and does not depend on which
// thread came first. An operation's inputs are freed once every rank has
// read its result. Ranks that post different operations or counts as their
// k-th get errc::backend_failure naming both (a bug in the caller: NCCL would
// hang or corrupt memory).
//
// Failures: kill(r) marks rank r dead (its process is gone). Operations r has
// not posted never complete: the ranks waiting for one get errc::peer_down
// naming r at once (death_mode::remote_error, what NCCL reports over
// sockets) or errc::collective_timeout naming r at their deadline
// (death_mode::hang, what NVLink does). die_at(r, k) kills r when it posts
// its k-th operation (0-based), so a test can stop a rank in the middle of a
// step without racing its thread; that post returns errc::peer_down. A rank
// that got an error is closed (ready() == false), as nccl_collective is
// after an abort.
//
// Deadlines are real time (std::chrono::steady_clock): the waits are
// condition-variable waits, never sleeps, and only a test of the hang mode
// waits for a deadline to pass.
//
// Memory: inputs are copied at post(); the caller's buffer is written only in
// wait(). Unbounded queue? No: an operation stays stored until every rank
// read it, so a group holds at most (ops the slowest rank is behind) inputs;
// a rank more than max_pending operations ahead of the slowest is refused
// with errc::capacity_exceeded (4096: far above the buckets of a step).
//
// Thread safety: the group is shared by its members, one thread per member;
// every member call locks the group.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/nccl/fake_collective.hpp"
#include "runtime/nccl/reduce_collective.hpp"

namespace tandem::nccl {

class thread_group_collective;

class thread_group {
public:
  static constexpr size_t max_pending = 4096;

  explicit thread_group(int ranks, death_mode mode = death_mode::hang);
  ~thread_group();

  thread_group(const thread_group&) = delete;
  thread_group& operator=(const thread_group&) = delete;

  int ranks() const { return static_cast<int>(members_.size()); }

  /// Rank r's handle (owned by the group; one thread drives it).
  thread_group_collective& member(int r);

  /// A shared_ptr to rank r's handle that keeps the group alive, for owners
  /// such as learner_settings::collective.
  static std::shared_ptr<reduce_collective> share(const std::shared_ptr<thread_group>& g, int r);

  /// Rank r's process dies now (see the file comment).
  void kill(int r);

  /// Rank r dies when it posts its k-th operation (0-based).
  void die_at(int r, uint64_t k);

  /// Operations every rank has posted so far.
  uint64_t completed_posts() const;

private:
  friend class thread_group_collective;
  struct op {
    reduce_op kind = reduce_op::all_reduce;
    size_t count = 0;
    int first_rank = -1;                  // who posted it first (for mismatches)
    std::vector<std::vector<float>> in;   // by rank; empty until posted
    std::vector<bool> posted;
    int unread = 0;                       // ranks that have not read the result
  };

  caf::error post(int r, uint64_t k, reduce_op kind, float_span data);
  caf::error wait(int r, uint64_t k, float_span data, time_point until);
  int missing_rank(const op& o) const; // a rank that has not posted; dead ones first
  void finish(int r, uint64_t k, op& o, float_span data);

  death_mode mode_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::unique_ptr<thread_group_collective>> members_;
  std::vector<bool> dead_;
  std::vector<uint64_t> die_at_;
  std::vector<uint64_t> posted_; // by rank: operations posted so far
  std::map<uint64_t, op> ops_;   // posted by some rank, not read by all
};

class thread_group_collective final : public reduce_collective {
public:
  thread_group_collective(thread_group& group, int rank);

  int rank() const override { return rank_; }
  int ranks() const override { return ready_ ? group_.ranks() : 0; }
  bool ready() const override { return ready_; }
  bool device_memory() const override { return false; }

  caf::expected<ticket> post(reduce_op op, float_span data, time_point until) override;
  caf::error wait(ticket t, time_point until) override;

private:
  struct pending {
    ticket id;
    float_span data;
  };
  caf::error fail(caf::error err);

  thread_group& group_;
  int rank_;
  bool ready_ = true;
  uint64_t next_ = 0;
  std::deque<pending> pending_; // posted, not yet seen complete, in order
};

} // namespace tandem::nccl
