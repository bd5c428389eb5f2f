// atomic_file_test.cpp: write_file_atomically fsyncs the temporary file
// before the rename that publishes it and the directory after it (checked on
// memory_file_system's log); a full disk or a read-only directory fails
// naming the file and leaves the old content; the real-disk path works and
// leaves alone a directory that sits where its temporary file would go.

#include "runtime/atomic_file.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/file_system.hpp"
#include "runtime/memory_file_system.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;

namespace {

auto writes(const std::string& text) {
  return [text](std::ostream& out) { out << text; };
}

std::string text_of(const std::optional<std::vector<char>>& b) {
  return b ? std::string(b->begin(), b->end()) : "<none>";
}

TEST(AtomicFile, SyncsTheFileBeforeTheRenameAndTheDirectoryAfter) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_dir("/run"));
  fs.clear_ops();
  ASSERT_FALSE(write_file_atomically(fs, "/run/summary.json", writes("{}")));
  EXPECT_EQ(fs.ops(), (std::vector<std::string>{
                        "write /run/summary.json.tmp",
                        "sync_file /run/summary.json.tmp",
                        "rename /run/summary.json.tmp -> /run/summary.json",
                        "sync_dir /run",
                      }));
  EXPECT_EQ(text_of(fs.contents("/run/summary.json")), "{}");
}

TEST(AtomicFile, ADiskFullMidWriteNamesTheFileAndKeepsTheOldContent) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_dir("/run"));
  ASSERT_FALSE(write_file_atomically(fs, "/run/summary.json", writes("old")));
  fs.fail_writes_after(4);
  auto err = write_file_atomically(fs, "/run/summary.json", writes("a longer new text"));
  ASSERT_TRUE(is(err, errc::io_failure)) << describe(err);
  EXPECT_EQ(describe(err),
            "io_failure: cannot write /run/summary.json.tmp: No space left on device");
  EXPECT_EQ(text_of(fs.contents("/run/summary.json")), "old");
  EXPECT_FALSE(fs.exists("/run/summary.json.tmp"));
}

TEST(AtomicFile, AReadOnlyDirectoryIsNamed) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_dir("/run"));
  fs.set_read_only("/run");
  auto err = write_file_atomically(fs, "/run/x.json", writes("{}"));
  EXPECT_EQ(describe(err), "io_failure: cannot create /run/x.json.tmp: Permission denied");
}

TEST(AtomicFile, AFailedRenameRemovesTheTemporaryFile) {
  memory_file_system fs;
  ASSERT_FALSE(fs.create_dir("/run/x.json")); // a directory where the file goes
  auto err = write_file_atomically(fs, "/run/x.json", writes("{}"));
  ASSERT_TRUE(err);
  EXPECT_NE(describe(err).find("cannot rename /run/x.json.tmp to /run/x.json"),
            std::string::npos)
    << describe(err);
  EXPECT_FALSE(fs.exists("/run/x.json.tmp"));
  EXPECT_TRUE(fs.is_dir("/run/x.json"));
}

TEST(AtomicFile, WritesOnTheRealDisk) {
  test::temp_dir dir;
  const auto path = dir / "weights.bin";
  ASSERT_FALSE(write_file_atomically(path, writes("first")));
  ASSERT_FALSE(write_file_atomically(path, writes("second")));
  std::ifstream in(path, std::ios::binary);
  std::stringstream back;
  back << in.rdbuf();
  EXPECT_EQ(back.str(), "second");
  EXPECT_FALSE(real_file_system()->exists(path + ".tmp"));
}

TEST(AtomicFile, ADirectoryInThePlaceOfTheTemporaryFileIsNamedAndLeftAlone) {
  test::temp_dir dir;
  const auto path = dir / "summary.json";
  ASSERT_FALSE(real_file_system()->create_dir(path + ".tmp"));
  auto err = write_file_atomically(path, writes("{}"));
  EXPECT_EQ(describe(err), "io_failure: cannot create " + path + ".tmp: Is a directory");
  EXPECT_TRUE(real_file_system()->exists(path + ".tmp"));
  EXPECT_FALSE(real_file_system()->exists(path));
}

} // namespace
