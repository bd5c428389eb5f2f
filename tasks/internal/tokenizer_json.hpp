// tokenizer_json.hpp: reads a parsed tokenizer.json into the parts of a
// byte-level BPE pipeline, refusing what tandem does not implement (see
// tasks/bpe_tokenizer.hpp for the supported subset).
//
// Errors are errc::invalid_config "SOURCE:LINE:COL: FIELD: what", the
// position being that of the offending value (or of the object missing a
// field).
//
// Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/json_reader.hpp"
#include "tasks/bpe_tokenizer.hpp"
#include "tasks/internal/added_tokens.hpp"
#include "tasks/internal/bpe_model.hpp"
#include "tasks/internal/split_regex.hpp"

namespace tandem {

struct pre_tokenizer_step {
  enum class kind : uint8_t { byte_level, split };
  kind type = kind::byte_level;
  bool add_prefix_space = false; // byte_level
  bool use_regex = true;         // byte_level: split with the GPT-2 regex first
  split_regex regex = split_regex::gpt2; // split: behavior Isolated (matches and
                                         // the text between them are pieces)
};

struct tokenizer_pipeline {
  bpe_model model;
  std::vector<added_token> added;
  added_token_matcher raw_added;        // normalized == false: matched in raw text
  added_token_matcher normalized_added; // matched in normalized text
  std::unordered_set<std::string> special_contents;
  bool nfc = false;
  std::vector<pre_tokenizer_step> pre_tokenizers; // applied in order
  bool byte_level_decoder = true;                 // false: join tokens with ' '
};

caf::expected<tokenizer_pipeline> read_tokenizer_pipeline(const json_value& root,
                                                          const std::string& source);

} // namespace tandem
