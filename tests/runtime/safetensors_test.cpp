// safetensors_test.cpp: the safetensors reader/writer: round trips, float
// conversions against known bit patterns, the committed transformers-written
// fixtures, and one clear error per kind of corrupt file (built byte by byte
// in a temporary directory). The JSON under it is tested in json_reader_test
// and json_writer_test.

#include "runtime/safetensors.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;
namespace fs = std::filesystem;

namespace {

class SafetensorsFiles : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path()
           / ("tandem_st_" + std::to_string(::getpid()) + "_" + info->name());
    tandem::test::remove_tree(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { tandem::test::remove_tree(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // u64 header length | header | data, optionally with a forged length.
  std::string raw(const std::string& name, const std::string& header, size_t data_bytes,
                  int64_t forged_len = -1) const {
    std::string bytes(8, '\0');
    const uint64_t n = forged_len >= 0 ? uint64_t(forged_len) : header.size();
    for (int i = 0; i < 8; ++i)
      bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    bytes += header;
    bytes.append(data_bytes, '\x01');
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }

  fs::path dir_;
};

// The message of a tandem error that must have code `code`.
std::string error_text(const caf::error& err, errc code) {
  EXPECT_TRUE(is(err, code)) << describe(err);
  return describe(err);
}

template <class T>
std::string failure(const caf::expected<T>& r, errc code = errc::malformed_message) {
  EXPECT_FALSE(r) << "expected an error";
  return r ? std::string() : error_text(r.error(), code);
}

} // namespace

// --- format -------------------------------------------------------------------

TEST_F(SafetensorsFiles, WrittenFileReadsBackWithAlignedDataAndSameBytes) {
  const float a[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
  const uint16_t h[2] = {0x3C00, 0xC000};
  const std::vector<safetensors_view> views = {
    {"layer.a", st_dtype::f32, {2, 3}, a}, {"b", st_dtype::f16, {2}, h},
    {"empty", st_dtype::bf16, {0, 4}, nullptr}};
  const auto file = path("w.safetensors");
  ASSERT_FALSE(write_safetensors(file, views, {{"format", "pt"}}));
  EXPECT_EQ(fs::file_size(file), safetensors_file_size(views, {{"format", "pt"}}));
  auto hdr = read_safetensors_header(file);
  ASSERT_TRUE(hdr) << describe(hdr.error());
  EXPECT_EQ(hdr->data_start % 8, 0u);
  ASSERT_EQ(hdr->tensors.size(), 3u);
  ASSERT_EQ(hdr->metadata.size(), 1u);
  EXPECT_EQ(hdr->metadata[0].second, "pt");
  const auto* ea = hdr->find("layer.a");
  ASSERT_NE(ea, nullptr);
  EXPECT_EQ(ea->shape, (std::vector<uint64_t>{2, 3}));
  auto bytes = read_tensor_bytes(*hdr, *ea);
  ASSERT_TRUE(bytes);
  ASSERT_EQ(bytes->size(), sizeof(a));
  EXPECT_EQ(std::memcmp(bytes->data(), a, sizeof(a)), 0);
  auto fb = to_float32(*hdr, *hdr->find("b"), *read_tensor_bytes(*hdr, *hdr->find("b")));
  ASSERT_TRUE(fb);
  EXPECT_EQ(*fb, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(hdr->find("empty")->num_elements(), 0u);
}

TEST_F(SafetensorsFiles, HalfAndBfloatConvertBitExactly) {
  // f16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), -0, +inf.
  const uint16_t h[6] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00};
  // bf16: 1, -3.140625, 2^-133 (subnormal).
  const uint16_t b[3] = {0x3F80, 0xC049, 0x0001};
  const auto file = path("conv.safetensors");
  ASSERT_FALSE(write_safetensors(file, {{"h", st_dtype::f16, {6}, h}, {"b", st_dtype::bf16, {3}, b}},
                                 {}));
  auto hdr = read_safetensors_header(file);
  ASSERT_TRUE(hdr);
  auto fh = to_float32(*hdr, *hdr->find("h"), *read_tensor_bytes(*hdr, *hdr->find("h")));
  auto fbf = to_float32(*hdr, *hdr->find("b"), *read_tensor_bytes(*hdr, *hdr->find("b")));
  ASSERT_TRUE(fh && fbf);
  EXPECT_EQ((*fh)[0], 1.0f);
  EXPECT_EQ((*fh)[1], -2.0f);
  EXPECT_EQ((*fh)[2], 65504.0f);
  EXPECT_EQ((*fh)[3], std::ldexp(1.0f, -24));
  EXPECT_TRUE((*fh)[4] == 0.0f && std::signbit((*fh)[4]));
  EXPECT_TRUE(std::isinf((*fh)[5]));
  EXPECT_EQ((*fbf)[0], 1.0f);
  EXPECT_EQ((*fbf)[1], -3.140625f);
  EXPECT_EQ((*fbf)[2], std::ldexp(1.0f, -133));
}

TEST(SafetensorsFixture, TransformersFileHeaderIsReadAsWritten) {
  auto hdr = read_safetensors_header(std::string(TANDEM_TEST_DATA_DIR)
                                     + "/hf/tiny-llama/model.safetensors");
  ASSERT_TRUE(hdr) << describe(hdr.error());
  EXPECT_EQ(hdr->tensors.size(), 21u);
  EXPECT_EQ(hdr->data_start, 8u + 2128u);
  EXPECT_EQ(hdr->data_size, 172672u);
  EXPECT_EQ(hdr->tensors.front().name, "lm_head.weight");
  EXPECT_EQ(hdr->tensors.front().shape, (std::vector<uint64_t>{384, 32}));
  const auto* q = hdr->find("model.layers.1.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, st_dtype::f32);
  EXPECT_EQ(q->begin, 166400u);
  EXPECT_EQ(q->end, 170496u);
  ASSERT_EQ(hdr->metadata.size(), 1u);
  EXPECT_EQ(hdr->metadata[0], (std::pair<std::string, std::string>{"format", "pt"}));
}

// --- corrupt files ------------------------------------------------------------

TEST_F(SafetensorsFiles, TruncatedFileNamesTheFile) {
  const auto file = path("short.safetensors");
  std::ofstream(file, std::ios::binary) << "abcde";
  const auto msg = failure(read_safetensors_header(file));
  EXPECT_NE(msg.find(file), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST_F(SafetensorsFiles, HeaderLengthBeyondTheFileIsRefused) {
  const auto file = raw("long.safetensors", "{}", 0, 1000);
  const auto msg = failure(read_safetensors_header(file));
  EXPECT_NE(msg.find("header length 1000 goes beyond"), std::string::npos) << msg;
  const auto huge = raw("huge.safetensors", "{}", 0, int64_t(1) << 40);
  EXPECT_NE(failure(read_safetensors_header(huge)).find("exceeds the limit"), std::string::npos);
}

TEST_F(SafetensorsFiles, OverlappingOffsetsNameBothTensors) {
  const auto file = raw("overlap.safetensors",
                        R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  const auto msg = failure(read_safetensors_header(file));
  EXPECT_NE(msg.find("\"x\" [0, 8) and \"y\" [4, 12) overlap"), std::string::npos) << msg;
}

TEST_F(SafetensorsFiles, GapsAndTrailingBytesAreRefused) {
  const auto gap = raw("gap.safetensors",
                       R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12);
  EXPECT_NE(failure(read_safetensors_header(gap)).find("no tensor covers data bytes [4, 8)"),
            std::string::npos);
  const auto tail = raw("tail.safetensors",
                        R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 6);
  EXPECT_NE(failure(read_safetensors_header(tail)).find("2 trailing bytes"), std::string::npos);
}

TEST_F(SafetensorsFiles, ShapeThatDoesNotMatchTheSpanNamesTheTensor) {
  const auto file = raw("shape.safetensors",
                        R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  const auto msg = failure(read_safetensors_header(file));
  EXPECT_NE(msg.find("tensor \"w\": shape and dtype F32 need 12 bytes"), std::string::npos) << msg;
}

TEST_F(SafetensorsFiles, OffsetsBeyondTheDataSectionNameTheTensor) {
  const auto file = raw("beyond.safetensors",
                        R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  const auto msg = failure(read_safetensors_header(file));
  EXPECT_NE(msg.find("tensor \"w\": data_offsets [0, 16) go beyond"), std::string::npos) << msg;
}

TEST_F(SafetensorsFiles, UnknownDtypeNamesTheTensorAndTheDtype) {
  const auto file = raw("dtype.safetensors",
                        R"({"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,2]}})", 2);
  const auto msg = failure(read_safetensors_header(file));
  EXPECT_NE(msg.find("tensor \"w\": unknown dtype \"Q4_K\""), std::string::npos) << msg;
}

TEST_F(SafetensorsFiles, HeaderThatIsNotAJsonObjectOfEntriesIsRefused) {
  EXPECT_NE(failure(read_safetensors_header(raw("a.safetensors", "[1]", 0))).find("JSON object"),
            std::string::npos);
  const auto cut = raw("b.safetensors", "{\"w\":", 0);
  EXPECT_NE(failure(read_safetensors_header(cut)).find(cut + " (header):1:6: expected a value"),
            std::string::npos);
  const auto extra = raw("c.safetensors",
                         R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4);
  EXPECT_NE(failure(read_safetensors_header(extra)).find("unexpected field \"x\""),
            std::string::npos);
  const auto neg = raw("d.safetensors",
                       R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
  EXPECT_NE(failure(read_safetensors_header(neg)).find("\"shape\""), std::string::npos);
  const auto meta = raw("e.safetensors", R"({"__metadata__":{"n":1}})", 0);
  EXPECT_NE(failure(read_safetensors_header(meta)).find("__metadata__"), std::string::npos);
}

TEST_F(SafetensorsFiles, TensorOrFieldNamedTwiceIsRefusedWithItsColumn) {
  const auto twice = raw("twice.safetensors",
                         R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
  const auto msg = failure(read_safetensors_header(twice));
  EXPECT_NE(msg.find("(header):1:55: duplicate key \"w\" (first at 1:2)"), std::string::npos)
    << msg;
  const auto field = raw("field.safetensors",
                         R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})",
                         4);
  EXPECT_NE(failure(read_safetensors_header(field)).find("duplicate key \"dtype\""),
            std::string::npos);
}

TEST_F(SafetensorsFiles, IntegerTensorsAreNotReadAsFloatWeights) {
  const int64_t v[2] = {1, 2};
  const auto file = path("int.safetensors");
  ASSERT_FALSE(write_safetensors(file, {{"ids", st_dtype::i64, {2}, v}}, {}));
  auto hdr = read_safetensors_header(file);
  ASSERT_TRUE(hdr);
  auto f = to_float32(*hdr, hdr->tensors[0], *read_tensor_bytes(*hdr, hdr->tensors[0]));
  EXPECT_NE(failure(f, errc::invalid_argument).find("tensor \"ids\": dtype I64"),
            std::string::npos);
}

TEST_F(SafetensorsFiles, WriterRefusesDuplicateNames) {
  const float x = 1;
  auto err = write_safetensors(path("dup.safetensors"),
                               {{"a", st_dtype::f32, {1}, &x}, {"a", st_dtype::f32, {1}, &x}}, {});
  EXPECT_NE(error_text(err, errc::invalid_argument).find("duplicate tensor \"a\""),
            std::string::npos);
  EXPECT_FALSE(fs::exists(path("dup.safetensors")));
}

namespace {

uint16_t narrowed(float x, st_dtype t) {
  auto b = from_float32(&x, 1, t);
  EXPECT_TRUE(b) << describe(b.error());
  uint16_t h = 0;
  std::memcpy(&h, b->data(), 2);
  return h;
}

} // namespace

TEST(SafetensorsNarrowing, HalfAndBfloatRoundToNearestEven) {
  EXPECT_EQ(narrowed(1.0f, st_dtype::f16), 0x3c00);
  EXPECT_EQ(narrowed(-2.0f, st_dtype::f16), 0xc000);
  EXPECT_EQ(narrowed(65504.0f, st_dtype::f16), 0x7bff);          // largest half
  EXPECT_EQ(narrowed(65519.0f, st_dtype::f16), 0x7bff);          // below the midpoint
  EXPECT_EQ(narrowed(65520.0f, st_dtype::f16), 0x7c00);          // the midpoint: ties to inf
  EXPECT_EQ(narrowed(std::ldexp(1.0f, -24), st_dtype::f16), 1);  // smallest subnormal
  EXPECT_EQ(narrowed(std::ldexp(1.0f, -26), st_dtype::f16), 0);  // below half of it
  EXPECT_EQ(narrowed(1.0f + std::ldexp(1.0f, -11), st_dtype::f16), 0x3c00); // tie to even
  EXPECT_EQ(narrowed(1.0f + 3 * std::ldexp(1.0f, -11), st_dtype::f16), 0x3c02);
  EXPECT_EQ(narrowed(1.0f, st_dtype::bf16), 0x3f80);
  EXPECT_EQ(narrowed(1.0f + std::ldexp(1.0f, -8), st_dtype::bf16), 0x3f80); // tie to even
  EXPECT_EQ(narrowed(1.0f + 3 * std::ldexp(1.0f, -8), st_dtype::bf16), 0x3f82);
  EXPECT_GT(narrowed(std::nanf(""), st_dtype::bf16) & 0x7fff, 0x7f80); // NaN stays NaN
  EXPECT_GT(narrowed(std::nanf(""), st_dtype::f16) & 0x7fff, 0x7c00);
  // Every half value survives half -> float -> half.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
      continue; // NaN payloads
    const auto b = static_cast<uint16_t>(h);
    safetensors_entry e{"t", st_dtype::f16, {1}, 0, 2};
    safetensors_header file;
    std::vector<char> bytes(2);
    std::memcpy(bytes.data(), &b, 2);
    auto f = to_float32(file, e, bytes);
    ASSERT_TRUE(f);
    ASSERT_EQ(narrowed((*f)[0], st_dtype::f16), b) << h;
  }
  auto bad = from_float32(nullptr, 0, st_dtype::i32);
  EXPECT_FALSE(bad);
}
