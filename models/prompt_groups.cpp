// prompt_groups.cpp: see prompt_groups.hpp.
#include "models/prompt_groups.hpp"

#include <unordered_map>

namespace tandem {

namespace {

// FNV-1a over the token ids: only a bucket key, equality is checked after.
uint64_t hash_of(const std::vector<int32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (auto t : ids) {
    h ^= static_cast<uint32_t>(t);
    h *= 0x100000001b3ull;
  }
  return h ^ ids.size();
}

} // namespace

prompt_groups group_prompts(const std::vector<std::vector<int32_t>>& prompts) {
  prompt_groups g;
  g.of.resize(prompts.size());
  // hash -> indices into g.first of the distinct prompts with that hash
  std::unordered_map<uint64_t, std::vector<size_t>> seen;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto& bucket = seen[hash_of(prompts[i])];
    size_t found = g.first.size();
    for (auto u : bucket)
      if (prompts[g.first[u]] == prompts[i]) {
        found = u;
        break;
      }
    if (found == g.first.size()) {
      bucket.push_back(found);
      g.first.push_back(i);
    }
    g.of[i] = found;
  }
  return g;
}

prompt_groups distinct_rows(size_t n) {
  prompt_groups g;
  for (size_t i = 0; i < n; ++i) {
    g.first.push_back(i);
    g.of.push_back(i);
  }
  return g;
}

} // namespace tandem
