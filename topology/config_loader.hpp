// config_loader.hpp: YAML run config → run_config, validated once.
//
// Every problem is reported as  FILE:LINE:COL: FIELD.PATH: message  and all
// problems of a file are collected (not only the first). Unknown keys, wrong
// types, out-of-range values and settings that would do nothing are errors.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "topology/run_config.hpp"

namespace tandem {

struct config_issue {
  std::string file;
  int line = 0;   // 1-based; 0 if unknown
  int column = 0; // 1-based; 0 if unknown
  std::string field; // dotted path, e.g. "learner.lr"
  std::string message;
  std::string to_string() const; // "file:line:col: field: message"
};

struct config_result {
  run_config config;
  std::vector<config_issue> issues; // empty = valid
  bool ok() const { return issues.empty(); }
};

/// Parses and validates a YAML file.
config_result load_run_config(const std::string& path);

/// Same, from text (for tests); `name` is used as the file name in issues.
config_result parse_run_config(const std::string& text, const std::string& name);

/// Joins issues into one errc::invalid_config error (for callers that need
/// caf::expected); the first line says how many issues there are.
caf::expected<run_config> load_run_config_or_error(const std::string& path);

} // namespace tandem
