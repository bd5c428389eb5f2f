// atomic_file.hpp: writing a file so that readers see the old content or the
// new one, never a torn mix: the bytes go to PATH.tmp, are flushed, and the
// temporary file is renamed over PATH (atomic within one filesystem).
// Used by checkpoints, safetensors and JSON files.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include <caf/error.hpp>

namespace tandem {

/// Opens PATH.tmp, lets `body` write to it, flushes and renames it to PATH.
/// errc::io_failure names the step that failed; PATH is untouched then.
caf::error write_file_atomically(const std::string& path,
                                 const std::function<void(std::ostream&)>& body);

} // namespace tandem
