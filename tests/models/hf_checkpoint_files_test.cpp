// hf_checkpoint_files_test.cpp: Hugging Face checkpoints on disk through
// the torch-free policy / learner_core interface: saving (single file and
// sharded, bit-identical, learner checkpoints, bf16 widened exactly) and
// broken checkpoints built from copies of the committed fixtures
// (tests/data/hf) in a temporary directory, refused naming what is wrong.

#include "models/hf_checkpoint.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "models/learner_core.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/safetensors.hpp"
#include "tests/support/hf_fixture.hpp"

using namespace tandem;
using namespace tandem::test;
namespace fs = std::filesystem;

namespace {
const std::string data_dir = hf_data_dir();
} // namespace

// --- save / reload ------------------------------------------------------------

TEST_F(HfCheckpoint, SaveReloadIsBitIdenticalAndKeepsHfNames) {
  auto p = load(data_dir + "/tiny-qwen2");
  ASSERT_TRUE(p);
  const auto out = tmp("saved");
  auto err = p->save_hf(out);
  ASSERT_FALSE(err) << describe(err);
  EXPECT_FALSE(fs::exists(out + "/model.safetensors.index.json"));
  auto hdr = read_safetensors_header(out + "/model.safetensors");
  ASSERT_TRUE(hdr) << describe(hdr.error());
  EXPECT_EQ(hdr->data_start % 8, 0u);
  EXPECT_NE(hdr->find("model.layers.1.self_attn.v_proj.bias"), nullptr);
  EXPECT_EQ(hdr->find("lm_head.weight"), nullptr); // tied, as transformers saves it
  // Each tensor holds exactly the bytes transformers wrote.
  auto fixture = read_safetensors_header(data_dir + "/tiny-qwen2/model.safetensors");
  ASSERT_TRUE(fixture);
  ASSERT_EQ(hdr->tensors.size(), fixture->tensors.size());
  for (const auto& e : fixture->tensors) {
    const auto* mine = hdr->find(e.name);
    ASSERT_NE(mine, nullptr) << e.name;
    EXPECT_EQ(mine->shape, e.shape) << e.name;
    EXPECT_EQ(*read_tensor_bytes(*hdr, *mine), *read_tensor_bytes(*fixture, e)) << e.name;
  }
  auto again = load(out);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->export_weights(), p->export_weights());
  EXPECT_EQ(*again->logits({1, 2, 3}), *p->logits({1, 2, 3}));
  auto c0 = read_hf_config(data_dir + "/tiny-qwen2");
  auto c1 = read_hf_config(out);
  ASSERT_TRUE(c0 && c1);
  EXPECT_EQ(c1->model_type, c0->model_type);
  EXPECT_EQ(c1->rope_theta, c0->rope_theta);
  EXPECT_EQ(c1->rms_norm_eps, c0->rms_norm_eps);
  EXPECT_EQ(c1->tie_embeddings, c0->tie_embeddings);
  EXPECT_EQ(c1->num_kv_heads, c0->num_kv_heads);
  EXPECT_EQ(c1->max_position_embeddings, c0->max_position_embeddings);
}

TEST_F(HfCheckpoint, ShardedSaveWritesAnIndexThatReloads) {
  auto p = load(data_dir + "/tiny-llama");
  ASSERT_TRUE(p);
  const auto out = tmp("sharded");
  // 60 kB: the 49 kB embedding and lm_head each fill a shard of their own.
  auto err = p->save_hf(out, 60'000);
  ASSERT_FALSE(err) << describe(err);
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
  auto index = read_json_file(out + "/model.safetensors.index.json");
  ASSERT_TRUE(index) << describe(index.error());
  const auto* wm = index->find("weight_map");
  ASSERT_NE(wm, nullptr);
  ASSERT_NE(wm->as_object(), nullptr);
  EXPECT_EQ(wm->as_object()->size(), 21u);
  const auto* total = index->find("metadata")->find("total_size")->as_integer();
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(*total, 172672); // transformers' figure for the same model
  std::set<std::string> shards;
  for (const auto& f : *wm->as_object())
    shards.insert(*f.value.as_string());
  EXPECT_GE(shards.size(), 3u);
  for (const auto& s : shards) {
    auto h = read_safetensors_header(out + "/" + s);
    ASSERT_TRUE(h) << describe(h.error());
    EXPECT_NE(s.find("-of-"), std::string::npos);
  }
  auto again = load(out);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->export_weights(), p->export_weights());
  EXPECT_LT(max_logit_diff(*again, expected_for("tiny-llama")), hf_logits_tolerance);
  // Saving unsharded into the same directory leaves no stale shards behind,
  // and only files of exactly the shard form are removed.
  const std::vector<std::string> kept = {"model-00001-of-00003.safetensors.bak",
                                         "model-0001-of-00003.safetensors",
                                         "xmodel-00001-of-00003.safetensors"};
  for (const auto& k : kept)
    std::ofstream(out + "/" + k) << "keep";
  ASSERT_FALSE(p->save_hf(out));
  EXPECT_FALSE(fs::exists(out + "/model.safetensors.index.json"));
  for (const auto& s : shards)
    EXPECT_FALSE(fs::exists(out + "/" + s)) << s;
  for (const auto& k : kept)
    EXPECT_TRUE(fs::exists(out + "/" + k)) << k;
}

TEST_F(HfCheckpoint, LearnerStartsFromAndSavesHfCheckpoints) {
  learner_settings s;
  s.grpo.kl_beta = 0.1; // the reference is the checkpoint too
  auto l = learner_core::make_from_hf(s, data_dir + "/tiny-qwen2", {/*max_seq_len=*/32});
  ASSERT_TRUE(l) << describe(l.error());
  auto p = load(data_dir + "/tiny-qwen2");
  ASSERT_TRUE(p);
  EXPECT_EQ((*l)->export_weights(), p->export_weights());
  train_sequence seq{{1, 2, 3}, {4, 5}, {-6.f, -6.f}, {0, 0}, 1.0};
  auto stats = (*l)->train({seq});
  ASSERT_TRUE(stats) << describe(stats.error());
  const auto out = tmp("learner");
  ASSERT_FALSE((*l)->save_hf(out));
  auto trained = load(out);
  ASSERT_TRUE(trained);
  EXPECT_EQ(trained->export_weights(), (*l)->export_weights());
  EXPECT_NE(trained->export_weights(), p->export_weights());
}

TEST_F(HfCheckpoint, Bfloat16WeightsAreWidenedExactly) {
  const auto dir = copy_of("tiny-llama");
  auto tensors = read_all(dir + "/model.safetensors");
  std::vector<float> widened; // what each bf16 value means in fp32, in file order
  for (auto& t : tensors) {
    std::vector<char> half(t.bytes.size() / 2);
    for (size_t i = 0; i < t.bytes.size() / 4; ++i) {
      uint32_t bits;
      std::memcpy(&bits, t.bytes.data() + 4 * i, 4);
      const uint16_t top = static_cast<uint16_t>(bits >> 16); // truncation
      std::memcpy(half.data() + 2 * i, &top, 2);
    }
    t.bytes = std::move(half);
    t.dtype = st_dtype::bf16;
  }
  write_all(dir + "/model.safetensors", tensors);
  auto p = load(dir);
  ASSERT_TRUE(p);
  const auto out = tmp("widened");
  ASSERT_FALSE(p->save_hf(out));
  for (const auto& t : read_all(out + "/model.safetensors")) {
    const auto src = std::find_if(tensors.begin(), tensors.end(),
                                  [&](const stored_tensor& x) { return x.name == t.name; });
    ASSERT_NE(src, tensors.end()) << t.name;
    ASSERT_EQ(t.bytes.size(), 2 * src->bytes.size());
    for (size_t i = 0; i < src->bytes.size() / 2; ++i) {
      uint16_t top;
      uint32_t bits;
      std::memcpy(&top, src->bytes.data() + 2 * i, 2);
      std::memcpy(&bits, t.bytes.data() + 4 * i, 4);
      ASSERT_EQ(bits, uint32_t(top) << 16) << t.name << "[" << i << "]";
    }
  }
}

// --- broken checkpoints -------------------------------------------------------

TEST_F(HfCheckpoint, MissingTensorIsNamed) {
  const auto dir = copy_of("tiny-llama");
  auto tensors = read_all(dir + "/model.safetensors");
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [](const stored_tensor& t) { return t.name == "model.norm.weight"; }),
                tensors.end());
  write_all(dir + "/model.safetensors", tensors);
  auto msg = load_failure(policy::load_hf(dir), errc::malformed_message);
  EXPECT_NE(msg.find("missing tensor \"model.norm.weight\" (expected shape [32])"),
            std::string::npos) << msg;
}

TEST_F(HfCheckpoint, UnexpectedTensorIsNamed) {
  const auto dir = copy_of("tiny-llama");
  auto tensors = read_all(dir + "/model.safetensors");
  tensors.push_back({"model.layers.0.self_attn.q_proj.bias", st_dtype::f32, {32},
                     std::vector<char>(128, 0)});
  write_all(dir + "/model.safetensors", tensors);
  auto msg = load_failure(policy::load_hf(dir), errc::malformed_message);
  EXPECT_NE(msg.find("unexpected tensor \"model.layers.0.self_attn.q_proj.bias\""),
            std::string::npos) << msg;
}

TEST_F(HfCheckpoint, LmHeadInATiedCheckpointIsUnexpected) {
  const auto dir = copy_of("tiny-llama");
  set_config(dir, "tie_word_embeddings", "true");
  auto msg = load_failure(policy::load_hf(dir), errc::malformed_message);
  EXPECT_NE(msg.find("unexpected tensor \"lm_head.weight\" (config.json ties the embeddings"),
            std::string::npos) << msg;
}

TEST_F(HfCheckpoint, WrongShapeIsNamedWithBothShapes) {
  const auto dir = copy_of("tiny-llama");
  auto tensors = read_all(dir + "/model.safetensors");
  for (auto& t : tensors)
    if (t.name == "model.layers.1.mlp.up_proj.weight")
      t.shape = {32, 64}; // transposed: same bytes, wrong layout
  write_all(dir + "/model.safetensors", tensors);
  auto msg = load_failure(policy::load_hf(dir), errc::malformed_message);
  EXPECT_NE(msg.find("tensor \"model.layers.1.mlp.up_proj.weight\" has shape [32, 64], "
                     "expected [64, 32]"),
            std::string::npos) << msg;
}

TEST_F(HfCheckpoint, NonFloatTensorIsRefused) {
  const auto dir = copy_of("tiny-llama");
  auto tensors = read_all(dir + "/model.safetensors");
  for (auto& t : tensors)
    if (t.name == "model.norm.weight")
      t.dtype = st_dtype::i32; // same byte count
  write_all(dir + "/model.safetensors", tensors);
  auto msg = load_failure(policy::load_hf(dir), errc::malformed_message);
  EXPECT_NE(msg.find("\"model.norm.weight\" has dtype I32"), std::string::npos) << msg;
}

TEST_F(HfCheckpoint, CorruptSafetensorsFilesAreRefusedNamingTheFile) {
  const auto dir = copy_of("tiny-llama");
  const auto file = dir + "/model.safetensors";
  const auto original = read_file(file);
  write_file(file, original.substr(0, original.size() - 100)); // truncated data
  auto msg = load_failure(policy::load_hf(dir), errc::malformed_message);
  EXPECT_NE(msg.find(file), std::string::npos) << msg;
  EXPECT_NE(msg.find("go beyond the data section"), std::string::npos) << msg;

  write_file(file, original.substr(0, 4)); // truncated length
  EXPECT_NE(load_failure(policy::load_hf(dir), errc::malformed_message).find("truncated"),
            std::string::npos);

  auto forged = original; // header length past the end of the file
  const uint64_t n = original.size();
  std::memcpy(forged.data(), &n, 8);
  write_file(file, forged);
  EXPECT_NE(load_failure(policy::load_hf(dir), errc::malformed_message).find("goes beyond"),
            std::string::npos);

  auto unknown = original; // same length, unknown dtype
  unknown.replace(unknown.find("\"F32\""), 5, "\"Q32\"");
  write_file(file, unknown);
  EXPECT_NE(load_failure(policy::load_hf(dir), errc::malformed_message)
              .find("unknown dtype \"Q32\""),
            std::string::npos);

  auto overlap = original; // lm_head [0, 49152) now overlaps embed_tokens
  const auto at = overlap.find("\"data_offsets\":[49152,98304]");
  ASSERT_NE(at, std::string::npos);
  overlap.replace(at, 28, "\"data_offsets\":[49150,98302]");
  write_file(file, overlap);
  EXPECT_NE(load_failure(policy::load_hf(dir), errc::malformed_message).find("overlap"),
            std::string::npos);
}

TEST_F(HfCheckpoint, BadIndexEntriesAreMalformedDataAtTheirLineAndColumn) {
  const auto dir = copy_of("tiny-llama-sharded");
  const auto index = dir + "/model.safetensors.index.json";
  const auto original = read_file(index);
  auto escaping = original;
  escaping.replace(escaping.find("\"model-00003-of-00003"), 1, "\"../");
  write_file(index, escaping);
  auto msg = load_failure(policy::load_hf(dir), errc::malformed_message);
  EXPECT_NE(msg.find(index + ":7:23: weight_map \"lm_head.weight\" must name a file"),
            std::string::npos) << msg;
  auto twice = original;
  twice.insert(twice.find("\"lm_head.weight\""), "\"lm_head.weight\": \"x\",\n    ");
  write_file(index, twice);
  msg = load_failure(policy::load_hf(dir), errc::malformed_message);
  EXPECT_NE(msg.find(index + ":8:5: duplicate key \"lm_head.weight\" (first at 7:5)"),
            std::string::npos) << msg;
}

TEST_F(HfCheckpoint, IndexNamingAMissingShardFails) {
  const auto dir = copy_of("tiny-llama-sharded");
  fs::remove(dir + "/model-00002-of-00003.safetensors");
  auto msg = load_failure(policy::load_hf(dir), errc::io_failure);
  EXPECT_NE(msg.find("model-00002-of-00003.safetensors"), std::string::npos) << msg;
  EXPECT_TRUE(is(policy::load_hf(tmp("nowhere")).error(), errc::io_failure));
}
