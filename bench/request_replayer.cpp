// request_replayer.cpp: see request_replayer.hpp.
#include "bench/request_replayer.hpp"

#include <chrono>

#include <caf/all.hpp>

namespace tandem {

namespace {

// Requests open at one sampler: the controller's rule (sampler_pool).
constexpr int open_per_sampler = 2;

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void finish(replayer_actor_t* self, std::string error) {
  auto& st = self->state;
  st.out->seconds = now_seconds() - st.started;
  st.out->error = std::move(error);
  self->send(st.observer, replay_done_atom::value);
  self->quit();
}

void dispatch_next(replayer_actor_t* self, const caf::actor& sampler) {
  auto& st = self->state;
  if (st.next >= st.requests.size())
    return;
  auto index = st.next++;
  self->request(sampler, st.timeout, st.requests[index])
    .then(
      [=](generate_result& r) {
        auto& s = self->state;
        s.out->results[index] = std::move(r);
        if (++s.answered == s.requests.size())
          return finish(self, {});
        dispatch_next(self, sampler);
      },
      [=](caf::error& err) {
        finish(self, "request " + std::to_string(index) + ": " + self->system().render(err));
      });
}

} // namespace

caf::behavior request_replayer_actor(replayer_actor_t* self, std::vector<caf::actor> samplers,
                                     std::vector<generate_request> requests,
                                     caf::timespan timeout, std::shared_ptr<replay_outcome> out,
                                     caf::actor observer) {
  auto& st = self->state;
  st.samplers = std::move(samplers);
  st.requests = std::move(requests);
  st.timeout = timeout;
  st.out = std::move(out);
  st.out->results.assign(st.requests.size(), generate_result{});
  st.observer = std::move(observer);
  st.started = now_seconds();
  if (st.requests.empty()) {
    finish(self, {});
    return {};
  }
  for (int k = 0; k < open_per_sampler; ++k)
    for (auto& s : st.samplers)
      dispatch_next(self, s);
  // Only responses arrive (handled by their .then); a non-empty behavior
  // keeps the actor alive until finish() quits it.
  return {
    [](replay_done_atom) {},
  };
}

} // namespace tandem
