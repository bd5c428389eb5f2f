// bench_weights.cpp: see bench_weights.hpp.
//
// Measures, for a weight set of --mb MiB in 1 MiB chunks, the median of
// --repeats runs of: the whole-blob checksum (byte-wise FNV-1a, which the byte
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

#include "runtime/checksum.hpp"
#include "runtime/weights_blob.hpp"

namespace tandem {

namespace {

double median_ms(int repeats, const std::function<void()>& f) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
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

void row(const char* what, double before, double after) {
  std::printf("  %-28s %9.1f ms %9.1f ms   %5.1fx\n", what, before, after, before / after);
}

} // namespace

int bench_weights_command(const args& a) {
  size_t mb = 100;
  int repeats = 5;
  try {
    mb = std::stoul(flag_value(a, "--mb", "100"));
    repeats = std::stoi(flag_value(a, "--repeats", "5"));
  } catch (const std::exception&) {
    std::cerr << "usage: tandem bench weights [--mb 100] [--repeats 5]\n";
    return 2;
  }
  if (mb < 1 || mb > 4096 || repeats < 1) {
    std::cerr << "bench weights: --mb in [1, 4096], --repeats >= 1\n";
    return 2;
  }
  std::vector<char> blob(mb << 20);
  for (size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<char>(i * 2654435761u >> 13);
  volatile uint64_t sink = 0;
  auto fnv = median_ms(repeats, [&] { sink = sink + fnv1a64(blob.data(), blob.size()); });
  auto fast = median_ms(repeats, [&] { sink = sink + fast_checksum64(blob.data(), blob.size()); });
  std::vector<weights_chunk> chunks;
  auto split = median_ms(repeats, [&] { chunks = split_weights(1, blob, default_chunk_bytes); });
  int64_t v = 1;
  weights_assembler fresh, reused;
  auto once = [&](weights_assembler& as, bool recycle) {
    for (auto& c : chunks)
      c.version = v;
    ++v;
    assemble(as, chunks, recycle);
  };
  once(reused, true); // the first version has nothing to recycle yet
  auto fresh_ms = median_ms(repeats, [&] { once(fresh, false); });
  auto reused_ms = median_ms(repeats, [&] { once(reused, true); });
  std::printf("bench weights: %zu MiB in %zu chunks, median of %d\n", mb, chunks.size(), repeats);
  std::printf("  %-28s %12s %12s   %s\n", "", "before", "now", "ratio");
  row("checksum (FNV-1a -> fast64)", fnv, fast);
  row("reassembly (fresh -> reused)", fresh_ms, reused_ms);
  std::printf("  %-28s %9.1f ms (includes fast64 of the whole)\n", "split_weights", split);
  // Printing the checksums keeps the compiler from dropping their loops.
  std::printf("  (checksum sink %016llx)\n", static_cast<unsigned long long>(sink));
  return 0;
}

} // namespace tandem
