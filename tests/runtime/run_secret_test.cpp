// run_secret_test: the secret a run without a configured one keeps in
// RUN_DIR/secret: generated with mode 0600 whatever the umask, reused,
// refused when others may read it; and no MAC without a real key.
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "runtime/error.hpp"
#include "runtime/transport/auth.hpp"
#include "runtime/transport/run_secret.hpp"
#include "tests/runtime/temp_dir.hpp"

using namespace tandem;
using namespace tandem::transport;
namespace fs = std::filesystem;

namespace {

struct RunSecret : ::testing::Test {
  std::string dir;
  RunSecret() {
    auto tmpl = (fs::temp_directory_path() / "tandem-run-secret-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
  }
  ~RunSecret() override { tandem::test::remove_tree(dir); }

  mode_t mode_of(const std::string& path) const {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  void write_file(const std::string& path, const std::string& text, mode_t mode) const {
    std::ofstream(path) << text;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
};

/// Sets the umask for one scope.
struct with_umask {
  mode_t old;
  explicit with_umask(mode_t m) : old(::umask(m)) {}
  ~with_umask() { ::umask(old); }
};

} // namespace

TEST_F(RunSecret, AGeneratedSecretIsLongRandomHex) {
  auto a = generate_secret();
  auto b = generate_secret();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->size(), 2 * generated_secret_bytes);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(*a, *b);
}

TEST_F(RunSecret, IsCreatedOwnerOnlyWhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0777}}) {
    fs::remove(run_secret_path(dir));
    std::string s;
    {
      with_umask m(mask);
      auto got = load_or_create_run_secret(dir);
      ASSERT_TRUE(got) << describe(got.error());
      s = *got;
    }
    EXPECT_EQ(mode_of(run_secret_path(dir)), 0600u) << "umask " << mask;
    auto back = read_private_secret(run_secret_path(dir));
    ASSERT_TRUE(back) << describe(back.error());
    EXPECT_EQ(*back, s);
  }
  // No temporary file is left beside it.
  size_t files = 0;
  for (auto& e : fs::directory_iterator(dir))
    files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);
}

TEST_F(RunSecret, AResumedRunReusesItsSecret) {
  auto first = load_or_create_run_secret(dir);
  auto again = load_or_create_run_secret(dir);
  ASSERT_TRUE(first && again);
  EXPECT_EQ(*first, *again);
}

TEST_F(RunSecret, AFileOthersMayReadIsRefusedNotUsed) {
  auto path = run_secret_path(dir);
  for (mode_t mode : {mode_t{0640}, mode_t{0604}, mode_t{0620}}) {
    write_file(path, "0123456789abcdef0123456789abcdef\n", mode);
    auto got = load_or_create_run_secret(dir);
    ASSERT_FALSE(got) << std::oct << mode;
    EXPECT_TRUE(is(got.error(), errc::invalid_config));
    auto why = describe(got.error());
    EXPECT_NE(why.find(path), std::string::npos) << why;
    EXPECT_NE(why.find("group or others"), std::string::npos) << why;
    EXPECT_EQ(why.find("0123456789abcdef"), std::string::npos) << "leaks the secret: " << why;
    EXPECT_EQ(mode_of(path), mode); // left as it was, not overwritten
  }
}

// What workers, `status` and `scale` read: a missing file is a config error
// that names the file; an existing one is read, never created.
TEST_F(RunSecret, ARunningRunsSecretIsReadNeverCreated) {
  auto path = run_secret_path(dir);
  auto missing = read_run_secret(dir);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is(missing.error(), errc::invalid_config));
  auto why = describe(missing.error());
  EXPECT_NE(why.find(path + " does not exist"), std::string::npos) << why;
  EXPECT_FALSE(fs::exists(path));
  auto made = load_or_create_run_secret(dir);
  auto read = read_run_secret(dir);
  ASSERT_TRUE(made && read);
  EXPECT_EQ(*made, *read);
}

TEST_F(RunSecret, MissingShortAndLinkedFilesAreErrors) {
  auto path = run_secret_path(dir);
  auto missing = read_private_secret(path);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is(missing.error(), errc::not_found));
  write_file(path, "short\n", 0600);
  EXPECT_FALSE(read_private_secret(path));
  EXPECT_FALSE(load_or_create_run_secret(dir)); // not replaced behind the user's back
  auto real = dir + "/elsewhere";
  write_file(real, "0123456789abcdef0123456789abcdef\n", 0600);
  fs::remove(path);
  fs::create_symlink(real, path);
  auto linked = read_private_secret(path);
  ASSERT_FALSE(linked);
  EXPECT_TRUE(is(linked.error(), errc::invalid_config)) << describe(linked.error());
}

TEST(KeyedMac, NeedsARealKey) {
  EXPECT_FALSE(keyed_mac("", "message"));
  EXPECT_FALSE(keyed_mac("short", "message"));
  auto a = keyed_mac("0123456789abcdef0123", "message");
  auto b = keyed_mac("0123456789abcdef0124", "message");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}
