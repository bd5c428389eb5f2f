// actor_test_fixture.hpp: deterministic CAF 0.17 actor tests under GoogleTest.
//
// The actor system runs on CAF's test coordinator: no actor runs until the
// test calls run()/run_once(), and time moves only with advance_time(). Tests
// therefore step messages and time explicitly; nothing sleeps.
#pragma once

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <gtest/gtest.h>

#include "runtime/messages.hpp"

namespace tandem::testing {

struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
    register_message_types(*this);
  }
};

struct probe_state {
  std::vector<caf::message> inbox;
};

// A sampler's client: sends each generate_request it gets as a request (10 s
// timeout) and keeps the replies and errors (a probe cannot see errors).
struct client_state {
  std::vector<generate_result> results;
  std::vector<caf::error> errors;
};
inline caf::behavior client(caf::stateful_actor<client_state>* self, caf::actor sampler) {
  return {[=](generate_request& r) {
    self->request(sampler, std::chrono::seconds{10}, std::move(r))
      .then([=](generate_result& x) { self->state.results.push_back(std::move(x)); },
            [=](caf::error& e) { self->state.errors.push_back(e); });
  }};
}

class ActorTest : public ::testing::Test {
protected:
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  ~ActorTest() override {
    for (auto& h : spawned_)
      caf::anon_send_exit(h, caf::exit_reason::kill);
    sched.run(100000);
    sched.clock().cancel_all(); // timers hold strong refs and would re-fire
    sched.run(100000);
    sys.await_actors_before_shutdown(false);
  }

  template <class... Ts>
  caf::actor spawn(Ts&&... xs) {
    auto h = caf::actor_cast<caf::actor>(sys.spawn(std::forward<Ts>(xs)...));
    spawned_.push_back(h);
    return h;
  }

  /// Actors spawned elsewhere (e.g. by spawn_head) that the fixture stops.
  void adopt(const caf::actor& h) { spawned_.push_back(h); }

  caf::actor spawn_probe() {
    return spawn([](caf::stateful_actor<probe_state>* self) -> caf::behavior {
      auto rec = [=](caf::message m) { self->state.inbox.push_back(m); };
      self->set_default_handler([=](caf::scheduled_actor*, caf::message_view& x) {
        rec(x.copy_content_to_message());
        return caf::result<caf::message>{caf::message{}};
      });
      self->set_down_handler([=](caf::down_msg& x) { rec(caf::make_message(x)); });
      return {[](probe_state*) {}};
    });
  }

  std::vector<caf::message>& inbox(const caf::actor& p) { return state<probe_state>(p).inbox; }

  size_t run(size_t limit = 200000) {
    auto n = sched.run(limit);
    if (sched.has_job())
      ADD_FAILURE() << "still busy after " << limit << " messages (livelock?)";
    return n;
  }

  size_t advance_time(caf::timespan d) {
    auto n = sched.advance_time(d);
    run();
    return n;
  }

  template <class State, class H>
  State& state(const H& h) {
    auto ptr = caf::actor_cast<caf::abstract_actor*>(h);
    return dynamic_cast<caf::stateful_actor<State>&>(*ptr).state;
  }

  std::vector<caf::actor> spawned_;
};

} // namespace tandem::testing
