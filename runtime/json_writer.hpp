// json_writer.hpp: the pieces tandem writes JSON with, for the files it
// exchanges with Python tools (safetensors headers, Hugging Face config.json
// and index files) and for metrics records. Documents are assembled as text
// by their owners; runtime/json_reader.hpp reads them back.
//
// Thread safety: stateless functions.
#pragma once

#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace tandem {

/// `s` as a quoted JSON string (", \ and control characters escaped; other
/// bytes, UTF-8 included, written as they are).
std::string json_quote(std::string_view s);

/// The shortest decimal text that reads back as exactly `x` ("1e-06",
/// "0.1"); a finite double is required. Integral values below 2^53 are
/// written as "10000.0", so that Python reads them back as floats.
std::string json_number_text(double x);

/// Writes `text` to PATH.tmp and renames it to PATH, so that a reader never
/// sees a half-written document under the final name.
caf::error write_json_file(const std::string& path, const std::string& text);

} // namespace tandem
