// hf_checkpoint_test.cpp: Hugging Face checkpoints through the torch-free
// policy / learner_core interface. Reference numbers are the fp32 logits that
// transformers 5.17 computed for the committed fixtures (tests/data/hf, made
// by tests/reference/make_hf_fixtures.py); corrupt checkpoints are built from
// copies of the fixtures in a temporary directory.

#include "models/hf_checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "models/learner_core.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/safetensors.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

// Max |tandem - transformers| over all logits: fp32 on both sides but a
// different op order (SDPA vs explicit softmax), measured ~1.5e-7 on these
// fixtures. The logits of these random tiny models are small, so mistakes
// move them little: a rope_theta off by x2 or x0.5 changes them by only
// 2.5e-5 to 8e-5 (HfCheckpoint.Wrong*FailsTheLogitComparison below print
// each figure), which a 1e-4 tolerance let through. 1e-5 keeps a margin of
// ~50x over the measured difference and catches every one of those mistakes.
constexpr double logits_tolerance = 1e-5;

const std::string data_dir = std::string(TANDEM_TEST_DATA_DIR) + "/hf";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

struct reference_logits {
  std::vector<int32_t> ids;
  std::vector<std::vector<float>> logits; // [seq][vocab]
};

reference_logits expected_for(const std::string& model) {
  reference_logits out;
  auto doc = read_json_file(data_dir + "/expected.json");
  EXPECT_TRUE(doc) << describe(doc.error());
  if (!doc)
    return out;
  const auto* m = doc->find("models")->find(model);
  EXPECT_NE(m, nullptr) << model;
  for (const auto& id : *m->find("input_ids")->as_array())
    out.ids.push_back(static_cast<int32_t>(*id.as_integer()));
  for (const auto& row : *m->find("logits")->as_array()) {
    out.logits.emplace_back();
    for (const auto& x : *row.as_array())
      out.logits.back().push_back(static_cast<float>(x.as_number()->value));
  }
  return out;
}

std::unique_ptr<policy> load(const std::string& dir, const hf_load_options& opts = {}) {
  policy::set_threads(1);
  auto p = policy::load_hf(dir, opts);
  EXPECT_TRUE(p) << describe(p.error());
  return p ? std::move(*p) : nullptr;
}

// Max abs difference between the policy's logits and transformers'.
double max_logit_diff(policy& p, const reference_logits& ref) {
  auto got = p.logits(ref.ids);
  EXPECT_TRUE(got) << describe(got.error());
  const size_t vocab = static_cast<size_t>(p.config().vocab_size);
  EXPECT_EQ(got->size(), ref.ids.size() * vocab);
  EXPECT_EQ(ref.logits.size(), ref.ids.size());
  double worst = 0;
  for (size_t s = 0; s < ref.logits.size(); ++s) {
    EXPECT_EQ(ref.logits[s].size(), vocab);
    for (size_t v = 0; v < vocab; ++v)
      worst = std::max(worst, std::fabs(double((*got)[s * vocab + v]) - ref.logits[s][v]));
  }
  return worst;
}

std::string failure_text(const caf::error& err, errc code) {
  EXPECT_TRUE(is(err, code)) << describe(err);
  return describe(err);
}

template <class T>
std::string load_failure(const caf::expected<T>& r, errc code) {
  EXPECT_FALSE(r) << "expected the load to fail";
  return r ? std::string() : failure_text(r.error(), code);
}

// A tensor read out of a safetensors file, to be rewritten.
struct stored_tensor {
  std::string name;
  st_dtype dtype;
  std::vector<uint64_t> shape;
  std::vector<char> bytes;
};

std::vector<stored_tensor> read_all(const std::string& file) {
  auto hdr = read_safetensors_header(file);
  EXPECT_TRUE(hdr) << describe(hdr.error());
  std::vector<stored_tensor> out;
  for (const auto& e : hdr->tensors)
    out.push_back({e.name, e.dtype, e.shape, *read_tensor_bytes(*hdr, e)});
  return out;
}

void write_all(const std::string& file, const std::vector<stored_tensor>& tensors) {
  std::vector<safetensors_view> views;
  for (const auto& t : tensors)
    views.push_back({t.name, t.dtype, t.shape, t.bytes.data()});
  auto err = write_safetensors(file, views, {{"format", "pt"}});
  ASSERT_FALSE(err) << describe(err);
}

using tandem::test::remove_tree; // not std::filesystem's: runtime/file_system.hpp

class HfCheckpoint : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    tmp_ = fs::temp_directory_path()
           / ("tandem_hf_" + std::to_string(::getpid()) + "_" + info->name());
    remove_tree(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { remove_tree(tmp_); }

  // A writable copy of fixture `name`.
  std::string copy_of(const std::string& name) {
    const auto dst = tmp_ / name;
    fs::copy(data_dir + "/" + name, dst, fs::copy_options::recursive);
    for (const auto& e : fs::directory_iterator(dst))
      fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write);
    return dst.string();
  }

  std::string tmp(const std::string& name) const { return (tmp_ / name).string(); }

  // Rewrites `key` of DIR/config.json to the JSON text `value`.
  void set_config(const std::string& dir, const std::string& key, const std::string& value) {
    auto text = read_file(dir + "/config.json");
    const auto at = text.find("\"" + key + "\":");
    ASSERT_NE(at, std::string::npos) << key;
    const auto start = text.find(':', at) + 1;
    auto end = start;
    int depth = 0;
    for (; end < text.size(); ++end) {
      const char c = text[end];
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') { if (depth == 0) break; --depth; }
      if (c == ',' && depth == 0) break;
    }
    text.replace(start, end - start, " " + value);
    write_file(dir + "/config.json", text);
  }

  fs::path tmp_;
};

} // namespace

// --- config.json --------------------------------------------------------------

TEST(HfConfig, LlamaFieldsMapOntoModelConfig) {
  auto c = read_hf_config(data_dir + "/tiny-llama");
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->vocab_size, 384);
  EXPECT_EQ(c->hidden_size, 32);
  EXPECT_EQ(c->intermediate_size, 64);
  EXPECT_EQ(c->num_layers, 2);
  EXPECT_EQ(c->num_heads, 4);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->max_position_embeddings, 64);
  EXPECT_EQ(c->max_seq_len, 64);
  EXPECT_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_FALSE(c->tie_embeddings);
  EXPECT_FALSE(c->attention_bias);
}

TEST(HfConfig, Qwen2HasBiasesTiedEmbeddingsAndRopeThetaFromRopeParameters) {
  auto c = read_hf_config(data_dir + "/tiny-qwen2/config.json", {/*max_seq_len=*/16});
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_TRUE(c->attention_bias);
  EXPECT_TRUE(c->tie_embeddings);
  EXPECT_EQ(c->rope_theta, 1000000.0);
  EXPECT_EQ(c->max_seq_len, 16);
  EXPECT_EQ(c->max_position_embeddings, 64);
}

TEST_F(HfCheckpoint, UnsupportedConfigsAreRefusedNamingTheField) {
  const auto dir = copy_of("tiny-llama");
  struct refusal {
    const char* key;
    const char* value;
    const char* says;
  };
  const refusal cases[] = {
    {"model_type", "\"gemma\"",
     "model_type: \"gemma\" is not supported (llama, qwen2, qwen3, mistral)"},
    {"hidden_act", "\"gelu\"", "hidden_act: \"gelu\" is not supported"},
    {"rope_parameters", "{\"rope_type\": \"yarn\", \"rope_theta\": 10000.0}",
     "rope scaling \"yarn\" is not supported"},
    {"attention_bias", "true", "attention_bias"},
    {"head_dim", "7", "head_dim: must be a positive even integer"},
    {"num_hidden_layers", "0", "num_hidden_layers: must be a positive integer"},
  };
  const auto original = read_file(dir + "/config.json");
  for (const auto& c : cases) {
    set_config(dir, c.key, c.value);
    auto msg = load_failure(read_hf_config(dir), errc::invalid_config);
    EXPECT_NE(msg.find(dir + "/config.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
    EXPECT_FALSE(policy::load_hf(dir)) << c.key;
    write_file(dir + "/config.json", original);
  }
  EXPECT_NE(load_failure(read_hf_config(dir, {/*max_seq_len=*/65}), errc::invalid_config)
              .find("below the requested max_seq_len 65"),
            std::string::npos);
}

TEST_F(HfCheckpoint, ConfigErrorsPointAtTheLineAndColumnOfTheField) {
  const auto dir = copy_of("tiny-llama");
  const auto original = read_file(dir + "/config.json");
  set_config(dir, "hidden_act", "\"gelu\"");
  auto msg = load_failure(read_hf_config(dir), errc::invalid_config);
  EXPECT_NE(msg.find(dir + "/config.json:11:17: hidden_act: \"gelu\" is not supported"),
            std::string::npos) << msg;
  // A key written twice is refused, not resolved one way or the other.
  write_file(dir + "/config.json", "{\n  \"vocab_size\": 1," + original.substr(1));
  msg = load_failure(read_hf_config(dir), errc::invalid_config);
  EXPECT_NE(msg.find(dir + "/config.json:32:3: duplicate key \"vocab_size\" (first at 2:3)"),
            std::string::npos) << msg;
  write_file(dir + "/config.json", "{\"a\": }");
  msg = load_failure(read_hf_config(dir), errc::invalid_config);
  EXPECT_NE(msg.find(dir + "/config.json:1:7: expected a value"), std::string::npos) << msg;
}

TEST_F(HfCheckpoint, Qwen2SlidingWindowIsRefused) {
  const auto dir = copy_of("tiny-qwen2");
  set_config(dir, "use_sliding_window", "true");
  EXPECT_NE(load_failure(read_hf_config(dir), errc::invalid_config).find("sliding-window"),
            std::string::npos);
}

// --- logits against transformers ----------------------------------------------

TEST(HfLogits, LlamaMatchesTransformers) {
  auto p = load(data_dir + "/tiny-llama");
  ASSERT_TRUE(p);
  const double diff = max_logit_diff(*p, expected_for("tiny-llama"));
  EXPECT_LT(diff, logits_tolerance);
  std::printf("tiny-llama max |logit diff| = %.3g\n", diff);
}

TEST(HfLogits, ShardedLlamaMatchesTransformers) {
  auto p = load(data_dir + "/tiny-llama-sharded");
  ASSERT_TRUE(p);
  EXPECT_LT(max_logit_diff(*p, expected_for("tiny-llama")), logits_tolerance);
}

TEST(HfLogits, Qwen2WithBiasesAndTiedEmbeddingsMatchesTransformers) {
  auto p = load(data_dir + "/tiny-qwen2");
  ASSERT_TRUE(p);
  const double diff = max_logit_diff(*p, expected_for("tiny-qwen2"));
  EXPECT_LT(diff, logits_tolerance);
  std::printf("tiny-qwen2 max |logit diff| = %.3g\n", diff);
}

TEST(HfLogits, CappedSequenceLengthKeepsTheNumbers) {
  auto p = load(data_dir + "/tiny-qwen2", {/*max_seq_len=*/12});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->config().max_seq_len, 12);
  EXPECT_LT(max_logit_diff(*p, expected_for("tiny-qwen2")), logits_tolerance);
  EXPECT_TRUE(is(p->logits(std::vector<int32_t>(13, 1)).error(), errc::invalid_argument));
  EXPECT_TRUE(is(p->logits({384}).error(), errc::invalid_argument));
}

// The tolerance is tight enough to catch the mistakes a loader could make:
// each one, applied to a copy of a fixture, must fail the comparison.

TEST_F(HfCheckpoint, WrongRopeThetaFailsTheLogitComparison) {
  for (const char* model : {"tiny-llama", "tiny-qwen2"}) {
    const auto ref = expected_for(model);
    const auto dir = copy_of(model);
    const auto original = read_file(dir + "/config.json");
    const double theta = read_hf_config(dir)->rope_theta;
    for (double factor : {2.0, 0.5, 10.0, 0.1}) {
      set_config(dir, "rope_parameters",
                 "{\"rope_theta\": " + std::to_string(theta * factor)
                   + ", \"rope_type\": \"default\"}");
      auto p = load(dir);
      ASSERT_TRUE(p);
      ASSERT_EQ(p->config().rope_theta, theta * factor);
      const double diff = max_logit_diff(*p, ref);
      std::printf("%s rope_theta x%g: max |logit diff| = %.3g\n", model, factor, diff);
      EXPECT_GT(diff, logits_tolerance) << model << " rope_theta x" << factor;
      write_file(dir + "/config.json", original);
    }
  }
}

TEST_F(HfCheckpoint, WrongNormEpsilonFailsTheLogitComparison) {
  for (const char* model : {"tiny-llama", "tiny-qwen2"}) {
    const auto ref = expected_for(model);
    const auto dir = copy_of(model);
    set_config(dir, "rms_norm_eps", "1e-05"); // the fixtures use 1e-6
    auto p = load(dir);
    ASSERT_TRUE(p);
    ASSERT_EQ(p->config().rms_norm_eps, 1e-5);
    const double diff = max_logit_diff(*p, ref);
    std::printf("%s rms_norm_eps 1e-5: max |logit diff| = %.3g\n", model, diff);
    EXPECT_GT(diff, logits_tolerance) << model;
  }
}

// q and k of one layer exchanged (q_proj's first heads take k_proj's rows:
// the fixtures use grouped-query attention, so k has half of q's rows).
TEST_F(HfCheckpoint, SwappedQueryAndKeyWeightsFailTheLogitComparison) {
  for (const char* model : {"tiny-llama", "tiny-qwen2"}) {
    const auto ref = expected_for(model);
    const auto dir = copy_of(model);
    auto tensors = read_all(dir + "/model.safetensors");
    auto find = [&](const std::string& name) {
      return std::find_if(tensors.begin(), tensors.end(),
                          [&](const stored_tensor& t) { return t.name == name; });
    };
    auto q = find("model.layers.0.self_attn.q_proj.weight");
    auto k = find("model.layers.0.self_attn.k_proj.weight");
    ASSERT_NE(q, tensors.end());
    ASSERT_NE(k, tensors.end());
    ASSERT_LE(k->bytes.size(), q->bytes.size());
    std::swap_ranges(k->bytes.begin(), k->bytes.end(), q->bytes.begin());
    write_all(dir + "/model.safetensors", tensors);
    auto p = load(dir);
    ASSERT_TRUE(p);
    const double diff = max_logit_diff(*p, ref);
    std::printf("%s q/k swapped in layer 0: max |logit diff| = %.3g\n", model, diff);
    EXPECT_GT(diff, logits_tolerance) << model;
  }
}

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
  EXPECT_LT(max_logit_diff(*again, expected_for("tiny-llama")), logits_tolerance);
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
