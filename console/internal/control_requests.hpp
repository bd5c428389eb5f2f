// control_requests.hpp: the JSON bodies of the console's control endpoints
// (POST /api/scale, /api/drain, /api/stop; console/http_console.hpp),
// checked before anything is asked of the run. Errors are
// errc::invalid_argument with a message that names the field and, for a
// value, its line:column in the body ("request body:1:20: \"count\" must
// be ..."), so a script sees what to fix.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace tandem {

/// {"role":"sampler"|"reward","count":N}, 0 <= N <= 2^31-1.
struct scale_request {
  std::string role;
  int32_t count = 0;
};

caf::expected<scale_request> parse_scale_request(std::string_view body);

/// {"name":"..."} (not empty); returns the name.
caf::expected<std::string> parse_drain_request(std::string_view body);

/// {} or an empty body.
caf::error parse_stop_request(std::string_view body);

} // namespace tandem
