// bpe_model.hpp: the BPE model of a tokenizer.json: vocabulary, ranked
// merges, and the merge loop that turns one pre-tokenized word into ids.
//
// tokenize() follows tokenizers' BPE::tokenize exactly: with ignore_merges a
// word that is itself in the vocabulary is one token; otherwise each
// character becomes a symbol (continuing_subword_prefix / end_of_word_suffix
// applied; byte fallback "<0xAB>" tokens or the unknown token for characters
// not in the vocabulary, characters with neither are dropped as tokenizers
// drops them), and merges are applied lowest rank first, ties to the leftmost
// pair, through a priority queue of candidate pairs (O(n log n) per word).
//
// Words up to max_cached_word_bytes are cached (word -> ids). The cache holds
// at most cache_capacity words and is cleared when full, so memory stays
// bounded whatever text arrives while repeated words stay cheap.
//
// Thread safety: after building (add_token/add_merge/set_options, one
// thread), tokenize() and the lookups are safe from many threads; the cache
// is guarded by a mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tandem {

struct bpe_options {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class bpe_model {
public:
  /// Ids are dense-table indices, so they are bounded (real vocabularies
  /// hold < 300k tokens).
  static constexpr int32_t max_id = (1 << 24) - 1;
  /// tokenizers' own cache bounds: 10k words, words under 256 bytes.
  static constexpr size_t cache_capacity = 10000;
  static constexpr size_t max_cached_word_bytes = 256;

  bpe_model();
  bpe_model(bpe_model&&) noexcept;
  bpe_model& operator=(bpe_model&&) noexcept;
  ~bpe_model();

  /// Sizes the tables for a vocabulary and merge list of these sizes.
  void reserve(size_t tokens, size_t merges);

  /// Adds a vocabulary entry; an error message if the token or id is taken
  /// or the id is out of [0, max_id], else empty.
  std::string add_token(std::string token, int64_t id);

  /// Adds the merge of rank = number of merges added before; an error
  /// message if a, b or their merge is not in the vocabulary, else empty.
  /// A repeated pair keeps the later rank (as tokenizers' map does).
  std::string add_merge(std::string_view a, std::string_view b);

  /// Sets options; an error message if unk_token is not in the vocabulary.
  std::string set_options(bpe_options options);

  /// Appends the ids of one word (bytes already mapped by the pre-tokenizer).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  /// nullptr if no token has this id.
  const std::string* id_to_token(int32_t id) const;
  /// Number of tokens in the vocabulary.
  size_t size() const { return vocab_.size(); }
  /// One more than the largest id (0 when empty).
  int32_t id_bound() const { return static_cast<int32_t>(tokens_.size()); }
  size_t merge_count() const { return merges_.size(); }

private:
  struct merge_rule {
    uint32_t rank;
    int32_t new_id;
  };
  struct cache;

  // Token texts live in a deque, whose elements never move (not even when
  // the model is moved), so the map can key on views of them (C++17 maps
  // have no heterogeneous lookup).
  std::deque<std::string> storage_;
  std::unordered_map<std::string_view, int32_t> vocab_;
  std::vector<const std::string*> tokens_; // by id; nullptr = unused id
  std::unordered_map<uint64_t, merge_rule> merges_;
  uint32_t next_rank_ = 0;
  bpe_options options_;
  std::unique_ptr<cache> cache_;

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
  }
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  struct symbol;
  void initial_symbols(std::string_view word, std::vector<symbol>& symbols) const;
  void apply_merges(std::vector<symbol>& symbols) const;
};

} // namespace tandem
