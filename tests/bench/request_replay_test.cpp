// request_replay_test: the bench's request recorder and replayer
// (bench/request_recorder.hpp, bench/request_replayer.hpp) against a fake
// sampler, stepped message by message on CAF's test coordinator.
#include "../actors/actor_test_fixture.hpp"

#include "bench/request_recorder.hpp"
#include "bench/request_replayer.hpp"
#include "runtime/error.hpp"

namespace tandem::testing {
namespace {

using namespace std::chrono_literals;

generate_request request_of(std::vector<uint64_t> ids) {
  generate_request r;
  for (auto id : ids) {
    group_task t;
    t.group_id = id;
    t.seed = id * 11;
    r.groups.push_back(t);
  }
  return r;
}

// A sampler that holds every request until answer_one() and counts how many
// it holds at most; each answer carries the request's group ids.
struct held_state {
  std::vector<std::pair<caf::response_promise, generate_request>> held;
  size_t most_held = 0, received = 0;
  bool fail = false;
};
using held_actor = caf::stateful_actor<held_state>;
using answer_atom = caf::atom_constant<caf::atom("answer")>;

caf::behavior held_sampler(held_actor* self) {
  return {
    [=](generate_request& r) -> caf::result<generate_result> {
      auto& st = self->state;
      ++st.received;
      st.held.emplace_back(self->make_response_promise(), std::move(r));
      st.most_held = std::max(st.most_held, st.held.size());
      return caf::delegated<generate_result>{};
    },
    [=](answer_atom) {
      auto& st = self->state;
      if (st.held.empty())
        return;
      auto [rp, req] = std::move(st.held.front());
      st.held.erase(st.held.begin());
      if (st.fail)
        return rp.deliver(make_error(errc::backend_failure, "broken"));
      generate_result res;
      for (auto& g : req.groups)
        res.groups.push_back(rollout_group{g.group_id, 0, {}, {}, {}, "s"});
      res.tokens = static_cast<int64_t>(req.groups.size());
      rp.deliver(std::move(res));
    },
  };
}

struct Replay : ActorTest {
  caf::actor sampler = spawn(held_sampler);
  caf::actor observer = spawn_probe();

  held_state& held() { return state<held_state>(sampler); }

  void answer_all() {
    for (int k = 0; k < 100 && !held().held.empty(); ++k) {
      caf::anon_send(sampler, answer_atom::value);
      run();
    }
  }
};

TEST_F(Replay, RecorderLogsEveryRequestAndTheSamplersAnswerReachesTheCaller) {
  auto log = std::make_shared<request_log>();
  auto recorder = spawn(request_recorder_actor, sampler, log);
  auto caller = spawn(client, recorder);
  caf::anon_send(caller, request_of({5, 6}));
  caf::anon_send(caller, request_of({1, 2}));
  run();
  answer_all();
  auto sorted = log->sorted();
  ASSERT_EQ(sorted.size(), 2u);
  EXPECT_EQ(sorted[0].groups.front().group_id, 1u); // ordered by first group id
  EXPECT_EQ(sorted[1].groups.front().seed, 55u);
  auto& got = state<client_state>(caller).results;
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].groups.front().group_id, 5u);
}

TEST_F(Replay, ReplayerKeepsTwoRequestsOpenAndResultsInRequestOrder) {
  auto out = std::make_shared<replay_outcome>();
  std::vector<generate_request> reqs{request_of({1}), request_of({2}), request_of({3}),
                                     request_of({4}), request_of({5})};
  spawn(request_replayer_actor, std::vector<caf::actor>{sampler}, reqs, caf::timespan{10s}, out,
        observer);
  run();
  EXPECT_EQ(held().held.size(), 2u);
  answer_all();
  EXPECT_EQ(held().most_held, 2u);
  EXPECT_EQ(held().received, 5u);
  ASSERT_EQ(out->results.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i)
    EXPECT_EQ(out->results[i].groups.front().group_id, i + 1);
  EXPECT_TRUE(out->error.empty());
  ASSERT_EQ(inbox(observer).size(), 1u);
  EXPECT_TRUE(inbox(observer).front().match_elements<replay_done_atom>());
}

TEST_F(Replay, AFailedRequestEndsTheReplayWithItsError) {
  held().fail = true;
  auto out = std::make_shared<replay_outcome>();
  spawn(request_replayer_actor, std::vector<caf::actor>{sampler},
        std::vector<generate_request>{request_of({1}), request_of({2})}, caf::timespan{10s}, out,
        observer);
  run();
  caf::anon_send(sampler, answer_atom::value);
  run();
  EXPECT_NE(out->error.find("request 0"), std::string::npos);
  EXPECT_EQ(inbox(observer).size(), 1u);
}

TEST_F(Replay, AnEmptyListIsDoneAtOnce) {
  auto out = std::make_shared<replay_outcome>();
  spawn(request_replayer_actor, std::vector<caf::actor>{sampler}, std::vector<generate_request>{},
        caf::timespan{10s}, out, observer);
  run();
  EXPECT_EQ(held().received, 0u);
  EXPECT_EQ(inbox(observer).size(), 1u);
}

} // namespace
} // namespace tandem::testing
