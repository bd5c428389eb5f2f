// report_collector.cpp: see report_collector.hpp.
#include "bench/report_collector.hpp"
#include "bench/timing.hpp"

#include <caf/all.hpp>

#include "runtime/error.hpp"

namespace tandem {

caf::behavior report_collector_actor(caf::event_based_actor* self, caf::actor observer) {
  return {
    [=](sim_report_atom a, int64_t n, int64_t r, int64_t g, int64_t t, int64_t c, int64_t k,
        int64_t b, int64_t l) {
      self->send(observer, a, n, r, g, t, c, k, b, l);
      return sim_report_atom::value;
    },
  };
}

caf::expected<sim_totals> await_report(caf::scoped_actor& self, caf::timespan timeout) {
  caf::expected<sim_totals> out = make_error(errc::timeout, "the sim worker sent no counters");
  self->receive(
    [&](sim_report_atom, int64_t n, int64_t requests, int64_t groups, int64_t tokens,
        int64_t chunks, int64_t acks, int64_t busy_ns, int64_t longest_ns) {
      sim_totals t;
      t.samplers = n, t.requests = requests, t.groups = groups, t.tokens = tokens;
      t.chunks = chunks, t.acks = acks;
      t.busy_max = caf::timespan{busy_ns}, t.longest = caf::timespan{longest_ns};
      out = t;
    },
    caf::after(timeout) >> [] {});
  return out;
}

} // namespace tandem
