// bench_weights.cpp: see bench_weights.hpp.
//
// Measures, for a weight set of --mb MiB in 1 MiB chunks, the median and
// range of --repeats runs of: the whole-blob checksum (byte-wise FNV-1a, which the byte
// path used before, against fast_checksum64), split_weights, and reassembly
// with a fresh buffer per version against a recycled one (what a sampler does
// now). These sit on the critical path of every weight switch of a sampler
// fed over CAF or ZeroMQ.
#include "bench/bench_weights.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>

#include "bench/sample_stats.hpp"
#include "runtime/checksum.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem {

namespace {

spread time_ms(int64_t repeats, const std::function<void()>& f) {
  std::vector<double> t;
  for (int64_t i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto elapsed = std::chrono::steady_clock::now() - t0;
    t.push_back(std::chrono::duration<double, std::milli>(elapsed).count());
  }
  return summarize(std::move(t));
}

/// Reassembles `chunks`, handing the finished bytes back when `recycle`.
void assemble(weights_assembler& a, const std::vector<weights_chunk>& chunks, bool recycle) {
  uint64_t bad = 0;
  std::optional<weights_version> got;
  for (auto& c : chunks)
    if (auto r = accept_chunk(a, c, "bench", bad))
      got = std::move(r);
  if (recycle && got)
    a.recycle(std::move(got->bytes));
}

void row(const char* what, const spread& before, const spread& after) {
  std::printf("  %-28s %24s %24s   %5.1fx\n", what, format_spread(before, 1).c_str(),
              format_spread(after, 1).c_str(), before.median / after.median);
}

} // namespace

int bench_weights_command(const std::vector<std::string>& a) {
  command_line cl("tandem bench weights [flags]",
                  "CPU cost of one weight version on the byte path: checksum, split into "
                  "chunks, reassembly (old and new variants side by side)");
  cl.integer("--mb", "size of the weight set in MiB", 100, 1, 4096)
    .integer("--repeats", "timed runs of each operation (median and range printed)", 5, 1, 1000);
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto mb = static_cast<size_t>(cl.as_int("--mb"));
  auto repeats = cl.as_int("--repeats");
  std::vector<char> blob(mb << 20);
  for (size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<char>(i * 2654435761u >> 13);
  volatile uint64_t sink = 0;
  auto fnv = time_ms(repeats, [&] { sink = sink + fnv1a64(blob.data(), blob.size()); });
  auto fast = time_ms(repeats, [&] { sink = sink + fast_checksum64(blob.data(), blob.size()); });
  std::vector<weights_chunk> chunks;
  auto split = time_ms(repeats, [&] { chunks = split_weights(1, blob, default_chunk_bytes); });
  int64_t v = 1;
  weights_assembler fresh, reused;
  auto once = [&](weights_assembler& as, bool recycle) {
    for (auto& c : chunks)
      c.version = v;
    ++v;
    assemble(as, chunks, recycle);
  };
  once(reused, true); // the first version has nothing to recycle yet
  auto fresh_ms = time_ms(repeats, [&] { once(fresh, false); });
  auto reused_ms = time_ms(repeats, [&] { once(reused, true); });
  std::printf("bench weights: %zu MiB in %zu chunks, ms as median [min..max] of %lld runs\n", mb,
              chunks.size(), static_cast<long long>(repeats));
  std::printf("  %-28s %24s %24s   %s\n", "", "before", "now", "ratio of medians");
  row("checksum (FNV-1a -> fast64)", fnv, fast);
  row("reassembly (fresh -> reused)", fresh_ms, reused_ms);
  std::printf("  %-28s %24s (includes fast64 of the whole)\n", "split_weights",
              format_spread(split, 1).c_str());
  // Printing the checksums keeps the compiler from dropping their loops.
  std::printf("  (checksum sink %016llx)\n", static_cast<unsigned long long>(sink));
  return 0;
}

} // namespace tandem
