// nccl_broadcast_gpu_test.cpp: the real nccl_collective on two GPUs, two
// processes. Not a GoogleTest: it spawns its second rank as a child process.
//
// The parent is rank 0 on GPU 0 (the learner); each child is this binary
// re-executed (posix_spawn of /proc/self/exe with a role argument, so no CUDA
// context ever crosses a fork) as rank 1 on GPU 1. The comm_id travels in
// argv as hex, standing in for the CAF message. Phases:
//   A  bandwidth + content: 1 GiB weight set (mixed tensor sizes, default
//      512 MiB buckets, one flat buffer) sent as 7 pipelined versions;
//      versions 2-6 timed, version 7 verified byte for byte on the child.
//      Then plain ncclBroadcast loops (whole buffer; bucket-sized ops) on the
//      same communicator (runtime/nccl/raw_broadcast.hpp), for the ratio of
//      our bucketed path to raw NCCL.
//   B  dead peer: epoch 1 with a child that receives bucket 1 unpipelined
//      (depth 1) and SIGKILLs itself before posting bucket 2, so bucket 2 is
//      the one that can never complete. The parent (pipelined: every bucket
//      already posted) must fail with a typed error naming bucket 2 within
//      that bucket's budget plus slack; it then opens epoch 2 (epoch_planner)
//      with a fresh child and a broadcast must succeed.
//   C  init deadline: rank 0 of 2 with no peer must time out on time.
// Exit: 0 all passed, 1 a check failed, 77 fewer than 2 GPUs (ctest: skip).
// NCCL_NVLS_ENABLE=0 is set before any NCCL call unless already set.
// A watchdog (alarm) turns any hang into a message and exit 1.
// One file of ~450 lines on purpose: both roles of one program, run by hand.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "runtime/error.hpp"
#include "runtime/nccl/device_buffer.hpp"
#include "runtime/nccl/epoch_planner.hpp"
#include "runtime/nccl/nccl_collective.hpp"
#include "runtime/nccl/poll.hpp"
#include "runtime/nccl/raw_broadcast.hpp"
#include "runtime/nccl/weight_transfer.hpp"
#include "runtime/process_launcher.hpp"

namespace tn = tandem::nccl;
using namespace std::chrono_literals;
using seconds_d = std::chrono::duration<double>;

namespace {

// -- shared setup ---------------------------------------------------------------

constexpr int timed_versions = 5;
constexpr int raw_iterations = 5;
const char* phase = "start"; // for the watchdog message
int failures = 0;
std::string role = "[rank0]";

void check(bool ok, const std::string& what) {
  std::printf("%s %s: %s\n", role.c_str(), ok ? "ok  " : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok)
    ++failures;
}

std::string error_text(const caf::error& err) {
  return err ? ": " + tandem::describe(err) : "";
}

/// check() for a call that may fail: passes when `err` is none.
bool ok(const caf::error& err, const std::string& what) {
  check(!err, what + error_text(err));
  return !err;
}

void on_alarm(int) {
  const char head[] = "\nWATCHDOG: nccl_broadcast_gpu_test hung in phase ";
  (void) !write(2, head, sizeof(head) - 1);
  (void) !write(2, phase, std::strlen(phase));
  (void) !write(2, "\n", 1);
  _exit(1);
}

/// ~1 GiB in a realistic mix: one tensor of 300 MiB (larger than a bucket
/// when buckets are set smaller), many mid-size, a few small and odd-sized
/// ones (alignment padding).
std::vector<size_t> tensor_sizes() {
  std::vector<size_t> s{size_t{300} << 20};
  for (int i = 0; i < 60; ++i)
    s.push_back(size_t{12} << 20);
  for (size_t odd : {size_t{1} << 20, size_t{4093}, size_t{(1u << 20) - 12345}, size_t{3}})
    s.push_back(odd);
  return s;
}

tn::bucket_plan make_plan() {
  return *tn::plan_buckets(tensor_sizes(), {});
}

tn::transfer_options test_options(size_t depth = tn::transfer_options{}.depth) {
  tn::transfer_options o;
  o.timeouts.bucket_base = 3s;
  o.timeouts.first_bucket_grace = 20s; // a child's CUDA start-up can take seconds
  o.depth = depth;
  return o;
}

/// A device buffer of `bytes` on the current device; exits on failure (the
/// check cannot go on without it).
tn::device_buffer allocate(size_t bytes) {
  auto buf = tn::device_buffer::make(bytes);
  if (!buf) {
    check(false, "allocate" + error_text(buf.error()));
    std::exit(1);
  }
  return std::move(*buf);
}

// -- processes --------------------------------------------------------------------

/// This binary again (posix_spawn, never fork after CUDA init) as a child rank.
std::unique_ptr<tandem::child_process> spawn_child(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/proc/self/exe", "--child"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = tandem::os_process_launcher{}.launch(argv);
  if (!child) {
    check(false, "spawn of the child rank" + error_text(child.error()));
    return nullptr;
  }
  return std::move(*child);
}

/// Waits up to `limit` for the child; stops it after that. Its exit code
/// (128 + signal when a signal ended it).
int reap(tandem::child_process& child, std::chrono::seconds limit) {
  if (!tandem::wait_exit(child, limit)) {
    check(false, "child " + std::to_string(child.pid()) + " still running; stopped");
    child.stop(2s);
  }
  return child.exit_code();
}

// -- child ------------------------------------------------------------------------

/// Kills this process when bucket `die_before` is about to be posted.
class dying_memory final : public tn::bucket_memory {
public:
  dying_memory(tn::bucket_memory& inner, size_t die_before)
    : inner_(inner), die_before_(die_before) {}
  std::vector<tn::device_span> spans(const tn::bucket_plan& plan, size_t i) override {
    if (i == die_before_) {
      std::printf("%s received %zu bucket(s); raising SIGKILL\n", role.c_str(), i);
      std::fflush(stdout);
      raise(SIGKILL);
    }
    return inner_.spans(plan, i);
  }

private:
  tn::bucket_memory& inner_;
  size_t die_before_;
};

/// Both ranks of phase A run the raw loops the same way.
bool raw_loops(tn::nccl_collective& comm, const tn::bucket_plan& plan,
               const tn::device_buffer& buf, tn::duration* whole, tn::duration* split) {
  tn::steady_clock_source clock;
  auto a = tn::raw_broadcast(comm, buf.data(), plan.flat_bytes, 1, raw_iterations,
                             clock.now() + 60s);
  if (!ok(a ? caf::error{} : a.error(), "raw loop, whole buffer"))
    return false;
  auto b = tn::raw_broadcast(comm, buf.data(), plan.flat_bytes, plan.buckets.size(),
                             raw_iterations, clock.now() + 60s);
  if (!ok(b ? caf::error{} : b.error(), "raw loop, bucket-sized ops"))
    return false;
  *whole = *a;
  *split = *b;
  return true;
}

// argv: --child <mode: full|once|die> <hex id> <epoch> <first version> [die_before]
// "die" receives unpipelined (depth 1): it dies only once bucket die_before-1
// completed, so the parent's failing bucket is die_before, deterministically.
int child_main(int argc, char** argv) {
  role = "[rank1]";
  if (cudaSetDevice(1) != cudaSuccess) {
    check(false, "cudaSetDevice(1)");
    return 1;
  }
  std::string mode = argv[2];
  auto id = tn::from_hex(argv[3]);
  uint64_t epoch = std::stoull(argv[4]);
  int64_t first = std::stoll(argv[5]);
  if (!id)
    return 2;
  tn::steady_clock_source clock;
  tn::nccl_collective comm{clock, {1}};
  if (!ok(comm.init(1, 2, *id, clock.now() + 60s), "init"))
    return 1;
  auto plan = make_plan();
  auto buf = allocate(plan.flat_bytes);
  if (!ok(tn::clear(buf), "clear") || !ok(tn::barrier(comm, clock.now() + 60s), "barrier"))
    return 1;
  tn::packed_memory packed{buf.data()};
  bool die = mode == "die";
  dying_memory dying{packed, die ? std::stoul(argv[6]) : SIZE_MAX};
  tn::version_intake intake;
  int versions = mode == "full" ? 2 + timed_versions : 1;
  for (int v = 0; v < versions; ++v) {
    auto h = tn::make_header(first + v, epoch, plan);
    auto got = tn::receive_version(comm, clock, h, plan, dying, intake, true,
                                   test_options(die ? 1 : tn::transfer_options{}.depth));
    if (!ok(got ? caf::error{} : got.error(), "receive version " + std::to_string(first + v)))
      return 1;
  }
  check(intake.installed_version() == first + versions - 1, "installed the last version");
  ok(tn::check_pattern(plan, buf, first + versions - 1), "content of the last version");
  tn::duration whole{}, split{};
  if (mode == "full")
    raw_loops(comm, plan, buf, &whole, &split);
  comm.close(clock.now() + 10s);
  return failures == 0 ? 0 : 1;
}

// -- parent: rank 0 on GPU 0 -----------------------------------------------------

struct rank0 {
  tn::steady_clock_source clock;
  tn::nccl_collective comm{clock, {0}};
  tn::bucket_plan plan = make_plan();
  tn::device_buffer buf = allocate(plan.flat_bytes);
  tn::packed_memory packed{buf.data()};

  size_t moved_per_version() const { // bucket extents: what the wire carries
    size_t n = 0;
    for (auto& b : plan.buckets)
      n += b.bytes;
    return n;
  }
  double since(tn::time_point t) const { return seconds_d(clock.now() - t).count(); }
};

double gbps(size_t bytes, int times, tn::duration d) {
  return tn::bytes_per_s(bytes, times, d) / 1e9;
}

bool send_timed_versions(rank0& r, tn::duration& timed) {
  for (int v = 1; v <= 2 + timed_versions; ++v) {
    if (v == 2 + timed_versions && !ok(tn::fill_pattern(r.buf, v), "fill version " + std::to_string(v)))
      return false;
    auto h = tn::make_header(v, 1, r.plan);
    auto sent = tn::send_version(r.comm, r.clock, h, r.plan, r.packed, test_options());
    if (!ok(sent ? caf::error{} : sent.error(), "A: send version " + std::to_string(v)))
      return false;
    if (v >= 2 && v < 2 + timed_versions)
      timed += sent->elapsed;
  }
  return true;
}

void report_raw(rank0& r, double ours) {
  tn::duration whole{}, split{};
  if (!raw_loops(r.comm, r.plan, r.buf, &whole, &split))
    return;
  double raw_whole = gbps(r.plan.flat_bytes, raw_iterations, whole);
  double raw_split = gbps(r.plan.flat_bytes, raw_iterations, split);
  std::printf("[rank0] A: raw ncclBroadcast, one %zu-byte op:        %7.1f GB/s\n",
              r.plan.flat_bytes, raw_whole);
  std::printf("[rank0] A: raw ncclBroadcast, %zu bucket-sized ops:   %7.1f GB/s\n",
              r.plan.buckets.size(), raw_split);
  std::printf("[rank0] A: RATIO bucketed send_version / raw one-op = %.3f"
              " (/ raw bucket-sized ops = %.3f)\n", ours / raw_whole, ours / raw_split);
}

void phase_a(rank0& r) {
  phase = "A (bandwidth and content)";
  auto id = r.comm.make_id();
  if (!ok(id ? caf::error{} : id.error(), "A: make_id"))
    return;
  auto child = spawn_child({"full", tn::to_hex(*id), "1", "1"});
  if (!child)
    return;
  bool up = ok(r.comm.init(0, 2, *id, r.clock.now() + 60s), "A: init epoch 1 (2 ranks)")
            && ok(tn::barrier(r.comm, r.clock.now() + 60s), "A: barrier");
  tn::duration timed{};
  if (up && ok(tn::fill_pattern(r.buf, 1), "A: fill version 1") && send_timed_versions(r, timed)) {
    double ours = gbps(r.moved_per_version(), timed_versions, timed);
    std::printf("[rank0] A: send_version, %zu buckets (<= %zu MiB, depth %zu), %.3f GiB:"
                " %7.1f GB/s (mean of %d versions)\n", r.plan.buckets.size(),
                r.plan.options.bucket_bytes >> 20, test_options().depth,
                r.plan.total_bytes / double(1u << 30), ours, timed_versions);
    report_raw(r, ours);
  }
  r.comm.close(r.clock.now() + 10s);
  check(reap(*child, 60s) == 0, "A: child received 7 versions, verified the last, exited 0");
}

/// Epoch `step` with one freshly spawned child `name`.
std::unique_ptr<tandem::child_process> open_epoch(rank0& r, tn::epoch_planner& planner,
                                                  const std::string& name,
                                                  const std::vector<std::string>& child_args) {
  auto step = planner.at_boundary();
  check(step.kind == tn::boundary_step::form,
        "B: boundary opens epoch " + std::to_string(step.epoch));
  auto id = r.comm.make_id();
  if (!id)
    return nullptr;
  planner.accept(name, step.epoch); // the spawned child stands for an accepting member
  auto roster = planner.seal(step.epoch, *id);
  if (!roster)
    return nullptr;
  std::vector<std::string> args{child_args[0], tn::to_hex(*id), std::to_string(step.epoch)};
  args.insert(args.end(), child_args.begin() + 1, child_args.end());
  auto child = spawn_child(args);
  if (!child)
    return nullptr;
  auto e = std::to_string(step.epoch);
  if (ok(r.comm.init(0, roster->nranks(), roster->id, r.clock.now() + 60s), "B: init epoch " + e)
      && ok(tn::barrier(r.comm, r.clock.now() + 60s), "B: barrier of epoch " + e))
    planner.ready(step.epoch);
  return child;
}

/// The child dies before posting bucket index 1 (1-based: bucket 2).
constexpr size_t child_dies_before = 1;

void check_dead_peer_error(rank0& r, const caf::error& err, double took) {
  using tandem::errc;
  bool typed = tandem::is(err, errc::collective_timeout) || tandem::is(err, errc::peer_down)
               || tandem::is(err, errc::backend_failure);
  check(err && typed, "B: send to the killed child fails with a typed error" + error_text(err));
  auto name = "bucket " + std::to_string(child_dies_before + 1) + "/"
              + std::to_string(r.plan.buckets.size());
  check(tandem::describe(err).find(name) != std::string::npos, "B: the error names " + name);
  auto budget = seconds_d(tn::bucket_budget(r.plan, child_dies_before, test_options().timeouts)).count();
  double slack = 3.0; // bucket 1's transfer, abort + drain, scheduling
  char line[256];
  std::snprintf(line, sizeof line,
                "B: failing %s returned after %.2f s (budget %.2f s + slack %.1f s)",
                name.c_str(), took, budget, slack);
  check(took < budget + slack, line);
  check(r.comm.stream_drained(), "B: stream drained after the abort");
  check(!r.comm.ready(), "B: communicator closed after the error");
}

void phase_b(rank0& r) {
  phase = "B (dead peer, rebuild)";
  tn::epoch_planner planner{"learner"};
  planner.join("child-1");
  auto first = open_epoch(r, planner, "child-1", {"die", "1", std::to_string(child_dies_before)});
  if (!first || !r.comm.ready() || !ok(tn::fill_pattern(r.buf, 1), "B: fill version 1"))
    return;
  auto start = r.clock.now();
  auto sent = tn::send_version(r.comm, r.clock, tn::make_header(1, 1, r.plan), r.plan, r.packed,
                               test_options());
  double took = r.since(start);
  check_dead_peer_error(r, sent ? caf::error{} : sent.error(), took);
  if (!sent)
    planner.failed(planner.roster().epoch, sent.error());
  std::printf("[rank0] B: planner.last_failure(): %s\n",
              tandem::describe(planner.last_failure()).c_str());
  check(reap(*first, 30s) == 128 + SIGKILL, "B: child 1 died of SIGKILL");
  planner.lost("child-1");
  planner.join("child-2");
  auto second = open_epoch(r, planner, "child-2", {"once", "2"});
  if (!second)
    return;
  check(planner.roster().ranks == std::vector<std::string>{"learner", "child-2"},
        "B: epoch 2 holds the learner and child-2 only");
  if (r.comm.ready() && ok(tn::fill_pattern(r.buf, 2), "B: fill version 2")) {
    auto again = tn::send_version(r.comm, r.clock, tn::make_header(2, 2, r.plan), r.plan,
                                  r.packed, test_options());
    ok(again ? caf::error{} : again.error(), "B: version 2 over the rebuilt epoch 2");
  }
  r.comm.close(r.clock.now() + 10s);
  check(reap(*second, 60s) == 0, "B: child 2 verified version 2 and exited 0");
}

void phase_c(rank0& r) {
  phase = "C (init deadline)";
  auto id = r.comm.make_id();
  if (!id)
    return;
  auto start = r.clock.now();
  auto err = r.comm.init(0, 2, *id, start + 5s); // rank 1 never comes
  double took = r.since(start);
  check(tandem::is(err, tandem::errc::collective_timeout),
        "C: init without a peer times out" + error_text(err));
  char line[128];
  std::snprintf(line, sizeof line, "C: init gave up after %.2f s (deadline 5 s, slack 3 s)", took);
  check(took >= 4.9 && took < 8.0, line);
}

void print_setup(int gpus) {
  int nccl = 0;
  ncclGetVersion(&nccl);
  std::printf("[rank0] NCCL %d (header %d), %d GPUs, NCCL_NVLS_ENABLE=%s\n", nccl,
              NCCL_VERSION_CODE, gpus, std::getenv("NCCL_NVLS_ENABLE"));
  for (int d = 0; d < 2; ++d) {
    cudaDeviceProp p{};
    cudaGetDeviceProperties(&p, d);
    std::printf("[rank0] GPU %d: %s\n", d, p.name);
  }
}

} // namespace

int main(int argc, char** argv) {
  setenv("NCCL_NVLS_ENABLE", "0", 0); // NVLink multicast stays off (before any NCCL call)
  signal(SIGALRM, on_alarm);
  if (argc >= 6 && std::string{argv[1]} == "--child") {
    alarm(240);
    return child_main(argc, argv);
  }
  alarm(280); // below ctest's TIMEOUT 300, so a hang names its phase
  int gpus = 0;
  auto e = cudaGetDeviceCount(&gpus);
  if (e != cudaSuccess || gpus < 2) {
    std::printf("SKIP: nccl_broadcast_gpu_test needs 2 GPUs; found %d (%s)\n",
                e == cudaSuccess ? gpus : 0, cudaGetErrorString(e));
    return 77;
  }
  print_setup(gpus);
  if (cudaSetDevice(0) != cudaSuccess) {
    check(false, "cudaSetDevice(0)");
    return 1;
  }
  {
    rank0 r;
    phase_a(r);
    phase_b(r);
    phase_c(r);
  }
  std::printf("NCCL GPU CHECK: %s (%d failed check%s)\n", failures ? "FAIL" : "PASS",
              failures, failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}
