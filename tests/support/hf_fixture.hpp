// hf_fixture.hpp: what the Hugging Face checkpoint tests share: the
// committed fixtures (tests/data/hf, made by tests/reference/
// make_hf_fixtures.py and make_family_fixtures.py) and transformers' logits
// for them, loading a policy, reading and rewriting safetensors files and
// config.json keys, and a gtest fixture that holds writable copies of the
// fixtures in a scratch directory of its own.
//
// Thread safety: none needed (one test thread); each test's scratch
// directory is named after the process and the test.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <gtest/gtest.h>

#include "models/hf_checkpoint.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/safetensors.hpp"

namespace tandem::test {

// Max |tandem - transformers| over all logits of the tiny-llama and
// tiny-qwen2 fixtures: fp32 on both sides but a different op order (SDPA vs
// explicit softmax), measured ~1.5e-7. The logits of these random tiny
// models are small, so mistakes move them little: a rope_theta off by x2 or
// x0.5 changes them by only 2.5e-5 to 8e-5 (HfCheckpoint.Wrong*Fails
// TheLogitComparison print each figure), which a 1e-4 tolerance let
// through. 1e-5 keeps a margin of ~50x over the measured difference and
// catches every one of those mistakes.
constexpr double hf_logits_tolerance = 1e-5;

/// tests/data/hf.
std::string hf_data_dir();

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

/// transformers' fp32 logits for a fixture (tests/data/hf/expected.json).
struct reference_logits {
  std::vector<int32_t> ids;
  std::vector<std::vector<float>> logits; // [seq][vocab]
};
reference_logits expected_for(const std::string& model);

/// The checkpoint in `dir` as a policy on one thread (null, and a test
/// failure, when it does not load).
std::unique_ptr<policy> load(const std::string& dir, const hf_load_options& opts = {});

/// Max abs difference between the policy's logits and transformers'.
double max_logit_diff(policy& p, const reference_logits& ref);

/// The text of a failed load, which must have failed with `code`.
template <class T>
std::string load_failure(const caf::expected<T>& r, errc code) {
  EXPECT_FALSE(r) << "expected the load to fail";
  if (r)
    return {};
  EXPECT_TRUE(is(r.error(), code)) << describe(r.error());
  return describe(r.error());
}

/// A tensor read out of a safetensors file, to be rewritten.
struct stored_tensor {
  std::string name;
  st_dtype dtype;
  std::vector<uint64_t> shape;
  std::vector<char> bytes;
};
std::vector<stored_tensor> read_all(const std::string& file);
void write_all(const std::string& file, const std::vector<stored_tensor>& tensors);

/// Rewrites top-level `key` of DIR/config.json to the JSON text `value`;
/// false (and the file unchanged) when the key is absent.
bool replace_config_value(const std::string& dir, const std::string& key,
                          const std::string& value);

/// A fresh scratch directory per test (removed afterwards) and writable
/// copies of fixtures in it.
class hf_scratch : public ::testing::Test {
protected:
  explicit hf_scratch(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override;
  void TearDown() override;

  /// A writable copy of fixture `name`.
  std::string copy_of(const std::string& name) const;
  /// A path in the scratch directory.
  std::string tmp(const std::string& name) const { return (tmp_ / name).string(); }

  std::filesystem::path tmp_;

private:
  std::string prefix_;
};

/// hf_checkpoint's tests: a scratch directory, and config.json keys that
/// must exist to be rewritten.
class HfCheckpoint : public hf_scratch {
protected:
  HfCheckpoint() : hf_scratch("tandem_hf_") {}

  /// Rewrites `key` of DIR/config.json to the JSON text `value`.
  static void set_config(const std::string& dir, const std::string& key,
                         const std::string& value) {
    ASSERT_TRUE(replace_config_value(dir, key, value)) << key;
  }
};

} // namespace tandem::test
