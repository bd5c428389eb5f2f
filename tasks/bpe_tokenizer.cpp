// bpe_tokenizer.cpp: the encode/decode pipeline of a loaded tokenizer.json.
//
// encode: added tokens in raw text -> NFC (if configured) of the rest ->
// added tokens marked `normalized` in that -> pre-tokenizer steps, each
// turning every piece into sub-pieces (empty pieces vanish, as in
// tokenizers) -> the BPE model per final piece. decode: token texts (added
// tokens by content, then the model) -> ByteLevel decoder -> lossy UTF-8.
//
// Invariant: impl is built once by parse_tokenizer_json and never changed
// (the model's word cache aside), so const methods are thread-safe.
#include "tasks/bpe_tokenizer.hpp"

#include <algorithm>
#include <unordered_map>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/internal/byte_level.hpp"
#include "tasks/internal/tokenizer_json.hpp"
#include "tasks/internal/unicode.hpp"

namespace tandem {

namespace {

struct part {
  size_t begin;
  size_t end;
};

// Matches and the gaps between them, covering `text`: the pieces of a split
// with behavior Isolated (parts are never empty).
std::vector<part> regex_parts(split_regex regex, std::string_view text) {
  std::vector<part> parts;
  size_t prev = 0;
  for (const auto& [b, e] : find_matches(regex, text)) {
    if (prev != b)
      parts.push_back(part{prev, b});
    parts.push_back(part{b, e});
    prev = e;
  }
  if (prev != text.size())
    parts.push_back(part{prev, text.size()});
  return parts;
}

void run_step(const pre_tokenizer_step& step, const std::string& piece,
              std::vector<std::string>& out) {
  if (step.type == pre_tokenizer_step::kind::split) {
    for (const auto& p : regex_parts(step.regex, piece))
      out.emplace_back(piece, p.begin, p.end - p.begin);
    return;
  }
  std::string text = step.add_prefix_space && piece[0] != ' ' ? " " + piece : piece;
  std::vector<part> parts{part{0, text.size()}};
  if (step.use_regex)
    parts = regex_parts(split_regex::gpt2, text);
  for (const auto& p : parts) {
    out.emplace_back();
    byte_level::encode(std::string_view(text).substr(p.begin, p.end - p.begin), out.back());
  }
}

} // namespace

struct bpe_tokenizer::impl {
  tokenizer_pipeline p;
  std::unordered_map<int32_t, size_t> added_by_id;          // index into p.added
  std::unordered_map<std::string, size_t> added_by_content; // index into p.added

  explicit impl(tokenizer_pipeline pipeline) : p(std::move(pipeline)) {
    for (size_t i = 0; i < p.added.size(); ++i) {
      added_by_id.emplace(p.added[i].id, i);
      added_by_content.emplace(p.added[i].content, i);
    }
  }

  // Normalized text that holds no added token: pre-tokenize, then BPE.
  void encode_plain(std::string_view text, std::vector<int32_t>& ids) const {
    std::vector<std::string> pieces{std::string(text)};
    std::vector<std::string> next;
    for (const auto& step : p.pre_tokenizers) {
      next.clear();
      for (const auto& piece : pieces)
        run_step(step, piece, next);
      pieces.swap(next);
    }
    for (const auto& piece : pieces)
      p.model.tokenize(piece, ids);
  }

  const std::string* token_text(int32_t id) const {
    if (auto it = added_by_id.find(id); it != added_by_id.end())
      return &p.added[it->second].content;
    return p.model.id_to_token(id);
  }
};

bpe_tokenizer::bpe_tokenizer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
bpe_tokenizer::bpe_tokenizer(bpe_tokenizer&&) noexcept = default;
bpe_tokenizer& bpe_tokenizer::operator=(bpe_tokenizer&&) noexcept = default;
bpe_tokenizer::~bpe_tokenizer() = default;

caf::expected<std::vector<int32_t>> bpe_tokenizer::encode(std::string_view text) const {
  if (const size_t bad = unicode::find_invalid_utf8(text); bad != std::string_view::npos)
    return make_error(errc::invalid_argument,
                      "text is not UTF-8: ill-formed sequence at byte " + std::to_string(bad));
  const auto& p = impl_->p;
  std::vector<int32_t> ids;
  for (const auto& raw : p.raw_added.split(text)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    const std::string normalized = p.nfc ? unicode::nfc(raw.text) : std::string(raw.text);
    for (const auto& piece : p.normalized_added.split(normalized)) {
      if (piece.id >= 0)
        ids.push_back(piece.id);
      else
        impl_->encode_plain(piece.text, ids);
    }
  }
  return ids;
}

std::string bpe_tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  const auto& p = impl_->p;
  std::string bytes;
  std::string joined;
  for (int32_t id : ids) {
    const std::string* token = impl_->token_text(id);
    if (!token || (skip_special && p.special_contents.count(*token) != 0))
      continue;
    if (p.byte_level_decoder) {
      byte_level::decode_token(*token, bytes);
    } else {
      if (!joined.empty())
        joined += ' ';
      joined += *token;
    }
  }
  return p.byte_level_decoder ? unicode::utf8_lossy(bytes) : joined;
}

int32_t bpe_tokenizer::vocab_size() const {
  const auto& p = impl_->p;
  auto n = static_cast<int32_t>(p.model.size());
  for (const auto& t : p.added)
    if (!p.model.token_to_id(t.content))
      ++n;
  return n;
}

int32_t bpe_tokenizer::id_bound() const {
  int32_t bound = impl_->p.model.id_bound();
  for (const auto& t : impl_->p.added)
    bound = std::max(bound, t.id + 1);
  return bound;
}

std::optional<int32_t> bpe_tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_by_content.find(std::string(token));
      it != impl_->added_by_content.end())
    return impl_->p.added[it->second].id;
  return impl_->p.model.token_to_id(token);
}

std::optional<std::string> bpe_tokenizer::id_to_token(int32_t id) const {
  if (const std::string* t = impl_->token_text(id))
    return *t;
  return std::nullopt;
}

bool bpe_tokenizer::is_special(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->p.added[it->second].special;
}

const std::vector<added_token>& bpe_tokenizer::added_tokens() const {
  return impl_->p.added;
}

caf::expected<bpe_tokenizer> parse_tokenizer_json(std::string_view json_text,
                                                  const std::string& source) {
  auto root = parse_json(json_text, source);
  if (!root)
    return std::move(root.error());
  auto pipeline = read_tokenizer_pipeline(*root, source);
  if (!pipeline)
    return std::move(pipeline.error());
  return bpe_tokenizer{std::make_unique<bpe_tokenizer::impl>(std::move(*pipeline))};
}

caf::expected<bpe_tokenizer> load_tokenizer_json(const std::string& path) {
  auto root = read_json_file(path);
  if (!root)
    return std::move(root.error());
  auto pipeline = read_tokenizer_pipeline(*root, path);
  if (!pipeline)
    return std::move(pipeline.error());
  return bpe_tokenizer{std::make_unique<bpe_tokenizer::impl>(std::move(*pipeline))};
}

} // namespace tandem
