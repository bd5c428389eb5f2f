// hf_export_test.cpp: a policy's weight blob written as a Hugging Face
// directory (models/hf_export.hpp) and read back by tandem's own loader:
// the round trip gives the same tensors bit for bit, under the input's
// names, dtypes and config.json, with its tokenizer files beside them; the
// directory appears atomically (memory_file_system's log).

#include "models/hf_export.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>

#include <gtest/gtest.h>

#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/file_system.hpp"
#include "runtime/memory_file_system.hpp"
#include "runtime/safetensors.hpp"
#include "tests/runtime/temp_dir.hpp"
#include "tests/support/hf_fixture.hpp"

using namespace tandem;
namespace stdfs = std::filesystem;

namespace {

const std::string data_dir = test::hf_data_dir();

using test::read_file;
using test::write_file;

// Helpers that cannot ASSERT throw instead: GoogleTest reports the message
// as the test's failure, where a null or an empty expected would crash the
// whole binary.
std::unique_ptr<policy> load(const std::string& dir) {
  auto p = policy::load_hf(dir);
  if (!p)
    throw std::runtime_error("load_hf(" + dir + "): " + describe(p.error()));
  return std::move(*p);
}

hf_exporter exporter_for(const std::string& dir, const model_config& cfg,
                         const std::string& tokenizer = {}) {
  auto e = hf_exporter::make({cfg, dir, tokenizer});
  if (!e)
    throw std::runtime_error("hf_exporter::make(" + dir + "): " + describe(e.error()));
  return std::move(*e);
}

// Tensor name -> dtype of a safetensors file.
std::map<std::string, st_dtype> dtypes_of(const std::string& file) {
  auto h = read_safetensors_header(file);
  if (!h)
    throw std::runtime_error("read_safetensors_header(" + file + "): " + describe(h.error()));
  std::map<std::string, st_dtype> out;
  for (const auto& t : h->tensors)
    out[t.name] = t.dtype;
  return out;
}

// Exports `input`'s own weights, perturbed so that an order mistake shows,
// then loads the export: the blob must come back bit for bit.
void expect_round_trip(const std::string& input) {
  test::temp_dir tmp;
  auto p = load(input);
  ASSERT_TRUE(p);
  auto blob = p->export_weights();
  std::vector<float> w(blob.size() / 4);
  std::memcpy(w.data(), blob.data(), blob.size());
  for (size_t i = 0; i < w.size(); ++i)
    w[i] += 1e-3f * static_cast<float>(i % 97); // distinct per position
  std::memcpy(blob.data(), w.data(), blob.size());
  auto e = exporter_for(input, p->config());
  ASSERT_FALSE(e.write(*real_file_system(), blob, tmp / "hf"));
  auto back = load(tmp / "hf");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->export_weights(), blob) << input;
  EXPECT_EQ(read_file(tmp / "hf/config.json"), read_file(input + "/config.json"));
}

} // namespace

TEST(HfExport, Qwen2RoundTripIsBitIdenticalUnderTheInputsNames) {
  expect_round_trip(data_dir + "/tiny-qwen2");
  test::temp_dir tmp;
  auto p = load(data_dir + "/tiny-qwen2");
  auto e = exporter_for(data_dir + "/tiny-qwen2", p->config());
  ASSERT_FALSE(e.write(*real_file_system(), p->export_weights(), tmp / "hf"));
  // Tied embeddings as the input: no lm_head.weight, the same names.
  auto got = dtypes_of(tmp / "hf/model.safetensors");
  EXPECT_EQ(got, dtypes_of(data_dir + "/tiny-qwen2/model.safetensors"));
  EXPECT_EQ(got.count("lm_head.weight"), 0u);
}

TEST(HfExport, LlamaWithItsOwnLmHeadRoundTrips) {
  expect_round_trip(data_dir + "/tiny-llama");
}

// Qwen3's q/k norms sit between o_proj and the MLP in the blob; a llama3
// scaled Llama and Mistral have the Llama layout.
TEST(HfExport, FamilyCheckpointsRoundTrip) {
  for (const char* name : {"family-qwen3", "family-llama31", "family-mistral"})
    expect_round_trip(data_dir + "/" + name);
}

TEST(HfExport, ShardedInputBecomesOneFileWithTheSameTensors) {
  expect_round_trip(data_dir + "/tiny-llama-sharded");
  test::temp_dir tmp;
  auto p = load(data_dir + "/tiny-llama-sharded");
  auto e = exporter_for(data_dir + "/tiny-llama-sharded", p->config());
  ASSERT_FALSE(e.write(*real_file_system(), p->export_weights(), tmp / "hf"));
  EXPECT_EQ(dtypes_of(tmp / "hf/model.safetensors"),
            dtypes_of(data_dir + "/tiny-llama/model.safetensors"));
}

TEST(HfExport, PolicyTensorSpecsFollowTheBlobOrder) {
  auto p = load(data_dir + "/tiny-qwen2");
  auto specs = policy_tensor_specs(p->config());
  int64_t n = 0;
  for (auto& s : specs) {
    int64_t k = 1;
    for (auto d : s.shape)
      k *= d;
    n += k;
  }
  EXPECT_EQ(n, p->num_parameters());
  EXPECT_EQ(specs.front().name, "embed_tokens.weight");
  EXPECT_EQ(specs[1].name, "layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(specs[2].name, "layers.0.self_attn.q_proj.bias");
  EXPECT_EQ(specs.back().name, "norm.weight"); // tied: no lm_head
}

TEST(HfExport, Bfloat16InputStaysBfloat16) {
  test::temp_dir tmp;
  const auto src = data_dir + "/tiny-qwen2";
  auto p = load(src);
  auto specs = policy_tensor_specs(p->config());
  // The fixture rewritten in BF16 (as real Qwen2 checkpoints ship).
  auto blob = p->export_weights();
  std::vector<std::vector<char>> bytes;
  std::vector<safetensors_view> views;
  size_t off = 0;
  for (auto& s : specs) {
    size_t n = 1;
    for (auto d : s.shape)
      n *= static_cast<size_t>(d);
    std::vector<float> v(n);
    std::memcpy(v.data(), blob.data() + off, n * 4);
    off += n * 4;
    bytes.push_back(*from_float32(v.data(), n, st_dtype::bf16));
    views.push_back({to_hf_name(s.name), st_dtype::bf16,
                     std::vector<uint64_t>(s.shape.begin(), s.shape.end()), bytes.back().data()});
  }
  stdfs::create_directories(tmp / "in");
  ASSERT_FALSE(write_safetensors(tmp / "in/model.safetensors", views, {{"format", "pt"}}));
  stdfs::copy_file(src + "/config.json", tmp / "in/config.json");
  auto in = load(tmp / "in");
  auto e = exporter_for(tmp / "in", in->config());
  ASSERT_FALSE(e.write(*real_file_system(), in->export_weights(), tmp / "out"));
  for (auto& [name, t] : dtypes_of(tmp / "out/model.safetensors"))
    EXPECT_EQ(t, st_dtype::bf16) << name;
  // BF16 values widen exactly, so narrowing them again loses nothing.
  EXPECT_EQ(load(tmp / "out")->export_weights(), in->export_weights());
}

TEST(HfExport, TokenizerFilesComeFromTheInputAndBesideTaskTokenizer) {
  test::temp_dir tmp;
  const auto src = data_dir + "/tiny-qwen2";
  stdfs::create_directories(tmp / "in");
  stdfs::create_directories(tmp / "tok");
  for (auto* f : {"config.json", "model.safetensors"})
    stdfs::copy_file(src + "/" + f, tmp / "in" + "/" + f);
  const std::string chat = R"({"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"})";
  write_file(tmp / "in/tokenizer_config.json", chat);
  write_file(tmp / "in/tokenizer.json", "{\"stale\": true}"); // task.tokenizer wins
  write_file(tmp / "tok/special_tokens_map.json", "{\"eos_token\": \"<|im_end|>\"}");
  write_file(tmp / "tok/tokenizer_config.json", "{}"); // the input's copy wins
  stdfs::copy_file(data_dir + "/tokenizer-qwen2/tokenizer.json", tmp / "tok/tokenizer.json");
  auto p = load(tmp / "in");
  auto e = exporter_for(tmp / "in", p->config(), tmp / "tok/tokenizer.json");
  EXPECT_EQ(e.file_names(),
            (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer.json",
                                      "tokenizer_config.json", "special_tokens_map.json"}));
  ASSERT_FALSE(e.write(*real_file_system(), p->export_weights(), tmp / "out"));
  EXPECT_EQ(read_file(tmp / "out/tokenizer.json"), read_file(tmp / "tok/tokenizer.json"));
  EXPECT_EQ(read_file(tmp / "out/tokenizer_config.json"), chat);
  EXPECT_EQ(read_file(tmp / "out/special_tokens_map.json"),
            read_file(tmp / "tok/special_tokens_map.json"));
}

TEST(HfExport, DirectoryAppearsByRenameAfterItsFilesAreSynced) {
  auto p = load(data_dir + "/tiny-qwen2");
  auto e = exporter_for(data_dir + "/tiny-qwen2", p->config());
  memory_file_system fs;
  ASSERT_FALSE(fs.create_dir("run/ck"));
  ASSERT_FALSE(e.write(fs, p->export_weights(), "run/ck/hf"));
  ASSERT_FALSE(e.write(fs, p->export_weights(), "run/ck/hf")); // replaces the first
  auto ops = fs.ops();
  auto at = [&](const std::string& op) { // the last time `op` happened
    auto it = std::find(ops.rbegin(), ops.rend(), op);
    EXPECT_NE(it, ops.rend()) << "never happened: " << op;
    return it.base() - ops.begin();
  };
  EXPECT_LT(at("sync_file run/ck/hf.tmp-hf/model.safetensors"), at("sync_dir run/ck/hf.tmp-hf"));
  EXPECT_LT(at("sync_dir run/ck/hf.tmp-hf"), at("rename run/ck/hf -> run/ck/hf.old-hf"));
  EXPECT_LT(at("rename run/ck/hf -> run/ck/hf.old-hf"), at("rename run/ck/hf.tmp-hf -> run/ck/hf"));
  EXPECT_LT(at("rename run/ck/hf.tmp-hf -> run/ck/hf"), at("sync_dir run/ck"));
  EXPECT_LT(at("sync_dir run/ck"), at("remove run/ck/hf.old-hf"));
  EXPECT_TRUE(fs.contents("run/ck/hf/config.json"));
  EXPECT_FALSE(fs.exists("run/ck/hf.tmp-hf"));
  EXPECT_FALSE(fs.exists("run/ck/hf.old-hf"));
}

TEST(HfExport, AFullDiskLeavesThePreviousExportAsItWas) {
  auto p = load(data_dir + "/tiny-qwen2");
  auto e = exporter_for(data_dir + "/tiny-qwen2", p->config());
  memory_file_system fs;
  ASSERT_FALSE(e.write(fs, p->export_weights(), "ck/hf"));
  auto before = *fs.contents("ck/hf/model.safetensors");
  fs.fail_writes_after(1000);
  auto blob = p->export_weights();
  blob[0] ^= 1;
  auto err = e.write(fs, blob, "ck/hf");
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, errc::io_failure)) << describe(err);
  EXPECT_NE(describe(err).find("No space left on device"), std::string::npos) << describe(err);
  EXPECT_EQ(*fs.contents("ck/hf/model.safetensors"), before);
  EXPECT_FALSE(fs.exists("ck/hf.tmp-hf"));
}

TEST(HfExport, WrongBlobSizeAndMissingInputAreRefused) {
  auto p = load(data_dir + "/tiny-qwen2");
  auto e = exporter_for(data_dir + "/tiny-qwen2", p->config());
  memory_file_system fs;
  auto err = e.write(fs, std::vector<char>(12), "hf");
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_FALSE(fs.exists("hf"));
  auto missing = hf_exporter::make({p->config(), "/nonexistent-tandem-dir", ""});
  ASSERT_FALSE(missing);
  EXPECT_NE(describe(missing.error()).find("/nonexistent-tandem-dir"), std::string::npos);
  // The input's tensors must be the policy's: a Llama shape on the Qwen2 input.
  auto llama = load(data_dir + "/tiny-llama");
  auto wrong = hf_exporter::make({llama->config(), data_dir + "/tiny-qwen2", ""});
  ASSERT_FALSE(wrong);
  EXPECT_NE(describe(wrong.error()).find("lm_head.weight"), std::string::npos)
    << describe(wrong.error());
}
