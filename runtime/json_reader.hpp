// json_reader.hpp: a small JSON (RFC 8259) DOM parser for files tandem reads,
// such as Hugging Face tokenizer.json (several MB, parsed in tens of ms).
//
// parse_json() builds an immutable tree of json_value. Strings are decoded to
// UTF-8 (escapes included; \uXXXX surrogate pairs join into one code point);
// the input must be UTF-8 and invalid UTF-8 is an error. Objects keep their
// members in document order, duplicate keys included (find() returns the
// first) unless json_options::unique_keys asks for them to be refused. Numbers keep
// their double value and, when written as an integer that fits int64_t, the
// exact integer. Every value remembers the line:column where it starts so
// callers can point at the offending value in their own errors.
//
// Errors are "SOURCE:LINE:COL: what" (1-based; the column counts bytes;
// "SOURCE:" only when a source name is given), errc::invalid_config unless
// json_options::code says otherwise. Forms that YAML or JavaScript accept but
// JSON does not (unquoted keys, single quotes, comments) are named as such.
//
// This is tandem's one JSON parser (tokenizer.json, safetensors headers,
// Hugging Face config.json and weight indexes, JSONL datasets);
// json_writer.hpp writes JSON.
//
// Thread safety: parsing is reentrant; a json_value is an ordinary value type
// (const access from many threads is safe).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/error.hpp"

namespace tandem {

struct json_member;

/// A JSON number: its double value and, when it was written without fraction
/// or exponent and fits, its exact integer value.
struct json_number {
  double value = 0;
  int64_t integer = 0;
  bool is_integer = false;
};

class json_value {
public:
  enum class kind : uint8_t { null, boolean, number, string, array, object };
  using array_type = std::vector<json_value>;
  using object_type = std::vector<json_member>;

  json_value() = default;
  explicit json_value(bool b) : data_(b) {}
  explicit json_value(json_number n) : data_(n) {}
  explicit json_value(std::string s) : data_(std::move(s)) {}
  explicit json_value(array_type a) : data_(std::move(a)) {}
  explicit json_value(object_type o);

  kind type() const { return static_cast<kind>(data_.index()); }
  /// "null", "boolean", "number", "string", "array" or "object".
  const char* type_name() const;

  bool is_null() const { return type() == kind::null; }
  /// Each accessor returns nullptr when the value is of another kind.
  const bool* as_bool() const { return std::get_if<bool>(&data_); }
  const json_number* as_number() const { return std::get_if<json_number>(&data_); }
  /// The exact integer of a number written as an integer within int64_t.
  const int64_t* as_integer() const;
  const std::string* as_string() const { return std::get_if<std::string>(&data_); }
  const array_type* as_array() const { return std::get_if<array_type>(&data_); }
  const object_type* as_object() const { return std::get_if<object_type>(&data_); }

  /// The first member named `key`, or nullptr (also when this is not an
  /// object). Linear in the number of members: iterate large objects instead.
  const json_value* find(std::string_view key) const;

  /// 1-based position of the value's first character in the parsed text
  /// (0:0 for values built in code).
  uint32_t line() const { return line_; }
  uint32_t column() const { return column_; }
  /// "LINE:COL".
  std::string where() const;

  void set_position(uint32_t line, uint32_t column) {
    line_ = line;
    column_ = column;
  }

private:
  std::variant<std::monostate, bool, json_number, std::string, array_type, object_type> data_;
  uint32_t line_ = 0;
  uint32_t column_ = 0;
};

struct json_member {
  std::string key;
  json_value value;
};

/// What a format asks of the parser beyond RFC 8259.
struct json_options {
  /// Refuses an object that holds a key twice ("duplicate key", at the
  /// second one). RFC 8259 leaves duplicates open and readers disagree on
  /// which one wins, so formats exchanged with Python tools refuse them;
  /// tokenizer.json readers keep them and decide themselves.
  bool unique_keys = false;
  /// The code of parse errors: invalid_config for files people write,
  /// malformed_message for data that programs write (safetensors headers).
  errc code = errc::invalid_config;
};

/// Parses one JSON document (surrounding whitespace allowed, nothing else).
/// `source` (a file name, say) prefixes error messages when not empty.
caf::expected<json_value> parse_json(std::string_view text, std::string_view source = {},
                                     const json_options& opts = {});

/// Parses the one JSON value at the start of `text` (leading whitespace
/// allowed) and stops after it: `consumed` is set to the offset one past the
/// value, and whatever follows is left to the caller (for line- or
/// stream-framed formats such as JSONL). `consumed` is untouched on error.
caf::expected<json_value> parse_json_prefix(std::string_view text, size_t& consumed,
                                            std::string_view source = {},
                                            const json_options& opts = {});

/// Reads and parses a file; errc::io_failure if it cannot be read, parse
/// errors name the path as their source.
caf::expected<json_value> read_json_file(const std::string& path,
                                         const json_options& opts = {});

} // namespace tandem
