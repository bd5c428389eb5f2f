// eval_command.cpp: `tandem eval CHECKPOINT CONFIG [flags]` — greedy accuracy
// and pass@k of a policy on the held-out split of CONFIG's task.
//
// CHECKPOINT as `tandem generate` takes it (app/model_source.hpp); CONFIG
// decides the task, its split (tasks/eval_split.hpp: the arithmetic table,
// another seed of a generated task, task.eval_path or the last tenth of a
// jsonl file), the tokenizer framing, the sampling settings of pass@k and
// what counts as correct (wiring/evaluation.hpp). A bare Hugging Face
// directory is loaded for CONFIG's model.max_seq_len positions. Defaults
// come from CONFIG's eval section: --split eval.size, --k eval.k.
//
// Output (stdout): one readable line, then one JSON line
//   {"checkpoint", "version", "config", "task", "problems", "k", "n",
//    "greedy_acc", "pass_at_k", "sampled_acc"}
// ("version": the checkpoint's step, -1 for a Hugging Face directory)
// and with --samples M, M more JSON lines as samples.jsonl has them.
//
// Exit: 0 evaluated; 1 failed (the model, decoding); 2 bad usage: a flag,
// CONFIG's problems, a path that is no checkpoint, a tokenizer with more
// ids than the model, prompts too long for it.
//
// Thread safety: a command; one thread.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "app/commands.hpp"
#include "app/model_source.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/metrics_sink.hpp"
#include "topology/config_loader.hpp"
#include "wiring/components.hpp"
#include "wiring/evaluation.hpp"

namespace tandem {

namespace {

command_line eval_flags() {
  command_line cl("tandem eval CHECKPOINT CONFIG [flags]",
                  "greedy accuracy and pass@k of a policy on the held-out split of CONFIG's task");
  cl.positional("CHECKPOINT", "RUN_DIR/checkpoints/step-N, RUN_DIR, or a Hugging Face directory")
    .positional("CONFIG", "a run config: the task, tokenizer and sampling settings")
    .text("--split", "N", "problems of the held-out split (default: CONFIG's eval.size)")
    .text("--k", "K", "the k of pass@k (default: CONFIG's eval.k)")
    .text("--n", "N", "sampled completions per problem, >= k (default: k)")
    .integer("--samples", "also print this many sampled completions as JSON lines", 0, 0, 1024)
    .text("--seed", "S", "sampling seed (default: CONFIG's run.seed)")
    .integer("--batch", "prompts decoded at once", 64, 1, 4096)
    .text("--device", "D", "cpu, cuda or cuda:N", "cpu")
    .integer("--threads", "LibTorch threads", 1, 1, 256);
  return cl;
}

struct failure {
  int code;
  std::string what;
};

/// --split, --k, --n, --seed over CONFIG's values.
struct choices {
  eval_plan plan;
  int32_t split = 0;
  uint64_t seed = 0;
};

caf::expected<choices> choices_of(const command_line& cl, const run_config& cfg) {
  auto split = optional_number(cl, "--split", 1, 1 << 24, true);
  auto k = optional_number(cl, "--k", 1, 1024, true);
  auto n = optional_number(cl, "--n", 1, 1024, true);
  auto seed = optional_number(cl, "--seed", 0, 9007199254740992.0, true); // 2^53: exact
  for (auto* x : {&split, &k, &n, &seed})
    if (!*x)
      return x->error();
  choices c;
  c.plan.eval = true;
  c.plan.k = *k ? static_cast<int32_t>(**k) : cfg.eval.k;
  c.plan.n = *n ? static_cast<int32_t>(**n) : c.plan.k;
  c.plan.samples = static_cast<int32_t>(cl.as_int("--samples"));
  c.split = *split ? static_cast<int32_t>(**split) : cfg.eval.size;
  c.seed = *seed ? static_cast<uint64_t>(**seed) : cfg.run.seed;
  if (c.plan.n < c.plan.k)
    return make_error(errc::invalid_argument, "--n " + std::to_string(c.plan.n)
                                                + " is below k " + std::to_string(c.plan.k));
  return c;
}

std::string fixed(double x) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(4) << x;
  return s.str();
}

void report(const model_source& src, const std::string& config, const run_config& cfg,
            const eval_figures& f) {
  const auto right = static_cast<int64_t>(f.greedy_acc * static_cast<double>(f.problems) + 0.5);
  std::cout << src.what << (src.version >= 0 ? " (v" + std::to_string(src.version) + ")" : "")
            << " on " << f.problems
            << " held-out problems of " << cfg.task.kind << ": greedy accuracy "
            << fixed(f.greedy_acc) << " (" << right << "/" << f.problems << "), pass@" << f.k
            << " " << fixed(f.pass_at_k) << " (n=" << f.n << "), sampled accuracy "
            << fixed(f.sampled_acc) << "\n";
  json_record j;
  j.add("checkpoint", src.what).add("version", src.version).add("config", config)
    .add("task", cfg.task.kind).add("problems", f.problems)
    .add("k", static_cast<int64_t>(f.k)).add("n", static_cast<int64_t>(f.n))
    .add("greedy_acc", f.greedy_acc).add("pass_at_k", f.pass_at_k)
    .add("sampled_acc", f.sampled_acc);
  std::cout << j.str() << "\n";
}

std::optional<failure> run_eval(const command_line& cl) {
  const auto& path = cl.positionals()[0];
  const auto& config = cl.positionals()[1];
  auto cfg = load_run_config_or_error(config);
  if (!cfg)
    return failure{2, describe(cfg.error())};
  auto chosen = choices_of(cl, *cfg);
  if (!chosen)
    return failure{2, describe(chosen.error())};
  const auto& plan = chosen->plan;
  auto src = load_model_source(path, cfg->model.max_seq_len);
  if (!src)
    return failure{is(src.error(), errc::invalid_argument) ? 2 : 1, describe(src.error())};
  auto tok = task_tokenizer(*cfg);
  if (!tok)
    return failure{2, describe(tok.error())};
  const auto& model = src->model->config();
  if ((*tok)->vocab_size() > model.vocab_size)
    return failure{2, config + ": its tokenizer has " + std::to_string((*tok)->vocab_size())
                        + " ids, the model of " + src->what + " "
                        + std::to_string(model.vocab_size)};
  auto problems = held_out_problems(*cfg, chosen->split);
  if (!problems)
    return failure{2, describe(problems.error())};
  auto sampled = sampling_with_stops(*cfg);
  if (!sampled)
    return failure{2, describe(sampled.error())};
  auto items = encode_items(*problems, **tok, model.max_seq_len, sampled->max_new_tokens, config);
  if (!items)
    return failure{2, describe(items.error())};
  device_options dev;
  dev.device = cl.value("--device");
  dev.max_rows = static_cast<int32_t>(cl.as_int("--batch"));
  auto decoder = make_torch_eval_decoder(std::move(src->model),
                                         static_cast<int32_t>(cl.as_int("--threads")), dev);
  if (!decoder)
    return failure{1, describe(decoder.error())};
  auto check = make_answer_check(*cfg, *tok);
  auto r = evaluate_now(**decoder, *items, plan, *sampled, chosen->seed,
                        static_cast<size_t>(cl.as_int("--batch")), check, src->version);
  if (!r)
    return failure{1, describe(r.error())};
  report(*src, config, *cfg, r->figures);
  if (plan.samples > 0) {
    auto score = make_group_scoring(*cfg, *tok);
    if (!score)
      return failure{1, describe(score.error())};
    for (auto& line : sample_records(src->version, *items, r->samples, **tok, *score, check))
      std::cout << line.str() << "\n";
  }
  return std::nullopt;
}

} // namespace

int eval_command(const args& a) {
  auto cl = eval_flags();
  if (auto code = parse_or_exit(cl, a))
    return *code;
  if (auto f = run_eval(cl)) {
    std::cerr << "tandem eval: " << f->what << "\n";
    return f->code;
  }
  return 0;
}

} // namespace tandem
