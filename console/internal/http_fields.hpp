// http_fields.hpp: the console's query parameters and error replies: an
// integer parameter checked against its lower bound (errc::invalid_argument
// naming it), the JSON body of an error, and the HTTP status of a
// control's error.
//
// Thread safety: pure functions.
#pragma once

#include <charconv>
#include <string>
#include <system_error>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <httplib.h>

#include "runtime/error.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

/// {"ok":false,"error":MESSAGE}.
std::string error_body(const std::string& message);

/// The HTTP status of a control's error: 400 for bad input, 404, 504 for a
/// timeout, 409 for a run not ready or full, else 500.
int status_of(const caf::error& err);

/// Query parameter `name` as an integer >= `min`; `fallback` when absent.
template <class Int>
caf::expected<Int> int_param(const httplib::Request& req, const char* name, Int fallback,
                             Int min) {
  if (!req.has_param(name))
    return fallback;
  const std::string text = req.get_param_value(name);
  Int value{};
  auto res = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || res.ec != std::errc{} || res.ptr != text.data() + text.size() ||
      value < min)
    return make_error(errc::invalid_argument, std::string{"query parameter \""} + name +
                                                  "\": expected an integer >= " +
                                                  std::to_string(min) + ", got " +
                                                  json_quote(text));
  return value;
}

} // namespace tandem
