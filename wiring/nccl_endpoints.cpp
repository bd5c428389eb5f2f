// nccl_endpoints.cpp: builds the NCCL publisher and receivers (see header).
#include "wiring/nccl_endpoints.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "models/device_name.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/clock_source.hpp"
#include "runtime/nccl/comm_id.hpp"
#include "runtime/nccl/lazy_collective.hpp"
#include "runtime/nccl/thread_group_collective.hpp"

#ifdef TANDEM_HAVE_NCCL
#include "runtime/nccl/nccl_collective.hpp"
#endif

namespace tandem {

namespace {

/// Stateless and thread-safe, so one instance serves every collective.
nccl::clock_source& steady_clock() {
  static nccl::steady_clock_source clock;
  return clock;
}

caf::expected<int> gpu_of(const std::string& device, const char* field) {
  if (auto index = cuda_index(device))
    return *index;
  return make_error(errc::invalid_config,
                    std::string(field) + ": transports.weights nccl needs a GPU (got '"
                      + device + "')");
}

caf::expected<std::unique_ptr<nccl::collective>> make_collective(int device) {
#ifdef TANDEM_HAVE_NCCL
  nccl::nccl_options o;
  o.device = device;
  return std::unique_ptr<nccl::collective>{new nccl::nccl_collective(steady_clock(), o)};
#else
  (void) device;
  return make_error(errc::invalid_config,
                    "transports.weights nccl: this build has no NCCL (configure with "
                    "-DTANDEM_WITH_NCCL=ON, e.g. scripts/gpu-build.sh)");
#endif
}

/// TANDEM_FAULT_NCCL_DIE=V:B -> a hook that kills this process before
/// bucket B of version V.
nccl::weight_receiver::bucket_hook fault_hook() {
  const char* spec = std::getenv("TANDEM_FAULT_NCCL_DIE");
  if (spec == nullptr)
    return {};
  long long v = -1, b = -1;
  if (std::sscanf(spec, "%lld:%lld", &v, &b) != 2)
    return {};
  std::cerr << "[fault] this process dies before bucket " << b << " of version " << v << "\n";
  return [v, b](int64_t version, size_t index) {
    if (version == v && static_cast<long long>(index) == b) {
      std::cerr << "[fault] SIGKILL mid-broadcast: version " << v << ", bucket " << b
                << std::endl;
      std::raise(SIGKILL);
    }
  };
}

using collectives = std::vector<std::shared_ptr<nccl::reduce_collective>>;

#ifdef TANDEM_HAVE_NCCL
/// NCCL init of every rank at once (each on its own thread: init returns
/// only when all ranks joined, bounded by `until`); the first error by rank.
caf::error init_ranks(const std::vector<std::shared_ptr<nccl::nccl_collective>>& comms,
                      const nccl::comm_id& id, nccl::time_point until) {
  const int n = static_cast<int>(comms.size());
  std::vector<caf::error> errors(comms.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] { errors[r] = comms[r]->init(r, n, id, until); });
  for (auto& t : threads)
    t.join(); // each init returns by `until` (non-blocking communicator)
  for (int r = 0; r < n; ++r)
    if (errors[r])
      return make_error(is(errors[r], errc::collective_timeout) ? errc::collective_timeout
                                                                 : errc::backend_failure,
                        "learner rank " + std::to_string(r) + ": NCCL init: "
                          + describe(errors[r]));
  return caf::none;
}
#endif

caf::expected<collectives> make_gpu_collectives(const std::vector<int>& gpus,
                                                nccl::time_point until) {
#ifdef TANDEM_HAVE_NCCL
  std::vector<std::shared_ptr<nccl::nccl_collective>> comms;
  for (int gpu : gpus) {
    nccl::nccl_options o;
    o.device = gpu;
    // Gradients are written by LibTorch on the legacy default stream: order
    // each reduction after that work on the device, no host sync.
    o.after_legacy_stream = true;
    comms.push_back(std::make_shared<nccl::nccl_collective>(steady_clock(), o));
  }
  auto id = comms.front()->make_id();
  if (!id)
    return id.error();
  if (auto err = init_ranks(comms, *id, until))
    return err;
  return collectives(comms.begin(), comms.end());
#else
  (void) gpus;
  (void) until;
  return make_error(errc::invalid_config,
                    "learner.ranks on CUDA: this build has no NCCL (configure with "
                    "-DTANDEM_WITH_NCCL=ON, e.g. scripts/gpu-build.sh)");
#endif
}

} // namespace

caf::expected<collectives> make_learner_collectives(const std::vector<std::string>& devices,
                                                    nccl::time_point until) {
  const int n = static_cast<int>(devices.size());
  if (std::all_of(devices.begin(), devices.end(), [](auto& d) { return d == "cpu"; })) {
    auto group = std::make_shared<nccl::thread_group>(n);
    collectives out;
    for (int r = 0; r < n; ++r)
      out.push_back(nccl::thread_group::share(group, r));
    return out;
  }
  std::vector<int> gpus;
  for (int r = 0; r < n; ++r) {
    auto index = cuda_index(devices[static_cast<size_t>(r)]);
    if (!index)
      return make_error(errc::invalid_config,
                        "learner rank " + std::to_string(r) + " is on '" + devices[r]
                          + "': a learner's ranks are all on the CPU or each on a GPU");
    if (std::find(gpus.begin(), gpus.end(), *index) != gpus.end())
      return make_error(errc::invalid_config,
                        "learner ranks " + std::to_string(std::find(gpus.begin(), gpus.end(),
                                                                    *index) - gpus.begin())
                          + " and " + std::to_string(r) + " are both on GPU "
                          + std::to_string(*index) + ": each rank needs a GPU of its own");
    gpus.push_back(*index);
  }
  return make_gpu_collectives(gpus, until);
}

caf::expected<std::vector<uint8_t>> make_learner_nccl_id(const std::string& device) {
  auto gpu = cuda_index(device);
  if (!gpu)
    return make_error(errc::invalid_config,
                      "learner rank 0 is on '" + device + "': NCCL needs a GPU");
#ifdef TANDEM_HAVE_NCCL
  nccl::nccl_options o;
  o.device = *gpu;
  nccl::nccl_collective maker(steady_clock(), o);
  auto id = maker.make_id();
  if (!id)
    return id.error();
  return nccl::to_bytes(*id);
#else
  return make_error(errc::invalid_config,
                    "learner.ranks on CUDA: this build has no NCCL (configure with "
                    "-DTANDEM_WITH_NCCL=ON, e.g. scripts/gpu-build.sh)");
#endif
}

caf::expected<std::shared_ptr<nccl::reduce_collective>>
make_spread_gpu_collective(int rank, int ranks, const std::string& device,
                           const std::vector<uint8_t>& id_bytes) {
  auto gpu = cuda_index(device);
  if (!gpu)
    return make_error(errc::invalid_config, "learner rank " + std::to_string(rank) + " is on '"
                                              + device + "': NCCL needs a GPU");
  auto id = nccl::from_bytes(id_bytes);
  if (!id)
    return id.error();
#ifdef TANDEM_HAVE_NCCL
  auto make = [rank, ranks, index = *gpu,
               comm = *id](nccl::time_point until)
    -> caf::expected<std::shared_ptr<nccl::reduce_collective>> {
    nccl::nccl_options o;
    o.device = index;
    // As make_gpu_collectives: gradients come from LibTorch's legacy stream.
    o.after_legacy_stream = true;
    auto c = std::make_shared<nccl::nccl_collective>(steady_clock(), o);
    if (auto err = c->init(rank, ranks, comm, until))
      return make_error(is(err, errc::collective_timeout) ? errc::collective_timeout
                                                          : errc::backend_failure,
                        "learner rank " + std::to_string(rank) + ": NCCL init: "
                          + describe(err));
    return std::shared_ptr<nccl::reduce_collective>(std::move(c));
  };
  return std::shared_ptr<nccl::reduce_collective>(std::make_shared<nccl::lazy_collective>(
    nccl::lazy_collective::shape{rank, ranks, true, true}, std::move(make)));
#else
  (void) ranks;
  return make_error(errc::invalid_config,
                    "learner.ranks on CUDA: this build has no NCCL (configure with "
                    "-DTANDEM_WITH_NCCL=ON, e.g. scripts/gpu-build.sh)");
#endif
}

caf::expected<learner_nccl> make_learner_nccl(const run_config& cfg, const run_plan& plan) {
  learner_nccl out;
  if (!plan.weights_over_nccl())
    return out;
  auto dev = gpu_of(plan.head().learner.device, "learner.device");
  if (!dev)
    return dev.error();
  auto comm = make_collective(*dev);
  if (!comm)
    return comm.error();
  auto bucket = static_cast<size_t>(cfg.learner.nccl_bucket_mb) << 20;
  out.publisher = std::make_shared<nccl::weight_publisher>("learner", std::move(*comm),
                                                           steady_clock(), bucket);
  return out;
}

caf::expected<std::shared_ptr<nccl::weight_receiver>>
make_sampler_nccl(const run_plan& plan, const std::string& device) {
  if (!plan.weights_over_nccl())
    return std::shared_ptr<nccl::weight_receiver>{};
  auto dev = gpu_of(device, "sampler.device");
  if (!dev)
    return dev.error();
  auto comm = make_collective(*dev);
  if (!comm)
    return comm.error();
  return std::make_shared<nccl::weight_receiver>(std::move(*comm), steady_clock(),
                                                 nccl::endpoint_options{}, fault_hook());
}

} // namespace tandem
