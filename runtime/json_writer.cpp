// json_writer.cpp: JSON string quoting, number formatting and atomic file
// writes (see json_writer.hpp).

#include "runtime/json_writer.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "runtime/atomic_file.hpp"
#include "runtime/error.hpp"

namespace tandem {

std::string json_quote(std::string_view s) {
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
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_number_text(double x) {
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

caf::error write_json_file(const std::string& path, const std::string& text) {
  return write_file_atomically(path, [&](std::ostream& out) { out << text; });
}

} // namespace tandem
