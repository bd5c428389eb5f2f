// file_system.hpp: the filesystem boundary of durable files (checkpoints,
// atomic result files): the few operations they need, each returning a
// caf::error / caf::expected instead of throwing or setting errno.
//
// Durability rules the callers build on (POSIX, as Linux implements it):
//   - data written to a file survives a power loss only after fsync of that
//     file (write_file does it before returning);
//   - a new name in a directory (create, rename) survives only after fsync
//     of the directory that holds it (sync_dir);
//   - rename within one filesystem is atomic: readers see the old entry or
//     the new one.
// So a durable replace is: write_file(TMP) → rename(TMP, FINAL) →
// sync_dir(parent of FINAL). runtime/atomic_file.hpp and
// runtime/checkpoint_store.hpp follow that order; memory_file_system
// (runtime/memory_file_system.hpp) records it so tests can check it.
//
// Errors are errc::io_failure "cannot VERB PATH: REASON" (REASON is the OS
// text, "No space left on device"), except read_file past its limit
// (errc::capacity_exceeded).
//
// Thread safety: posix_file_system is stateless and safe from any thread;
// implementations must allow concurrent calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace tandem {

/// One entry of a directory listing (never "." or "..").
struct dir_entry {
  std::string name;
  bool is_dir = false;
};

/// Writes a file's content to the stream it is given.
using file_writer = std::function<void(std::ostream&)>;

class file_system {
public:
  virtual ~file_system();

  /// Creates PATH and missing parents (like mkdir -p); an existing directory
  /// is fine. The new entries are not fsynced: callers that need them after
  /// a power loss sync the parent.
  virtual caf::error create_dir(const std::string& path) = 0;

  /// Creates or truncates PATH, lets `body` write it, then flushes, fsyncs
  /// and closes it; every step is checked (a full disk fails here, naming
  /// PATH). On a failure after PATH was opened, the partial file is removed.
  virtual caf::error write_file(const std::string& path, const file_writer& body) = 0;

  /// The whole content of PATH; errc::capacity_exceeded when it holds more
  /// than `max_bytes` (checked before reading, so a huge or foreign file
  /// costs no memory).
  virtual caf::expected<std::vector<char>> read_file(const std::string& path,
                                                     uint64_t max_bytes) = 0;

  /// Size in bytes of the regular file PATH.
  virtual caf::expected<uint64_t> file_size(const std::string& path) = 0;

  /// rename(2): atomic within one filesystem; replaces a file or an empty
  /// directory at TO.
  virtual caf::error rename(const std::string& from, const std::string& to) = 0;

  /// fsync(2) of the directory PATH: makes its entries (created, renamed,
  /// removed) durable.
  virtual caf::error sync_dir(const std::string& path) = 0;

  /// The entries of directory PATH, sorted by name.
  virtual caf::expected<std::vector<dir_entry>> list_dir(const std::string& path) = 0;

  /// Removes PATH, a file or a directory with everything under it; symbolic
  /// links are removed, not followed. A missing PATH is fine.
  /// tandem calls this, never std::filesystem::remove_all: the CUDA LibTorch
  /// 2.11 wheel's libtorch.so exports its own copy of remove_all, which wins
  /// symbol resolution in a binary linked against it and jumps to address 0
  /// (seen on one H100, CUDA 13). tests/source_rules.sh refuses the call.
  virtual caf::error remove_tree(const std::string& path) = 0;

  /// Whether PATH names an entry (a dangling symbolic link counts).
  virtual bool exists(const std::string& path) = 0;

  /// write_file with `size` bytes from `data`.
  caf::error write_bytes(const std::string& path, const char* data, size_t size);
};

/// The real filesystem through POSIX calls (open/write/fsync/rename/...).
class posix_file_system final : public file_system {
public:
  caf::error create_dir(const std::string& path) override;
  caf::error write_file(const std::string& path, const file_writer& body) override;
  caf::expected<std::vector<char>> read_file(const std::string& path,
                                             uint64_t max_bytes) override;
  caf::expected<uint64_t> file_size(const std::string& path) override;
  caf::error rename(const std::string& from, const std::string& to) override;
  caf::error sync_dir(const std::string& path) override;
  caf::expected<std::vector<dir_entry>> list_dir(const std::string& path) override;
  caf::error remove_tree(const std::string& path) override;
  bool exists(const std::string& path) override;
};

/// The process-wide posix_file_system.
std::shared_ptr<file_system> real_file_system();

/// errc::io_failure "cannot VERB PATH: <strerror of os_errno>".
caf::error file_error(const std::string& verb, const std::string& path, int os_errno);

/// "A/B" ("B" when A is empty; no doubled '/').
std::string join_path(const std::string& dir, const std::string& name);

/// The directory holding PATH: "a/b" → "a", "b" → ".", "/b" → "/".
std::string parent_dir(const std::string& path);

/// The last component of PATH: "a/b" → "b".
std::string base_name(const std::string& path);

} // namespace tandem
