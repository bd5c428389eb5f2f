// run_config.hpp: the typed configuration of one tandem run, one struct per
// component. Produced by load_run_config() (config_loader.hpp) and validated
// once there; components trust it afterwards.
//
// The YAML file mirrors these sections (see README "Config reference").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/grpo_config.hpp"
#include "models/learner_core.hpp"
#include "models/model_config.hpp"
#include "tasks/arithmetic_task.hpp"
#include "tasks/countdown_task.hpp"
#include "tasks/multidigit_task.hpp"
#include "tasks/prompt_template.hpp"
#include "tasks/reward_rules.hpp"

namespace tandem {

/// run: what the controller owns.
struct run_section {
  std::string name = "run";
  uint64_t seed = 1;
  int32_t steps = 100;            // optimizer steps (policy versions) to train
  int32_t groups_per_step = 16;   // prompts per training batch
  int32_t group_size = 8;         // completions per prompt (G)
  int32_t max_staleness = 1;      // eta; 0 = synchronous on-policy mode
  std::string output_dir = "runs/run";
  double target_reward = 0;       // stop early once the 10-step mean reaches it; 0 = off
  int32_t max_requeues = 3;       // a group failing more often is dropped and counted
  // Durable runs (docs/durable-runs.md). 100 steps: the default CPU run
  // (~1,400 steps to its target, ~15 steps/s) writes one every ~7 s and
  // loses at most that much to a head crash.
  int32_t checkpoint_every = 100; // steps between checkpoints; 0 = only on a signal
  int32_t keep_checkpoints = 3;   // newest checkpoints kept; older ones are deleted
  bool checkpoint_required = false; // a checkpoint that cannot be written stops the run
  int32_t max_head_restarts = 3;  // the supervisor restarts a dead head this often
  // Dynamic sampling (DAPO; actors/internal/group_filter.hpp): groups whose
  // rewards are all equal are filtered out and replaced by new prompts.
  bool dynamic_sampling = false;
  // Bound on the groups filtered between two steps; past it uninformative
  // groups are trained on (counted). 0 = 8 x groups_per_step: a policy with
  // one informative group in nine still steps at full batch size.
  int32_t max_filtered_per_step = 0;
};

/// task: where problems come from, and the tokenizer that frames them.
struct task_section {
  std::string kind = "arithmetic"; // "arithmetic" | "countdown" | "multidigit" | "jsonl" | "gsm8k"
  arithmetic_config arithmetic;    // task.seed and task.ops bind here for every kind
  countdown_config countdown;      // kind == countdown (seed copied by the checks)
  multidigit_config multidigit;    // kind == multidigit (seed and ops copied by the checks)
  std::string jsonl_path;          // for kind == jsonl | gsm8k (relative to the config file)
  // A Hugging Face tokenizer.json (relative to the config file) instead of
  // the built-in char tokenizer; required with model.hf_path.
  std::string tokenizer_path;
  std::string answer_prefix = "<answer>"; // appended to every question (tokenizer only)
  std::vector<std::string> stop_tokens;   // special tokens ending a completion (tokenizer only)
  // jsonl: the evaluation split (relative to the config file); "" = the
  // last tenth of task.path (tasks/eval_split.hpp)
  std::string eval_path;
  // task.format (framing.format), task.prompt_template, task.system_prompt:
  // the checks resolve the template into framing.prefix / suffix and set
  // framing.check (math for gsm8k, and for jsonl with the r1 format).
  task_framing framing;
  std::string prompt_template;     // "" = the question as it is; qwen | llama3 | text
  std::string system_prompt;
  int32_t max_prompt_tokens = 0;   // longer prompts are dropped; 0 = max_seq_len - max_new_tokens
};

/// sampler: the rollout actors.
struct sampler_section {
  int32_t count = 2;               // sampler actors in the head process
  int32_t processes = 0;           // extra OS processes, one sampler each
  int32_t groups_per_request = 4;  // groups a sampler decodes as one batch
  int32_t threads = 1;             // LibTorch intra-op threads per sampler
  sampling_params sampling;
  // > 0: simulation mode — samplers do not run the model but answer after
  // this many milliseconds per decoded token (as a sampler on its own
  // accelerator would), with completions of 2..max_new_tokens tokens.
  double simulated_token_ms = 0;
  // Where samplers decode: "cpu" (float32, decode_session) or "cuda" /
  // "cuda:N" (batch_generator: continuous batching, CUDA-graph decode step)
  // in dtype float32 | bfloat16 | float16.
  std::string device = "cpu";
  std::string dtype = "float32";
};

/// reward.kind: who scores a completion (tasks/reward_scorer.hpp).
enum class reward_kind : uint8_t {
  rules,   // the built-in rules through the tokenizer (the default)
  math,    // math::grade on the decoded completion (tasks/math_grader.hpp)
  http,    // POST to reward.url (tasks/http_scorer.hpp)
  command, // a user's program speaking JSON lines (tasks/command_scorer.hpp)
};

/// reward: the scoring actor.
struct reward_section {
  reward_weights weights;
  int32_t processes = 0;           // 1 = run the reward actor in its own process
  reward_kind kind = reward_kind::rules;
  std::string url;                  // http: http://host:port/path
  int32_t concurrency = 4;          // http: calls at once
  double timeout_s = 5;             // http, command: deadline of one call
  int32_t retries = 2;              // http: retries of transport errors
  std::vector<std::string> command; // command: argv of the scoring program
  int32_t instances = 1;            // command: programs per reward actor
  // DAPO soft overlong punishment (tasks/overlong_penalty.hpp): the last
  // overlong_buffer tokens before sampler.max_new_tokens cost up to
  // overlong_penalty of reward. 0 = off.
  int32_t overlong_buffer = 0;
  double overlong_penalty = 1.0;
};

/// learner: the GRPO update.
struct learner_section {
  optimizer_config optimizer;
  grpo_config grpo;
  int32_t mini_batches = 1;
  int32_t threads = 1;
  std::string device = "cpu";        // cpu | cuda | cuda:N
  std::string precision = "float32"; // float32 | bf16_autocast (CUDA)
  int64_t micro_batch_tokens = 0;    // gradient accumulation budget; 0 = one micro-batch
  bool activation_checkpointing = false; // recompute decoder layers in backward
  int64_t nccl_bucket_mb = 512;      // NCCL weight broadcast bucket (transports.weights: nccl)
  // Data parallelism (topology/internal/learner_checks.hpp has the rules):
  // each rank is one instance of the learner group, on its own GPU (or, on
  // cpu, a thread of one process), and trains on 1/ranks of every batch.
  int32_t ranks = 1;
  int32_t zero_stage = 0;            // 0 | 1 (AdamW state sharded) | 2 (+ gradients)
  int64_t grad_bucket_mb = 25;       // gradient all-reduce / reduce-scatter bucket
};

/// timeouts: every request between actors has one.
struct timeout_section {
  double generate_s = 120;  // one generate request (a batch of groups)
  double score_s = 30;      // one scoring request
  double train_s = 300;     // one learner step
  double connect_s = 30;    // a remote process joining the head
  double rejoin_s = 60;     // a worker waits this long for a restarted head
};

/// console: the monitoring console the head serves (docs/console.md).
struct console_section {
  bool enabled = true;
  std::string bind = "127.0.0.1"; // anything but loopback needs TANDEM_CONSOLE_TOKEN
  int32_t port = 0;               // 0: an ephemeral port (RUN_DIR/console.url names it)
  double no_progress_s = 10;      // the watchdog's shortest no-progress deadline
};

/// eval: held-out accuracy during training (actors/evaluator.hpp) and what
/// `tandem eval` samples by default.
struct eval_section {
  int32_t every = 0;          // steps between evaluations; 0 = off
  int32_t size = 100;         // problems of the held-out split evaluated
  int32_t k = 4;              // sampled completions per problem for pass@k
  int32_t samples_every = 0;  // steps between samples.jsonl records; 0 = off
  int32_t samples_count = 4;  // completions each of those records
};

struct run_config {
  std::string source_path;   // file it was loaded from
  run_section run;
  model_config model;        // vocab_size is filled from the tokenizer; with
                             // hf_path, every shape field from the checkpoint
  std::string hf_path;       // model.hf_path: checkpoint directory; "" = random init
  task_section task;
  sampler_section sampler;
  reward_section reward;
  learner_section learner;
  timeout_section timeouts;
  console_section console;
  eval_section eval;
  // Placement (which process, device and threads each actor gets, and how
  // weights and rollouts travel) is not here: it lives in the run's plan
  // (topology/process_plan.hpp), resolved once from the cluster.
};

/// Learner settings derived from a run config.
learner_settings make_learner_settings(const run_config& cfg);

/// Prompt tokens a prompt may have: task.max_prompt_tokens, or when 0 what
/// model.max_seq_len leaves after sampler.max_new_tokens. Longer prompts
/// are dropped (and counted) instead of sampled.
int32_t prompt_token_limit(const run_config& cfg);

} // namespace tandem
