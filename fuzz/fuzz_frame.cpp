// fuzz_frame: arbitrary bytes as one ZeroMQ message of the data plane through
// decode_frame (runtime/transport/frame.hpp), then the payload decoder of the
// frame's kind. The same bytes also go straight to every payload decoder, so
// they are fuzzed without the fuzzer having to forge the frame checksum, and
// what a decoder accepts must survive encode -> decode again (round trip);
// the input wrapped in a frame by encode_frame must decode as well.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "runtime/transport/frame.hpp"

namespace {

namespace tr = tandem::transport;

// Decodes with `decode`; what it accepts must encode and decode again.
template <class Decode, class Encode>
void round_trip(Decode decode, Encode encode, const char* p, size_t n) {
  auto x = decode(p, n);
  if (!x)
    return;
  auto again = encode(*x);
  if (!decode(again.data(), again.size()))
    std::abort(); // an accepted payload does not survive its own encoding
}

void decode_payload(tr::frame_kind kind, const char* p, size_t n) {
  switch (kind) {
    case tr::frame_kind::rollouts: round_trip(tr::decode_rollouts, tr::encode_rollouts, p, n); break;
    case tr::frame_kind::weights_chunk: round_trip(tr::decode_chunk, tr::encode_chunk, p, n); break;
    case tr::frame_kind::hello: round_trip(tr::decode_hello, tr::encode_hello, p, n); break;
    case tr::frame_kind::ack: round_trip(tr::decode_ack, tr::encode_ack, p, n); break;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const char*>(data);
  constexpr size_t max_bytes = size_t{1} << 20;
  if (auto f = tr::decode_frame(bytes, size, max_bytes))
    decode_payload(f->kind, f->payload.data(), f->payload.size());
  for (auto kind : {tr::frame_kind::rollouts, tr::frame_kind::weights_chunk,
                    tr::frame_kind::hello, tr::frame_kind::ack})
    decode_payload(kind, bytes, size);
  if (size > 0) {
    tr::frame wrapped;
    wrapped.kind = static_cast<tr::frame_kind>(1 + data[0] % 4);
    wrapped.sender = "fuzz";
    wrapped.seq = size;
    wrapped.payload.assign(bytes + 1, bytes + size);
    auto wire = tr::encode_frame(wrapped);
    auto back = tr::decode_frame(wire.data(), wire.size(), max_bytes + 64);
    if (!back || back->payload != wrapped.payload)
      std::abort(); // an honest frame does not decode to what was sent
  }
  return 0;
}
