// pipeline_modes.cpp: the record pass and the pipeline mode of
// pipeline_modes.hpp (the stages alone are in stage_modes.cpp).
#include "bench/pipeline_modes.hpp"
#include "bench/timing.hpp"

#include <chrono>
#include <memory>

#include <caf/all.hpp>

#include "wiring/actor_system.hpp"
#include "wiring/components.hpp"
#include "wiring/head.hpp"
#include "wiring/head_console.hpp"
#include "wiring/health.hpp"
#include "bench/console_probe.hpp"
#include "bench/request_recorder.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"

namespace tandem {

namespace {

void stop_all(const std::vector<caf::actor>& actors) {
  for (auto& a : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

/// Waits for the controller's finished message; a failed run or the
/// deadline is an error.
caf::error await_finished(caf::scoped_actor& self, const run_config& cfg) {
  auto limit = seconds(cfg.run.steps * (cfg.timeouts.generate_s + cfg.timeouts.train_s));
  caf::error out = make_error(errc::timeout, "pipeline deadline passed");
  self->receive(
    [&](finished_atom, bool ok, const std::string& summary) {
      out = ok ? caf::error{} : make_error(errc::process_failure, "run failed: " + summary);
    },
    caf::after(limit) >> [] {});
  return out;
}

/// Per-step figures of a pipeline run, from its metrics records.
struct step_records {
  std::vector<double> elapsed; // seconds since the run started, per step
  int64_t generated = 0, trained = 0;
};

caf::expected<step_records> read_records(const std::vector<std::string>& lines) {
  step_records r;
  for (auto& line : lines) {
    auto doc = parse_json(line, "metrics", json_options{false, errc::malformed_message});
    if (!doc)
      return doc.error();
    auto* elapsed = doc->find("elapsed_s");
    auto* generated = doc->find("tokens_generated");
    auto* trained = doc->find("train_tokens");
    if (!elapsed || !elapsed->as_number() || !generated || !generated->as_integer() || !trained
        || !trained->as_integer())
      return make_error(errc::malformed_message, "metrics record without elapsed_s, "
                                                 "tokens_generated or train_tokens");
    r.elapsed.push_back(elapsed->as_number()->value);
    r.generated += *generated->as_integer();
    r.trained += *trained->as_integer();
  }
  return r;
}

/// Leading requests holding a group of the first `warmup_steps` steps
/// (group ids start at 1 in every run).
size_t count_warmup_requests(const std::vector<generate_request>& requests,
                             int64_t warmup_groups) {
  size_t n = 0;
  while (n < requests.size() && !requests[n].groups.empty()
         && static_cast<int64_t>(requests[n].groups.front().group_id) <= warmup_groups)
    ++n;
  return n;
}

} // namespace

/// The head's graph as `tandem run` builds it, reporting to `self`.
caf::expected<head_graph> spawn_bench_head(caf::actor_system& sys, caf::scoped_actor& self,
                                           const run_config& cfg, const run_plan& plan,
                                           std::shared_ptr<metrics_sink> metrics,
                                           bool local_samplers,
                                           head_console* console = nullptr) {
  auto parts = make_head_parts(sys, cfg, plan);
  if (!parts)
    return parts.error();
  parts->observer = self;
  parts->metrics = std::move(metrics);
  if (console) {
    parts->metrics = std::make_shared<tee_sink>(parts->metrics, console->metrics());
    parts->monitor = console->monitor();
  }
  auto settings = make_head_settings(cfg, plan);
  if (!local_samplers)
    settings.samplers.clear(); // the bench's own, behind recorders
  auto g = spawn_head(sys, settings, *parts);
  if (g && console)
    console->attach(g->controller);
  return g;
}

caf::expected<pipeline_workload> record_workload(const run_config& cfg, const run_plan& plan,
                                                 int32_t warmup_steps) {
  auto trainer = make_trainer(cfg, plan.head().learner_ranks);
  if (!trainer)
    return trainer.error();
  pipeline_workload w;
  w.weights = (*trainer)->export_weights();
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor self{sys};
  auto metrics = std::make_shared<memory_sink>();
  auto p = spawn_bench_head(sys, self, cfg, plan, metrics, false);
  if (!p)
    return p.error();
  auto log = std::make_shared<request_log>();
  auto actors = p->all();
  for (auto& inst : plan.head().samplers) {
    const auto& name = inst.name;
    auto s = spawn_sampler(sys, cfg, plan, inst);
    if (!s) {
      stop_all(actors);
      return s.error();
    }
    auto recorder = sys.spawn(request_recorder_actor, *s, log);
    actors.insert(actors.end(), {*s, recorder});
    self->send(p->broadcaster, subscribe_atom::value, *s);
    self->send(p->controller, sampler_hello{name, recorder, cfg.sampler.groups_per_request, true});
  }
  auto err = await_finished(self, cfg);
  stop_all(actors);
  if (err)
    return err;
  auto rec = read_records(metrics->lines);
  if (!rec)
    return rec.error();
  w.generated_tokens = rec->generated;
  w.trained_tokens = rec->trained;
  w.requests = log->sorted();
  for (auto& r : w.requests)
    for (auto& g : r.groups) {
      g.min_version = 0; // every sampler of generation alone holds version 0
      ++w.groups;
    }
  w.warmup_requests = count_warmup_requests(
    w.requests, static_cast<int64_t>(warmup_steps) * cfg.run.groups_per_step);
  return w;
}

caf::expected<mode_result> run_pipeline(const run_config& cfg, const run_plan& plan,
                                        int32_t warmup_steps, bool console) {
  caf::actor_system_config sys_cfg;
  configure_actor_system(sys_cfg);
  caf::actor_system sys{sys_cfg};
  std::unique_ptr<health_reporting> health;
  std::unique_ptr<head_console> hc;
  if (console) {
    health = std::make_unique<health_reporting>(sys, "head");
    head_console_options co;
    co.steps = cfg.run.steps;
    auto c = head_console::start(sys, co, nullptr);
    if (!c)
      return c.error();
    hc = std::move(*c);
    health->set_sink(hc->monitor());
  }
  caf::scoped_actor self{sys};
  auto metrics = std::make_shared<memory_sink>();
  auto p = spawn_bench_head(sys, self, cfg, plan, metrics, true, hc.get());
  if (!p)
    return p.error();
  std::unique_ptr<console_probe> page;
  if (hc)
    page = std::make_unique<console_probe>(hc->url(), std::chrono::seconds(1));
  auto err = await_finished(self, cfg);
  page.reset();
  stop_all(p->all());
  if (err)
    return err;
  auto rec = read_records(metrics->lines);
  if (!rec)
    return rec.error();
  auto n = static_cast<int64_t>(rec->elapsed.size());
  if (n <= warmup_steps)
    return make_error(errc::invalid_argument, "pipeline: no step after the warm-up");
  auto from = warmup_steps > 0 ? rec->elapsed[static_cast<size_t>(warmup_steps) - 1] : 0.0;
  double samples = static_cast<double>(n - warmup_steps) * cfg.run.groups_per_step
                   * cfg.run.group_size;
  return mode_result{samples / (rec->elapsed.back() - from), rec->generated, rec->trained};
}

} // namespace tandem
