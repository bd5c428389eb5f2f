#include "runtime/atomic_file.hpp"

#include "runtime/file_system.hpp"

namespace tandem {

caf::error write_file_atomically(const std::string& path,
                                 const std::function<void(std::ostream&)>& body) {
  return write_file_atomically(*real_file_system(), path, body);
}

caf::error write_file_atomically(file_system& fs, const std::string& path,
                                 const std::function<void(std::ostream&)>& body) {
  const auto tmp = path + ".tmp";
  // write_file fsyncs before it returns and removes a partial file itself;
  // when it could not create PATH.tmp, whatever is there is not ours.
  if (auto err = fs.write_file(tmp, body))
    return err;
  if (auto err = fs.rename(tmp, path)) {
    fs.remove_tree(tmp); // a regular file this call wrote
    return err;
  }
  return fs.sync_dir(parent_dir(path));
}

} // namespace tandem
