// json.cpp: recursive-descent JSON parser and writer helpers (see json.hpp).
//
// The parser stops at the first error and reports its byte offset; it never
// throws. Nesting is bounded (max_depth) so that hostile input cannot
// exhaust the stack.

#include "runtime/json.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "runtime/error.hpp"

namespace tandem::json {

namespace {

// The files read here nest at most 3 levels (index.json: root -> weight_map
// -> string); 64 leaves room for any sane config while keeping the recursion
// far below the stack limit.
constexpr int max_depth = 64;

class parser {
public:
  explicit parser(std::string_view text) : s_(text) {}

  bool parse_document(value& out) {
    skip_ws();
    if (!parse_value(out, 0))
      return false;
    skip_ws();
    if (pos_ != s_.size())
      return fail("unexpected text after the JSON value");
    return true;
  }

  size_t pos() const { return pos_; }
  const std::string& error() const { return error_; }

private:
  bool fail(std::string what) {
    if (error_.empty())
      error_ = std::move(what);
    return false;
  }

  void skip_ws() {
    while (pos_ < s_.size()
           && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word)
      return fail("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool parse_value(value& out, int depth) {
    if (depth > max_depth)
      return fail("nesting deeper than " + std::to_string(max_depth));
    if (pos_ >= s_.size())
      return fail("unexpected end of input");
    switch (s_[pos_]) {
      case '{': return parse_object(out, depth);
      case '[': return parse_array(out, depth);
      case '"': out.type = value::kind::string; return parse_string(out.text);
      case 't': out.type = value::kind::boolean; out.boolean = true; return literal("true");
      case 'f': out.type = value::kind::boolean; return literal("false");
      case 'n': out.type = value::kind::null; return literal("null");
      default: return parse_number(out);
    }
  }

  bool parse_object(value& out, int depth) {
    out.type = value::kind::object;
    ++pos_; // '{'
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"')
        return fail("expected a quoted object key");
      std::string key;
      if (!parse_string(key))
        return false;
      if (out.find(key) != nullptr)
        return fail("duplicate key \"" + key + "\"");
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':')
        return fail("expected ':' after key \"" + key + "\"");
      ++pos_;
      skip_ws();
      out.keys.push_back(std::move(key));
      out.items.emplace_back();
      if (!parse_value(out.items.back(), depth + 1))
        return false;
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or '}' in an object");
    }
  }

  bool parse_array(value& out, int depth) {
    out.type = value::kind::array;
    ++pos_; // '['
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      out.items.emplace_back();
      if (!parse_value(out.items.back(), depth + 1))
        return false;
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or ']' in an array");
    }
  }

  bool hex4(uint32_t& out) {
    if (pos_ + 4 > s_.size())
      return fail("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') out |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') out |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') out |= uint32_t(c - 'A' + 10);
      else return fail("bad hex digit in \\u escape");
    }
    return true;
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  bool unicode_escape(std::string& out) {
    uint32_t cp = 0;
    if (!hex4(cp))
      return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
      return fail("lone low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t lo = 0;
      if (s_.substr(pos_, 2) != "\\u")
        return fail("high surrogate without its low half");
      pos_ += 2;
      if (!hex4(lo))
        return false;
      if (lo < 0xDC00 || lo > 0xDFFF)
        return fail("high surrogate without its low half");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    put_utf8(out, cp);
    return true;
  }

  bool parse_string(std::string& out) {
    ++pos_; // opening quote
    for (;;) {
      if (pos_ >= s_.size())
        return fail("unterminated string");
      const char c = s_[pos_++];
      if (c == '"')
        return true;
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("control character inside a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size())
        return fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u':
          if (!unicode_escape(out))
            return false;
          break;
        default: return fail(std::string("invalid escape \\") + e);
      }
    }
  }

  bool digits() {
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
      ++pos_;
    return pos_ > start;
  }

  bool parse_number(value& out) {
    const size_t start = pos_;
    if (s_[pos_] == '-')
      ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0')
      ++pos_;
    else if (!digits())
      return fail("invalid value");
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digits())
        return fail("digits expected after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-'))
        ++pos_;
      if (!digits())
        return fail("digits expected in the exponent");
    }
    out.type = value::kind::number;
    out.text = std::string(s_.substr(start, pos_ - start));
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

} // namespace

const value* value::find(std::string_view key) const {
  if (type != kind::object)
    return nullptr;
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key)
      return &items[i];
  return nullptr;
}

std::optional<uint64_t> value::as_uint64() const {
  if (type != kind::number || text.empty())
    return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt; // sign, fraction or exponent
    const uint64_t d = uint64_t(c - '0');
    if (v > (UINT64_MAX - d) / 10)
      return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<double> value::as_double() const {
  if (type != kind::number)
    return std::nullopt;
  errno = 0;
  const double v = std::strtod(text.c_str(), nullptr);
  if (errno == ERANGE && std::isinf(v))
    return std::nullopt;
  return v;
}

const char* kind_name(value::kind k) {
  switch (k) {
    case value::kind::null: return "null";
    case value::kind::boolean: return "boolean";
    case value::kind::number: return "number";
    case value::kind::string: return "string";
    case value::kind::array: return "array";
    case value::kind::object: return "object";
  }
  return "unknown";
}

caf::expected<value> parse(std::string_view text, const std::string& what) {
  parser p{text};
  value out;
  if (!p.parse_document(out))
    return make_error(errc::malformed_message, what + ": JSON error at byte "
                                                 + std::to_string(p.pos()) + ": " + p.error());
  return out;
}

caf::expected<value> parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(errc::io_failure, "cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return make_error(errc::io_failure, "cannot read " + path);
  return parse(text.str(), path);
}

caf::error write_file(const std::string& path, const std::string& text) {
  const auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return make_error(errc::io_failure, "cannot open " + tmp);
    out << text;
    if (!out.flush())
      return make_error(errc::io_failure, "write to " + tmp + " failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(errc::io_failure, "cannot rename " + tmp + " to " + path);
  return {};
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string number_text(double x) {
  char buf[32];
  // Integral values below 2^53 print exactly in fixed notation: "1000000.0"
  // rather than "1e+06", as Python's json writes them.
  if (x == std::floor(x) && std::fabs(x) < 9007199254740992.0) {
    std::snprintf(buf, sizeof(buf), "%.0f.0", x);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, x);
    if (std::strtod(buf, nullptr) == x)
      break;
  }
  return buf;
}

} // namespace tandem::json
