// fuzz_cluster_config: arbitrary bytes as a run file's `cluster:` section
// through parse_cluster_text (topology/cluster_loader.hpp), the topology
// loader of multi-node runs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "topology/cluster_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto result = tandem::parse_cluster_text(text, "fuzz.yaml");
  for (const auto& issue : result.issues)
    (void) issue.to_string();
  return 0;
}
