// graph_test_fixture.hpp: the head's actor graph as `tandem run` builds it
// (wiring/head.hpp: spawn_head), on CAF's test coordinator with fake
// backends. The actor tests that need the whole graph derive from GraphTest.
#pragma once

#include <memory>

#include "actor_test_fixture.hpp"
#include "tasks/arithmetic_task.hpp"
#include "wiring/head.hpp"

namespace tandem::testing {

class GraphTest : public ActorTest {
protected:
  /// Settings for the test coordinator: nothing detached, no local samplers.
  static head_settings graph_settings(const controller_settings& cs) {
    head_settings hs;
    hs.controller = cs;
    hs.detached = false;
    return hs;
  }

  /// Parts with the arithmetic task and the given fakes.
  static head_parts graph_parts(std::shared_ptr<training_backend> trainer,
                                std::shared_ptr<metrics_sink> metrics, caf::actor observer,
                                const arithmetic_config& task = {}) {
    head_parts parts;
    parts.problems = std::shared_ptr<problem_source>{std::move(*arithmetic_task::make(task))};
    parts.trainer = std::move(trainer);
    parts.metrics = std::move(metrics);
    parts.observer = std::move(observer);
    return parts;
  }

  /// spawn_head; the fixture stops every actor of the graph at the end.
  head_graph spawn_graph(const head_settings& hs, const head_parts& parts) {
    auto g = spawn_head(sys, hs, parts);
    if (!g) {
      ADD_FAILURE() << "spawn_head: " << sys.render(g.error());
      return {};
    }
    for (auto& h : g->all())
      adopt(h);
    return *g;
  }
};

} // namespace tandem::testing
