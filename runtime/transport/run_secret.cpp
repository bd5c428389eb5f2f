#include "runtime/transport/run_secret.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "runtime/error.hpp"
#include "runtime/transport/auth.hpp"

namespace tandem::transport {

namespace {

std::string errno_text() {
  return std::strerror(errno);
}

std::string mode_text(mode_t mode) {
  std::array<char, 8> buf{};
  std::snprintf(buf.data(), buf.size(), "%04o", static_cast<unsigned>(mode & 07777));
  return buf.data();
}

/// Closes a file descriptor when it leaves scope.
struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// The file behind `fd` is a regular file only its owner may use.
caf::error check_private(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return make_error(errc::io_failure, "secret file " + path + ": " + errno_text());
  if (!S_ISREG(st.st_mode))
    return make_error(errc::invalid_config, "secret file " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0)
    return make_error(errc::invalid_config,
                      "secret file " + path + " has mode " + mode_text(st.st_mode)
                        + ": group or others may read or write it, so it is not used; "
                          "run `chmod 600 "
                        + path + "` if nobody else can have read it, else delete it");
  if (st.st_size > static_cast<off_t>(max_secret_file_bytes))
    return make_error(errc::invalid_config, "secret file " + path + " is larger than "
                                              + std::to_string(max_secret_file_bytes)
                                              + " bytes");
  return caf::none;
}

caf::expected<std::string> read_all(int fd, const std::string& path) {
  std::string s(max_secret_file_bytes + 1, '\0');
  size_t got = 0;
  while (got < s.size()) {
    auto n = ::read(fd, s.data() + got, s.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return make_error(errc::io_failure, "secret file " + path + ": " + errno_text());
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  s.resize(got);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '
                        || s.back() == '\t'))
    s.pop_back();
  if (s.size() < min_secret_bytes || s.size() > max_secret_file_bytes)
    return make_error(errc::invalid_config, "secret file " + path
                                              + " holds a secret shorter than "
                                              + std::to_string(min_secret_bytes)
                                              + " bytes (or larger than "
                                              + std::to_string(max_secret_file_bytes) + ")");
  return s;
}

caf::error write_all(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return make_error(errc::io_failure, "cannot write " + path + ": " + errno_text());
    done += static_cast<size_t>(n);
  }
  return caf::none;
}

} // namespace

std::string run_secret_path(const std::string& run_dir) {
  return run_dir + "/secret";
}

caf::expected<std::string> generate_secret() {
  if (sodium_init() < 0)
    return make_error(errc::backend_failure, "libsodium failed to initialise");
  std::array<unsigned char, generated_secret_bytes> raw{};
  randombytes_buf(raw.data(), raw.size());
  std::string hex(raw.size() * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
  sodium_memzero(raw.data(), raw.size());
  hex.pop_back(); // the terminating NUL
  return hex;
}

caf::expected<std::string> read_private_secret(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return make_error(errc::not_found, "secret file " + path + " does not exist");
    if (errno == ELOOP)
      return make_error(errc::invalid_config,
                        "secret file " + path + " is a symbolic link; it is not followed");
    return make_error(errc::invalid_config, "secret file " + path + " cannot be read: "
                                              + errno_text());
  }
  fd_closer closer{fd};
  if (auto err = check_private(fd, path))
    return err;
  return read_all(fd, path);
}

caf::error write_private_secret(const std::string& path, const std::string& secret) {
  std::string tmp = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data()); // creates the file 0600 (less the umask)
  if (fd < 0)
    return make_error(errc::io_failure, "cannot create " + tmp + ": " + errno_text());
  fd_closer closer{fd};
  // Exactly 0600 whatever the umask removed; nothing is written before.
  caf::error err;
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0)
    err = make_error(errc::io_failure, "cannot chmod " + tmp + ": " + errno_text());
  if (!err)
    err = write_all(fd, secret + "\n", tmp);
  if (!err && ::fsync(fd) != 0)
    err = make_error(errc::io_failure, "cannot sync " + tmp + ": " + errno_text());
  if (!err && ::rename(tmp.c_str(), path.c_str()) != 0)
    err = make_error(errc::io_failure, "cannot rename " + tmp + " to " + path + ": "
                                         + errno_text());
  if (err)
    ::unlink(tmp.c_str());
  return err;
}

caf::expected<std::string> read_run_secret(const std::string& run_dir) {
  auto path = run_secret_path(run_dir);
  auto s = read_private_secret(path);
  if (!s && is(s.error(), errc::not_found))
    return make_error(errc::invalid_config,
                      "secret file " + path + " does not exist: the run's head writes it when "
                        "it starts, unless the config names the secret in cluster.security "
                        "(then pass that secret)");
  return s;
}

caf::expected<std::string> load_or_create_run_secret(const std::string& run_dir) {
  auto path = run_secret_path(run_dir);
  auto existing = read_private_secret(path);
  if (existing || !is(existing.error(), errc::not_found))
    return existing;
  auto fresh = generate_secret();
  if (!fresh)
    return fresh.error();
  if (auto err = write_private_secret(path, *fresh))
    return err;
  return fresh;
}

} // namespace tandem::transport
