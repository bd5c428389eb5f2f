// request_recorder.cpp: see request_recorder.hpp.
#include "bench/request_recorder.hpp"

#include <algorithm>

#include <caf/all.hpp>

namespace tandem {

void request_log::add(const generate_request& r) {
  std::lock_guard<std::mutex> guard{mtx_};
  requests_.push_back(r);
}

std::vector<generate_request> request_log::sorted() const {
  std::vector<generate_request> out;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    out = requests_;
  }
  auto first_id = [](const generate_request& r) {
    return r.groups.empty() ? uint64_t{0} : r.groups.front().group_id;
  };
  std::sort(out.begin(), out.end(), [&](const generate_request& a, const generate_request& b) {
    return first_id(a) < first_id(b);
  });
  return out;
}

caf::behavior request_recorder_actor(caf::event_based_actor* self, caf::actor sampler,
                                     std::shared_ptr<request_log> log) {
  self->link_to(sampler);
  return {
    [=](generate_request& req) {
      log->add(req);
      return self->delegate(sampler, std::move(req));
    },
  };
}

} // namespace tandem
