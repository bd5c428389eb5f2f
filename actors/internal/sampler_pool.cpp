#include "actors/internal/sampler_pool.hpp"

#include <algorithm>

namespace tandem {

std::string sampler_pool::add(std::string name, caf::actor handle, int32_t max_groups) {
  auto base = name;
  for (int i = 2; samplers_.count(name) > 0; ++i)
    name = base + "#" + std::to_string(i);
  sampler_info info;
  info.name = name;
  info.handle = std::move(handle);
  info.max_groups = max_groups > 0 ? max_groups : 1;
  info.join_order = ++joins_;
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
    if (s.draining || s.outstanding >= max_outstanding)
      continue;
    if (best == nullptr || s.outstanding < best->outstanding
        || (s.outstanding == best->outstanding && s.last_pick < best->last_pick))
      best = &s;
  }
  if (best != nullptr)
    best->last_pick = ++picks_;
  return best;
}

std::vector<std::string> sampler_pool::drain(size_t n) {
  std::vector<sampler_info*> serving_now;
  for (auto& [name, s] : samplers_)
    if (!s.draining)
      serving_now.push_back(&s);
  std::sort(serving_now.begin(), serving_now.end(),
            [](auto* a, auto* b) { return a->join_order > b->join_order; });
  std::vector<std::string> out;
  for (size_t i = 0; i < n && i < serving_now.size(); ++i) {
    serving_now[i]->draining = true;
    out.push_back(serving_now[i]->name);
  }
  return out;
}

std::vector<sampler_info> sampler_pool::take_drained() {
  std::vector<sampler_info> out;
  for (auto it = samplers_.begin(); it != samplers_.end();) {
    if (it->second.draining && it->second.outstanding == 0) {
      out.push_back(std::move(it->second));
      it = samplers_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

size_t sampler_pool::serving() const {
  size_t n = 0;
  for (auto& [name, s] : samplers_)
    n += s.draining ? 0 : 1;
  return n;
}

sampler_info* sampler_pool::find(const std::string& name) {
  auto it = samplers_.find(name);
  return it == samplers_.end() ? nullptr : &it->second;
}

} // namespace tandem
