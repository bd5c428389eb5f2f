// input_errors_test.cpp: inputs that used to crash a run or mislead, through
// the real binary: each ends in exit 2 and a message that names the file and
// line (or the flag, the port, the tensor). Every case stops before a run
// starts, so the whole file takes well under a second per case.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/runtime/temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

const std::string data_dir = TANDEM_TEST_DATA_DIR;

struct outcome {
  int code = -1;
  std::string out; // stdout and stderr
};

// Runs `tandem ARGS` through the shell (popen; a hang is ended by the ctest
// timeout), stderr folded into the captured output.
outcome run_tandem(const std::string& args) {
  outcome o;
  const auto cmd = std::string{TANDEM_BINARY} + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p)
    return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    o.out.append(buf, n);
  const int status = ::pclose(p);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

bool has(const outcome& o, const std::string& text) {
  return o.out.find(text) != std::string::npos;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A jsonl run file over `dataset` (absolute paths: the file lives in a temp dir).
std::string jsonl_config(const tandem::test::temp_dir& dir, const std::string& dataset,
                         const std::string& extra = {}) {
  const auto path = dir / "run.yaml";
  write(path, "run: {steps: 2, output_dir: " + (dir / "runs") + "}\n"
              "task: {kind: jsonl, path: " + dataset + "}\n" + extra);
  return path;
}

} // namespace

TEST(InputErrors, ValidateReadsEveryDatasetLineAndReportsEachBadOne) {
  tandem::test::temp_dir dir;
  const auto dataset = dir / "data.jsonl";
  write(dataset, "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n"
                 "{\"prompt\": \"1+1=\", \"answer\": \"2\"\n"           // 2: unclosed
                 "{\"prompt\": \"1+1=\"}\n"                             // 3: no answer
                 "{\"prompt\": \"1+1=\", \"answer\": \"\xC3\x28\"}\n"   // 4: bad UTF-8
                 "{\"prompt\": \"1+1=\", \"answer\": " + std::string(50000, '9') + "}\n" // 5
                 "{\"prompt\": \"2+2=\", \"answer\": 4}\n");
  auto o = run_tandem("validate " + jsonl_config(dir, dataset));
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, dataset + ":2: bad JSON")) << o.out;
  EXPECT_TRUE(has(o, dataset + ":3: field 'answer': missing")) << o.out;
  EXPECT_TRUE(has(o, dataset + ":4: bad JSON: invalid UTF-8 in string")) << o.out;
  EXPECT_TRUE(has(o, dataset + ":5: bad JSON: number out of range")) << o.out;
  EXPECT_FALSE(has(o, ":1:")) << o.out;
  EXPECT_FALSE(has(o, ": ok")) << o.out;
}

TEST(InputErrors, ValidateReportsDatasetLinesAlongsideTheRunFilesOwnProblems) {
  tandem::test::temp_dir dir;
  const auto dataset = dir / "data.jsonl";
  write(dataset, "{\"prompt\": \"1+1=\"}\n");
  const auto cfg = jsonl_config(dir, dataset, "learner: {lr: -1}\n");
  auto o = run_tandem("validate " + cfg);
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, cfg + ":3:")) << o.out;
  EXPECT_TRUE(has(o, "learner.lr")) << o.out;
  EXPECT_TRUE(has(o, dataset + ":1: field 'answer': missing")) << o.out;
}

TEST(InputErrors, RunRefusesAFiftyThousandDigitAnswerWithItsLine) {
  tandem::test::temp_dir dir;
  const auto dataset = dir / "data.jsonl";
  write(dataset, "{\"prompt\": \"1+1=\", \"answer\": " + std::string(50000, '9') + "}\n");
  auto o = run_tandem("run " + jsonl_config(dir, dataset) + " --quiet");
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, dataset + ":1: bad JSON: number out of range")) << o.out;
}

TEST(InputErrors, ValidateAcceptsAGoodDataset) {
  tandem::test::temp_dir dir;
  const auto dataset = dir / "data.jsonl";
  write(dataset, "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n");
  auto o = run_tandem("validate " + jsonl_config(dir, dataset));
  EXPECT_EQ(o.code, 0) << o.out;
  EXPECT_TRUE(has(o, "run.yaml: ok")) << o.out;
}

TEST(InputErrors, ValidateReportsEveryTruncatedCheckpointShard) {
  tandem::test::temp_dir dir;
  const auto ckpt = dir / "ckpt";
  fs::copy(data_dir + "/hf/tiny-llama-sharded", ckpt);
  for (const char* shard : {"model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors"})
    fs::resize_file(ckpt + "/" + shard, fs::file_size(ckpt + "/" + shard) - 16);
  const auto cfg = dir / "run.yaml";
  write(cfg, "run: {steps: 2, output_dir: " + (dir / "runs") + "}\n"
             "model: {hf_path: " + ckpt + ", max_seq_len: 32}\n"
             "task: {kind: arithmetic, max_operand: 4, ops: \"+\",\n"
             "       tokenizer: " + data_dir + "/hf/tokenizer-qwen2/tokenizer.json,\n"
             "       answer_prefix: \"<answer>\", stop_tokens: [\"<|endoftext|>\"]}\n");
  auto good = run_tandem("validate " + cfg);
  // The untouched second shard is not named; both truncated ones are.
  EXPECT_EQ(good.code, 2) << good.out;
  EXPECT_TRUE(has(good, ckpt + "/model-00001-of-00003.safetensors")) << good.out;
  EXPECT_TRUE(has(good, ckpt + "/model-00003-of-00003.safetensors")) << good.out;
  EXPECT_FALSE(has(good, "model-00002-of-00003")) << good.out;
  EXPECT_TRUE(has(good, "beyond the data section")) << good.out;
}

TEST(InputErrors, ValidateReportsInvalidUtf8InTheRunFileWithItsLine) {
  tandem::test::temp_dir dir;
  const auto dataset = dir / "data.jsonl";
  write(dataset, "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n");
  // A lone surrogate (CESU-8 bytes) in a string field. (yaml-cpp itself
  // refuses the escape "\uD800"; raw bytes reach the binder.)
  const auto cfg = dir / "run.yaml";
  write(cfg, "task: {kind: jsonl, path: " + dataset + "}\n"
             "run:\n"
             "  steps: 2\n"
             "  name: \"bad\xED\xA0\x80name\"\n"
             "  output_dir: " + (dir / "runs") + "\n");
  auto o = run_tandem("validate " + cfg);
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, cfg + ":4:")) << o.out;
  EXPECT_TRUE(has(o, "run.name: not valid UTF-8")) << o.out;
}

TEST(InputErrors, NumbersOnTheCommandLineAreWholeOrRefused) {
  tandem::test::temp_dir dir;
  auto o = run_tandem("run " + data_dir + "/jsonl_too_long.yaml --steps 1e3");
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, "tandem run: --steps: expected a whole number, got '1e3'")) << o.out;
  o = run_tandem("run " + data_dir + "/jsonl_too_long.yaml --steps -5");
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, "--steps: -5 is out of range")) << o.out;
  o = run_tandem("run " + data_dir + "/jsonl_too_long.yaml --steps 99999999999999999999");
  EXPECT_EQ(o.code, 2) << o.out;
}

TEST(InputErrors, UnknownFlagsNameTheFlagAndTheCommand) {
  for (const char* cmd : {"run X", "validate X", "status host:1", "generate X"}) {
    auto o = run_tandem(std::string{cmd} + " --stpes 5");
    EXPECT_EQ(o.code, 2) << cmd << ": " << o.out;
    EXPECT_TRUE(has(o, "unknown flag --stpes")) << cmd << ": " << o.out;
    EXPECT_TRUE(has(o, "tandem " + std::string{cmd}.substr(0, std::string{cmd}.find(' '))
                         + ": unknown flag"))
      << o.out;
    EXPECT_TRUE(has(o, "--help")) << o.out;
  }
}

TEST(InputErrors, PortsOutOfRangeAreRefusedNotWrapped) {
  auto o = run_tandem("status 127.0.0.1:99999");
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, "port 99999 is out of range 1..65535")) << o.out;
  o = run_tandem("status :-1");
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, "port -1 is out of range 1..65535")) << o.out;
  o = run_tandem("scale 127.0.0.1:7x sampler=1");
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, "got '7x'")) << o.out;
  o = run_tandem("worker --config " + data_dir + "/jsonl_too_long.yaml --head localhost:65536 "
             "--process p");
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, "port 65536 is out of range")) << o.out;
}

TEST(InputErrors, GenerateRefusesAPromptThatIsNotUtf8) {
  // /bin/sh's printf writes the byte 0xFF (octal 377).
  auto o = run_tandem("generate " + data_dir + "/hf/tiny-qwen2 --prompt \"$(printf 'ok\\377')\"");
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_TRUE(has(o, "--prompt: invalid UTF-8 at byte 3")) << o.out;
}
