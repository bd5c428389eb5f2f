// epoch_planner.hpp: who is in the learner's weight-broadcast communicator,
// and when it is rebuilt. Pure bookkeeping: no NCCL, no torch, no clock.
//
// Design: communicator epochs.
//   An NCCL communicator has a fixed membership, so membership changes are
//   never applied to a live one. Instead the broadcast runs in *epochs*: epoch
//   N is one communicator (its own comm_id) over a fixed roster, the learner
//   at rank 0 and the members in name order after it. A member joins, leaves
//   or is lost at any time; the change is recorded and takes effect at the
//   next version boundary, when the planner opens epoch N+1 for the current
//   members. Between boundaries nothing changes, so a joiner never makes the
//   learner or the other members wait, and nobody waits on a member outside
//   the current epoch.
//
//   Opening an epoch has two steps, both bounded by the caller's deadlines:
//   (1) invite: the caller asks every candidate over CAF "ready for epoch
//   N+1?"; a member answers after closing its old communicator (accept()).
//   (2) seal: when all answered, or when the accept deadline passes, seal()
//   fixes the roster to the learner plus the members that accepted, and the
//   caller sends each its (comm_id, rank, nranks) and everyone calls init.
//   Members that did not accept are dropped and must join() again. The
//   invite round is what removes a dead peer that the control plane has not
//   noticed: it cannot accept, so the next epoch forms without it instead of
//   every init waiting for it until the deadline, epoch after epoch.
//
//   Failure: when init or a broadcast fails (collective_timeout, peer_down,
//   ...), the collective has already aborted its communicator; the caller
//   reports failed(N, error) and keeps training. last_failure() names the
//   epoch. The next boundary opens epoch N+1 with the members still wanted;
//   the dead one does not accept and is dropped. A member that the control
//   plane reports lost() is removed at once, and an epoch that contains it is
//   marked broken, so the learner never starts a broadcast that can only
//   time out; the old communicator is then aborted rather than closed.
//
//   Cost of a change: one invite round plus one NCCL init at a boundary; the
//   samplers keep generating with the weights they hold meanwhile.
//
// Contract with members: a member that asked to leave keeps serving the
// current epoch's broadcasts until the next boundary releases it (its name is
// in boundary_step::release). A join() from a member that is already in the
// current epoch means it restarted and lost its communicator: the epoch is
// broken. Accepts carry the epoch number; stale ones are ignored.
//
// States: idle (no usable communicator) -> forming(N) -> initializing(N) ->
// active(N) -> (boundary with changes) forming(N+1) ... ; failed() from
// initializing/active returns to idle. Epoch numbers only grow.
//
// Thread safety: one thread at a time (the learner actor, through its
// weight roster).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/nccl/comm_id.hpp"

namespace tandem::nccl {

using member_id = std::string;

/// One epoch's communicator membership.
struct epoch_roster {
  uint64_t epoch = 0;          // 0: none
  comm_id id;
  std::vector<member_id> ranks; // ranks[0] is the learner

  int nranks() const { return static_cast<int>(ranks.size()); }
  /// The member's rank, or -1.
  int rank_of(const member_id& m) const;
};

enum class epoch_state { idle, forming, initializing, active };

const char* to_string(epoch_state s);

/// How to dispose of the previous communicator when a new epoch opens.
enum class teardown {
  none,  // there is none (or failed() already aborted it)
  close, // healthy: flush and free (collective::close)
  abort, // a member is gone: do not wait on it (collective::abort)
};

/// What the caller does at a version boundary.
struct boundary_step {
  enum kind_t {
    broadcast, // the current epoch is fine: send the version on it
    form,      // open `epoch`: invite `invite`, then seal()
    skip,      // nobody wants weights over NCCL
  } kind = skip;
  uint64_t epoch = 0;
  std::vector<member_id> invite;  // form only
  std::vector<member_id> release; // left the roster: tell them it closed
  teardown old = teardown::none;  // form/skip: the previous communicator
};

class epoch_planner {
public:
  explicit epoch_planner(member_id learner);

  // -- control-plane events, at any time --------------------------------------

  void join(const member_id& m);
  void leave(const member_id& m);
  void lost(const member_id& m);

  // -- at a version boundary --------------------------------------------------

  boundary_step at_boundary();

  // -- forming ----------------------------------------------------------------

  /// `m` closed its old communicator and is ready for `epoch`.
  void accept(const member_id& m, uint64_t epoch);

  /// Every invitee still wanted has accepted: seal without waiting longer.
  bool all_accepted() const;

  /// Fixes the roster of `epoch` with `id`. errc::invalid_argument if not
  /// forming that epoch; errc::not_ready if no member accepted (the planner
  /// is then idle; the caller skips this version).
  caf::expected<epoch_roster> seal(uint64_t epoch, const comm_id& id);

  // -- outcome ----------------------------------------------------------------

  /// The learner's init of `epoch` succeeded.
  void ready(uint64_t epoch);

  /// Init or a broadcast of `epoch` failed; its communicator is aborted.
  void failed(uint64_t epoch, const caf::error& why);

  // -- queries ----------------------------------------------------------------

  epoch_state state() const { return state_; }
  /// The last sealed epoch (also a failed one, until the next boundary
  /// replaces it); epoch 0 when none.
  const epoch_roster& roster() const { return roster_; }
  /// Members that want weights: the next epoch's candidates.
  std::vector<member_id> members() const { return {wanted_.begin(), wanted_.end()}; }
  /// Invitees dropped by the last seal (did not accept in time).
  const std::vector<member_id>& dropped() const { return dropped_; }
  /// The last failure, its context starting with "epoch N: ".
  const caf::error& last_failure() const { return last_failure_; }
  /// The next epoch number to be opened.
  uint64_t next_epoch() const { return next_epoch_; }

private:
  bool in_roster(const member_id& m) const;
  bool roster_matches_wanted() const;
  teardown old_teardown() const;
  std::vector<member_id> released() const;

  member_id learner_;
  std::set<member_id> wanted_;
  epoch_roster roster_;
  epoch_state state_ = epoch_state::idle;
  bool broken_ = false; // the sealed epoch lost a member
  uint64_t next_epoch_ = 1;
  uint64_t forming_ = 0;
  std::set<member_id> invited_;
  std::set<member_id> accepted_;
  std::vector<member_id> dropped_;
  caf::error last_failure_;
};

} // namespace tandem::nccl
