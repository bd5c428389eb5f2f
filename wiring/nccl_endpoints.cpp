// nccl_endpoints.cpp: builds the NCCL publisher and receivers (see header).
#include "wiring/nccl_endpoints.hpp"

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "models/device_name.hpp"
#include "runtime/error.hpp"
#include "runtime/nccl/clock_source.hpp"

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

} // namespace

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
