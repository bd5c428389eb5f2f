// run_secret.hpp: the secret of a run whose config names none
// (cluster.security.secret_file / secret_env unset: loopback runs).
//
// Every run has a secret: the head of such a run generates one (32 random
// bytes from libsodium, hex-encoded) before it binds any port and writes it
// to RUN_DIR/secret with mode 0600, whatever the umask. Its workers,
// `tandem status --run-dir` and `tandem scale --run-dir` read it there; a
// resumed or restarted head reuses it. A secret file that group or others
// may read or write is refused, not used: the file is the run's only
// credential on this machine (CURVE keys of every ZeroMQ socket and the
// gate's MAC derive from it, see auth.hpp).
//
// Thread safety: stateless functions; the run directory's lock (held by
// `tandem run` / `tandem resume`) keeps two heads from creating the file at
// once.
#pragma once

#include <cstddef>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace tandem::transport {

/// Bytes of randomness in a generated secret (hex-encoded: twice as many
/// characters).
constexpr size_t generated_secret_bytes = 32;

/// RUN_DIR/secret.
std::string run_secret_path(const std::string& run_dir);

/// generated_secret_bytes random bytes (libsodium), hex-encoded.
caf::expected<std::string> generate_secret();

/// Reads a secret file that only its owner may read: errc::not_found when
/// it does not exist; errc::invalid_config, naming `path`, when it is not a
/// regular file (symbolic links are
/// not followed), readable or writable by group or others (mode & 077),
/// larger than max_secret_file_bytes or, after trailing whitespace is
/// stripped, shorter than min_secret_bytes. Errors never contain the secret.
caf::expected<std::string> read_private_secret(const std::string& path);

/// Writes `secret` and a newline to `path` atomically: a temporary file in
/// the same directory, created and then set to mode 0600 (so the umask does
/// not matter), synced, renamed over `path`.
caf::error write_private_secret(const std::string& path, const std::string& secret);

/// RUN_DIR/secret of a run that is running (workers, `status`, `scale`):
/// read_private_secret(), with a missing file errc::invalid_config naming it
/// and saying who writes it.
caf::expected<std::string> read_run_secret(const std::string& run_dir);

/// RUN_DIR/secret when it exists (read_private_secret), else a generated
/// secret written there first.
caf::expected<std::string> load_or_create_run_secret(const std::string& run_dir);

} // namespace tandem::transport
