// fuzz_weights_assembler: a fuzz-driven sequence of weight chunks fed to
// weights_assembler (runtime/weights_blob.hpp), the receiving end of every
// weight transfer. Each step is either an arbitrary chunk (header fields and
// bytes from the input), the chunks of a real weight set split by
// split_weights and delivered in a fuzz-chosen order with drops, duplicates
// and corruptions, or a recycle() of a spare buffer. Checked: a version is
// handed out only whole, with the bytes that were split, and versions only
// grow.
//
// Arbitrary total sizes are kept below 1 MiB (or just above the 4 GiB cap,
// which must be refused) so that an honest but huge announcement does not
// turn into the fuzzer's out-of-memory report.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "runtime/weights_blob.hpp"

namespace {

tandem::weights_chunk arbitrary_chunk(FuzzedDataProvider& in) {
  tandem::weights_chunk c;
  c.version = in.ConsumeIntegralInRange<int64_t>(-2, 6);
  c.index = in.ConsumeIntegral<uint32_t>();
  c.count = in.ConsumeBool() ? in.ConsumeIntegralInRange<uint32_t>(0, 8)
                             : in.ConsumeIntegral<uint32_t>();
  c.total_size = in.ConsumeBool() ? in.ConsumeIntegralInRange<uint64_t>(0, 64)
                                  : in.ConsumeIntegralInRange<uint64_t>(0, 1 << 20);
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0)
    c.total_size = tandem::weights_assembler::max_total_bytes + 1;
  c.checksum = in.ConsumeIntegral<uint64_t>();
  auto n = in.ConsumeIntegralInRange<size_t>(0, 64);
  c.bytes = in.ConsumeBytes<char>(n);
  return c;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  tandem::weights_assembler a;
  // version -> the weight sets split and sent under it; a version that also
  // got an arbitrary chunk may complete with other bytes and is not checked.
  std::map<int64_t, std::vector<std::vector<char>>> sent;
  std::set<int64_t> arbitrary;
  int64_t newest = -1;
  auto feed = [&](const tandem::weights_chunk& c) {
    auto got = a.add(c);
    if (!got || !*got)
      return;
    auto& done = **got;
    if (done.version <= newest)
      std::abort(); // a version handed out twice, or an older one after a newer
    newest = done.version;
    auto it = sent.find(done.version);
    if (!arbitrary.count(done.version) && it != sent.end()
        && std::find(it->second.begin(), it->second.end(), done.bytes) == it->second.end())
      std::abort(); // handed out bytes that differ from every set split
    if (in.ConsumeBool())
      a.recycle(std::move(done.bytes));
  };
  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: {
        auto c = arbitrary_chunk(in);
        arbitrary.insert(c.version);
        feed(c);
        break;
      }
      case 1: {
        const auto version = in.ConsumeIntegralInRange<int64_t>(0, 6);
        auto blob = in.ConsumeBytes<char>(in.ConsumeIntegralInRange<size_t>(0, 300));
        auto chunks = tandem::split_weights(version, blob,
                                            in.ConsumeIntegralInRange<size_t>(1, 64));
        sent[version].push_back(blob);
        const auto deliveries = in.ConsumeIntegralInRange<size_t>(0, 2 * chunks.size());
        for (size_t i = 0; i < deliveries; ++i) {
          auto c = chunks[in.ConsumeIntegralInRange<size_t>(0, chunks.size() - 1)];
          if (in.ConsumeIntegralInRange<int>(0, 7) == 0 && !c.bytes.empty())
            c.bytes[0] ^= 1; // corrupted in transit
          feed(c);
        }
        break;
      }
      default: a.recycle(std::vector<char>(in.ConsumeIntegralInRange<size_t>(0, 128))); break;
    }
  }
  return 0;
}
