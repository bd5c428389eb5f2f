// checksum.hpp: checksums of bulk data (weight versions, data-plane frames).
//
// fast_checksum64 reads 32 bytes per round in four independent 64-bit lanes
// (multiply-rotate rounds, then an avalanche of the merged lanes and the
// length), so it runs near memory speed: a 100 MB weight version costs a few
// milliseconds instead of the ~115 ms of byte-wise FNV-1a, which sat on the
// critical path of every weight switch. It catches corruption and codec
// bugs; it is not a MAC (authenticity comes from CURVE and the gate).
// Checkpoint files keep FNV-1a (fnv1a64 in weights_blob.hpp) so that files
// written earlier stay readable.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem {

uint64_t fast_checksum64(const char* data, size_t size);

} // namespace tandem
