// hf_fixture.cpp: see hf_fixture.hpp.
#include "tests/support/hf_fixture.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "runtime/json_reader.hpp"
#include "tests/runtime/temp_dir.hpp"

namespace tandem::test {

namespace fs = std::filesystem;

std::string hf_data_dir() {
  return std::string(TANDEM_TEST_DATA_DIR) + "/hf";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

reference_logits expected_for(const std::string& model) {
  reference_logits out;
  auto doc = read_json_file(hf_data_dir() + "/expected.json");
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

std::unique_ptr<policy> load(const std::string& dir, const hf_load_options& opts) {
  policy::set_threads(1);
  auto p = policy::load_hf(dir, opts);
  EXPECT_TRUE(p) << describe(p.error());
  return p ? std::move(*p) : nullptr;
}

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

bool replace_config_value(const std::string& dir, const std::string& key,
                          const std::string& value) {
  auto text = read_file(dir + "/config.json");
  const auto at = text.find("\"" + key + "\":");
  if (at == std::string::npos)
    return false;
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
  return true;
}

void hf_scratch::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  tmp_ = fs::temp_directory_path()
         / (prefix_ + std::to_string(::getpid()) + "_" + info->name());
  remove_tree(tmp_); // not std::filesystem's: runtime/file_system.hpp
  fs::create_directories(tmp_);
}

void hf_scratch::TearDown() {
  remove_tree(tmp_);
}

std::string hf_scratch::copy_of(const std::string& name) const {
  const auto dst = tmp_ / name;
  fs::copy(hf_data_dir() + "/" + name, dst, fs::copy_options::recursive);
  for (const auto& e : fs::directory_iterator(dst))
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write);
  return dst.string();
}

} // namespace tandem::test
