// epoch_planner.cpp: the epoch state machine (design in the header).
#include "runtime/nccl/epoch_planner.hpp"

#include <algorithm>

#include "runtime/error.hpp"
#include "runtime/nccl/internal/annotate.hpp"

namespace tandem::nccl {

int epoch_roster::rank_of(const member_id& m) const {
  auto i = std::find(ranks.begin(), ranks.end(), m);
  return i == ranks.end() ? -1 : static_cast<int>(i - ranks.begin());
}

const char* to_string(epoch_state s) {
  switch (s) {
    case epoch_state::idle: return "idle";
    case epoch_state::forming: return "forming";
    case epoch_state::initializing: return "initializing";
    case epoch_state::active: return "active";
  }
  return "unknown";
}

epoch_planner::epoch_planner(member_id learner) : learner_(std::move(learner)) {}

bool epoch_planner::in_roster(const member_id& m) const {
  return (state_ == epoch_state::initializing || state_ == epoch_state::active)
         && roster_.rank_of(m) > 0;
}

// -- control-plane events -----------------------------------------------------

void epoch_planner::join(const member_id& m) {
  if (m == learner_)
    return;
  if (in_roster(m) && wanted_.count(m) > 0)
    broken_ = true; // it restarted: its old communicator is gone
  wanted_.insert(m);
}

void epoch_planner::leave(const member_id& m) {
  wanted_.erase(m);
}

void epoch_planner::lost(const member_id& m) {
  if (in_roster(m))
    broken_ = true;
  wanted_.erase(m);
  accepted_.erase(m);
}

// -- boundary -----------------------------------------------------------------

bool epoch_planner::roster_matches_wanted() const {
  if (static_cast<size_t>(roster_.nranks()) != wanted_.size() + 1)
    return false;
  return std::all_of(roster_.ranks.begin() + 1, roster_.ranks.end(),
                     [&](const member_id& m) { return wanted_.count(m) > 0; });
}

teardown epoch_planner::old_teardown() const {
  if (state_ == epoch_state::active)
    return broken_ ? teardown::abort : teardown::close;
  if (state_ == epoch_state::initializing) // init abandoned: peers may be gone
    return teardown::abort;
  return teardown::none;
}

std::vector<member_id> epoch_planner::released() const {
  std::vector<member_id> out;
  for (size_t r = 1; r < roster_.ranks.size(); ++r)
    if (wanted_.count(roster_.ranks[r]) == 0)
      out.push_back(roster_.ranks[r]);
  return out;
}

boundary_step epoch_planner::at_boundary() {
  if (state_ == epoch_state::active && !broken_ && roster_matches_wanted())
    return {boundary_step::broadcast, roster_.epoch, {}, {}, teardown::none};
  boundary_step step;
  step.old = old_teardown();
  step.release = released();
  roster_ = epoch_roster{};
  broken_ = false;
  accepted_.clear();
  invited_.clear();
  if (wanted_.empty()) {
    state_ = epoch_state::idle;
    step.kind = boundary_step::skip;
    return step;
  }
  forming_ = next_epoch_++;
  state_ = epoch_state::forming;
  invited_ = wanted_;
  step.kind = boundary_step::form;
  step.epoch = forming_;
  step.invite.assign(invited_.begin(), invited_.end());
  return step;
}

// -- forming ------------------------------------------------------------------

void epoch_planner::accept(const member_id& m, uint64_t epoch) {
  if (state_ == epoch_state::forming && epoch == forming_
      && invited_.count(m) > 0 && wanted_.count(m) > 0)
    accepted_.insert(m);
}

bool epoch_planner::all_accepted() const {
  if (state_ != epoch_state::forming)
    return false;
  return std::all_of(invited_.begin(), invited_.end(), [&](const member_id& m) {
    return wanted_.count(m) == 0 || accepted_.count(m) > 0;
  });
}

caf::expected<epoch_roster> epoch_planner::seal(uint64_t epoch, const comm_id& id) {
  if (state_ != epoch_state::forming || epoch != forming_)
    return make_error(errc::invalid_argument,
                      "seal: epoch " + std::to_string(epoch) + " is not forming (state "
                        + to_string(state_) + ")");
  dropped_.clear();
  epoch_roster r{epoch, id, {learner_}};
  for (auto& m : invited_) {
    if (wanted_.count(m) == 0)
      continue; // left or lost meanwhile
    if (accepted_.count(m) > 0) {
      r.ranks.push_back(m);
    } else {
      dropped_.push_back(m);
      wanted_.erase(m); // must join() again
    }
  }
  if (r.nranks() == 1) {
    state_ = epoch_state::idle;
    return make_error(errc::not_ready,
                      "epoch " + std::to_string(epoch) + ": no member accepted");
  }
  roster_ = std::move(r);
  state_ = epoch_state::initializing;
  return roster_;
}

// -- outcome ------------------------------------------------------------------

void epoch_planner::ready(uint64_t epoch) {
  if (state_ == epoch_state::initializing && epoch == roster_.epoch)
    state_ = epoch_state::active;
}

void epoch_planner::failed(uint64_t epoch, const caf::error& why) {
  bool live = state_ == epoch_state::initializing || state_ == epoch_state::active;
  if (!live || epoch != roster_.epoch)
    return; // a stale report about an epoch already replaced
  state_ = epoch_state::idle;
  broken_ = false;
  auto prefix = "epoch " + std::to_string(epoch);
  auto text = describe(why);
  last_failure_ = text.find(prefix + ",") != std::string::npos
                    ? why
                    : internal::annotate(why, prefix + ": ");
}

} // namespace tandem::nccl
