// tokenizer.cpp: the character tokenizer.
//
// Alphabet: "0123456789" "+-*/=() .,?:" "a".."z" "A".."Z" (74 characters), so
// arithmetic and plain-ASCII word problems encode. Ids 0..4 are the specials;
// alphabet character i has id 5 + i; vocab_size() == 79, or 81 with the R1
// format's <think> (79) and </think> (80).
//
// Only the two answer tags, "<answer>" and "</answer>" (and with the R1
// format "<think>" and "</think>"), are recognised inside input text.
// "<pad>", "<bos>" and "<eos>" are never produced from text (a '<' that does
// not start a tag is an error), so user data cannot forge sequence
// boundaries; callers add <bos>/<eos> by id (see format_prompt).
//
// Invariant: char_to_id_ has 256 entries, each -1 or an id in [5, 79).
#include "tasks/tokenizer.hpp"

#include <cstdio>

#include "runtime/error.hpp"
#include "tasks/framed_reward.hpp"

namespace tandem {

namespace {

constexpr int32_t first_char_id = 5;
constexpr std::string_view answer_open_tag = "<answer>";
constexpr std::string_view answer_close_tag = "</answer>";
constexpr std::string_view think_open_tag = "<think>";
constexpr std::string_view think_close_tag = "</think>";
constexpr int32_t alphabet_end = 79; // first id after the alphabet

const char* special_text(int32_t id) {
  switch (id) {
    case char_tokenizer::pad_id: return "<pad>";
    case char_tokenizer::bos_id: return "<bos>";
    case char_tokenizer::eos_id: return "<eos>";
    case char_tokenizer::answer_open_id: return "<answer>";
    case char_tokenizer::answer_close_id: return "</answer>";
    case char_tokenizer::think_open_id: return "<think>";
    case char_tokenizer::think_close_id: return "</think>";
    default: return nullptr;
  }
}

// "'x' (0x78)" for printable ASCII, "'\x0a' (0x0a)" otherwise.
std::string render_char(unsigned char c) {
  char hex[8];
  std::snprintf(hex, sizeof(hex), "0x%02x", static_cast<unsigned>(c));
  std::string shown;
  if (c >= 0x20 && c < 0x7f) {
    shown.assign(1, static_cast<char>(c));
  } else {
    shown = std::string("\\x") + (hex + 2);
  }
  return "'" + shown + "' (" + hex + ")";
}

} // namespace

char_tokenizer::char_tokenizer(task_framing framing)
  : char_to_id_(256, -1),
    framing_(std::move(framing)),
    think_tags_(framing_.format == task_format::r1) {
  const auto& alpha = alphabet();
  for (size_t i = 0; i < alpha.size(); ++i)
    char_to_id_[static_cast<unsigned char>(alpha[i])] =
      first_char_id + static_cast<int32_t>(i);
}

const std::string& char_tokenizer::alphabet() {
  static const std::string alpha = [] {
    std::string s = "0123456789+-*/=() .,?:";
    for (char c = 'a'; c <= 'z'; ++c)
      s += c;
    for (char c = 'A'; c <= 'Z'; ++c)
      s += c;
    return s;
  }();
  return alpha;
}

int32_t char_tokenizer::vocab_size() const {
  return alphabet_end + (think_tags_ ? 2 : 0);
}

caf::expected<std::vector<int32_t>>
char_tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    auto rest = text.substr(i);
    if (rest.substr(0, answer_open_tag.size()) == answer_open_tag) {
      ids.push_back(answer_open_id);
      i += answer_open_tag.size();
      continue;
    }
    if (rest.substr(0, answer_close_tag.size()) == answer_close_tag) {
      ids.push_back(answer_close_id);
      i += answer_close_tag.size();
      continue;
    }
    if (think_tags_ && rest.substr(0, think_open_tag.size()) == think_open_tag) {
      ids.push_back(think_open_id);
      i += think_open_tag.size();
      continue;
    }
    if (think_tags_ && rest.substr(0, think_close_tag.size()) == think_close_tag) {
      ids.push_back(think_close_id);
      i += think_close_tag.size();
      continue;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    const int32_t id = char_to_id_[c];
    if (id < 0)
      return make_error(errc::invalid_argument,
                        "character " + render_char(c) + " at offset "
                          + std::to_string(i)
                          + " is not in the tokenizer alphabet");
    ids.push_back(id);
    ++i;
  }
  return ids;
}

std::string char_tokenizer::decode(const std::vector<int32_t>& ids) const {
  const auto& alpha = alphabet();
  std::string out;
  out.reserve(ids.size());
  for (int32_t id : ids) {
    const char* tag = id < vocab_size() ? special_text(id) : nullptr;
    if (tag) {
      out += tag;
    } else if (id >= first_char_id && id < alphabet_end) {
      out += alpha[static_cast<size_t>(id - first_char_id)];
    } else {
      out += "<unk>";
    }
  }
  return out;
}

caf::expected<std::vector<int32_t>>
format_prompt(const char_tokenizer& tok, std::string_view question) {
  auto body = tok.encode(question);
  if (!body)
    return std::move(body.error());
  std::vector<int32_t> ids;
  ids.reserve(body->size() + 2);
  ids.push_back(char_tokenizer::bos_id);
  ids.insert(ids.end(), body->begin(), body->end());
  ids.push_back(char_tokenizer::answer_open_id);
  return ids;
}

std::vector<int32_t> stop_tokens() {
  return {char_tokenizer::answer_close_id, char_tokenizer::eos_id};
}

caf::expected<std::vector<int32_t>>
char_tokenizer::prompt_ids(std::string_view question) const {
  if (framing_.prefix.empty() && framing_.suffix.empty()
      && framing_.format == task_format::answer)
    return tandem::format_prompt(*this, question);
  auto body = encode(render_question(framing_, question));
  if (!body)
    return std::move(body.error());
  std::vector<int32_t> ids;
  ids.reserve(body->size() + 2);
  ids.push_back(bos_id);
  ids.insert(ids.end(), body->begin(), body->end());
  if (framing_.format == task_format::answer)
    ids.push_back(answer_open_id);
  return ids;
}

std::vector<int32_t> char_tokenizer::stop_ids() const {
  return tandem::stop_tokens();
}

reward_breakdown char_tokenizer::score(const std::vector<int32_t>& completion,
                                       std::string_view reference,
                                       const reward_weights& weights) const {
  return score_framed(decode(completion), reference, weights, framing_, true);
}

std::string char_tokenizer::describe() const {
  return "char (" + std::to_string(vocab_size()) + " ids"
         + (think_tags_ ? std::string(", r1") : std::string()) + ")";
}

} // namespace tandem
