// checkpoint.hpp: weight files on disk, behind a tiny filesystem interface.
//
// Format (little-endian): "TNDMWTS1" | u64 version | u64 byte count |
// u64 FNV-1a of the bytes | bytes. Written to PATH.tmp then renamed, so a
// crash never leaves a half-written file under the final name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/weights_blob.hpp"

namespace tandem {

caf::error write_checkpoint(const std::string& path, int64_t version,
                            const std::vector<char>& bytes);

caf::expected<weights_version> read_checkpoint(const std::string& path);

} // namespace tandem
