#include "runtime/checkpoint.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>

#include "runtime/atomic_file.hpp"
#include "runtime/error.hpp"

namespace tandem {

namespace {

constexpr char magic[8] = {'T', 'N', 'D', 'M', 'W', 'T', 'S', '1'};

void put_u64(std::ostream& out, uint64_t x) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>((x >> (8 * i)) & 0xff);
  out.write(b, 8);
}

bool get_u64(std::ifstream& in, uint64_t& x) {
  unsigned char b[8];
  if (!in.read(reinterpret_cast<char*>(b), 8))
    return false;
  x = 0;
  for (int i = 0; i < 8; ++i)
    x |= uint64_t{b[i]} << (8 * i);
  return true;
}

} // namespace

caf::error write_checkpoint(const std::string& path, int64_t version,
                            const std::vector<char>& bytes) {
  return write_file_atomically(path, [&](std::ostream& out) {
    out.write(magic, sizeof(magic));
    put_u64(out, static_cast<uint64_t>(version));
    put_u64(out, bytes.size());
    put_u64(out, fnv1a64(bytes.data(), bytes.size()));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
}

caf::expected<weights_version> read_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(errc::io_failure, "cannot open " + path);
  char m[8];
  uint64_t version = 0, size = 0, sum = 0;
  if (!in.read(m, 8) || std::memcmp(m, magic, 8) != 0)
    return make_error(errc::malformed_message, path + ": not a tandem weight file");
  if (!get_u64(in, version) || !get_u64(in, size) || !get_u64(in, sum)
      || size > weights_assembler::max_total_bytes)
    return make_error(errc::malformed_message, path + ": bad header");
  weights_version w;
  w.version = static_cast<int64_t>(version);
  w.bytes.resize(size);
  if (!in.read(w.bytes.data(), static_cast<std::streamsize>(size)))
    return make_error(errc::malformed_message, path + ": truncated");
  if (fnv1a64(w.bytes.data(), w.bytes.size()) != sum)
    return make_error(errc::malformed_message, path + ": checksum mismatch");
  return w;
}

} // namespace tandem
