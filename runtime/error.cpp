#include "runtime/error.hpp"

#include <caf/deep_to_string.hpp>
#include <caf/sec.hpp>

namespace tandem {

const char* to_string(errc code) {
  switch (code) {
    case errc::none: return "none";
    case errc::invalid_config: return "invalid_config";
    case errc::invalid_argument: return "invalid_argument";
    case errc::malformed_message: return "malformed_message";
    case errc::io_failure: return "io_failure";
    case errc::timeout: return "timeout";
    case errc::peer_down: return "peer_down";
    case errc::version_mismatch: return "version_mismatch";
    case errc::numeric_failure: return "numeric_failure";
    case errc::backend_failure: return "backend_failure";
    case errc::capacity_exceeded: return "capacity_exceeded";
    case errc::not_ready: return "not_ready";
    case errc::process_failure: return "process_failure";
    case errc::collective_timeout: return "collective_timeout";
    case errc::not_found: return "not_found";
    case errc::in_use: return "in_use";
  }
  return "unknown";
}

caf::error make_error(errc code, std::string context) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(context))};
}

caf::error make_error(errc code) {
  return caf::error{static_cast<uint8_t>(code), error_category};
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  std::string out;
  if (err.category() == error_category) {
    out = to_string(static_cast<errc>(err.code()));
  } else if (err.category() == caf::atom("system")) {
    out = caf::to_string(static_cast<caf::sec>(err.code()));
  } else {
    out = caf::to_string(err.category()) + ":" + std::to_string(err.code());
  }
  const auto& ctx = err.context();
  if (!ctx.empty()) {
    if (ctx.size() == 1 && ctx.match_element<std::string>(0))
      out += ": " + ctx.get_as<std::string>(0);
    else
      out += ": " + caf::deep_to_string(ctx);
  }
  return out;
}

bool is(const caf::error& err, errc code) {
  return err && err.category() == error_category
         && err.code() == static_cast<uint8_t>(code);
}

} // namespace tandem
