// metrics_sink.hpp: where per-step metrics go (a JSONL file in a run, memory
// in tests), plus a small ordered JSON-object builder for one record (strings
// quoted by json_writer.hpp's json_quote).
//
// Thread safety: one writer at a time (the controller).
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace tandem {

/// One flat JSON object, fields kept in insertion order.
class json_record {
public:
  json_record& add(const std::string& key, double value);
  json_record& add(const std::string& key, int64_t value);
  json_record& add(const std::string& key, const std::string& value);
  json_record& add_array(const std::string& key, const std::vector<int64_t>& xs);
  std::string str() const; // one line, no trailing newline

  /// Key and JSON-encoded value of every field, in insertion order.
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

private:
  std::vector<std::pair<std::string, std::string>> fields_; // key, encoded value
};

class metrics_sink {
public:
  virtual ~metrics_sink() = default;
  virtual caf::error write(const json_record& rec) = 0;
};

/// Appends one line per record and flushes, so a crash loses at most the
/// record being written.
class jsonl_file_sink : public metrics_sink {
public:
  /// Truncates PATH, or appends to it (a resumed run continues its file).
  static caf::expected<std::unique_ptr<jsonl_file_sink>> open(const std::string& path,
                                                              bool append = false);
  caf::error write(const json_record& rec) override;

private:
  std::string path_;
  std::ofstream out_;
};

/// Keeps records in memory (tests).
class memory_sink : public metrics_sink {
public:
  caf::error write(const json_record& rec) override;
  std::vector<std::string> lines;
};

/// Writes every record to two sinks (the second even when the first
/// failed) and returns the first one's error, else the second one's.
class tee_sink : public metrics_sink {
public:
  tee_sink(std::shared_ptr<metrics_sink> first, std::shared_ptr<metrics_sink> second);
  caf::error write(const json_record& rec) override;

private:
  std::shared_ptr<metrics_sink> first_;
  std::shared_ptr<metrics_sink> second_;
};

/// A convenience copy that must not fail the run: forwards to INNER until
/// its first error, which goes to LOG once (naming WHAT); then drops INNER
/// (a file with a failed write may hold a torn record). write() always
/// succeeds. INNER null: every record is dropped.
class best_effort_sink : public metrics_sink {
public:
  best_effort_sink(std::unique_ptr<metrics_sink> inner, std::ostream& log, std::string what);
  caf::error write(const json_record& rec) override;
  /// True once the copy is incomplete (it never opened, or a write failed):
  /// the run goes on, but its summary must not say ok.
  bool failed() const { return !inner_; }
  const std::string& what() const { return what_; }

private:
  std::unique_ptr<metrics_sink> inner_;
  std::ostream& log_;
  std::string what_;
};

} // namespace tandem
