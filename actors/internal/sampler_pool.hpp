// sampler_pool.hpp: the controller's view of its samplers (membership,
// outstanding requests, health) and the dispatch choice.
//
// A sampler may have at most `max_outstanding` generate requests open: one
// decoding, one queued behind it, so it never idles waiting for a round trip
// to the controller, while the groups parked at one sampler stay bounded.
//
// Thread safety: one thread (the controller actor).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

namespace tandem {

struct sampler_info {
  std::string name;
  caf::actor handle;
  int32_t max_groups = 1;
  int32_t outstanding = 0;
  uint64_t completed_requests = 0;
  uint64_t failed_requests = 0;
  double busy_seconds = 0;
  int64_t tokens = 0;
  uint64_t join_order = 0; // retire picks the most recent first
  uint64_t last_pick = 0;  // dispatch breaks ties by least recently picked
  bool draining = false;   // gets no new work; leaves once idle
};

class sampler_pool {
public:
  static constexpr int32_t max_outstanding = 2;

  /// Adds a sampler; a name already present gets a numeric suffix. Returns
  /// the name it is known by.
  std::string add(std::string name, caf::actor handle, int32_t max_groups);

  /// Removes by actor address (on down_msg); returns its name if known.
  std::optional<std::string> remove(const caf::actor_addr& addr);

  /// The sampler with the fewest outstanding requests that can take one more,
  /// ties broken by least recently picked (round robin); nullptr if all are
  /// saturated or draining. Marks the returned sampler as picked.
  sampler_info* pick();

  sampler_info* find(const std::string& name);

  /// Marks up to n serving samplers, most recently joined first, as
  /// draining; returns their names.
  std::vector<std::string> drain(size_t n);

  /// Draining samplers with no outstanding request: removed from the pool
  /// and returned (the caller tells them to stop).
  std::vector<sampler_info> take_drained();

  /// Samplers not draining.
  size_t serving() const;
  size_t size() const { return samplers_.size(); }
  const std::map<std::string, sampler_info>& all() const { return samplers_; }

private:
  std::map<std::string, sampler_info> samplers_;
  uint64_t joins_ = 0;
  uint64_t picks_ = 0;
};

} // namespace tandem
