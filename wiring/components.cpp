// pipeline.cpp: the actors of one run in this process, built from its config:
// the model (random init or model.hf_path), the task tokenizer (built-in or
// task.tokenizer) shared by the controller, the reward actors and the
// samplers' stop tokens.
#include "wiring/components.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <random>

#include "actors/data_parallel_backend.hpp"
#include "runtime/transport/socket_collective.hpp"
#include "actors/learner.hpp"
#include "actors/reward.hpp"
#include "actors/sampler.hpp"
#include "actors/sim_sampler.hpp"
#include "actors/weight_broadcaster.hpp"
#include "wiring/nccl_endpoints.hpp"
#include "wiring/reward_plugins.hpp"
#include "runtime/cpu_budget.hpp"
#include "runtime/error.hpp"
#include "runtime/messages.hpp"
#include "tasks/bpe_task_tokenizer.hpp"
#include "tasks/jsonl_dataset.hpp"

namespace tandem {

namespace {

caf::timespan seconds(double s) {
  return std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(s));
}

caf::expected<std::shared_ptr<const text_tokenizer>>
load_bpe_tokenizer(const run_config& cfg) {
  bpe_task_options opts;
  opts.answer_prefix = cfg.task.answer_prefix;
  opts.stop_tokens = cfg.task.stop_tokens;
  opts.vocab_size = cfg.model.vocab_size;
  opts.framing = cfg.task.framing;
  auto tok = bpe_task_tokenizer::load(cfg.task.tokenizer_path, std::move(opts));
  if (!tok)
    return tok.error();
  return std::shared_ptr<const text_tokenizer>{std::move(*tok)};
}

// Prompts over prompt_token_limit are dropped at run time (and counted); a
// dataset none of whose prompts fit could never train, so it is refused
// before the run starts. Stops at the first prompt that fits.
caf::error check_dataset_fits(const run_config& cfg, const jsonl_dataset& ds,
                              const text_tokenizer& tok) {
  const auto limit = static_cast<size_t>(std::max(prompt_token_limit(cfg), 0));
  size_t shortest = SIZE_MAX;
  for (const auto& row : ds.rows()) {
    auto ids = tok.prompt_ids(row.question);
    if (!ids)
      continue;
    if (ids->size() <= limit)
      return caf::none;
    shortest = std::min(shortest, ids->size());
  }
  const bool explicit_limit = cfg.task.max_prompt_tokens > 0;
  std::string why = cfg.source_path + ": "
                    + (explicit_limit ? "task.max_prompt_tokens" : "model.max_seq_len")
                    + ": every prompt of " + cfg.task.jsonl_path + " is longer than "
                    + std::to_string(limit) + " tokens (the shortest has "
                    + std::to_string(shortest) + ")";
  if (!explicit_limit)
    why += "; model.max_seq_len " + std::to_string(cfg.model.max_seq_len)
           + " leaves that many after sampler.max_new_tokens "
           + std::to_string(cfg.sampler.sampling.max_new_tokens);
  return make_error(errc::invalid_config, std::move(why));
}

template <class Task>
caf::expected<std::shared_ptr<problem_source>>
as_source(caf::expected<std::unique_ptr<Task>> task) {
  if (!task)
    return task.error();
  return std::shared_ptr<problem_source>{std::move(*task)};
}

} // namespace

caf::expected<sampling_params> sampling_with_stops(const run_config& cfg) {
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  auto p = cfg.sampler.sampling;
  p.stop_tokens = (*tok)->stop_ids();
  if (auto check = (*tok)->stop_text_check()) {
    auto keep = *tok; // the check refers to the tokenizer: keep it alive
    p.stop_after = [keep, check](const std::vector<int32_t>& c) { return check(c); };
  }
  return p;
}

model_config policy_model(const run_config& cfg) {
  auto m = cfg.model;
  if (m.vocab_size == 0) // set by the config checks from a checkpoint or tokenizer.json
    m.vocab_size = char_tokenizer{cfg.task.framing}.vocab_size();
  return m;
}

caf::expected<std::shared_ptr<const text_tokenizer>> task_tokenizer(const run_config& cfg) {
  if (cfg.task.tokenizer_path.empty())
    return std::shared_ptr<const text_tokenizer>{
      std::make_shared<char_tokenizer>(cfg.task.framing)};
  // One load per process and file: samplers, rewards and the controller
  // share it (a real tokenizer.json is several MB). Bounded by the number of
  // distinct configs a process loads: one (tests load a few).
  static std::mutex mtx;
  static std::map<std::string, std::shared_ptr<const text_tokenizer>> loaded;
  std::lock_guard<std::mutex> guard{mtx};
  std::string key = cfg.task.tokenizer_path + "|" + std::to_string(cfg.model.vocab_size) + "|"
                    + cfg.task.answer_prefix + "|" + to_string(cfg.task.framing.format) + "|"
                    + std::to_string(static_cast<int>(cfg.task.framing.check)) + "|"
                    + cfg.task.framing.prefix + "|" + cfg.task.framing.suffix;
  for (const auto& s : cfg.task.stop_tokens)
    key += "|" + s;
  if (auto i = loaded.find(key); i != loaded.end())
    return i->second;
  auto tok = load_bpe_tokenizer(cfg);
  if (tok)
    loaded.emplace(key, *tok);
  return tok;
}

caf::expected<std::shared_ptr<problem_source>> make_problem_source(const run_config& cfg) {
  if (cfg.task.kind == "jsonl" || cfg.task.kind == "gsm8k") {
    auto tok = task_tokenizer(cfg);
    if (!tok)
      return tok.error();
    auto schema = cfg.task.kind == "gsm8k" ? jsonl_schema::gsm8k : jsonl_schema::prompt_answer;
    auto ds = jsonl_dataset::load(cfg.task.jsonl_path, **tok, cfg.task.arithmetic.seed, schema);
    if (!ds)
      return ds.error();
    // Checked here, not in the config loader: only now are the prompts known.
    if (auto err = check_dataset_fits(cfg, **ds, **tok))
      return err;
    return std::shared_ptr<problem_source>{std::move(*ds)};
  }
  if (cfg.task.kind == "countdown")
    return as_source(countdown_task::make(cfg.task.countdown));
  if (cfg.task.kind == "multidigit")
    return as_source(multidigit_task::make(cfg.task.multidigit));
  return as_source(arithmetic_task::make(cfg.task.arithmetic));
}

controller_settings make_controller_settings(const run_config& cfg, const run_plan& plan) {
  controller_settings s;
  s.steps = cfg.run.steps;
  s.groups_per_step = cfg.run.groups_per_step;
  s.group_size = cfg.run.group_size;
  s.max_staleness = cfg.run.max_staleness;
  s.max_requeues = static_cast<uint32_t>(cfg.run.max_requeues);
  s.filter.enabled = cfg.run.dynamic_sampling;
  s.filter.max_per_step = cfg.run.max_filtered_per_step > 0 ? cfg.run.max_filtered_per_step
                                                            : 8 * cfg.run.groups_per_step;
  s.target_reward = cfg.run.target_reward;
  s.seed = cfg.run.seed;
  s.generate_timeout = seconds(cfg.timeouts.generate_s);
  s.score_timeout = seconds(cfg.timeouts.score_s);
  s.train_timeout = seconds(cfg.timeouts.train_s);
  s.connect_timeout = seconds(cfg.timeouts.connect_s);
  s.expected_samplers = plan.total(topology::SAMPLER);
  s.checkpoint_every = cfg.run.checkpoint_every;
  s.checkpoint_required = cfg.run.checkpoint_required;
  s.overlong = {cfg.sampler.sampling.max_new_tokens, cfg.reward.overlong_buffer,
                cfg.reward.overlong_penalty};
  s.max_prompt_tokens = prompt_token_limit(cfg);
  return s;
}

device_options sampler_device(const run_config& cfg, const placed_instance& inst) {
  device_options dev;
  dev.device = inst.device;
  dev.dtype = cfg.sampler.dtype;
  // Every completion of a request decodes at once; more rows would idle.
  dev.max_rows = cfg.sampler.groups_per_request * cfg.run.group_size;
  return dev;
}

caf::expected<caf::actor> spawn_sampler(caf::actor_system& sys, const run_config& cfg,
                                        const run_plan& plan, const placed_instance& inst,
                                        std::shared_ptr<rollout_outbox> outbox) {
  const auto& name = inst.name;
  if (cfg.sampler.simulated_token_ms > 0) {
    sim_sampler_settings ss;
    ss.name = name;
    ss.per_token = std::chrono::duration_cast<caf::timespan>(
      std::chrono::duration<double, std::milli>(cfg.sampler.simulated_token_ms));
    ss.lengths = {2, cfg.sampler.sampling.max_new_tokens};
    ss.seed = cfg.run.seed ^ std::hash<std::string>{}(name);
    ss.outbox = outbox;
    return caf::actor{sys.spawn(sim_sampler_actor, ss)};
  }
  auto sampling = sampling_with_stops(cfg);
  if (!sampling)
    return sampling.error();
  auto be = make_torch_generation_backend(policy_model(cfg), *sampling, inst.threads,
                                          sampler_device(cfg, inst));
  if (!be)
    return be.error();
  sampler_settings ss;
  ss.name = name;
  ss.outbox = std::move(outbox);
  auto rx = make_sampler_nccl(plan, inst.device);
  if (!rx)
    return rx.error();
  ss.nccl = std::move(*rx);
  return caf::actor{sys.spawn<caf::detached>(sampler_actor, ss, *be)};
}

caf::expected<std::shared_ptr<training_backend>>
make_rank_trainer(const run_config& cfg, learner_settings ls, const placed_instance& inst) {
  ls.model = policy_model(cfg);
  ls.device = inst.device;
  if (cfg.hf_path.empty())
    return make_torch_training_backend(ls, inst.threads);
  return make_torch_training_backend_from_hf(ls, cfg.hf_path, cfg.model.max_seq_len,
                                             inst.threads);
}

namespace {

std::chrono::milliseconds train_timeout(const run_config& cfg) {
  return std::chrono::milliseconds(static_cast<int64_t>(cfg.timeouts.train_s * 1000.0));
}

data_parallel_options parallel_options(const run_config& cfg) {
  data_parallel_options opts;
  // A third of train_s after rank 0 returned (topology/run_config.cpp's
  // make_learner_settings says why).
  opts.join_timeout = std::max(std::chrono::milliseconds(1), train_timeout(cfg) / 3);
  opts.collective_export_state = cfg.learner.zero_stage > 0;
  return opts;
}

/// learner.ranks ranks of this process behind one data_parallel_backend.
/// The ranks are built one after another on this thread: a seeded init
/// draws from LibTorch's global generator.
caf::expected<std::shared_ptr<training_backend>>
make_parallel_trainer(const run_config& cfg, const std::vector<placed_instance>& ranks) {
  const auto timeout = train_timeout(cfg);
  std::vector<std::string> devices;
  for (auto& r : ranks)
    devices.push_back(r.device);
  auto comms = make_learner_collectives(devices, nccl::clock_type::now() + timeout);
  if (!comms)
    return comms.error();
  std::vector<std::shared_ptr<training_backend>> backends;
  for (size_t r = 0; r < ranks.size(); ++r) {
    auto ls = make_learner_settings(cfg);
    ls.rank = static_cast<int32_t>(r);
    ls.collective = (*comms)[r];
    auto be = make_rank_trainer(cfg, ls, ranks[r]);
    if (!be)
      return be.error();
    backends.push_back(std::move(*be));
  }
  auto dp = data_parallel_backend::make(std::move(backends), parallel_options(cfg));
  if (!dp)
    return dp.error();
  return std::shared_ptr<training_backend>{std::move(*dp)};
}

} // namespace

bool learner_spread(const run_plan& plan) {
  return !plan.processes.empty()
         && static_cast<size_t>(plan.total(topology::LEARNER)) > plan.head().learner_ranks.size();
}

caf::expected<std::shared_ptr<training_backend>>
make_spread_trainer(caf::actor_system& sys, const run_config& cfg, const run_plan& plan,
                    learner_link& link) {
  const int n = std::max(cfg.learner.ranks, 1);
  const auto& local = plan.head().learner_ranks;
  if (local.empty() || static_cast<int>(local.size()) >= n || !link.directory
      || (!link.ctx && local[0].device == "cpu"))
    return make_error(errc::invalid_config,
                      "learner.ranks " + std::to_string(n) + ": the head holds "
                        + std::to_string(local.size())
                        + " rank(s); rank 0 must be in the head and a link is needed");
  const bool gpus = local[0].device != "cpu";
  for (auto& r : local)
    if ((r.device != "cpu") != gpus)
      return make_error(errc::invalid_config,
                        "learner ranks '" + local[0].device + "' and '" + r.device
                          + "': a learner's ranks are all on the CPU or each on a GPU");
  if (gpus) {
    auto id = make_learner_nccl_id(local[0].device);
    if (!id)
      return id.error();
    link.nccl_id = *id;
  }
  // A fresh group id per learner: a rank of an earlier head (a stale worker)
  // cannot take part in this one's sums.
  link.group = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  transport::socket_collective_options o;
  o.ranks = n;
  o.group = link.group;
  o.endpoint = "tcp://" + link.bind_host + ":*";
  std::vector<std::shared_ptr<training_backend>> backends;
  std::weak_ptr<transport::socket_collective> root; // CPU: rank 0's collective
  for (size_t r = 0; r < local.size(); ++r) {
    auto ls = make_learner_settings(cfg);
    ls.rank = static_cast<int32_t>(r);
    if (gpus) {
      auto coll = make_spread_gpu_collective(static_cast<int>(r), n, local[r].device,
                                             link.nccl_id);
      if (!coll)
        return coll.error();
      ls.collective = std::move(*coll);
    } else {
      o.rank = static_cast<int>(r);
      auto coll = transport::socket_collective::make(link.ctx, o);
      if (!coll)
        return coll.error();
      std::shared_ptr<transport::socket_collective> shared = std::move(*coll);
      if (r == 0) {
        o.endpoint = link.endpoint = shared->endpoint();
        root = shared;
      }
      ls.collective = std::move(shared);
    }
    auto be = make_rank_trainer(cfg, ls, local[r]);
    if (!be)
      return be.error();
    backends.push_back(std::move(*be));
  }
  for (int r = static_cast<int>(local.size()); r < n; ++r) {
    remote_rank_options ro;
    ro.rank = r;
    ro.join_timeout = std::chrono::milliseconds(
      static_cast<int64_t>(cfg.timeouts.connect_s * 1000.0));
    ro.timeout = train_timeout(cfg);
    // A dead rank's process is known to its proxy within CAF's heartbeat
    // (~2 s); rank 0's collective would wait for its input until train_s/3.
    ro.on_gone = [root, r](const caf::error& why) {
      if (auto c = root.lock())
        c->abort_from_outside(r, make_error(errc::peer_down, "learner rank " + std::to_string(r)
                                                               + " is gone (" + describe(why)
                                                               + ")"));
    };
    backends.push_back(std::make_shared<remote_rank_backend>(sys, link.directory, ro));
  }
  auto dp = data_parallel_backend::make(std::move(backends), parallel_options(cfg));
  if (!dp)
    return dp.error();
  return std::shared_ptr<training_backend>{std::move(*dp)};
}

caf::expected<std::shared_ptr<training_backend>> make_trainer(const run_config& cfg,
                                                              const placed_instance& learner) {
  return make_trainer(cfg, std::vector<placed_instance>{learner});
}

caf::expected<std::shared_ptr<training_backend>>
make_trainer(const run_config& cfg, const std::vector<placed_instance>& ranks) {
  const auto wanted = static_cast<size_t>(std::max(cfg.learner.ranks, 1));
  if (ranks.size() != wanted)
    return make_error(errc::invalid_config,
                      "learner.ranks is " + std::to_string(wanted) + " but this process holds "
                        + std::to_string(ranks.size())
                        + " learner instance(s): a learner's ranks must share one process");
  if (wanted == 1)
    return make_rank_trainer(cfg, make_learner_settings(cfg), ranks.front());
  return make_parallel_trainer(cfg, ranks);
}

head_settings make_head_settings(const run_config& cfg, const run_plan& plan) {
  head_settings s;
  s.controller = make_controller_settings(cfg, plan);
  s.broadcaster.ack_timeout = seconds(cfg.timeouts.generate_s);
  s.grpo = cfg.learner.grpo;
  s.reward = cfg.reward.weights;
  s.reward_plugin = make_reward_scorer_factory(cfg.reward);
  s.samplers = plan.head().samplers;
  s.rewards = plan.head().rewards;
  s.sampler_max_groups = cfg.sampler.groups_per_request;
  return s;
}

caf::expected<head_parts> make_head_parts(caf::actor_system& sys, const run_config& cfg,
                                          const run_plan& plan, learner_link* link) {
  head_parts p;
  auto problems = make_problem_source(cfg);
  if (!problems)
    return problems.error();
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  auto trainer = learner_spread(plan) && link != nullptr
                   ? make_spread_trainer(sys, cfg, plan, *link)
                   : make_trainer(cfg, plan.head().learner_ranks);
  if (!trainer)
    return trainer.error();
  auto nccl = make_learner_nccl(cfg, plan);
  if (!nccl)
    return nccl.error();
  p.problems = *problems;
  p.tokenizer = *tok;
  p.trainer = *trainer;
  p.nccl = std::move(*nccl);
  p.spawn_sampler = [&sys, cfg, plan](const placed_instance& inst) {
    return spawn_sampler(sys, cfg, plan, inst);
  };
  return p;
}

} // namespace tandem
