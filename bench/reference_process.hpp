// reference_process.hpp: running an external reference implementation (a
// Python script with PyTorch / transformers) as a child process for a
// benchmark or a reference check, and reading the JSON it writes.
//
// The child gets `--out FILE` appended and must write one JSON object there.
// Its stdout/stderr pass through. The wait has a deadline: past it the child
// is stopped (SIGTERM, then SIGKILL) and errc::timeout returned.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "runtime/json_reader.hpp"

namespace tandem {

/// Splits a command line on spaces ("python3 tests/reference/x.py").
std::vector<std::string> split_command(const std::string& cmd);

caf::expected<json_value> run_reference(std::vector<std::string> argv, const std::string& out_file,
                                        std::chrono::seconds deadline);

/// Number `key` of a JSON object, or an error naming the key and `what`.
caf::expected<double> json_number_at(const json_value& v, const std::string& key,
                                     const std::string& what);

} // namespace tandem
