// bench_broadcast.cpp: `tandem bench broadcast` (header: bench_broadcast.hpp):
// flags, the weight set's tensor sizes and bucket plan; the ranks and the
// method are in broadcast_ranks.hpp.
#include "bench/bench_broadcast.hpp"

#include <algorithm>
#include <iostream>

#include "bench/broadcast_ranks.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/bucket_plan.hpp"
#include "runtime/nccl/collective.hpp"
#include "runtime/nccl/weight_transfer.hpp"

namespace tandem {

namespace {

namespace tn = nccl;

command_line broadcast_flags() {
  command_line cl("tandem bench broadcast [flags]",
                  "tandem's NCCL weight broadcast (bucketed, pipelined) against a raw "
                  "ncclBroadcast of the same bytes on the same communicator (GPU builds)");
  cl.size("--bytes", "weight set size; K/M/G/T suffixes are powers of 1024", "8G")
    .integer("--gpus", "ranks, one GPU each (rank 0 on GPU 0 sends)", 2, 2, 1024)
    .integer("--bucket-mb", "bucket size in MiB",
             static_cast<int64_t>(tn::bucket_options{}.bucket_bytes >> 20), 1, 1 << 20)
    .integer("--versions", "timed versions (plus one untimed warm-up)", 5, 1, 100000)
    .integer("--depth", "buckets posted ahead (1: unpipelined)",
             static_cast<int64_t>(tn::transfer_options{}.depth), 1,
             static_cast<int64_t>(tn::collective::max_in_flight))
    .integer("--rank", "(internal) this process's rank; set by rank 0 for the ranks it spawns",
             0, 0, 1023)
    .text("--comm-id", "HEX", "(internal) the communicator id, with --rank");
  return cl;
}

caf::expected<broadcast_options> options_from(const command_line& cl) {
  broadcast_options o;
  o.bytes = static_cast<size_t>(cl.as_size("--bytes"));
  o.gpus = static_cast<int>(cl.as_int("--gpus"));
  o.bucket_mb = static_cast<size_t>(cl.as_int("--bucket-mb"));
  o.versions = static_cast<int>(cl.as_int("--versions"));
  o.depth = static_cast<size_t>(cl.as_int("--depth"));
  o.rank = static_cast<int>(cl.as_int("--rank"));
  o.comm_hex = cl.value("--comm-id");
  if (o.bytes == 0)
    return make_error(errc::invalid_argument, "--bytes must be > 0");
  if (o.rank >= o.gpus || (o.rank > 0) == o.comm_hex.empty())
    return make_error(errc::invalid_argument, "--rank and --comm-id go together (spawned ranks)");
  return o;
}

/// Tensor byte sizes shaped like an 8B-class transformer in bf16 (hidden
/// 4096, 8 KV heads of 128, MLP 14336, vocabulary 128256), in checkpoint
/// order, cut to exactly `total` bytes: the last tensor is truncated, and
/// layers repeat for as long as bytes are left.
std::vector<size_t> model_like_sizes(size_t total) {
  const size_t h = 4096, kv = 1024, ffn = 14336, vocab = 128256, bf16 = 2;
  const std::vector<size_t> layer{h,      h * h,   kv * h,  kv * h, h,      kv,
                                  kv,     h * h,   h,       ffn * h, ffn * h, h * ffn};
  std::vector<size_t> out;
  auto take = [&](size_t elements) {
    size_t n = std::min(elements * bf16, total);
    out.push_back(n);
    total -= n;
  };
  take(vocab * h); // embedding
  for (size_t i = 0; total > 0; i = (i + 1) % layer.size())
    take(layer[i]);
  return out;
}

} // namespace

int bench_broadcast_command(const std::vector<std::string>& a) {
  auto cl = broadcast_flags();
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  auto o = options_from(cl);
  if (!o) {
    std::cerr << "tandem bench broadcast: " << describe(o.error()) << "\n";
    return 2;
  }
  auto plan = nccl::plan_buckets(model_like_sizes(o->bytes), {o->bucket_mb << 20, 256});
  if (!plan) {
    std::cerr << "tandem bench broadcast: " << describe(plan.error()) << "\n";
    return 2;
  }
#if TANDEM_HAVE_NCCL
  return run_broadcast_rank(*o, std::move(*plan));
#else
  std::cerr << "tandem bench broadcast: this tandem was built without NCCL (tandem_nccl); "
               "configure with CUDA and NCCL found (-DTANDEM_WITH_NCCL=ON, see "
               "runtime/nccl/CMakeLists.txt) to run it\n";
  return 1;
#endif
}

} // namespace tandem
