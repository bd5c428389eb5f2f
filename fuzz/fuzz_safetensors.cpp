// fuzz_safetensors: arbitrary bytes as a whole .safetensors file through
// parse_safetensors (runtime/safetensors.hpp): the 8-byte length, the JSON
// header, dtypes, shapes and data offsets. A header it accepts must describe
// tensors inside the data section; each is then converted with to_float32.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "runtime/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<char> bytes(data, data + size);
  auto header = tandem::parse_safetensors("fuzz.safetensors", bytes);
  if (!header)
    return 0;
  if (header->data_start + header->data_size != bytes.size())
    std::abort(); // accepted, yet the data section is not the rest of the file
  for (const auto& t : header->tensors) {
    if (t.begin > t.end || t.end > header->data_size)
      std::abort(); // accepted an entry outside the data section
    std::vector<char> tensor(bytes.begin() + header->data_start + t.begin,
                             bytes.begin() + header->data_start + t.end);
    (void) tandem::to_float32(*header, t, tensor);
  }
  return 0;
}
