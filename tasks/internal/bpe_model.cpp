// bpe_model.cpp: vocabulary and merges of a BPE model, and the merge loop.
//
// The merge loop mirrors tokenizers' Word::merge_all: symbols form a doubly
// linked list over a vector; a min-heap holds candidate pairs ordered by
// (rank, position); a popped candidate is stale (and skipped) if either side
// was merged away since it was pushed, which is detected by re-looking up the
// pair and comparing the resulting id.
#include "tasks/internal/bpe_model.hpp"

#include <cstdio>
#include <queue>

namespace tandem {

struct bpe_model::cache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

struct bpe_model::symbol {
  int32_t id;
  int32_t prev; // index of the previous live symbol, -1 at the start
  int32_t next; // index of the next live symbol, -1 at the end
  uint32_t len; // bytes covered; 0 marks a symbol merged into its left
};

bpe_model::bpe_model() : cache_(std::make_unique<cache>()) {}
bpe_model::bpe_model(bpe_model&&) noexcept = default;
bpe_model& bpe_model::operator=(bpe_model&&) noexcept = default;
bpe_model::~bpe_model() = default;

void bpe_model::reserve(size_t tokens, size_t merges) {
  vocab_.reserve(tokens);
  tokens_.reserve(tokens);
  merges_.reserve(merges);
}

std::string bpe_model::add_token(std::string token, int64_t id) {
  if (id < 0 || id > max_id)
    return "id " + std::to_string(id) + " is outside [0, " + std::to_string(max_id) + "]";
  if (vocab_.count(token) != 0)
    return "token \"" + token + "\" appears twice";
  const auto index = static_cast<size_t>(id);
  if (index < tokens_.size() && tokens_[index] != nullptr)
    return "id " + std::to_string(id) + " is given to both \"" + *tokens_[index] + "\" and \""
           + token + "\"";
  storage_.push_back(std::move(token));
  vocab_.emplace(storage_.back(), static_cast<int32_t>(id));
  if (index >= tokens_.size())
    tokens_.resize(index + 1, nullptr);
  tokens_[index] = &storage_.back();
  return {};
}

std::string bpe_model::add_merge(std::string_view a, std::string_view b) {
  const auto a_id = token_to_id(a);
  if (!a_id)
    return "\"" + std::string(a) + "\" is not in the vocabulary";
  const auto b_id = token_to_id(b);
  if (!b_id)
    return "\"" + std::string(b) + "\" is not in the vocabulary";
  // As tokenizers: the right side's continuing-subword prefix is dropped.
  const size_t prefix_len = options_.continuing_subword_prefix.size();
  if (b.size() < prefix_len)
    return "\"" + std::string(b) + "\" is shorter than the continuing subword prefix";
  std::string merged = std::string(a) + std::string(b.substr(prefix_len));
  const auto new_id = token_to_id(merged);
  if (!new_id)
    return "their merge \"" + merged + "\" is not in the vocabulary";
  merges_.insert_or_assign(pair_key(*a_id, *b_id), merge_rule{next_rank_++, *new_id});
  return {};
}

std::string bpe_model::set_options(bpe_options options) {
  if (options.unk_token && !token_to_id(*options.unk_token))
    return "unk_token \"" + *options.unk_token + "\" is not in the vocabulary";
  options_ = std::move(options);
  return {};
}

std::optional<int32_t> bpe_model::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end())
    return std::nullopt;
  return it->second;
}

const std::string* bpe_model::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size())
    return nullptr;
  return tokens_[static_cast<size_t>(id)];
}

void bpe_model::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty())
    return;
  if (options_.ignore_merges) {
    if (auto id = token_to_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() < max_cached_word_bytes;
  std::string key;
  if (cacheable) {
    key.assign(word);
    std::lock_guard<std::mutex> guard{cache_->mutex};
    auto it = cache_->words.find(key);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_word(word, out);
  if (cacheable) {
    std::vector<int32_t> ids(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
    std::lock_guard<std::mutex> guard{cache_->mutex};
    if (cache_->words.size() >= cache_capacity)
      cache_->words.clear();
    cache_->words.emplace(std::move(key), std::move(ids));
  }
}

void bpe_model::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<symbol> symbols;
  initial_symbols(word, symbols);
  apply_merges(symbols);
  for (const auto& s : symbols)
    if (s.len != 0)
      out.push_back(s.id);
}

namespace {

size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

} // namespace

// One symbol per character (tokenizers' BPE::merge_word before merge_all).
void bpe_model::initial_symbols(std::string_view word, std::vector<symbol>& symbols) const {
  auto add = [&](int32_t id, size_t len) {
    const auto index = static_cast<int32_t>(symbols.size());
    if (!symbols.empty())
      symbols.back().next = index;
    symbols.push_back(symbol{id, index - 1, -1, static_cast<uint32_t>(len)});
  };
  // A pending unknown-token symbol (fused runs grow it): its bytes, 0 if none.
  size_t unk_len = 0;
  // set_options checked that the unknown token, if any, is in the vocabulary.
  const int32_t unk_id = options_.unk_token ? *token_to_id(*options_.unk_token) : -1;
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    const size_t len = std::min(utf8_length(static_cast<unsigned char>(word[i])), word.size() - i);
    piece.clear();
    if (i != 0)
      piece += options_.continuing_subword_prefix;
    piece.append(word.substr(i, len));
    if (i + len == word.size())
      piece += options_.end_of_word_suffix;
    i += len;
    if (auto id = token_to_id(piece)) {
      if (unk_len != 0)
        add(unk_id, unk_len);
      unk_len = 0;
      add(*id, len);
      continue;
    }
    if (options_.byte_fallback) {
      std::vector<int32_t> bytes;
      for (unsigned char b : piece) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        if (auto id = token_to_id(name))
          bytes.push_back(*id);
        else
          break;
      }
      if (bytes.size() == piece.size()) {
        for (int32_t id : bytes)
          add(id, 1);
        continue;
      }
    }
    if (unk_id < 0)
      continue; // no unknown token: tokenizers drops the character
    if (unk_len != 0 && options_.fuse_unk) {
      unk_len += len;
    } else {
      if (unk_len != 0)
        add(unk_id, unk_len);
      unk_len = len;
    }
  }
  if (unk_len != 0)
    add(unk_id, unk_len);
}

void bpe_model::apply_merges(std::vector<symbol>& symbols) const {
  struct candidate {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
  };
  // Lowest rank first; among equal ranks, the leftmost pair.
  auto later = [](const candidate& x, const candidate& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  std::priority_queue<candidate, std::vector<candidate>, decltype(later)> queue{later};
  auto push_pair = [&](int32_t left) {
    const int32_t right = symbols[static_cast<size_t>(left)].next;
    if (right < 0)
      return;
    auto it = merges_.find(pair_key(symbols[static_cast<size_t>(left)].id,
                                    symbols[static_cast<size_t>(right)].id));
    if (it != merges_.end())
      queue.push(candidate{it->second.rank, left, it->second.new_id});
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    push_pair(static_cast<int32_t>(i));

  while (!queue.empty()) {
    const candidate top = queue.top();
    queue.pop();
    symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (left.len == 0 || left.next < 0)
      continue;
    const symbol right = symbols[static_cast<size_t>(left.next)];
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id)
      continue; // stale: a side changed since this pair was queued
    symbols[static_cast<size_t>(left.next)].len = 0;
    left.id = top.new_id;
    left.len += right.len;
    left.next = right.next;
    if (right.next >= 0)
      symbols[static_cast<size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0)
      push_pair(left.prev);
    push_pair(top.pos);
  }
}

} // namespace tandem
