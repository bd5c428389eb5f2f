#include "runtime/atomic_file.hpp"

#include <cstdio>
#include <fstream>

#include "runtime/error.hpp"

namespace tandem {

caf::error write_file_atomically(const std::string& path,
                                 const std::function<void(std::ostream&)>& body) {
  const auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return make_error(errc::io_failure, "cannot open " + tmp);
    body(out);
    if (!out.flush())
      return make_error(errc::io_failure, "write to " + tmp + " failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(errc::io_failure, "cannot rename " + tmp + " to " + path);
  return caf::none;
}

} // namespace tandem
