// fuzz_jsonl_dataset: arbitrary bytes as a JSONL dataset file through
// jsonl_dataset::load (tasks/jsonl_dataset.hpp) with the char tokenizer. The
// first byte picks the schema (prompt/answer or GSM8K); the rest is the file,
// written to one scratch file per process (load reads a path, as a run does).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tasks/jsonl_dataset.hpp"
#include "tasks/tokenizer.hpp"

namespace {

const std::string& scratch_path() {
  static const std::string path = [] {
    // Memory-backed /dev/shm where there is one: a disk write per input
    // would dominate the run.
    const char* dir = std::getenv("TMPDIR");
    std::string base = dir && *dir ? dir : ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return base + "/tandem-fuzz-jsonl-"
           + std::to_string(::getpid()) + ".jsonl";
  }();
  return path;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  const auto schema = (data[0] & 1) ? tandem::jsonl_schema::gsm8k
                                    : tandem::jsonl_schema::prompt_answer;
  FILE* f = std::fopen(scratch_path().c_str(), "wb");
  if (!f)
    return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  static const tandem::char_tokenizer tok;
  auto ds = tandem::jsonl_dataset::load(scratch_path(), tok, /*seed=*/7, schema);
  if (ds) {
    (void) (*ds)->describe();
    (void) (*ds)->longest_prompt();
    for (size_t i = 0; i < 2 * (*ds)->size() && i < 64; ++i)
      (void) (*ds)->next();
  }
  return 0;
}
