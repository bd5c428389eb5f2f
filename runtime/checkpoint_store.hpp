// checkpoint_store.hpp: a run's checkpoints as directories under ROOT (the
// caller passes RUN_DIR/checkpoints), each written atomically and durably,
// each verified by a manifest before it is loaded.
//
// Layout:
//   ROOT/step-00000250/weights.tndm ...    the caller's files (names checked)
//   ROOT/step-00000250/manifest.json       written last:
//     {"format":1,"step":250,"files":[{"name":"weights.tndm","bytes":N,
//      "checksum":"<16 hex digits of fast_checksum64>"}, ...]}
//
// States of one checkpoint on disk (write() moves it left to right):
//
//   (none) ─▶ .tmp-step-00000250/ ──rename──▶ step-00000250/ ──prune──▶ (gone)
//              files + fsync each               fsync ROOT
//              manifest + fsync
//              fsync the directory
//
//   Writing a step that exists already (a run resumed from an older
//   checkpoint, a newer one being invalid) replaces it:
//     step-N/ ──rename──▶ .tmp-replaced-step-N/ ; .tmp-step-N/ ──rename──▶ step-N/
//     fsync ROOT, then the old one is removed.
//   A crash between the two renames leaves no step-N/: loading falls back to
//   the next older valid checkpoint (the state the replaced one was written
//   from, or older); nothing half-written is ever loaded.
//
// Failure cases:
//   - crash mid-write: only a .tmp-* directory exists for that step. Loading
//     ignores .tmp-* names; the next write() removes them.
//   - disk full / read-only / any I/O error during write(): write() returns
//     errc::io_failure naming the file and the OS reason, removes its .tmp
//     directory, and every earlier checkpoint stays as it was.
//   - a checkpoint damaged later (flipped byte, truncated or missing file,
//     missing or broken manifest): load_newest() skips it with one line in
//     `skipped` ("step-00000500: weights.tndm: checksum mismatch") and tries
//     the next older one.
//
// Pruning (after each successful write): keeps the newest `keep` valid
// checkpoints and always the one just written; removes the other valid ones,
// invalid step-* directories older than the one just written (they can never
// be loaded) and every .tmp-* directory. Invalid ones newer than the one just
// written stay for load_newest to name (the run replaces each when it reaches
// its step). Pruning checks validity by manifest and file sizes only, not
// checksums: reading every kept checkpoint back at each write would cost
// `keep` times the checkpoint size in reads.
//
// Only directories named exactly step-%08d (more digits past 99,999,999) are
// checkpoints; anything else under ROOT is left alone.
//
// Thread safety: none; one writer per ROOT (runtime/run_lock.hpp keeps a
// second process out of the run directory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "runtime/file_system.hpp"

namespace tandem {

/// One file of a checkpoint: a name within the checkpoint directory (1-255
/// of [A-Za-z0-9._-], not starting with '.', not "manifest.json").
struct checkpoint_file {
  std::string name;
  std::vector<char> bytes;
};

struct loaded_checkpoint {
  int64_t step = 0;
  std::string dir;                                    // ROOT/step-...
  std::map<std::string, std::vector<char>> files;     // the manifest's files
};

/// What list() knows of one step-* directory.
struct checkpoint_info {
  int64_t step = 0;
  std::string dir;
  bool valid = false;
  std::string problem; // why it is invalid ("weights.tndm: checksum mismatch")
};

/// How deeply a checkpoint is checked.
enum class checkpoint_check {
  sizes,    // manifest parses, every file exists with its size
  contents, // and every checksum matches (reads every byte)
};

class checkpoint_store {
public:
  /// A checkpoint holds a handful of files (weights, optimizer and learner
  /// state, a journal position); 64 leaves room and stops a caller that
  /// writes one file per tensor, which would make every checkpoint cost
  /// hundreds of fsyncs.
  static constexpr size_t max_files = 64;
  /// 64 entries take about 25 KB; a manifest past 1 MiB is damaged or not
  /// ours, and is refused before it is read into memory.
  static constexpr uint64_t max_manifest_bytes = 1 << 20;
  static constexpr int64_t format_version = 1;
  static constexpr const char* manifest_name = "manifest.json";

  checkpoint_store(std::shared_ptr<file_system> fs, std::string root);

  const std::string& root() const { return root_; }

  /// Writes `files` as checkpoint `step` (replacing an existing one), then
  /// prunes to `keep` (>= 1). Returns ROOT/step-...; errc::invalid_argument
  /// for a negative step, keep < 1, too many files or a bad or repeated
  /// name; errc::io_failure naming the file and the OS reason, with earlier
  /// checkpoints untouched. Pruning failures do not fail the write: each is
  /// one line in `prune_problems` (when given).
  caf::expected<std::string> write(int64_t step, const std::vector<checkpoint_file>& files,
                                   int32_t keep,
                                   std::vector<std::string>* prune_problems = nullptr);

  /// The newest checkpoint that verifies fully (sizes and checksums). Each
  /// newer one that does not is skipped with a line in `skipped` (when
  /// given). errc::not_found when there is none (or ROOT does not exist);
  /// errc::io_failure when ROOT cannot be listed.
  caf::expected<loaded_checkpoint> load_newest(std::vector<std::string>* skipped = nullptr);

  /// Checkpoint `step`, verified fully: errc::not_found when there is no
  /// step-* directory of that step; errc::malformed_message with the reason
  /// ("step-00000500: weights.tndm: checksum mismatch") when it does not
  /// verify; errc::io_failure when ROOT cannot be listed.
  caf::expected<loaded_checkpoint> load(int64_t step);

  /// Every step-* directory, newest first, checked as `how` asks.
  caf::expected<std::vector<checkpoint_info>>
  list(checkpoint_check how = checkpoint_check::contents);

  /// "step-00000250".
  static std::string dir_name(int64_t step);

private:
  struct step_dir {
    int64_t step;
    std::string name;
  };

  caf::expected<std::vector<step_dir>> scan(std::vector<std::string>* temporaries);
  std::string verify(const step_dir& d, checkpoint_check how, loaded_checkpoint* out);
  caf::error ensure_root();
  caf::error fill(const std::string& tmp, int64_t step,
                  const std::vector<checkpoint_file>& files);
  caf::error publish(const std::string& tmp, const std::string& name,
                     std::vector<std::string>* problems);
  void prune(int64_t written, int32_t keep, std::vector<std::string>* problems);

  std::shared_ptr<file_system> fs_;
  std::string root_;
};

} // namespace tandem
