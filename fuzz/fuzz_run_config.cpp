// fuzz_run_config: arbitrary bytes as a run file (YAML) through
// parse_run_config (topology/config_loader.hpp): the YAML binder and every
// config check. It must return issues, never crash, throw or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "topology/config_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto result = tandem::parse_run_config(text, "fuzz.yaml");
  for (const auto& issue : result.issues)
    (void) issue.to_string();
  return 0;
}
