// file_system_test.cpp: posix_file_system and memory_file_system behave
// alike (one suite runs on both), the fake's injected failures (disk full,
// read-only paths) and its operation log, a real ENOSPC through /dev/full,
// and the path helpers.

#include "runtime/file_system.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/memory_file_system.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;

namespace {

std::vector<char> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

std::string text_of(const std::vector<char>& b) {
  return {b.begin(), b.end()};
}

// --- both implementations -----------------------------------------------------

class BothFileSystems : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    if (GetParam() == "posix") {
      fs_ = real_file_system();
      base_ = dir_.path();
    } else {
      fs_ = std::make_shared<memory_file_system>();
      base_ = "/t";
      ASSERT_FALSE(fs_->create_dir(base_));
    }
  }

  std::string at(const std::string& name) const { return join_path(base_, name); }

  caf::error put(const std::string& name, const std::string& text) {
    return fs_->write_bytes(at(name), text.data(), text.size());
  }

  test::temp_dir dir_;
  std::shared_ptr<file_system> fs_;
  std::string base_;
};

TEST_P(BothFileSystems, WrittenFilesReadBackWithTheirSize) {
  ASSERT_FALSE(put("a.txt", "hello"));
  auto back = fs_->read_file(at("a.txt"), 100);
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(text_of(*back), "hello");
  auto size = fs_->file_size(at("a.txt"));
  ASSERT_TRUE(size);
  EXPECT_EQ(*size, 5u);
  ASSERT_FALSE(put("a.txt", "hi")); // truncates
  EXPECT_EQ(text_of(*fs_->read_file(at("a.txt"), 100)), "hi");
}

TEST_P(BothFileSystems, ReadingPastTheLimitIsCapacityExceededBeforeReading) {
  ASSERT_FALSE(put("big", std::string(100, 'x')));
  auto back = fs_->read_file(at("big"), 99);
  ASSERT_FALSE(back);
  EXPECT_TRUE(is(back.error(), errc::capacity_exceeded)) << describe(back.error());
  EXPECT_NE(describe(back.error()).find("holds 100 bytes, more than the limit of 99"),
            std::string::npos)
    << describe(back.error());
  EXPECT_TRUE(fs_->read_file(at("big"), 100));
}

TEST_P(BothFileSystems, MissingFilesAreNamedWithTheOsReason) {
  auto back = fs_->read_file(at("nope"), 10);
  ASSERT_FALSE(back);
  EXPECT_TRUE(is(back.error(), errc::io_failure));
  EXPECT_EQ(describe(back.error()),
            "io_failure: cannot open " + at("nope") + ": No such file or directory");
  EXPECT_FALSE(fs_->exists(at("nope")));
  auto err = put("no/such/dir/f", "x");
  ASSERT_TRUE(err);
  EXPECT_NE(describe(err).find("No such file or directory"), std::string::npos);
}

TEST_P(BothFileSystems, CreateDirMakesParentsAndListsSortedEntries) {
  ASSERT_FALSE(fs_->create_dir(at("x/y/z")));
  ASSERT_FALSE(fs_->create_dir(at("x/y/z"))); // existing is fine
  ASSERT_FALSE(put("x/b", "1"));
  ASSERT_FALSE(put("x/a", "2"));
  auto entries = fs_->list_dir(at("x"));
  ASSERT_TRUE(entries) << describe(entries.error());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].name, "a");
  EXPECT_FALSE((*entries)[0].is_dir);
  EXPECT_EQ((*entries)[1].name, "b");
  EXPECT_EQ((*entries)[2].name, "y");
  EXPECT_TRUE((*entries)[2].is_dir);
  EXPECT_TRUE(fs_->create_dir(at("x/a/sub"))); // a file in the way
}

TEST_P(BothFileSystems, RenameMovesDirectoriesAndRefusesNonEmptyTargets) {
  ASSERT_FALSE(fs_->create_dir(at("d1/inner")));
  ASSERT_FALSE(put("d1/inner/f", "data"));
  ASSERT_FALSE(fs_->rename(at("d1"), at("d2")));
  EXPECT_FALSE(fs_->exists(at("d1")));
  EXPECT_EQ(text_of(*fs_->read_file(at("d2/inner/f"), 10)), "data");
  ASSERT_FALSE(fs_->create_dir(at("d3")));
  ASSERT_FALSE(fs_->rename(at("d2"), at("d3"))); // an empty directory is replaced
  ASSERT_FALSE(fs_->create_dir(at("d4")));
  ASSERT_FALSE(put("d4/g", "x"));
  auto err = fs_->rename(at("d3"), at("d4"));
  ASSERT_TRUE(err);
  EXPECT_NE(describe(err).find("cannot rename " + at("d3") + " to " + at("d4")),
            std::string::npos)
    << describe(err);
}

TEST_P(BothFileSystems, RemoveTreeRemovesEverythingAndToleratesMissing) {
  ASSERT_FALSE(fs_->create_dir(at("r/s/t")));
  ASSERT_FALSE(put("r/s/f", "1"));
  ASSERT_FALSE(put("r/g", "2"));
  ASSERT_FALSE(fs_->remove_tree(at("r")));
  EXPECT_FALSE(fs_->exists(at("r")));
  EXPECT_FALSE(fs_->remove_tree(at("r")));
  ASSERT_FALSE(put("lone", "x"));
  EXPECT_FALSE(fs_->remove_tree(at("lone")));
  EXPECT_FALSE(fs_->exists(at("lone")));
}

TEST_P(BothFileSystems, SyncDirNeedsADirectory) {
  EXPECT_FALSE(fs_->sync_dir(base_));
  EXPECT_TRUE(fs_->sync_dir(at("missing")));
}

TEST_P(BothFileSystems, WritingOverADirectoryFailsAndLeavesItAlone) {
  ASSERT_FALSE(fs_->create_dir(at("taken")));
  auto err = put("taken", "x");
  ASSERT_TRUE(err);
  EXPECT_NE(describe(err).find(at("taken")), std::string::npos) << describe(err);
  EXPECT_TRUE(fs_->exists(at("taken")));
}

INSTANTIATE_TEST_SUITE_P(FileSystems, BothFileSystems, ::testing::Values("posix", "memory"),
                         [](const auto& info) { return info.param; });

// --- posix only ------------------------------------------------------------------

TEST(PosixFileSystem, AFullDeviceIsReportedAsNoSpaceNamingThePath) {
  auto fs = real_file_system();
  if (!fs->exists("/dev/full"))
    GTEST_SKIP() << "no /dev/full here";
  const std::vector<char> data(200 * 1024, 'x'); // past the stream buffer
  auto err = fs->write_bytes("/dev/full", data.data(), data.size());
  ASSERT_TRUE(err);
  EXPECT_EQ(describe(err), "io_failure: cannot write /dev/full: No space left on device");
  EXPECT_TRUE(fs->exists("/dev/full")); // not a regular file: never unlinked
  // Small writes stay in the buffer until the flush, which fails the same way.
  err = fs->write_bytes("/dev/full", "abc", 3);
  EXPECT_EQ(describe(err), "io_failure: cannot write /dev/full: No space left on device");
}

// --- memory only -----------------------------------------------------------------

TEST(MemoryFileSystem, WritesFailWithNoSpaceOnceTheBudgetIsSpent) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_dir("/d"));
  fs.fail_writes_after(10);
  EXPECT_FALSE(fs.write_bytes("/d/a", "123456", 6));
  auto err = fs.write_bytes("/d/b", "123456", 6);
  ASSERT_TRUE(err);
  EXPECT_EQ(describe(err), "io_failure: cannot write /d/b: No space left on device");
  EXPECT_FALSE(fs.exists("/d/b")); // the partial file is removed
  EXPECT_TRUE(fs.write_bytes("/d/c", "1", 1)); // the disk stays full
  EXPECT_FALSE(fs.write_bytes("/d/e", "", 0));
  fs.clear_write_limit();
  EXPECT_FALSE(fs.write_bytes("/d/b", "123456", 6));
}

TEST(MemoryFileSystem, ReadOnlyPathsRefuseEveryChangeBelowThem) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_dir("/ro/sub"));
  ASSERT_FALSE(fs.write_bytes("/ro/sub/f", "x", 1));
  fs.set_read_only("/ro");
  EXPECT_EQ(describe(fs.write_bytes("/ro/sub/g", "x", 1)),
            "io_failure: cannot create /ro/sub/g: Permission denied");
  EXPECT_TRUE(fs.create_dir("/ro/new"));
  EXPECT_TRUE(fs.rename("/ro/sub/f", "/elsewhere"));
  EXPECT_TRUE(fs.remove_tree("/ro/sub"));
  EXPECT_TRUE(fs.read_file("/ro/sub/f", 10)); // reads work
  fs.set_read_only("/ro", false);
  EXPECT_FALSE(fs.remove_tree("/ro/sub"));
}

TEST(MemoryFileSystem, LogsEveryMutationInOrder) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_dir("/a/b"));
  ASSERT_FALSE(fs.write_bytes("/a/b/f", "x", 1));
  ASSERT_FALSE(fs.rename("/a/b/f", "/a/g"));
  ASSERT_FALSE(fs.sync_dir("/a"));
  ASSERT_FALSE(fs.remove_tree("/a/b"));
  EXPECT_EQ(fs.ops(), (std::vector<std::string>{
                        "create_dir /a", "create_dir /a/b", "write /a/b/f", "sync_file /a/b/f",
                        "rename /a/b/f -> /a/g", "sync_dir /a", "remove /a/b"}));
  EXPECT_EQ(fs.contents("/a/g"), bytes_of("x"));
  fs.clear_ops();
  EXPECT_TRUE(fs.ops().empty());
}

// --- path helpers ----------------------------------------------------------------

TEST(Paths, JoinParentAndBaseName) {
  EXPECT_EQ(join_path("a", "b"), "a/b");
  EXPECT_EQ(join_path("a/", "b"), "a/b");
  EXPECT_EQ(join_path("", "b"), "b");
  EXPECT_EQ(parent_dir("a/b"), "a");
  EXPECT_EQ(parent_dir("a/b/"), "a");
  EXPECT_EQ(parent_dir("b"), ".");
  EXPECT_EQ(parent_dir("/b"), "/");
  EXPECT_EQ(parent_dir("/x//b"), "/x");
  EXPECT_EQ(base_name("a/b"), "b");
  EXPECT_EQ(base_name("a/b/"), "b");
  EXPECT_EQ(base_name("b"), "b");
}

} // namespace
