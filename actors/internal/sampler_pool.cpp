#include "actors/internal/sampler_pool.hpp"

namespace tandem {

std::string sampler_pool::add(std::string name, caf::actor handle, int32_t max_groups) {
  auto base = name;
  for (int i = 2; samplers_.count(name) > 0; ++i)
    name = base + "#" + std::to_string(i);
  sampler_info info;
  info.name = name;
  info.handle = std::move(handle);
  info.max_groups = max_groups > 0 ? max_groups : 1;
  samplers_.emplace(name, std::move(info));
  return name;
}

std::optional<std::string> sampler_pool::remove(const caf::actor_addr& addr) {
  for (auto it = samplers_.begin(); it != samplers_.end(); ++it)
    if (it->second.handle.address() == addr) {
      auto name = it->first;
      samplers_.erase(it);
      return name;
    }
  return std::nullopt;
}

sampler_info* sampler_pool::pick() {
  sampler_info* best = nullptr;
  for (auto& [name, s] : samplers_) {
    if (s.outstanding >= max_outstanding)
      continue;
    if (best == nullptr || s.outstanding < best->outstanding)
      best = &s;
  }
  return best;
}

sampler_info* sampler_pool::find(const std::string& name) {
  auto it = samplers_.find(name);
  return it == samplers_.end() ? nullptr : &it->second;
}

} // namespace tandem
