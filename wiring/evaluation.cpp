// evaluation.cpp: the evaluator's parts from a run config (see
// evaluation.hpp).
#include "wiring/evaluation.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

#include <caf/all.hpp>

#include "actors/reward.hpp"
#include "runtime/atomic_file.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/countdown_task.hpp"
#include "tasks/eval_split.hpp"
#include "tasks/jsonl_dataset.hpp"
#include "tasks/math_grader.hpp"
#include "tasks/multidigit_task.hpp"
#include "wiring/components.hpp"
#include "wiring/reward_plugins.hpp"

namespace tandem {

namespace {

template <class Task, class Config>
caf::expected<std::vector<problem>> generated(Config c, size_t size) {
  c.seed = held_out_seed(c.seed);
  auto task = Task::make(c);
  if (!task)
    return task.error();
  return take_problems(**task, size);
}

caf::expected<std::vector<problem>> jsonl_split(const run_config& cfg, size_t size) {
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  const bool own = !cfg.task.eval_path.empty();
  auto ds = jsonl_dataset::load(own ? cfg.task.eval_path : cfg.task.jsonl_path, **tok,
                                cfg.task.arithmetic.seed);
  if (!ds)
    return ds.error();
  return own ? spread_evenly((*ds)->rows(), size) : tail_split((*ds)->rows(), size);
}

/// A jsonl file of past lines whose "step" is at most `step` (none when
/// `step` is 0), appended to from now on.
caf::expected<std::unique_ptr<jsonl_file_sink>> continued(const std::string& path,
                                                          int64_t step) {
  if (step > 0) {
    std::ifstream in(path, std::ios::binary);
    std::string kept, line;
    while (std::getline(in, line)) {
      auto rec = parse_json(line, path, {false, errc::malformed_message});
      const auto* s = rec ? rec->find("step") : nullptr;
      if (s != nullptr && s->as_integer() != nullptr && *s->as_integer() <= step)
        kept += line + "\n";
    }
    if (auto err = write_file_atomically(path, [&](std::ostream& out) { out << kept; }))
      return err;
  }
  return jsonl_file_sink::open(path, step > 0);
}

std::unique_ptr<metrics_sink> best_effort_file(const std::string& path, int64_t step) {
  auto f = continued(path, step);
  std::unique_ptr<metrics_sink> inner;
  if (f)
    inner = std::move(*f);
  else
    std::cerr << path << " not written: " << describe(f.error()) << "\n";
  return std::make_unique<best_effort_sink>(std::move(inner), std::cerr, path);
}

/// eval.jsonl, samples.jsonl and the board.
class eval_files final : public eval_output {
public:
  eval_files(std::shared_ptr<eval_board> board, std::unique_ptr<metrics_sink> evals,
             std::unique_ptr<metrics_sink> samples, std::shared_ptr<const text_tokenizer> tok,
             group_scoring score, eval_answer_check check)
    : board_(std::move(board)), evals_(std::move(evals)), samples_(std::move(samples)),
      tok_(std::move(tok)), score_(std::move(score)), check_(std::move(check)) {}

  void figures(const eval_figures& f) override {
    board_->post(f);
    put(*evals_, figures_record(f), "eval.jsonl");
    std::cerr << "[evaluator] v" << f.version << ": greedy accuracy " << f.greedy_acc
              << ", pass@" << f.k << " " << f.pass_at_k << " (" << f.problems << " problems)\n";
  }

  void samples(int64_t version, const std::vector<eval_item>& items,
               const std::vector<sampled_completion>& s) override {
    for (auto& rec : sample_records(version, items, s, *tok_, score_, check_))
      put(*samples_, rec, "samples.jsonl");
  }

  void failed(int64_t version, const std::string& why) override {
    board_->failed();
    json_record r;
    r.add("step", version).add("version", version).add("error", why);
    put(*evals_, r, "eval.jsonl");
  }

private:
  void put(metrics_sink& sink, const json_record& rec, const char* file) {
    if (auto err = sink.write(rec)) {
      board_->write_failed();
      std::cerr << "[evaluator] cannot write " << file << ": " << describe(err) << "\n";
    }
  }

  std::shared_ptr<eval_board> board_;
  std::unique_ptr<metrics_sink> evals_, samples_;
  std::shared_ptr<const text_tokenizer> tok_;
  group_scoring score_;
  eval_answer_check check_;
};

caf::timespan seconds(double s) {
  return std::chrono::duration_cast<caf::timespan>(std::chrono::duration<double>(s));
}

device_options evaluator_device(const run_config& cfg, const run_plan& plan, size_t rows) {
  const auto& head = plan.head();
  device_options d;
  d.device = head.samplers.empty() ? head.learner.device : head.samplers.front().device;
  d.dtype = cfg.sampler.dtype;
  d.max_rows = static_cast<int32_t>(rows);
  return d;
}

} // namespace

caf::expected<std::vector<problem>> held_out_problems(const run_config& cfg, int32_t size) {
  const auto n = static_cast<size_t>(size < 1 ? 1 : size);
  const auto& t = cfg.task;
  if (t.kind == "jsonl")
    return jsonl_split(cfg, n);
  if (t.kind == "countdown")
    return generated<countdown_task>(t.countdown, n);
  if (t.kind == "multidigit")
    return generated<multidigit_task>(t.multidigit, n);
  return arithmetic_table(t.arithmetic, n);
}

caf::expected<std::vector<eval_item>> encode_items(const std::vector<problem>& problems,
                                                   const text_tokenizer& tok,
                                                   int32_t max_seq_len, int32_t max_new_tokens,
                                                   const std::string& where) {
  std::vector<eval_item> out;
  for (const auto& p : problems) {
    auto ids = tok.prompt_ids(p.question);
    if (!ids)
      return make_error(errc::invalid_config, where + ": problem \"" + p.question
                                                + "\" cannot be encoded: " + describe(ids.error()));
    if (ids->size() + static_cast<size_t>(max_new_tokens) > static_cast<size_t>(max_seq_len))
      return make_error(errc::invalid_config,
                        where + ": problem \"" + p.question.substr(0, 40) + "\" needs "
                          + std::to_string(ids->size() + max_new_tokens)
                          + " tokens with max_new_tokens, above max_seq_len "
                          + std::to_string(max_seq_len));
    out.push_back({p.question, p.answer, std::move(*ids)});
  }
  if (out.empty())
    return make_error(errc::invalid_config, where + ": the evaluation split is empty");
  return out;
}

eval_answer_check make_answer_check(const run_config& cfg, std::shared_ptr<const text_tokenizer> tok) {
  if (cfg.reward.kind == reward_kind::math)
    return [tok](const std::vector<int32_t>& c, const std::string& answer) {
      return math::grade(tok->decode(c), answer).correct;
    };
  auto weights = cfg.reward.weights;
  return [tok, weights](const std::vector<int32_t>& c, const std::string& answer) {
    return tok->score(c, answer, weights).accuracy >= 1.0;
  };
}

sampling_params greedy_of(sampling_params p) {
  // policy.cpp keeps a token while the mass before it is below top_p: the
  // first always stays, the second only if the first's mass is below this.
  p.top_p = 1e-9;
  return p;
}

// --- metrics ----------------------------------------------------------------------

void eval_board::post(const eval_figures& f) {
  std::lock_guard<std::mutex> guard{mtx_};
  pending_ = f;
}

void eval_board::failed() {
  std::lock_guard<std::mutex> guard{mtx_};
  ++failures_;
}

void eval_board::write_failed() {
  std::lock_guard<std::mutex> guard{mtx_};
  ++write_failures_;
}

uint64_t eval_board::write_failures() {
  std::lock_guard<std::mutex> guard{mtx_};
  return write_failures_;
}

void eval_board::annotate(json_record& rec) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (write_failures_ > reported_write_failures_) {
    rec.add("eval_write_failures", static_cast<int64_t>(write_failures_));
    reported_write_failures_ = write_failures_;
  }
  if (pending_) {
    rec.add("eval_version", pending_->version)
      .add("eval_greedy_acc", pending_->greedy_acc)
      .add("eval_pass_at_k", pending_->pass_at_k);
    pending_.reset();
  }
  if (failures_ > reported_failures_) {
    rec.add("eval_failures", static_cast<int64_t>(failures_));
    reported_failures_ = failures_;
  }
}

eval_metrics_sink::eval_metrics_sink(std::shared_ptr<metrics_sink> inner,
                                     std::shared_ptr<eval_board> board)
  : inner_(std::move(inner)), board_(std::move(board)) {}

caf::error eval_metrics_sink::write(const json_record& rec) {
  json_record r = rec;
  board_->annotate(r);
  return inner_->write(r);
}

json_record figures_record(const eval_figures& f) {
  json_record r;
  r.add("step", f.version).add("version", f.version).add("problems", f.problems)
    .add("k", static_cast<int64_t>(f.k)).add("n", static_cast<int64_t>(f.n))
    .add("greedy_acc", f.greedy_acc)
    .add("pass_at_k", f.pass_at_k).add("sampled_acc", f.sampled_acc);
  return r;
}

// --- samples ----------------------------------------------------------------------

caf::expected<group_scoring> make_group_scoring(const run_config& cfg,
                                                std::shared_ptr<const text_tokenizer> tok) {
  auto factory = make_reward_scorer_factory(cfg.reward);
  auto weights = cfg.reward.weights;
  if (!factory)
    return group_scoring{[tok, weights](const rollout_group& g) {
      return score_group(g, *tok, weights);
    }};
  auto scorer = factory();
  if (!scorer)
    return scorer.error();
  auto shared = *scorer;
  return group_scoring{[tok, shared](const rollout_group& g) {
    return score_group_with(g, *tok, *shared);
  }};
}

std::vector<json_record> sample_records(int64_t version, const std::vector<eval_item>& items,
                                        const std::vector<sampled_completion>& samples,
                                        const text_tokenizer& tok, const group_scoring& score,
                                        const eval_answer_check& check) {
  std::vector<json_record> out;
  for (const auto& s : samples) {
    const auto& item = items[s.item];
    rollout_group g;
    g.problem_id = s.item;
    g.prompt = item.prompt;
    g.answer = item.answer;
    g.completions.push_back({s.sequence.tokens, s.sequence.logprobs, s.sequence.versions,
                             s.sequence.finished});
    auto scored = score(g);
    json_record r;
    r.add("step", version).add("version", version).add("prompt", tok.decode(item.prompt))
      .add("completion", tok.decode(s.sequence.tokens));
    if (scored)
      r.add("reward", scored->rewards.front());
    else
      r.add("reward_error", describe(scored.error()));
    r.add("correct", int64_t{check(s.sequence.tokens, item.answer) ? 1 : 0})
      .add("answer", item.answer);
    out.push_back(std::move(r));
  }
  return out;
}

// --- the run's evaluator ----------------------------------------------------------------

caf::expected<std::optional<evaluation_parts>>
make_evaluation(caf::actor_system& sys, const run_config& cfg, const run_plan& plan,
                int64_t resume_step) {
  const auto& e = cfg.eval;
  if (e.every == 0 && e.samples_every == 0)
    return std::optional<evaluation_parts>{};
  auto tok = task_tokenizer(cfg);
  if (!tok)
    return tok.error();
  auto problems = held_out_problems(cfg, e.size);
  if (!problems)
    return problems.error();
  const auto& sp = cfg.sampler.sampling;
  auto items = encode_items(*problems, **tok, cfg.model.max_seq_len, sp.max_new_tokens,
                            cfg.source_path + ": eval");
  if (!items)
    return items.error();
  auto sampled = sampling_with_stops(cfg);
  if (!sampled)
    return sampled.error();
  auto score = make_group_scoring(cfg, *tok);
  if (!score)
    return score.error();
  evaluator_settings s;
  s.items = std::move(*items);
  s.every = e.every, s.k = e.k, s.samples_every = e.samples_every;
  s.samples_count = e.samples_count, s.resume_step = resume_step, s.seed = cfg.run.seed;
  s.batch_rows = static_cast<size_t>(cfg.sampler.groups_per_request * cfg.run.group_size);
  s.sampled = *sampled;
  s.greedy = greedy_of(*sampled);
  evaluation_parts parts;
  parts.board = std::make_shared<eval_board>();
  const auto& dir = cfg.run.output_dir;
  auto check = make_answer_check(cfg, *tok);
  auto output = std::make_shared<eval_files>(
    parts.board, best_effort_file(dir + "/eval.jsonl", resume_step),
    best_effort_file(dir + "/samples.jsonl", resume_step), *tok, *score, check);
  const auto rows = s.items.size() * static_cast<size_t>(1 + e.k) + e.samples_count;
  const auto jobs = 2 + rows / s.batch_rows;
  parts.final_timeout = seconds(cfg.timeouts.generate_s * 2 * static_cast<double>(jobs));
  auto device = evaluator_device(cfg, plan, s.batch_rows);
  auto model = policy_model(cfg);
  parts.spawn = [&sys, s, check, output, device, model](const caf::actor& learner) mutable
    -> caf::expected<caf::actor> {
    auto p = policy::make(model, 0); // weights arrive as version 0 and later
    if (!p)
      return p.error();
    auto decoder = make_torch_eval_decoder(std::move(*p), 1, device);
    if (!decoder)
      return decoder.error();
    s.learner = learner;
    return caf::actor{sys.spawn<caf::detached>(evaluator_actor, s,
                                               evaluator_deps{*decoder, check, output})};
  };
  return std::optional<evaluation_parts>{std::move(parts)};
}

void finish_evaluation(caf::scoped_actor& self, const caf::actor& evaluator,
                       const weights_version& final_weights, caf::timespan deadline) {
  self->request(evaluator, deadline, eval_final_atom::value, final_weights.version,
                final_weights.bytes)
    .receive([](int64_t) {},
             [&](caf::error& err) {
               std::cerr << "[evaluator] the final version v" << final_weights.version
                         << " was not evaluated: " << describe(err) << "\n";
             });
}

caf::expected<eval_report> evaluate_now(eval_decoder& decoder, const std::vector<eval_item>& items,
                                        const eval_plan& plan, const sampling_params& sampled,
                                        uint64_t seed, size_t batch_rows,
                                        const eval_answer_check& check, int64_t version) {
  eval_round round(items, plan, version, seed, batch_rows, check);
  const auto greedy = greedy_of(sampled);
  while (auto job = round.next()) {
    auto answers = decoder.generate(std::move(job->prompts), job->greedy ? greedy : sampled,
                                    std::move(job->seeds), version);
    if (!answers)
      return answers.error();
    if (auto err = round.record(std::move(*answers)))
      return err;
  }
  return eval_report{round.figures(), std::move(round.samples())};
}

} // namespace tandem
