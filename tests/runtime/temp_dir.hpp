// temp_dir.hpp: a fresh directory under the system temp dir for one test,
// removed with everything in it when the test ends.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "runtime/file_system.hpp"

namespace tandem::test {

/// Removes `path` and everything under it (a missing path is fine). Tests
/// call this, never std::filesystem's remove_all (runtime/file_system.hpp
/// says why).
inline void remove_tree(const std::filesystem::path& path) {
  (void) real_file_system()->remove_tree(path.string());
}

class temp_dir {
public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "tandem_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      ADD_FAILURE() << "mkdtemp failed for " << pattern;
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() { remove_tree(path_); }

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

} // namespace tandem::test
