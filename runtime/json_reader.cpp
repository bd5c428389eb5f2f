// json_reader.cpp: recursive-descent JSON parser (see json_reader.hpp).
//
// One pass over the text, no exceptions: each parse function returns false
// after recording the first error, and the caller unwinds. Strings are copied
// in runs between escapes; numbers go through std::from_chars after a strict
// grammar check. Line numbers only change in whitespace because JSON strings
// cannot hold a raw newline.
#include "runtime/json_reader.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_map>
#include <utility>

#include "runtime/error.hpp"
#include "runtime/utf8.hpp"

namespace tandem {

namespace {

// Nesting is parsed by recursion on the C++ stack; a hostile or corrupt file
// of a million '[' would overflow it. Real files nest < 10 levels (tokenizer
// .json: 5); serde_json's default limit is 128, we allow a little more.
constexpr int max_depth = 256;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}


// Length of the well-formed UTF-8 sequence at p (Unicode Table 3-7), or 0.
size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) {
  const auto lead = utf8_lead_of(p[0]);
  const auto n = static_cast<size_t>(lead.length);
  if (n == 0 || static_cast<size_t>(end - p) < n || p[1] < lead.lo || p[1] > lead.hi)
    return 0;
  for (size_t i = 2; i < n; ++i)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return n;
}

class parser {
public:
  parser(std::string_view text, std::string_view source, const json_options& opts)
    : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()),
      line_start_(text.data()), source_(source), opts_(opts) {}

  caf::expected<json_value> run() {
    json_value root;
    skip_whitespace();
    if (!parse_value(root, 0))
      return std::move(error_);
    skip_whitespace();
    if (p_ != end_) {
      fail("unexpected " + describe_here() + " after the document" + hint());
      return std::move(error_);
    }
    return root;
  }

  caf::expected<json_value> run_prefix(size_t& consumed) {
    json_value root;
    skip_whitespace();
    if (!parse_value(root, 0))
      return std::move(error_);
    consumed = static_cast<size_t>(p_ - begin_);
    return root;
  }

private:
  const char* begin_;
  const char* p_;
  const char* end_;
  const char* line_start_;
  std::string_view source_;
  json_options opts_;
  uint32_t line_ = 1;
  caf::error error_;

  // Where each key of one object first appears (only with unique_keys).
  using key_positions = std::unordered_map<std::string, std::pair<uint32_t, uint32_t>>;

  uint32_t column() const {
    return static_cast<uint32_t>(p_ - line_start_) + 1;
  }

  bool fail_at(uint32_t line, uint32_t col, const std::string& what) {
    if (!error_) {
      std::string at = source_.empty() ? std::string() : std::string(source_) + ":";
      at += std::to_string(line) + ":" + std::to_string(col);
      error_ = make_error(opts_.code, at + ": " + what);
    }
    return false;
  }

  bool fail(const std::string& what) {
    return fail_at(line_, column(), what);
  }

  bool note_key(key_positions& seen, const std::string& key, uint32_t line, uint32_t col) {
    if (!opts_.unique_keys)
      return true;
    const auto [first, fresh] = seen.emplace(key, std::make_pair(line, col));
    if (fresh)
      return true;
    return fail_at(line, col, "duplicate key \"" + key + "\" (first at "
                                + std::to_string(first->second.first) + ":"
                                + std::to_string(first->second.second) + ")");
  }

  std::string describe_here() const {
    if (p_ == end_)
      return "end of input";
    const unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '\'')
      return "a single quote";
    if (c >= 0x20 && c < 0x7F)
      return std::string("'") + static_cast<char>(c) + "'";
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", c);
    return std::string("byte ") + hex;
  }

  // Forms that YAML or JavaScript accept and JSON does not, named so that a
  // file written by hand is quick to fix; "" for anything else.
  std::string hint() const {
    if (p_ == end_)
      return {};
    if (*p_ == '\'')
      return " (JSON strings use double quotes)";
    const bool slash_comment = *p_ == '/' && end_ - p_ > 1 && (p_[1] == '/' || p_[1] == '*');
    if (*p_ == '#' || slash_comment)
      return " (JSON has no comments)";
    return {};
  }

  bool starts_identifier() const {
    if (p_ == end_)
      return false;
    const char c = *p_;
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
  }

  void skip_whitespace() {
    while (p_ != end_) {
      const char c = *p_;
      if (c == '\n') {
        ++line_;
        line_start_ = ++p_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++p_;
      } else {
        break;
      }
    }
  }

  bool parse_value(json_value& out, int depth) {
    const uint32_t line = line_, col = column();
    bool ok = false;
    if (p_ == end_) {
      return fail("expected a value, got end of input");
    } else if (*p_ == '{') {
      ok = parse_object(out, depth);
    } else if (*p_ == '[') {
      ok = parse_array(out, depth);
    } else if (*p_ == '"') {
      std::string s;
      ok = parse_string(s);
      out = json_value{std::move(s)};
    } else if (*p_ == '-' || is_digit(*p_)) {
      ok = parse_number(out);
    } else {
      ok = parse_literal(out);
    }
    out.set_position(line, col);
    return ok;
  }

  bool parse_literal(json_value& out) {
    auto starts = [&](std::string_view word) {
      return static_cast<size_t>(end_ - p_) >= word.size()
             && std::memcmp(p_, word.data(), word.size()) == 0;
    };
    if (starts("true")) {
      out = json_value{true};
      p_ += 4;
    } else if (starts("false")) {
      out = json_value{false};
      p_ += 5;
    } else if (starts("null")) {
      out = json_value{};
      p_ += 4;
    } else {
      return fail("expected a value, got " + describe_here() + hint());
    }
    return true;
  }

  bool enter(int depth) {
    if (depth >= max_depth)
      return fail("nesting deeper than " + std::to_string(max_depth) + " levels");
    ++p_; // the opening bracket
    skip_whitespace();
    return true;
  }

  bool parse_array(json_value& out, int depth) {
    if (!enter(depth))
      return false;
    json_value::array_type items;
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      out = json_value{std::move(items)};
      return true;
    }
    for (;;) {
      items.emplace_back();
      if (!parse_value(items.back(), depth + 1))
        return false;
      skip_whitespace();
      if (p_ != end_ && *p_ == ',') {
        ++p_;
        skip_whitespace();
      } else if (p_ != end_ && *p_ == ']') {
        ++p_;
        break;
      } else {
        return fail("expected ',' or ']' in array, got " + describe_here() + hint());
      }
    }
    out = json_value{std::move(items)};
    return true;
  }

  bool parse_object(json_value& out, int depth) {
    if (!enter(depth))
      return false;
    json_value::object_type members;
    key_positions seen;
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      out = json_value{std::move(members)};
      return true;
    }
    for (;;) {
      if (starts_identifier())
        return fail("object keys must be quoted strings, got " + describe_here());
      if (p_ == end_ || *p_ != '"')
        return fail("expected a string key in object, got " + describe_here() + hint());
      const uint32_t key_line = line_, key_col = column();
      members.emplace_back();
      if (!parse_string(members.back().key)
          || !note_key(seen, members.back().key, key_line, key_col))
        return false;
      skip_whitespace();
      if (p_ == end_ || *p_ != ':')
        return fail("expected ':' after object key, got " + describe_here());
      ++p_;
      skip_whitespace();
      if (!parse_value(members.back().value, depth + 1))
        return false;
      skip_whitespace();
      if (p_ != end_ && *p_ == ',') {
        ++p_;
        skip_whitespace();
      } else if (p_ != end_ && *p_ == '}') {
        ++p_;
        break;
      } else {
        return fail("expected ',' or '}' in object, got " + describe_here() + hint());
      }
    }
    out = json_value{std::move(members)};
    return true;
  }

  // Four hex digits after "\u"; -1 (and an error) if malformed.
  int32_t parse_hex4() {
    int32_t v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      const int h = p_ == end_ ? -1 : hex_value(*p_);
      if (h < 0) {
        fail("expected a hex digit in \\u escape, got " + describe_here());
        return -1;
      }
      v = v * 16 + h;
    }
    return v;
  }

  // After "\u": one code point, joining a surrogate pair.
  bool parse_unicode_escape(std::string& out) {
    const int32_t first = parse_hex4();
    if (first < 0)
      return false;
    if (first >= 0xDC00 && first <= 0xDFFF)
      return fail("lone trailing surrogate in \\u escape");
    if (first < 0xD800 || first > 0xDBFF) {
      append_utf8(out, static_cast<uint32_t>(first));
      return true;
    }
    if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
      return fail("leading surrogate in \\u escape not followed by a trailing one");
    p_ += 2;
    const int32_t second = parse_hex4();
    if (second < 0)
      return false;
    if (second < 0xDC00 || second > 0xDFFF)
      return fail("leading surrogate in \\u escape not followed by a trailing one");
    const uint32_t cp = 0x10000 + ((static_cast<uint32_t>(first) - 0xD800) << 10)
                        + (static_cast<uint32_t>(second) - 0xDC00);
    append_utf8(out, cp);
    return true;
  }

  bool parse_escape(std::string& out) {
    ++p_; // the backslash
    if (p_ == end_)
      return fail("unterminated string");
    const char c = *p_++;
    switch (c) {
      case '"': out += '"'; return true;
      case '\\': out += '\\'; return true;
      case '/': out += '/'; return true;
      case 'b': out += '\b'; return true;
      case 'f': out += '\f'; return true;
      case 'n': out += '\n'; return true;
      case 'r': out += '\r'; return true;
      case 't': out += '\t'; return true;
      case 'u': return parse_unicode_escape(out);
      default:
        --p_;
        return fail("unknown escape character " + describe_here());
    }
  }

  bool parse_string(std::string& out) {
    ++p_; // the opening quote
    for (;;) {
      const char* run = p_;
      while (p_ != end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20)
          break;
        if (c < 0x80) {
          ++p_;
          continue;
        }
        const size_t n = utf8_sequence_length(reinterpret_cast<const unsigned char*>(p_),
                                               reinterpret_cast<const unsigned char*>(end_));
        if (n == 0)
          return fail("invalid UTF-8 in string");
        p_ += n;
      }
      out.append(run, p_);
      if (p_ == end_)
        return fail("unterminated string");
      if (*p_ == '"') {
        ++p_;
        return true;
      }
      if (*p_ != '\\')
        return fail("control character " + describe_here() + " in string (escape it)");
      if (!parse_escape(out))
        return false;
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool parse_number(json_value& out) {
    const char* start = p_;
    bool integral = true;
    if (*p_ == '-')
      ++p_;
    if (p_ == end_ || !is_digit(*p_))
      return fail("expected a digit in number, got " + describe_here());
    if (*p_ == '0' && p_ + 1 != end_ && is_digit(p_[1])) {
      ++p_;
      return fail("leading zero in number");
    }
    while (p_ != end_ && is_digit(*p_))
      ++p_;
    if (p_ != end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || !is_digit(*p_))
        return fail("expected a digit after '.' in number, got " + describe_here());
      while (p_ != end_ && is_digit(*p_))
        ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      if (p_ == end_ || !is_digit(*p_))
        return fail("expected a digit in exponent, got " + describe_here());
      while (p_ != end_ && is_digit(*p_))
        ++p_;
    }
    json_number n;
    const auto d = std::from_chars(start, p_, n.value);
    if (d.ec == std::errc::result_out_of_range) {
      p_ = start;
      return fail("number out of range");
    }
    if (integral) {
      const auto i = std::from_chars(start, p_, n.integer);
      n.is_integer = i.ec == std::errc{};
    }
    out = json_value{n};
    return true;
  }
};

} // namespace

json_value::json_value(object_type o) : data_(std::move(o)) {}

const char* json_value::type_name() const {
  switch (type()) {
    case kind::null: return "null";
    case kind::boolean: return "boolean";
    case kind::number: return "number";
    case kind::string: return "string";
    case kind::array: return "array";
    case kind::object: return "object";
  }
  return "?";
}

const int64_t* json_value::as_integer() const {
  const auto* n = as_number();
  return n && n->is_integer ? &n->integer : nullptr;
}

const json_value* json_value::find(std::string_view key) const {
  const auto* members = as_object();
  if (!members)
    return nullptr;
  for (const auto& m : *members)
    if (m.key == key)
      return &m.value;
  return nullptr;
}

std::string json_value::where() const {
  return std::to_string(line_) + ":" + std::to_string(column_);
}

caf::expected<json_value> parse_json(std::string_view text, std::string_view source,
                                     const json_options& opts) {
  return parser{text, source, opts}.run();
}

caf::expected<json_value> parse_json_prefix(std::string_view text, size_t& consumed,
                                            std::string_view source,
                                            const json_options& opts) {
  return parser{text, source, opts}.run_prefix(consumed);
}

caf::expected<json_value> read_json_file(const std::string& path, const json_options& opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(errc::io_failure, "cannot open " + path);
  in.seekg(0, std::ios::end);
  const auto size = in.tellg();
  in.seekg(0, std::ios::beg);
  std::string text(size > 0 ? static_cast<size_t>(size) : 0, '\0');
  if (size < 0 || !in.read(text.data(), static_cast<std::streamsize>(text.size())))
    return make_error(errc::io_failure, "cannot read " + path);
  return parse_json(text, path, opts);
}

} // namespace tandem
