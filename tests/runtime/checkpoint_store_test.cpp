// checkpoint_store_test.cpp: checkpoints round trip on the real disk; a
// damaged newest one (flipped byte, truncated or missing file, missing or
// broken manifest) is skipped with its reason and the older one loaded;
// leftover .tmp directories are ignored and cleaned; keep-K pruning; a full
// disk or read-only root mid-write (memory_file_system) returns an error
// naming the file and leaves earlier checkpoints loadable; the durable
// order of a write; loading one given step.

#include "runtime/checkpoint_store.hpp"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/checksum.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/memory_file_system.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;
namespace stdfs = std::filesystem;

namespace {

std::vector<char> pattern(size_t n, int seed) {
  std::vector<char> out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
  return out;
}

std::vector<checkpoint_file> files_for(int seed) {
  return {{"weights.tndm", pattern(100 * 1024, seed)},
          {"learner.json", pattern(64, seed + 1)}};
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines)
    out += l + "\n";
  return out;
}

// --- on the real disk --------------------------------------------------------------

class CheckpointStoreOnDisk : public ::testing::Test {
protected:
  std::string root() const { return dir_ / "checkpoints"; }
  std::string in_step(int64_t step, const std::string& name) const {
    return root() + "/" + checkpoint_store::dir_name(step) + "/" + name;
  }

  void write_steps(std::initializer_list<int64_t> steps, int32_t keep = 10) {
    for (auto s : steps) {
      auto r = store_.write(s, files_for(static_cast<int>(s)), keep);
      ASSERT_TRUE(r) << describe(r.error());
    }
  }

  std::vector<std::string> names_under_root() const {
    std::vector<std::string> out;
    for (const auto& e : stdfs::directory_iterator(root()))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  // Loads, expecting step `step` after exactly the lines `skipped`.
  void expect_loads(int64_t step, const std::vector<std::string>& skipped) {
    std::vector<std::string> got;
    auto c = store_.load_newest(&got);
    ASSERT_TRUE(c) << describe(c.error());
    EXPECT_EQ(c->step, step);
    EXPECT_EQ(c->files.at("weights.tndm"), pattern(100 * 1024, static_cast<int>(step)));
    EXPECT_EQ(joined(got), joined(skipped));
  }

  test::temp_dir dir_;
  checkpoint_store store_{real_file_system(), dir_ / "checkpoints"};
};

TEST_F(CheckpointStoreOnDisk, RoundTripsFilesThroughAManifest) {
  auto dir = store_.write(250, files_for(1), 3);
  ASSERT_TRUE(dir) << describe(dir.error());
  EXPECT_EQ(*dir, root() + "/step-00000250");
  EXPECT_EQ(names_under_root(), (std::vector<std::string>{"step-00000250"}));
  auto c = store_.load_newest();
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->step, 250);
  EXPECT_EQ(c->dir, *dir);
  ASSERT_EQ(c->files.size(), 2u);
  EXPECT_EQ(c->files.at("weights.tndm"), files_for(1)[0].bytes);
  EXPECT_EQ(c->files.at("learner.json"), files_for(1)[1].bytes);

  auto manifest = read_json_file(in_step(250, "manifest.json"));
  ASSERT_TRUE(manifest) << describe(manifest.error());
  EXPECT_EQ(*manifest->find("format")->as_integer(), 1);
  EXPECT_EQ(*manifest->find("step")->as_integer(), 250);
  const auto& first = manifest->find("files")->as_array()->at(0);
  EXPECT_EQ(*first.find("name")->as_string(), "weights.tndm");
  EXPECT_EQ(*first.find("bytes")->as_integer(), 100 * 1024);
  const auto written = files_for(1);
  const auto& w = written[0].bytes;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(fast_checksum64(w.data(), w.size())));
  EXPECT_EQ(*first.find("checksum")->as_string(), hex);
}

TEST_F(CheckpointStoreOnDisk, NoCheckpointIsNotFound) {
  auto c = store_.load_newest();
  ASSERT_FALSE(c);
  EXPECT_TRUE(is(c.error(), errc::not_found)) << describe(c.error());
  stdfs::create_directories(root());
  EXPECT_TRUE(is(store_.load_newest().error(), errc::not_found));
}

TEST_F(CheckpointStoreOnDisk, LoadsAGivenStepAndNamesAMissingOrDamagedOne) {
  write_steps({250, 500, 750});
  auto c = store_.load(500);
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->step, 500);
  EXPECT_EQ(c->dir, root() + "/step-00000500");
  EXPECT_EQ(c->files.at("weights.tndm"), pattern(100 * 1024, 500));
  auto missing = store_.load(600);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is(missing.error(), errc::not_found)) << describe(missing.error());
  stdfs::resize_file(in_step(250, "weights.tndm"), 1000);
  auto damaged = store_.load(250); // not replaced by an older one: the step was asked for
  ASSERT_FALSE(damaged);
  EXPECT_TRUE(is(damaged.error(), errc::malformed_message)) << describe(damaged.error());
  EXPECT_NE(describe(damaged.error()).find("step-00000250: weights.tndm: 1000 bytes"),
            std::string::npos) << describe(damaged.error());
}

TEST_F(CheckpointStoreOnDisk, AFlippedByteIsAChecksumMismatch) {
  write_steps({250, 500});
  std::fstream f(in_step(500, "weights.tndm"), std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(1234);
  f.put('\x5a' ^ pattern(100 * 1024, 500)[1234]);
  f.close();
  expect_loads(250, {"step-00000500: weights.tndm: checksum mismatch"});
}

TEST_F(CheckpointStoreOnDisk, ATruncatedFileIsNamedWithBothSizes) {
  write_steps({250, 500});
  stdfs::resize_file(in_step(500, "weights.tndm"), 1000);
  expect_loads(250, {"step-00000500: weights.tndm: 1000 bytes, the manifest says 102400"});
}

TEST_F(CheckpointStoreOnDisk, AMissingManifestOrFileIsNamed) {
  write_steps({250, 500, 750});
  stdfs::remove(in_step(750, "manifest.json"));
  stdfs::remove(in_step(500, "learner.json"));
  expect_loads(250, {"step-00000750: no manifest.json", "step-00000500: learner.json: missing"});
}

TEST_F(CheckpointStoreOnDisk, ABrokenManifestIsNamedWithItsPosition) {
  write_steps({250, 500, 750, 1000});
  std::ofstream(in_step(1000, "manifest.json")) << "{\"format\":1,";
  std::ofstream(in_step(750, "manifest.json"))
    << R"({"format":1,"step":750,"files":[{"name":"../x","bytes":1,"checksum":"0000000000000000"}]})";
  std::ofstream(in_step(500, "manifest.json")) << R"({"format":2,"step":500,"files":[]})";
  std::vector<std::string> skipped;
  auto c = store_.load_newest(&skipped);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->step, 250);
  ASSERT_EQ(skipped.size(), 3u);
  EXPECT_EQ(skipped[0].rfind("step-00001000: manifest.json:1:", 0), 0u) << skipped[0];
  EXPECT_EQ(skipped[1], "step-00000750: manifest.json: files[0]: file name \"../x\" starts "
                        "with '.'");
  EXPECT_EQ(skipped[2], "step-00000500: manifest.json: \"format\" must be 1 (the format "
                        "this tandem reads)");
}

TEST_F(CheckpointStoreOnDisk, AnOversizedManifestIsRefusedUnread) {
  write_steps({250, 500});
  std::ofstream(in_step(500, "manifest.json")) << std::string((1 << 20) + 1, ' ');
  std::vector<std::string> skipped;
  ASSERT_TRUE(store_.load_newest(&skipped));
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("more than the limit of 1048576"), std::string::npos) << skipped[0];
}

TEST_F(CheckpointStoreOnDisk, ALeftoverTmpDirectoryIsIgnoredAndCleanedByTheNextWrite) {
  write_steps({250});
  // A crash mid-write of step 500: files but no manifest, under the tmp name.
  stdfs::create_directories(root() + "/.tmp-step-00000500");
  std::ofstream(root() + "/.tmp-step-00000500/weights.tndm") << "partial";
  expect_loads(250, {});
  write_steps({300});
  EXPECT_EQ(names_under_root(), (std::vector<std::string>{"step-00000250", "step-00000300"}));
}

TEST_F(CheckpointStoreOnDisk, KeepsTheNewestKValidCheckpoints) {
  write_steps({100, 200, 300, 400}, 2);
  EXPECT_EQ(names_under_root(), (std::vector<std::string>{"step-00000300", "step-00000400"}));
  write_steps({500}, 1);
  EXPECT_EQ(names_under_root(), (std::vector<std::string>{"step-00000500"}));
}

TEST_F(CheckpointStoreOnDisk, PruningNeverRemovesTheCheckpointJustWritten) {
  write_steps({500, 600});
  write_steps({300}, 1); // older than the others: kept anyway
  EXPECT_EQ(names_under_root(), (std::vector<std::string>{"step-00000300", "step-00000600"}));
}

TEST_F(CheckpointStoreOnDisk, InvalidCheckpointsOlderThanTheNewWriteArePrunedNewerOnesStay) {
  write_steps({100, 200, 900});
  stdfs::remove(in_step(100, "manifest.json"));
  stdfs::remove(in_step(900, "manifest.json"));
  write_steps({300}, 5);
  EXPECT_EQ(names_under_root(), (std::vector<std::string>{"step-00000200", "step-00000300",
                                                          "step-00000900"}));
  std::vector<std::string> skipped;
  auto c = store_.load_newest(&skipped);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->step, 300);
  EXPECT_EQ(joined(skipped), "step-00000900: no manifest.json\n");
}

TEST_F(CheckpointStoreOnDisk, WritingAnExistingStepReplacesIt) {
  write_steps({250});
  auto r = store_.write(250, {{"weights.tndm", pattern(10, 99)}}, 3);
  ASSERT_TRUE(r) << describe(r.error());
  auto c = store_.load_newest();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->files.size(), 1u);
  EXPECT_EQ(c->files.at("weights.tndm"), pattern(10, 99));
  EXPECT_EQ(names_under_root(), (std::vector<std::string>{"step-00000250"}));
}

TEST_F(CheckpointStoreOnDisk, ListsValidAndInvalidCheckpointsNewestFirst) {
  write_steps({250, 500});
  stdfs::resize_file(in_step(500, "learner.json"), 3);
  std::ofstream(root() + "/notes.txt") << "not a checkpoint";
  stdfs::create_directories(root() + "/step-250"); // not the store's name
  auto all = store_.list();
  ASSERT_TRUE(all) << describe(all.error());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].step, 500);
  EXPECT_FALSE((*all)[0].valid);
  EXPECT_EQ((*all)[0].problem, "learner.json: 3 bytes, the manifest says 64");
  EXPECT_EQ((*all)[1].step, 250);
  EXPECT_TRUE((*all)[1].valid);
  EXPECT_EQ((*all)[1].dir, root() + "/step-00000250");
}

TEST_F(CheckpointStoreOnDisk, RefusesBadRequests) {
  auto fails = [&](int64_t step, std::vector<checkpoint_file> files, int32_t keep,
                   const std::string& says) {
    auto r = store_.write(step, files, keep);
    ASSERT_FALSE(r) << says;
    EXPECT_TRUE(is(r.error(), errc::invalid_argument)) << describe(r.error());
    EXPECT_NE(describe(r.error()).find(says), std::string::npos) << describe(r.error());
  };
  fails(-1, {}, 3, "the step must be >= 0");
  fails(1, {}, 0, "keep is 0, must be >= 1");
  fails(1, {{"a/b", {}}}, 3, "has a character other than");
  fails(1, {{"manifest.json", {}}}, 3, "is the store's own manifest");
  fails(1, {{".hidden", {}}}, 3, "starts with '.'");
  fails(1, {{"", {}}}, 3, "must have 1 to 255 characters");
  fails(1, {{"a", {}}, {"a", {}}}, 3, "file \"a\" given twice");
  std::vector<checkpoint_file> many(65);
  for (size_t i = 0; i < many.size(); ++i)
    many[i].name = "f" + std::to_string(i);
  fails(1, many, 3, "65 files, more than 64");
  EXPECT_FALSE(stdfs::exists(root()));
}

// --- on memory_file_system: failures and durable order ------------------------------

class CheckpointStoreInMemory : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_FALSE(fs_->create_dir("/run")); }

  std::shared_ptr<memory_file_system> fs_ = std::make_shared<memory_file_system>();
  checkpoint_store store_{fs_, "/run/checkpoints"};
};

TEST_F(CheckpointStoreInMemory, SyncsEveryFileBeforeTheRenameAndRootAfter) {
  fs_->clear_ops();
  ASSERT_TRUE(store_.write(250, {{"a.bin", {'1'}}, {"b.bin", {'2'}}}, 3));
  const std::string tmp = "/run/checkpoints/.tmp-step-00000250";
  EXPECT_EQ(fs_->ops(), (std::vector<std::string>{
                          "create_dir /run/checkpoints",
                          "sync_dir /run",
                          "create_dir " + tmp,
                          "write " + tmp + "/a.bin",
                          "sync_file " + tmp + "/a.bin",
                          "write " + tmp + "/b.bin",
                          "sync_file " + tmp + "/b.bin",
                          "write " + tmp + "/manifest.json",
                          "sync_file " + tmp + "/manifest.json",
                          "sync_dir " + tmp,
                          "rename " + tmp + " -> /run/checkpoints/step-00000250",
                          "sync_dir /run/checkpoints",
                        }));
}

TEST_F(CheckpointStoreInMemory, ReplacingMovesTheOldOneAsideUntilTheNewIsDurable) {
  ASSERT_TRUE(store_.write(250, {{"a.bin", {'1'}}}, 3));
  fs_->clear_ops();
  ASSERT_TRUE(store_.write(250, {{"a.bin", {'2'}}}, 3));
  const auto ops = fs_->ops();
  const std::vector<std::string> tail(ops.end() - 4, ops.end());
  EXPECT_EQ(tail, (std::vector<std::string>{
                    "rename /run/checkpoints/step-00000250 -> "
                    "/run/checkpoints/.tmp-replaced-step-00000250",
                    "rename /run/checkpoints/.tmp-step-00000250 -> "
                    "/run/checkpoints/step-00000250",
                    "sync_dir /run/checkpoints",
                    "remove /run/checkpoints/.tmp-replaced-step-00000250",
                  }));
  EXPECT_EQ(store_.load_newest()->files.at("a.bin"), std::vector<char>{'2'});
}

TEST_F(CheckpointStoreInMemory, ADiskFullMidWriteNamesTheFileAndKeepsThePreviousCheckpoint) {
  ASSERT_TRUE(store_.write(250, {{"weights.tndm", pattern(5000, 1)}}, 3));
  fs_->fail_writes_after(1000);
  auto r = store_.write(500, {{"weights.tndm", pattern(5000, 2)}}, 3);
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "io_failure: cannot write "
                                 "/run/checkpoints/.tmp-step-00000500/weights.tndm: "
                                 "No space left on device");
  EXPECT_FALSE(fs_->exists("/run/checkpoints/.tmp-step-00000500"));
  std::vector<std::string> skipped;
  auto c = store_.load_newest(&skipped);
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_EQ(c->step, 250);
  EXPECT_EQ(c->files.at("weights.tndm"), pattern(5000, 1));
  EXPECT_TRUE(skipped.empty());
}

TEST_F(CheckpointStoreInMemory, ADiskFullOnTheManifestNamesTheManifest) {
  ASSERT_TRUE(store_.write(250, {{"weights.tndm", pattern(5000, 1)}}, 3));
  fs_->fail_writes_after(5000); // the weights fit, the manifest does not
  auto r = store_.write(500, {{"weights.tndm", pattern(5000, 2)}}, 3);
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find(".tmp-step-00000500/manifest.json: No space left"),
            std::string::npos)
    << describe(r.error());
  EXPECT_EQ(store_.load_newest()->step, 250);
}

TEST_F(CheckpointStoreInMemory, AReadOnlyRootFailsNamingThePathAndTouchesNothing) {
  ASSERT_TRUE(store_.write(250, {{"weights.tndm", pattern(10, 1)}}, 1));
  fs_->set_read_only("/run/checkpoints");
  auto r = store_.write(500, {{"weights.tndm", pattern(10, 2)}}, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "io_failure: cannot create directory "
                                 "/run/checkpoints/.tmp-step-00000500: Permission denied");
  fs_->set_read_only("/run/checkpoints", false);
  EXPECT_EQ(store_.load_newest()->step, 250);
}

TEST_F(CheckpointStoreInMemory, PruneFailuresAreReportedWithoutFailingTheWrite) {
  ASSERT_TRUE(store_.write(100, {{"a", {'1'}}}, 1));
  fs_->set_read_only("/run/checkpoints/step-00000100");
  std::vector<std::string> problems;
  auto r = store_.write(200, {{"a", {'2'}}}, 1, &problems);
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(joined(problems),
            "cannot remove /run/checkpoints/step-00000100: Permission denied\n");
}

} // namespace
