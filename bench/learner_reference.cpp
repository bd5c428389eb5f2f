// learner_reference.cpp: see learner_reference.hpp.
#include "bench/learner_reference.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "bench/reference_process.hpp"
#include "runtime/error.hpp"
#include "runtime/metrics_sink.hpp"

namespace tandem {

namespace {

caf::expected<std::string> make_workdir(const learner_bench_options& o) {
  if (!o.workdir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.workdir, ec);
    if (ec)
      return make_error(errc::io_failure, "cannot create " + o.workdir + ": " + ec.message());
    return o.workdir;
  }
  char tmpl[] = "/tmp/tandem-bench-learner-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    return make_error(errc::io_failure, "cannot create a directory under /tmp");
  return std::string(tmpl);
}

std::string batch_header(const learner_bench_options& o, const learner_settings& s,
                         const std::string& model_dir) {
  // Rows per micro-batch: for rows of equal length the learner's plan packs
  // floor(budget / row length) rows (learner_step.hpp).
  const int64_t row = o.prompt_len + o.completion_len;
  const int64_t per_micro = o.micro_batch_tokens > 0
                              ? std::max<int64_t>(1, o.micro_batch_tokens / row)
                              : o.batch_seqs;
  const auto& g = s.grpo;
  json_record h;
  h.add("format", std::string("tandem-grpo-batch/1")).add("model_dir", model_dir)
    .add("rows", o.batch_seqs).add("prompt_len", o.prompt_len)
    .add("completion_len", o.completion_len).add("steps", o.steps).add("warmup", o.warmup)
    .add("micro_batch_rows", per_micro).add("device", o.device).add("precision", o.precision)
    .add("activation_checkpointing", int64_t{o.checkpointing}).add("lr", s.optimizer.lr)
    .add("beta1", s.optimizer.beta1).add("beta2", s.optimizer.beta2)
    .add("weight_decay", s.optimizer.weight_decay).add("grad_clip", s.optimizer.grad_clip)
    .add("temperature", s.temperature).add("eps_low", g.eps_low).add("eps_high", g.eps_high)
    .add("decoupled", int64_t{g.decoupled}).add("behav_weight_cap", g.behav_weight_cap)
    .add("aggregation", std::string(to_string(g.aggregation))).add("kl_beta", g.kl_beta)
    .add("entropy_coef", g.entropy_coef);
  return h.str();
}

caf::error write_batch(const std::string& path, const std::string& header,
                       const std::vector<train_sequence>& batch) {
  std::ofstream out(path, std::ios::binary);
  out << header << '\n';
  auto put = [&out](const auto& v) {
    out.write(reinterpret_cast<const char*>(v.data()),
              static_cast<std::streamsize>(v.size() * sizeof(v[0])));
  };
  for (const auto& s : batch) {
    put(s.prompt);
    put(s.completion);
  }
  for (const auto& s : batch)
    put(s.behav_logprobs);
  std::vector<float> adv;
  for (const auto& s : batch)
    adv.push_back(static_cast<float>(s.advantage));
  put(adv);
  out.close();
  if (!out)
    return make_error(errc::io_failure, "cannot write " + path);
  return caf::none;
}

caf::expected<side_result> run_reference_script(const learner_bench_options& o,
                                                const std::string& batch_path,
                                                const std::string& result_path) {
  auto argv = split_command(o.reference);
  argv.insert(argv.end(), {"--batch", batch_path});
  auto doc = run_reference(argv, result_path, std::chrono::seconds(o.reference_timeout_s));
  if (!doc)
    return doc.error();
  side_result r;
  const std::pair<const char*, double*> fields[] = {{"tokens_per_s", &r.tokens_per_s},
                                                    {"step_s", &r.step_s},
                                                    {"first_loss", &r.first_loss},
                                                    {"first_grad_norm", &r.first_grad_norm}};
  for (const auto& [key, target] : fields) {
    auto x = json_number_at(*doc, key, result_path);
    if (!x)
      return x.error();
    *target = *x;
  }
  if (const auto* about = doc->find("about"); about != nullptr && about->as_string() != nullptr)
    r.about = *about->as_string();
  return r;
}

/// The checkpoint the reference loads: --model, or --shape's seeded weights
/// saved from a CPU learner (no device memory held while the reference runs).
caf::expected<std::string> reference_model_dir(const learner_bench_options& o,
                                               learner_settings s, const std::string& workdir) {
  if (!o.model_dir.empty())
    return o.model_dir;
  s.device = "cpu";
  s.precision = "float32";
  auto cpu = learner_core::make(s);
  if (!cpu)
    return cpu.error();
  const auto dir = workdir + "/model";
  if (auto err = (*cpu)->save_hf(dir))
    return err;
  return dir;
}

} // namespace

caf::expected<side_result> run_learner_reference(const learner_bench_options& o,
                                                 const learner_settings& s,
                                                 const std::vector<train_sequence>& batch) {
  auto workdir = make_workdir(o);
  if (!workdir)
    return workdir.error();
  auto model_dir = reference_model_dir(o, s, *workdir);
  if (!model_dir)
    return model_dir.error();
  const auto batch_path = *workdir + "/batch.bin";
  if (auto err = write_batch(batch_path, batch_header(o, s, *model_dir), batch))
    return err;
  std::printf("reference: %s (work directory %s)\n", o.reference.c_str(), workdir->c_str());
  std::fflush(stdout);
  return run_reference_script(o, batch_path, *workdir + "/reference.json");
}

// The first-step losses agree within a tolerance set by the precision: in
// float32 only summation order differs; under bf16 autocast both sides round
// logits to 8 mantissa bits, in different kernels.
bool print_comparison(const learner_bench_options& o, const side_result& t,
                      const side_result& ref) {
  const bool fp32 = o.precision == "float32";
  const double tol_abs = fp32 ? 1e-4 : 2e-2, tol_rel = fp32 ? 1e-4 : 2e-2;
  const double diff = std::abs(t.first_loss - ref.first_loss);
  const double bound = tol_abs + tol_rel * std::abs(ref.first_loss);
  const bool pass = diff <= bound;
  std::printf("%-26s %12.3f\n", "tandem / reference", t.tokens_per_s / ref.tokens_per_s);
  std::printf("%-26s |diff| %.3g <= %.3g (%s: %g abs + %g rel)  %s\n", "first-step loss check",
              diff, bound, o.precision.c_str(), tol_abs, tol_rel, pass ? "PASS" : "FAIL");
  std::printf("%-26s relative diff %.3g (information only)\n", "first-step grad norm",
              std::abs(t.first_grad_norm - ref.first_grad_norm)
                / std::max(std::abs(ref.first_grad_norm), 1e-12));
  return pass;
}

} // namespace tandem
