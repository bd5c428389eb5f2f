#include "runtime/cpu_budget.hpp"

#include <chrono>

#include <dlfcn.h>

namespace tandem {

bool pin_blas_to_caller_threads() {
  using set_threads_fn = void (*)(int);
  auto fn = reinterpret_cast<set_threads_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (fn == nullptr)
    return false;
  fn(1);
  return true;
}

void configure_quiet_scheduler(caf::actor_system_config& cfg) {
  // CAF 0.17 defaults poll 100 times aggressively, then 500 times with 50 us
  // naps (25 ms of wake-ups) before sleeping. Control messages here arrive a
  // few hundred times a second at most; waking a sleeping worker costs far
  // less than the CPU the polling takes from the compute threads.
  cfg.set("work-stealing.aggressive-poll-attempts", size_t{10});
  cfg.set("work-stealing.moderate-poll-attempts", size_t{10});
  cfg.set("work-stealing.moderate-sleep-duration",
          caf::timespan{std::chrono::microseconds{200}});
}

} // namespace tandem
