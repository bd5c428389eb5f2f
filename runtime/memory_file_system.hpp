// memory_file_system.hpp: a file_system in memory for tests and benches,
// with the failures a real disk has and a log of what was made durable when.
//
// Failures it injects:
//   - fail_writes_after(N): once N bytes in total were written, every write
//     that adds bytes fails with ENOSPC ("No space left on device"), as a
//     full disk does; the partial file is removed, as posix write_file does.
//   - set_read_only(PATH): creating, writing, renaming or removing PATH or
//     anything under it fails with EACCES ("Permission denied"). Reads work.
// Errors read as posix_file_system's do ("cannot write P: No space left on
// device"), so tests of messages hold for both.
//
// The log (ops()) holds one line per successful mutation, in order:
//   "create_dir P"  "write P"  "sync_file P"  "rename A -> B"
//   "sync_dir P"  "remove P"
// write_file logs "write P" then "sync_file P" (it fsyncs before it
// returns), so a test can assert that a file was synced before the rename
// that published it and that the directory was synced after.
//
// Paths are plain strings: "a//b" and "a/b/" mean "a/b"; "", "." and "/"
// are existing directories. There is no crash model (unsynced data is not
// dropped); the log is what tests check durability order with.
//
// Thread safety: every method locks one mutex; a write_file body runs
// without it (it may not call back into this object).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/file_system.hpp"

namespace tandem {

class memory_file_system final : public file_system {
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

  /// From now on, writes fail once `bytes` more bytes were written in total
  /// (bytes already written do not count).
  void fail_writes_after(uint64_t bytes);
  /// Ends fail_writes_after.
  void clear_write_limit();
  /// Makes PATH and everything under it read-only (or writable again).
  void set_read_only(const std::string& path, bool read_only = true);

  /// The successful mutations so far, one line each (see the file comment).
  std::vector<std::string> ops() const;
  void clear_ops();

  /// The content of file PATH, or nothing when PATH is not a file.
  std::optional<std::vector<char>> contents(const std::string& path) const;
  bool is_dir(const std::string& path) const;

private:
  struct node {
    bool dir = false;
    std::vector<char> bytes;
  };

  static std::string normalize(const std::string& path);
  static bool is_under(const std::string& path, const std::string& dir);
  const node* find(const std::string& key) const;
  bool blocked(const std::string& key) const;
  caf::error check_writable(const char* verb, const std::string& key) const;
  caf::error check_new_entry(const char* verb, const std::string& key) const;
  caf::error store_file(const std::string& key, std::vector<char> bytes);
  caf::error check_rename(const std::string& from, const std::string& to) const;
  void erase_tree(const std::string& key);

  mutable std::mutex mtx_;
  std::map<std::string, node> nodes_; // by normalized path; roots are implicit
  std::set<std::string> read_only_;
  std::optional<uint64_t> write_budget_; // bytes left before ENOSPC
  std::vector<std::string> ops_;
};

} // namespace tandem
