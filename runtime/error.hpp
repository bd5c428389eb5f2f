// error.hpp: tandem's one project error enum and its bridge to caf::error.
//
// Every fallible function in tandem returns caf::expected<T> or caf::error
// built from `errc`. Adapters (LibTorch, YAML, sockets, files) convert their
// own failures into these codes with a context string; nothing throws across
// an actor boundary.
//
// Thread safety: stateless; all functions are safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace tandem {

enum class errc : uint8_t {
  none = 0,
  invalid_config,      // a config file or field is wrong (file:line:col in context)
  invalid_argument,    // a caller passed a value outside the documented range
  malformed_message,   // a message failed validation (sizes, checksums, ranges)
  io_failure,          // the filesystem or a socket failed
  timeout,             // a deadline passed
  peer_down,           // a remote actor or process went away
  version_mismatch,    // weights or data of an unexpected policy version
  numeric_failure,     // NaN/Inf in a loss, logits or gradients
  backend_failure,     // LibTorch (or another library) raised an error
  capacity_exceeded,   // a bounded queue or buffer is full
  not_ready,           // a component was asked before it had what it needs
  process_failure,     // a child process could not start or exited badly
  collective_timeout,  // an NCCL init/broadcast missed its deadline (comm aborted)
  not_found,           // what was asked for does not exist (e.g. no valid checkpoint)
  in_use,              // a resource is held by another process (e.g. a run directory)
};

/// The CAF category atom under which tandem errors travel between actors.
constexpr caf::atom_value error_category = caf::atom("tandem");

/// Human-readable name of an error code ("invalid_config", ...).
const char* to_string(errc code);

/// Builds a tandem error with a context string.
caf::error make_error(errc code, std::string context);

/// Builds a tandem error without context.
caf::error make_error(errc code);

/// Renders any caf::error (tandem's or CAF's own) as one line.
std::string describe(const caf::error& err);

/// Returns true if `err` is a tandem error with code `code`.
bool is(const caf::error& err, errc code);

} // namespace tandem
