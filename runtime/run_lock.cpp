#include "runtime/run_lock.hpp"

#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "runtime/error.hpp"
#include "runtime/file_system.hpp"

namespace tandem {

namespace {

// The pid the holder wrote, or "unknown" (it may not have written it yet).
std::string holder_pid(int fd) {
  char buf[32];
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string digits;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
    digits += buf[i];
  return digits.empty() ? "unknown" : digits;
}

int lock_now(int fd) {
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
      return 0;
    if (errno != EINTR)
      return errno;
  }
}

// Replaces the file's content with "PID\n"; 0 or the errno.
int write_pid(int fd) {
  const auto text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0)
    return errno;
  const ssize_t n = ::pwrite(fd, text.data(), text.size(), 0);
  if (n < 0)
    return errno;
  return static_cast<size_t>(n) == text.size() ? 0 : ENOSPC;
}

} // namespace

run_lock::run_lock(run_lock&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {
  other.path_.clear();
}

run_lock& run_lock::operator=(run_lock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

run_lock::~run_lock() {
  release();
}

void run_lock::release() {
  if (fd_ >= 0)
    ::close(fd_); // closing the last descriptor of the file releases the flock
  fd_ = -1;
  path_.clear();
}

caf::expected<run_lock> acquire_run_lock(const std::string& run_dir) {
  const auto path = join_path(run_dir, "run.lock");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return file_error("open", path, errno);
  run_lock lock(fd, path); // closes fd on every return below but the last
  if (const int err = lock_now(fd); err != 0) {
    if (err != EWOULDBLOCK)
      return file_error("lock", path, err);
    return make_error(errc::in_use, run_dir + " is in use by another tandem process (pid "
                                      + holder_pid(fd) + ")");
  }
  if (const int err = write_pid(fd); err != 0)
    return file_error("write", path, err);
  return lock;
}

} // namespace tandem
