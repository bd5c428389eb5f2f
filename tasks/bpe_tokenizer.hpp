// bpe_tokenizer.hpp: byte-level BPE tokenizers loaded from a Hugging Face
// tokenizer.json (GPT-2, Qwen2, Llama-3 families), encoding and decoding
// exactly as the `tokenizers` library does.
//
// encode(text) equals tokenizers' `encode(text, add_special_tokens=False)`:
// added tokens are found in the raw text first, the rest is normalized,
// pre-tokenized and run through the BPE model; no post-processor tokens (BOS)
// are added, and nothing is truncated or padded. decode(ids) equals
// `decode(ids, skip_special_tokens)`.
//
// Supported tokenizer.json contents (anything else is refused at load with
// errc::invalid_config naming file:line:col and the field):
//   model          BPE: vocab, merges ("a b" strings or ["a","b"] pairs),
//                  ignore_merges, unk_token, fuse_unk, byte_fallback,
//                  continuing_subword_prefix, end_of_word_suffix; dropout
//                  null or 0 (dropout is random)
//   added_tokens   special or not, lstrip/rstrip, normalized; single_word is
//                  refused; each id must be the one tokenizers would assign
//   normalizer     null, NFC, Sequence of NFC
//   pre_tokenizer  null, ByteLevel (add_prefix_space, use_regex), Sequence,
//                  Split with behavior Isolated, invert false and one of the
//                  GPT-2 / Qwen2 / Llama-3 regexes (tasks/internal/split_regex.hpp)
//   decoder        ByteLevel, or null (tokens joined with spaces)
//   post_processor ignored (it only adds tokens when add_special_tokens=True)
//   truncation, padding must be null
//
// Thread safety: immutable after loading except for an internal, bounded,
// mutex-guarded word cache; encode/decode/lookups are safe from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace tandem {

/// An entry of tokenizer.json's added_tokens.
struct added_token {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = false; // matched after normalization instead of in raw text
  bool lstrip = false;     // the match takes the whitespace before it
  bool rstrip = false;     // the match takes the whitespace after it
};

class bpe_tokenizer {
public:
  bpe_tokenizer(bpe_tokenizer&&) noexcept;
  bpe_tokenizer& operator=(bpe_tokenizer&&) noexcept;
  ~bpe_tokenizer();

  /// Token ids of `text` (UTF-8). Ill-formed UTF-8 is errc::invalid_argument
  /// naming the byte offset.
  caf::expected<std::vector<int32_t>> encode(std::string_view text) const;

  /// Text of `ids`. Ids with no token are skipped (as tokenizers does); with
  /// skip_special, so are special added tokens. Bytes that do not form UTF-8
  /// (a sequence cut mid-character) become U+FFFD.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

  /// Distinct tokens, added tokens included (tokenizers' get_vocab_size(True)).
  int32_t vocab_size() const;
  /// One more than the largest id of any token; an embedding table needs at
  /// least this many rows.
  int32_t id_bound() const;

  /// Added tokens first, then the model vocabulary (as tokenizers).
  std::optional<int32_t> token_to_id(std::string_view token) const;
  /// The token's text as stored (byte-level characters for model tokens).
  std::optional<std::string> id_to_token(int32_t id) const;

  /// True for the id of a special added token ("<|im_end|>", ...).
  bool is_special(int32_t id) const;
  /// The added tokens in file order.
  const std::vector<added_token>& added_tokens() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;

  explicit bpe_tokenizer(std::unique_ptr<impl> p);
  friend caf::expected<bpe_tokenizer> parse_tokenizer_json(std::string_view, const std::string&);
  friend caf::expected<bpe_tokenizer> load_tokenizer_json(const std::string&);
};

/// Loads a tokenizer.json file (errc::io_failure if unreadable).
caf::expected<bpe_tokenizer> load_tokenizer_json(const std::string& path);

/// Builds a tokenizer from tokenizer.json text; `source` names it in errors.
caf::expected<bpe_tokenizer> parse_tokenizer_json(std::string_view json_text,
                                                  const std::string& source = "tokenizer.json");

} // namespace tandem
