// weight_roster.cpp: routes and NCCL membership (design in the header).
#include "actors/internal/weight_roster.hpp"

#include "runtime/error.hpp"

namespace tandem {

const char* to_string(weight_route r) {
  switch (r) {
    case weight_route::nccl: return "nccl";
    case weight_route::bytes: return "bytes";
    case weight_route::data_plane: return "data_plane";
  }
  return "unknown";
}

const char* to_string(delivery_state s) {
  switch (s) {
    case delivery_state::waiting: return "waiting";
    case delivery_state::member: return "member";
    case delivery_state::cooling: return "cooling";
    case delivery_state::bytes: return "bytes";
    case delivery_state::data_plane: return "data_plane";
  }
  return "unknown";
}

weight_roster::weight_roster(weight_roster_settings settings, std::unique_ptr<weight_port> port)
  : settings_(std::move(settings)), port_(std::move(port)) {}

// -- samplers -----------------------------------------------------------------

weight_route weight_roster::join(const nccl::member_id& name, bool via_data_plane) {
  auto& pub = settings_.publisher;
  auto route = via_data_plane ? weight_route::data_plane
                              : pub ? weight_route::nccl : weight_route::bytes;
  samplers_[name] = entry{route, -1};
  if (route == weight_route::nccl)
    pub->planner().join(name); // takes effect at the next boundary
  else if (pub)
    pub->planner().leave(name); // a restart that no longer takes NCCL
  return route;
}

bool weight_roster::leave(const nccl::member_id& name) {
  auto it = samplers_.find(name);
  if (it == samplers_.end() || it->second.route != weight_route::nccl)
    return false;
  settings_.publisher->planner().leave(name); // released at the next boundary
  it->second = entry{weight_route::bytes, -1};
  return true;
}

void weight_roster::lost(const nccl::member_id& name) {
  if (samplers_.erase(name) > 0 && settings_.publisher)
    settings_.publisher->planner().lost(name);
}

// -- versions -----------------------------------------------------------------

void weight_roster::deliver(int64_t version) {
  latest_ = version;
  bool reached = settings_.publisher && nccl_boundary();
  byte_targets to{!reached || needs_bytes(), settings_.mirror};
  if (to.broadcaster || to.mirror)
    port_->publish_bytes(version, to);
}

bool weight_roster::nccl_boundary() {
  auto& pub = *settings_.publisher;
  if (pub.busy())
    return false; // an invite round or init is under way: bytes meanwhile
  rejoin_due();
  auto step = pub.boundary();
  if (step.kind == nccl::boundary_step::form) {
    port_->invite(step.invite, step.epoch);
    return false;
  }
  if (step.kind == nccl::boundary_step::broadcast)
    return broadcast();
  return false; // skip: nobody is on NCCL
}

/// Members whose cool-down is over are candidates of the next epoch again
/// (a sampler stuck in one long decode step recovers; one that never answers
/// costs an invite round per cool-down).
void weight_roster::rejoin_due() {
  for (auto& [name, e] : samplers_) {
    if (e.rejoin_at < 0 || latest_ < e.rejoin_at)
      continue;
    e.rejoin_at = -1;
    settings_.publisher->planner().join(name);
  }
}

bool weight_roster::broadcast() {
  auto& pub = *settings_.publisher;
  auto w = port_->device_weights();
  if (!w) {
    port_->log("no flat weights: " + describe(w.error()));
    return false;
  }
  auto h = pub.announce(latest_, w->bytes);
  if (!h) {
    port_->log(describe(h.error()));
    return false;
  }
  const auto& ranks = pub.planner().roster().ranks;
  for (size_t r = 1; r < ranks.size(); ++r)
    port_->announce(ranks[r], *h);
  auto sent = pub.send(*h, w->data);
  if (!sent) {
    ++nccl_failures_;
    port_->log(describe(sent.error()) + " (training goes on; bytes serve this version)");
    return false;
  }
  return true;
}

// -- an invite round ----------------------------------------------------------

bool weight_roster::forming(uint64_t epoch) const {
  auto& pub = settings_.publisher;
  return pub && pub->planner().state() == nccl::epoch_state::forming
         && pub->planner().next_epoch() == epoch + 1;
}

bool weight_roster::accept(const nccl::member_id& name, uint64_t epoch) {
  if (!forming(epoch))
    return false; // late: sealed already (or a stale epoch)
  auto& planner = settings_.publisher->planner();
  planner.accept(name, epoch);
  return planner.all_accepted() && seal(epoch);
}

bool weight_roster::seal(uint64_t epoch) {
  if (!forming(epoch))
    return false;
  auto& pub = *settings_.publisher;
  auto roster = pub.seal(epoch);
  cool_down_dropped();
  if (!roster) {
    port_->log(describe(roster.error()));
    return true;
  }
  auto id = nccl::to_bytes(roster->id);
  for (int r = 1; r < roster->nranks(); ++r)
    port_->open(roster->ranks[r], nccl_open{epoch, id, r, roster->nranks(), pub.bucket_bytes()});
  if (auto err = pub.init(*roster)) {
    ++nccl_failures_;
    port_->log(describe(err));
    return true;
  }
  port_->log("epoch " + std::to_string(epoch) + " open with "
             + std::to_string(roster->nranks() - 1) + " member(s)");
  // The latest version also went out as bytes when the epoch began forming,
  // so a failure here costs nothing but the log line.
  broadcast();
  return true;
}

/// Invitees the seal dropped (no accept by the deadline) are invited again
/// `rejoin_after` versions from now, while they live.
void weight_roster::cool_down_dropped() {
  for (auto& name : settings_.publisher->planner().dropped()) {
    auto it = samplers_.find(name);
    if (it == samplers_.end() || it->second.route != weight_route::nccl)
      continue;
    it->second.rejoin_at = latest_ + settings_.rejoin_after;
    port_->log("member " + name + " did not accept in time; bytes serve it, invited again in "
               + std::to_string(settings_.rejoin_after) + " versions");
  }
}

// -- queries ------------------------------------------------------------------

bool weight_roster::in_live_epoch(const nccl::member_id& name) const {
  auto& pub = settings_.publisher;
  return pub && pub->planner().state() == nccl::epoch_state::active
         && pub->planner().roster().rank_of(name) > 0;
}

bool weight_roster::needs_bytes() const {
  auto& pub = settings_.publisher;
  if (!pub || pub->planner().state() != nccl::epoch_state::active)
    return true;
  for (auto& [name, e] : samplers_)
    if (e.route != weight_route::data_plane && !in_live_epoch(name))
      return true;
  return false;
}

std::optional<delivery_state> weight_roster::state_of(const nccl::member_id& name) const {
  auto it = samplers_.find(name);
  if (it == samplers_.end())
    return std::nullopt;
  switch (it->second.route) {
    case weight_route::bytes: return delivery_state::bytes;
    case weight_route::data_plane: return delivery_state::data_plane;
    case weight_route::nccl: break;
  }
  if (it->second.rejoin_at >= 0)
    return delivery_state::cooling;
  return in_live_epoch(name) ? delivery_state::member : delivery_state::waiting;
}

std::optional<int64_t> weight_roster::rejoin_at(const nccl::member_id& name) const {
  auto it = samplers_.find(name);
  if (it == samplers_.end() || it->second.rejoin_at < 0)
    return std::nullopt;
  return it->second.rejoin_at;
}

} // namespace tandem
