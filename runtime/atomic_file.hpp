// atomic_file.hpp: writing a file so that readers see the old content or the
// new one, never a torn mix, and so that the new content survives a power
// loss once the call returns:
//
//   write PATH.tmp ─ fsync PATH.tmp ─ rename PATH.tmp → PATH ─ fsync dir(PATH)
//
// The file fsync comes before the rename: otherwise a crash could leave the
// new name pointing at a file whose data never reached the disk (an empty
// or torn PATH). The directory fsync comes after it: until then the rename
// itself may be lost, and the old content reappear. Every step is checked
// (write, flush, fsync, close, rename), so a full disk is reported as
// errc::io_failure naming PATH.tmp and "No space left on device".
// The order is pinned by atomic_file_test against memory_file_system.
// Used by checkpoints, safetensors, JSON files and the run's result files.
//
// Thread safety: as the file_system used; two writers of one PATH race.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include <caf/error.hpp>

namespace tandem {

class file_system;

/// Writes PATH.tmp through `body`, fsyncs it, renames it to PATH and fsyncs
/// the directory holding PATH. errc::io_failure names the step and file
/// that failed; PATH is untouched then (and PATH.tmp removed, if this call
/// created it), except when only the final directory fsync fails: the new
/// content is in place then, but may not survive a power loss.
caf::error write_file_atomically(const std::string& path,
                                 const std::function<void(std::ostream&)>& body);

/// The same on any file_system (tests use memory_file_system).
caf::error write_file_atomically(file_system& fs, const std::string& path,
                                 const std::function<void(std::ostream&)>& body);

} // namespace tandem
