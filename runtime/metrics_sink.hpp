// metrics_sink.hpp: where per-step metrics go (a JSONL file in a run, memory
// in tests), plus a small ordered JSON-object builder for one record (strings
// quoted by json_writer.hpp's json_quote).
//
// Thread safety: one writer at a time (the controller).
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
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

} // namespace tandem
