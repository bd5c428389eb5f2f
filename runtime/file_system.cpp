#include "runtime/file_system.hpp"

#include <algorithm>
#include <cerrno>
#include <streambuf>
#include <system_error>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.hpp"

namespace tandem {

namespace {

// Closes a file descriptor it owns when it goes out of scope.
class unique_fd {
public:
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const { return fd_; }
  /// Closes now and reports close(2)'s errno (0 when fine).
  int close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? 0 : errno;
  }

private:
  int fd_;
};

// A stream buffer that writes to a file descriptor and keeps the first
// errno, so a full disk is reported as ENOSPC instead of a bare stream
// failure. 64 KiB of buffer: large writes (weight tensors) bypass it.
class fd_streambuf : public std::streambuf {
public:
  explicit fd_streambuf(int fd) : fd_(fd), buf_(64 * 1024) { reset(); }
  int error() const { return error_; }

protected:
  int_type overflow(int_type ch) override {
    if (!drain())
      return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }

  int sync() override { return drain() ? 0 : -1; }

  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (static_cast<size_t>(n) < buf_.size())
      return std::streambuf::xsputn(s, n);
    return drain() && write_all(s, static_cast<size_t>(n)) ? n : 0;
  }

private:
  void reset() { setp(buf_.data(), buf_.data() + buf_.size()); }

  bool drain() {
    const auto n = static_cast<size_t>(pptr() - pbase());
    if (n > 0 && !write_all(pbase(), n))
      return false;
    reset();
    return true;
  }

  bool write_all(const char* p, size_t n) {
    while (error_ == 0 && n > 0) {
      const ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno != EINTR)
        error_ = errno;
      if (k > 0) {
        p += k;
        n -= static_cast<size_t>(k);
      }
    }
    return error_ == 0;
  }

  int fd_;
  std::vector<char> buf_;
  int error_ = 0;
};

// Writes through `body`, fsyncs and closes; the errno and step of the first
// failure, or {0, nullptr}.
std::pair<int, const char*> write_and_sync(unique_fd& fd, const file_writer& body) {
  fd_streambuf buf(fd.get());
  std::ostream out(&buf);
  body(out);
  out.flush();
  if (buf.error() != 0)
    return {buf.error(), "write"};
  if (!out)
    return {EIO, "write"}; // the writer itself failed the stream
  if (::fsync(fd.get()) != 0)
    return {errno, "fsync"};
  if (int err = fd.close(); err != 0)
    return {err, "close"};
  return {0, nullptr};
}

caf::error grew_past(const std::string& path, uint64_t max_bytes) {
  return make_error(errc::capacity_exceeded,
                    path + " holds more than the limit of " + std::to_string(max_bytes) + " bytes");
}

// Reads to the end of the file: its size may have changed since fstat, so
// the limit is checked again while reading (a growing file stops there).
caf::expected<std::vector<char>> read_all(unique_fd& fd, const std::string& path,
                                          uint64_t expected_size, uint64_t max_bytes) {
  std::vector<char> bytes(expected_size);
  size_t have = 0;
  for (;;) {
    if (have == bytes.size()) {
      if (have > max_bytes)
        return grew_past(path, max_bytes);
      bytes.resize(have + 4096);
    }
    const ssize_t k = ::read(fd.get(), bytes.data() + have, bytes.size() - have);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return file_error("read", path, errno);
    if (k == 0)
      break;
    have += static_cast<size_t>(k);
  }
  if (have > max_bytes)
    return grew_past(path, max_bytes);
  bytes.resize(have);
  return bytes;
}

caf::error remove_entry(file_system& fs, const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return errno == ENOENT ? caf::none : file_error("remove", path, errno);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return file_error("remove", path, errno);
    return caf::none;
  }
  auto entries = fs.list_dir(path);
  if (!entries)
    return entries.error();
  for (const auto& e : *entries)
    if (auto err = remove_entry(fs, join_path(path, e.name)))
      return err;
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
    return file_error("remove", path, errno);
  return caf::none;
}

} // namespace

file_system::~file_system() = default;

caf::error file_system::write_bytes(const std::string& path, const char* data, size_t size) {
  return write_file(path, [&](std::ostream& out) {
    out.write(data, static_cast<std::streamsize>(size));
  });
}

caf::error posix_file_system::create_dir(const std::string& path) {
  if (path.empty())
    return file_error("create directory", path, ENOENT);
  size_t pos = 0;
  do {
    pos = path.find('/', pos + 1);
    const auto prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      return file_error("create directory", prefix, errno);
  } while (pos != std::string::npos);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return file_error("create directory", path, errno);
  if (!S_ISDIR(st.st_mode))
    return file_error("create directory", path, ENOTDIR);
  return caf::none;
}

caf::error posix_file_system::write_file(const std::string& path, const file_writer& body) {
  unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0)
    return file_error("create", path, errno);
  struct stat st;
  const bool regular = ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode);
  const auto [err, step] = write_and_sync(fd, body);
  if (err == 0)
    return caf::none;
  if (regular) // a partial file must not look like a result (a device stays)
    ::unlink(path.c_str());
  return file_error(step, path, err);
}

caf::expected<std::vector<char>> posix_file_system::read_file(const std::string& path,
                                                              uint64_t max_bytes) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return file_error("open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return file_error("stat", path, errno);
  if (S_ISDIR(st.st_mode))
    return file_error("read", path, EISDIR);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    return make_error(errc::capacity_exceeded,
                      path + " holds " + std::to_string(size) + " bytes, more than the limit of "
                        + std::to_string(max_bytes));
  return read_all(fd, path, size, max_bytes);
}

caf::expected<uint64_t> posix_file_system::file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return file_error("stat", path, errno);
  if (!S_ISREG(st.st_mode))
    return file_error("stat", path, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
  return static_cast<uint64_t>(st.st_size);
}

caf::error posix_file_system::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return file_error("rename", from + " to " + to, errno);
  return caf::none;
}

caf::error posix_file_system::sync_dir(const std::string& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0)
    return file_error("open directory", path, errno);
  if (::fsync(fd.get()) != 0)
    return file_error("fsync directory", path, errno);
  if (int err = fd.close(); err != 0)
    return file_error("close directory", path, err);
  return caf::none;
}

caf::expected<std::vector<dir_entry>> posix_file_system::list_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr)
    return file_error("list", path, errno);
  std::vector<dir_entry> out;
  int err = 0;
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(dir);
    if (e == nullptr) {
      err = errno;
      break;
    }
    const std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    bool is_dir = e->d_type == DT_DIR;
    struct stat st;
    if (e->d_type == DT_UNKNOWN && ::lstat(join_path(path, name).c_str(), &st) == 0)
      is_dir = S_ISDIR(st.st_mode);
    out.push_back({name, is_dir});
  }
  ::closedir(dir);
  if (err != 0)
    return file_error("list", path, err);
  std::sort(out.begin(), out.end(),
            [](const dir_entry& a, const dir_entry& b) { return a.name < b.name; });
  return out;
}

caf::error posix_file_system::remove_tree(const std::string& path) {
  return remove_entry(*this, path);
}

bool posix_file_system::exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::shared_ptr<file_system> real_file_system() {
  static const auto instance = std::make_shared<posix_file_system>();
  return instance;
}

caf::error file_error(const std::string& verb, const std::string& path, int os_errno) {
  return make_error(errc::io_failure, "cannot " + verb + " " + path + ": "
                                        + std::generic_category().message(os_errno));
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty())
    return name;
  if (dir.back() == '/')
    return dir + name;
  return dir + "/" + name;
}

std::string parent_dir(const std::string& path) {
  auto end = path.find_last_not_of('/');
  if (end == std::string::npos)
    return path.empty() ? "." : "/";
  const auto slash = path.rfind('/', end);
  if (slash == std::string::npos)
    return ".";
  const auto keep = path.find_last_not_of('/', slash);
  return keep == std::string::npos ? "/" : path.substr(0, keep + 1);
}

std::string base_name(const std::string& path) {
  const auto end = path.find_last_not_of('/');
  if (end == std::string::npos)
    return path.empty() ? "" : "/";
  const auto slash = path.rfind('/', end);
  return path.substr(slash == std::string::npos ? 0 : slash + 1,
                     end - (slash == std::string::npos ? 0 : slash + 1) + 1);
}

} // namespace tandem
