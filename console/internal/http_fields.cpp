// http_fields.cpp: see http_fields.hpp.
#include "console/internal/http_fields.hpp"

namespace tandem {

std::string error_body(const std::string& message) {
  return "{\"ok\":false,\"error\":" + json_quote(message) + "}";
}

int status_of(const caf::error& err) {
  if (is(err, errc::invalid_argument) || is(err, errc::invalid_config))
    return 400;
  if (is(err, errc::not_found))
    return 404;
  if (is(err, errc::timeout))
    return 504;
  if (is(err, errc::not_ready) || is(err, errc::capacity_exceeded) || is(err, errc::in_use))
    return 409;
  return 500;
}

} // namespace tandem
