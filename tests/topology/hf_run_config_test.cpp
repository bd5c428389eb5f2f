// hf_run_config_test: model.hf_path and task.tokenizer in a run config — the
// shape comes from the checkpoint, the vocabulary from it or the
// tokenizer.json, and every mistake is reported at FILE:LINE:COL with its
// field (fixtures: tests/data/hf/tiny-qwen2, tests/data/hf/tokenizer-qwen2).
#include "topology/config_loader.hpp"
#include "topology/plan.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace tandem;

namespace {

// Parsed as if it were a file in tests/data, so that relative paths resolve
// against the fixtures.
const std::string config_name = TANDEM_TEST_DATA_DIR "/inline.yaml";

config_result parse(const std::string& text) {
  return parse_run_config(text, config_name);
}

std::string all_issues(const config_result& r) {
  std::string out;
  for (const auto& i : r.issues)
    out += i.to_string() + "\n";
  return out;
}

// Expects exactly one issue, at `field` and line `line`, containing `text`.
void expect_single(const config_result& r, const std::string& field, const std::string& text,
                   int line) {
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r);
  const auto& i = r.issues[0];
  EXPECT_EQ(i.field, field) << i.to_string();
  EXPECT_NE(i.message.find(text), std::string::npos) << i.to_string();
  EXPECT_EQ(i.line, line) << i.to_string();
  EXPECT_GT(i.column, 0) << i.to_string();
  EXPECT_EQ(i.file, config_name);
}

const std::string tokenizer_lines =
  "task:\n"
  "  tokenizer: hf/tokenizer-qwen2/tokenizer.json\n"
  "  stop_tokens: [\"<|endoftext|>\", \"<|im_end|>\"]\n";

TEST(HfRunConfig, TheShapeAndVocabularyComeFromTheCheckpoint) {
  auto r = parse("model:\n  hf_path: hf/tiny-qwen2\n  max_seq_len: 32\n" + tokenizer_lines);
  ASSERT_TRUE(r.ok()) << all_issues(r);
  const auto& m = r.config.model;
  EXPECT_EQ(m.vocab_size, 384);
  EXPECT_EQ(m.hidden_size, 32);
  EXPECT_EQ(m.num_layers, 2);
  EXPECT_EQ(m.num_heads, 4);
  EXPECT_EQ(m.num_kv_heads, 2);
  EXPECT_EQ(m.intermediate_size, 64);
  EXPECT_EQ(m.model_type, "qwen2");
  EXPECT_TRUE(m.tie_embeddings);
  EXPECT_EQ(m.max_seq_len, 32); // capped by the config
  EXPECT_EQ(m.max_position_embeddings, 64);
  EXPECT_EQ(r.config.hf_path, TANDEM_TEST_DATA_DIR "/hf/tiny-qwen2");
  EXPECT_EQ(r.config.task.tokenizer_path,
            TANDEM_TEST_DATA_DIR "/hf/tokenizer-qwen2/tokenizer.json");
  EXPECT_EQ(r.config.task.answer_prefix, "<answer>");
}

TEST(HfRunConfig, ThePlanCountsTheCheckpointsParametersAttentionBiasesIncluded) {
  auto r = parse("model:\n  hf_path: hf/tiny-qwen2\n" + tokenizer_lines);
  ASSERT_TRUE(r.ok()) << all_issues(r);
  // 384x32 tied embedding, 2 layers of 2x32x32 + 2x32x16 + 3x32x64 + 2x32
  // + biases 32+16+16, final norm 32: the float count of the weight blob.
  EXPECT_EQ(parameter_count(r.config.model), 31008);
}

TEST(HfRunConfig, WithoutMaxSeqLenTheCheckpointsRangeIsUsed) {
  auto r = parse("model:\n  hf_path: hf/tiny-qwen2\n" + tokenizer_lines);
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.model.max_seq_len, 64);
}

TEST(HfRunConfig, AMissingCheckpointDirectoryIsNamed) {
  auto r = parse("model:\n  hf_path: hf/no-such-model\n" + tokenizer_lines);
  expect_single(r, "model.hf_path", "directory not found: " TANDEM_TEST_DATA_DIR
                                    "/hf/no-such-model", 2);
}

TEST(HfRunConfig, ADirectoryWithoutConfigJsonIsNamed) {
  auto r = parse("model:\n  hf_path: hf/tokenizer-qwen2\n" + tokenizer_lines);
  ASSERT_EQ(r.issues.size(), 1u) << all_issues(r);
  EXPECT_EQ(r.issues[0].field, "model.hf_path");
  EXPECT_EQ(r.issues[0].line, 2);
  EXPECT_NE(r.issues[0].message.find("config.json"), std::string::npos) << all_issues(r);
}

TEST(HfRunConfig, ShapeFieldsNextToHfPathAreEachNamed) {
  auto r = parse("model:\n  hf_path: hf/tiny-qwen2\n  hidden_size: 64\n  num_layers: 2\n"
                 + tokenizer_lines);
  ASSERT_EQ(r.issues.size(), 2u) << all_issues(r);
  EXPECT_EQ(r.issues[0].field, "model.hidden_size");
  EXPECT_EQ(r.issues[0].line, 3);
  EXPECT_NE(r.issues[0].message.find("set by model.hf_path"), std::string::npos);
  EXPECT_EQ(r.issues[1].field, "model.num_layers");
  EXPECT_EQ(r.issues[1].line, 4);
}

TEST(HfRunConfig, MaxSeqLenBeyondTheCheckpointsRangeIsRefused) {
  auto r = parse("model:\n  hf_path: hf/tiny-qwen2\n  max_seq_len: 128\n" + tokenizer_lines);
  expect_single(r, "model.max_seq_len", "128 exceeds max_position_embeddings 64", 3);
}

// Qwen3: heads wider than hidden / heads and a q/k norm per layer.
TEST(HfRunConfig, ParameterCountFollowsQwen3sHeadDimAndNorms) {
  auto r = parse("model:\n  hf_path: hf/family-qwen3\n  max_seq_len: 32\n" + tokenizer_lines);
  ASSERT_TRUE(r.ok()) << all_issues(r);
  // embed 384 x 64 (tied) + 2 x (q 96x64, k/v 48x64, o 64x96, q/k norms 2 x 24,
  // mlp 3 x 64x64, 2 norms of 64) + the final norm: what the checkpoint holds.
  EXPECT_EQ(parameter_count(r.config.model),
            384 * 64 + 2 * (6144 + 2 * 3072 + 6144 + 48 + 3 * 4096 + 128) + 64);
}

// A Mistral checkpoint whose sliding window is below its trained range runs
// when model.max_seq_len caps the sequences at the window (full attention).
TEST(HfRunConfig, MistralSlidingWindowIsCheckedAgainstTheCappedLength) {
  const auto dir = fs::temp_directory_path() / ("tandem_mistral_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ifstream in(TANDEM_TEST_DATA_DIR "/hf/family-mistral/config.json");
  std::stringstream text;
  text << in.rdbuf();
  auto config = text.str();
  config.replace(config.find("\"sliding_window\": 64"), 20, "\"sliding_window\": 32");
  std::ofstream(dir / "config.json") << config;
  auto capped = parse("model:\n  hf_path: " + dir.string() + "\n  max_seq_len: 32\n"
                      + tokenizer_lines);
  EXPECT_TRUE(capped.ok()) << all_issues(capped);
  EXPECT_EQ(capped.config.model.model_type, "mistral");
  EXPECT_EQ(capped.config.model.sliding_window, 32);
  auto full = parse("model:\n  hf_path: " + dir.string() + "\n" + tokenizer_lines);
  expect_single(full, "model.hf_path", "sliding_window: 32 is below max_seq_len 64", 2);
  auto over = parse("model:\n  hf_path: " + dir.string() + "\n  max_seq_len: 128\n"
                    + tokenizer_lines);
  expect_single(over, "model.hf_path", "64 is below the requested max_seq_len 128", 2);
  fs::remove(dir / "config.json");
  fs::remove(dir);
}

TEST(HfRunConfig, HfPathNeedsATokenizer) {
  auto r = parse("model:\n  hf_path: hf/tiny-qwen2\ntask:\n  kind: arithmetic\n");
  expect_single(r, "task.tokenizer", "required with model.hf_path", 4); // the task section
}

TEST(HfRunConfig, AMissingTokenizerFileIsNamed) {
  auto r = parse("model:\n  hf_path: hf/tiny-qwen2\ntask:\n  tokenizer: nope/tokenizer.json\n"
                 "  stop_tokens: [\"<|im_end|>\"]\n");
  expect_single(r, "task.tokenizer", "file not found: " TANDEM_TEST_DATA_DIR
                                     "/nope/tokenizer.json", 4);
}

TEST(HfRunConfig, StopTokensAreRequiredAndMustBeTokens) {
  auto none = parse("model:\n  hf_path: hf/tiny-qwen2\ntask:\n"
                    "  tokenizer: hf/tokenizer-qwen2/tokenizer.json\n");
  expect_single(none, "task.stop_tokens", "required with task.tokenizer", 4);
  auto unknown = parse("model:\n  hf_path: hf/tiny-qwen2\ntask:\n"
                       "  tokenizer: hf/tokenizer-qwen2/tokenizer.json\n"
                       "  stop_tokens: [\"<|eot_id|>\"]\n");
  expect_single(unknown, "task.stop_tokens", "'<|eot_id|>' is not a token of", 5);
  auto scalar = parse("task:\n  tokenizer: hf/tokenizer-qwen2/tokenizer.json\n"
                      "  stop_tokens: \"<|im_end|>\"\n");
  ASSERT_FALSE(scalar.ok());
  EXPECT_EQ(scalar.issues[0].field, "task.stop_tokens") << all_issues(scalar);
  EXPECT_NE(scalar.issues[0].message.find("expected a list of strings"), std::string::npos);
}

TEST(HfRunConfig, TokenizerFieldsWithoutATokenizerHaveNoEffect) {
  auto r = parse("task:\n  answer_prefix: \"<a>\"\n");
  expect_single(r, "task.answer_prefix", "has no effect", 2);
}

TEST(HfRunConfig, ATokenizerWithoutCheckpointSizesTheRandomModel) {
  auto r = parse("model:\n  max_seq_len: 40\n" + tokenizer_lines);
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.model.vocab_size, 384);
  EXPECT_EQ(r.config.model.hidden_size, model_config{}.hidden_size);
}

TEST(HfRunConfig, BpePromptsNeedRoomForOneTokenPerByte) {
  // "44+44=<answer>" is 14 bytes; with 8 new tokens that needs 22 positions.
  auto r = parse("model:\n  max_seq_len: 21\n" + tokenizer_lines
                 + "  max_operand: 44\nsampler:\n  max_new_tokens: 8\n");
  expect_single(r, "model.max_seq_len", "the longest prompt has up to 14 tokens", 2);
  EXPECT_TRUE(parse("model:\n  max_seq_len: 22\n" + tokenizer_lines
                    + "  max_operand: 44\nsampler:\n  max_new_tokens: 8\n").ok());
}

TEST(HfRunConfig, ATokenizerLargerThanTheModelsVocabularyNamesBothFiles) {
  // The Qwen2 fixture plus one added token: 385 ids for a 384-row model.
  std::ifstream in(TANDEM_TEST_DATA_DIR "/hf/tokenizer-qwen2/tokenizer.json");
  std::stringstream text;
  text << in.rdbuf();
  std::string json = text.str();
  const std::string anchor = "\"added_tokens\": [";
  auto at = json.find(anchor);
  ASSERT_NE(at, std::string::npos);
  json.insert(at + anchor.size(),
              "{\"id\": 384, \"content\": \"<|extra|>\", \"single_word\": false, "
              "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
              "\"special\": true},");
  auto dir = fs::temp_directory_path() / ("tandem_hf_run_config_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / "tokenizer.json").string();
  std::ofstream(path) << json;
  auto r = parse("model:\n  hf_path: hf/tiny-qwen2\ntask:\n  tokenizer: " + path
                 + "\n  stop_tokens: [\"<|im_end|>\"]\n");
  fs::remove(path);
  fs::remove(dir);
  expect_single(r, "task.tokenizer", "has 385 token ids, more than vocab_size 384", 4);
  EXPECT_NE(r.issues[0].message.find(path), std::string::npos);
  EXPECT_NE(r.issues[0].message.find("tiny-qwen2/config.json"), std::string::npos);
}

TEST(HfRunConfig, TheDebugExampleLoads) {
  auto r = load_run_config(TANDEM_SOURCE_DIR "/configs/debug/hf-tiny.yaml");
  ASSERT_TRUE(r.ok()) << all_issues(r);
  EXPECT_EQ(r.config.model.model_type, "qwen2");
  EXPECT_EQ(r.config.model.vocab_size, 384);
}

TEST(HfRunConfig, SimulatedSamplersCannotSpeakATokenizerJson) {
  auto r = parse(tokenizer_lines + "sampler:\n  simulated_token_ms: 1\n");
  expect_single(r, "sampler.simulated_token_ms", "not with task.tokenizer", 5);
}

} // namespace
