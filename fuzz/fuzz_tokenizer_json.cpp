// fuzz_tokenizer_json: arbitrary bytes as tokenizer.json through
// parse_tokenizer_json (tasks/bpe_tokenizer.hpp): the JSON reader, the
// pipeline reader (tasks/internal/tokenizer_json.cpp), the vocabulary and
// merges. A tokenizer it accepts then encodes and decodes a few texts,
// including the input itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tasks/bpe_tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tok = tandem::parse_tokenizer_json(text, "fuzz.json");
  if (!tok)
    return 0;
  const std::string_view samples[] = {"Hello, world! 12 + 30 = 42\n", " <|im_end|> x",
                                      text.substr(0, 256)};
  for (auto s : samples) {
    auto ids = tok->encode(s);
    if (!ids)
      continue;
    (void) tok->decode(*ids);
    (void) tok->decode(*ids, /*skip_special=*/true);
    for (auto id : *ids)
      (void) tok->id_to_token(id);
  }
  (void) tok->vocab_size();
  (void) tok->id_bound();
  return 0;
}
