// weight_roster.hpp: the learner's ledger of samplers and the route each new
// policy version takes to them, with the NCCL membership rules. Owned by the
// learner actor (actors/learner.hpp); every decision about who gets weights
// how is made here, so it is tested with no actor system
// (tests/actors/weight_roster_test.cpp, on the fake collective).
//
// Routes, set when a sampler joins (its process and the run decide; leave()
// moves nccl to bytes):
//   nccl        the run has an NCCL publisher: the sampler is a member of the
//               learner's communicator epochs (runtime/nccl/epoch_planner.hpp)
//               and gets CAF bytes from the weight broadcaster whenever it is
//               outside the live epoch;
//   bytes       CAF bytes from the weight broadcaster (no NCCL in this run, or
//               it left NCCL after a failure of its own);
//   data_plane  its process fetches versions from the ZeroMQ weights server
//               (the mirror); nothing else is sent to it.
//
// A sampler on the nccl route:
//
//   join ──▶ waiting ──────── seal: accepted ────────▶ member
//             ▲   ▲                                       │
//             │   └── boundary re-forms the epoch, or ◀───┘
//             │       its init or a broadcast failed
//             │
//             │        seal: no accept by the deadline
//   waiting ──┼──────────────────────────────────────▶ cooling
//             └──── boundary at version rejoin_at ◀───────┘
//
//   waiting / member / cooling ──leave──▶ bytes (for the rest of its life)
//   any state ──lost──▶ forgotten (an epoch holding it re-forms at the next
//                       boundary)
//
//   member: it has a rank in the live (active) epoch. Every other state is
//   outside it: waiting covers a joiner until the next version boundary, an
//   invitee until the seal, and a member whose epoch failed. An invite round
//   (form -> accepts -> seal) runs between two boundaries, bounded by the
//   owner's accept deadline; rejoin_at = the version at the seal +
//   rejoin_after.
//
// One version, deliver(v):
//   1. NCCL (when the run has it, and no invite round is under way): members
//      whose cool-down is over join again; the publisher's boundary says
//      broadcast (announce v to every member, then send it), form (invite
//      the candidates; seal() on the last accept or at the deadline tells
//      each member its rank, inits, and broadcasts the current version at
//      once) or skip (nobody on NCCL).
//   2. Bytes to the weight broadcaster unless v reached the live epoch and
//      every sampler fed by the broadcaster is in it (needs_bytes()). So
//      version 0, a version whose boundary forms an epoch, a joiner's first
//      versions, a failed broadcast and a member that left NCCL all travel
//      as bytes; in a steady state nothing does.
//   3. Bytes to the mirror, every version, when the run has one.
// A failed init or broadcast is counted and logged with its typed error
// (epoch, version, bucket); the publisher has already aborted the epoch, the
// next boundary forms a new one, and delivery never fails the caller.
//
// Thread safety: one thread (the learner actor). The port is called from
// inside these functions, on that thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "models/flat_weights.hpp"
#include "runtime/messages.hpp"
#include "runtime/version_header.hpp"
#include "runtime/nccl/weight_publisher.hpp"

namespace tandem {

enum class weight_route : uint8_t { nccl, bytes, data_plane };

const char* to_string(weight_route r);

/// Where a sampler stands (the states drawn above, plus the two byte routes).
enum class delivery_state : uint8_t { waiting, member, cooling, bytes, data_plane };

const char* to_string(delivery_state s);

/// Which byte paths one version takes.
struct byte_targets {
  bool broadcaster = false; // CAF bytes to the samplers subscribed to it
  bool mirror = false;      // the ZeroMQ weights server
};

/// What the roster needs from its owner: the learner's weights and the
/// messages it cannot send itself. The learner actor implements it with CAF
/// sends; tests record the calls and drive fake members with them.
class weight_port {
public:
  virtual ~weight_port() = default;

  /// The current version as one flat device buffer (an NCCL broadcast's source).
  virtual caf::expected<flat_weights> device_weights() = 0;

  /// `version` as bytes to `to` (export the weights once for both).
  virtual void publish_bytes(int64_t version, byte_targets to) = 0;

  /// Asks each of `members` whether it is ready for `epoch`; answers come back
  /// through accept(), and seal(epoch) is due at the accept deadline.
  virtual void invite(const std::vector<nccl::member_id>& members, uint64_t epoch) = 0;

  /// Tells `member` its rank in a sealed epoch (before the learner's init).
  virtual void open(const nccl::member_id& member, const nccl_open& rank) = 0;

  /// Tells `member` that the broadcast of `h` follows.
  virtual void announce(const nccl::member_id& member, const nccl::version_header& h) = 0;

  /// One line for the operator's log.
  virtual void log(const std::string& line) = 0;
};

struct weight_roster_settings {
  /// Rank 0 of the weight broadcast; null: no NCCL in this run.
  std::shared_ptr<nccl::weight_publisher> publisher;
  /// Versions before a member sealed out for missing the accept deadline is
  /// invited again (learner_nccl::rejoin_after says why 16).
  int64_t rejoin_after = 16;
  /// The run has a ZeroMQ weights server: it gets every version.
  bool mirror = false;
};

class weight_roster {
public:
  weight_roster(weight_roster_settings settings, std::unique_ptr<weight_port> port);

  // -- samplers, at any time ---------------------------------------------------

  /// A sampler joined (or rejoined after a restart, under the same name).
  /// Returns its route; every route but data_plane needs the owner to
  /// subscribe it to the weight broadcaster. On NCCL it waits for the next
  /// version boundary.
  weight_route join(const nccl::member_id& name, bool via_data_plane);

  /// A member's own NCCL failed: it leaves NCCL (released at the next
  /// boundary) and lives on bytes. False if it was not on NCCL.
  bool leave(const nccl::member_id& name);

  /// The sampler died: forgotten; an epoch holding it is re-formed at the
  /// next boundary.
  void lost(const nccl::member_id& name);

  // -- versions ----------------------------------------------------------------

  /// Delivers the learner's current version `version` on every route (see
  /// the header comment).
  void deliver(int64_t version);

  // -- an invite round ---------------------------------------------------------

  /// `name` is ready for `epoch`. Seals it when that was the last invitee;
  /// true if it sealed.
  bool accept(const nccl::member_id& name, uint64_t epoch);

  /// Seals `epoch` if it is still forming (the accept deadline passed):
  /// invitees that did not accept cool down, the others get their ranks, the
  /// learner inits and broadcasts the latest delivered version. False if
  /// there was nothing to seal.
  bool seal(uint64_t epoch);

  // -- queries -----------------------------------------------------------------

  /// Some sampler fed by the weight broadcaster is outside the live epoch
  /// (always true without a live epoch).
  bool needs_bytes() const;

  std::optional<delivery_state> state_of(const nccl::member_id& name) const;

  /// The version at which a cooling member is invited again.
  std::optional<int64_t> rejoin_at(const nccl::member_id& name) const;

  size_t size() const { return samplers_.size(); }

  /// Failed inits and broadcasts so far.
  uint64_t nccl_failures() const { return nccl_failures_; }

  /// Null without NCCL.
  const nccl::weight_publisher* publisher() const { return settings_.publisher.get(); }

private:
  struct entry {
    weight_route route = weight_route::bytes;
    int64_t rejoin_at = -1; // >= 0: cooling until this version
  };

  bool in_live_epoch(const nccl::member_id& name) const;
  bool forming(uint64_t epoch) const;
  bool nccl_boundary();
  void rejoin_due();
  void cool_down_dropped();
  bool broadcast();

  weight_roster_settings settings_;
  std::unique_ptr<weight_port> port_;
  // One per live sampler: bounded by the samplers the controller admits
  // (its scale cap); an entry leaves when its sampler dies.
  std::map<nccl::member_id, entry> samplers_;
  int64_t latest_ = -1;                       // the last delivered version
  uint64_t nccl_failures_ = 0;
};

} // namespace tandem
