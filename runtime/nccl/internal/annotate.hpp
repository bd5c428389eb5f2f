// annotate.hpp: prefixing an error's context while keeping its code, so a
// failure deep in a collective reaches the log as
//   "collective_timeout: epoch 4, version 7, bucket 2/4 (...): broadcast ..."
// Private to runtime/nccl.
//
// Thread safety: stateless.
#pragma once

#include <string>

#include "runtime/error.hpp"

namespace tandem::nccl::internal {

/// `err` with `prefix` in front of its context; the code stays the same
/// (errc::backend_failure for errors from outside tandem's category).
inline caf::error annotate(const caf::error& err, const std::string& prefix) {
  auto code = err.category() == error_category ? static_cast<errc>(err.code())
                                               : errc::backend_failure;
  std::string inner = describe(err);
  auto colon = inner.find(": ");
  return make_error(code, prefix + (colon == std::string::npos
                                      ? inner
                                      : inner.substr(colon + 2)));
}

} // namespace tandem::nccl::internal
