// json.hpp: a small strict JSON reader and the escaping/number helpers to
// write JSON, for the file formats tandem exchanges with Python tools
// (safetensors headers, Hugging Face config.json and index files).
//
// Strict RFC 8259: one value with only whitespace around it, no comments, no
// trailing commas, no duplicate object keys, \uXXXX escapes decoded to UTF-8
// (surrogate pairs joined, lone surrogates refused). Numbers keep their text
// so that integers up to 2^64 - 1 convert exactly (a double would not).
//
// Names live in tandem::json (json::value, json::parse) so that they never
// meet another JSON reader's in namespace tandem.
//
// Thread safety: stateless functions; a json::value is a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace tandem::json {

struct value {
  enum class kind : uint8_t { null, boolean, number, string, array, object };

  kind type = kind::null;
  bool boolean = false;
  std::string text;              // a string's value, or a number's literal text
  std::vector<std::string> keys; // object keys in file order (unique)
  std::vector<value> items; // array elements, or object values (keys[i])

  bool is_null() const { return type == kind::null; }
  bool is_object() const { return type == kind::object; }
  bool is_array() const { return type == kind::array; }
  bool is_string() const { return type == kind::string; }
  bool is_number() const { return type == kind::number; }
  bool is_bool() const { return type == kind::boolean; }

  /// The member named `key` of an object; nullptr if absent or not an object.
  const value* find(std::string_view key) const;

  /// A number without sign, fraction or exponent that fits in uint64_t.
  std::optional<uint64_t> as_uint64() const;
  /// Any number as a double (nullopt for other kinds or out of range).
  std::optional<double> as_double() const;
};

/// Name of a kind for error messages ("object", "number", ...).
const char* kind_name(value::kind k);

/// Parses `text`. Errors are errc::malformed_message and read
/// "<what>: JSON error at byte N: ...".
caf::expected<value> parse(std::string_view text, const std::string& what);

/// Reads and parses the file at `path` (errc::io_failure if unreadable;
/// parse errors name the path).
caf::expected<value> parse_file(const std::string& path);

/// Writes `text` to PATH.tmp and renames it to PATH, so that a reader never
/// sees a half-written document under the final name.
caf::error write_file(const std::string& path, const std::string& text);

/// `s` as a quoted JSON string (", \ and control characters escaped; other
/// bytes, UTF-8 included, written as they are).
std::string quote(std::string_view s);

/// The shortest decimal text that reads back as exactly `x` ("1e-06",
/// "0.1"); a finite double is required. Integral values below 2^53 are
/// written as "10000.0", so that Python reads them back as floats.
std::string number_text(double x);

} // namespace tandem::json
