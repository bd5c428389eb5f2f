#include "app/run_dir.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/head_lifecycle.hpp"
#include "runtime/atomic_file.hpp"
#include "runtime/error.hpp"
#include "runtime/file_system.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/tensorboard_sink.hpp"
#include "topology/effective_config.hpp"

namespace tandem {

namespace fs = std::filesystem;

caf::error write_head_info(const std::string& run_dir, const head_info& info) {
  return write_text_file(run_dir + "/head.json",
                         "{\"control\":" + json_quote(info.control) + ",\"data_port\":"
                           + std::to_string(info.data_port) + ",\"weights_port\":"
                           + std::to_string(info.weights_port) + ",\"pid\":"
                           + std::to_string(info.pid) + ",\"console_port\":"
                           + std::to_string(info.console_port) + "}");
}

caf::expected<head_info> read_head_info(const std::string& run_dir) {
  auto doc = read_json_file(run_dir + "/head.json", {false, errc::malformed_message});
  if (!doc)
    return doc.error();
  auto* c = doc->find("control");
  auto* d = doc->find("data_port");
  auto* w = doc->find("weights_port");
  auto* p = doc->find("pid");
  if (!c || !c->as_string() || !d || !d->as_integer() || !w || !w->as_integer() || !p
      || !p->as_integer())
    return make_error(errc::malformed_message, run_dir + "/head.json: missing fields");
  auto* cp = doc->find("console_port");
  int64_t console_port = cp && cp->as_integer() ? *cp->as_integer() : 0;
  return head_info{*c->as_string(), *d->as_integer(), *w->as_integer(), *p->as_integer(),
                   console_port};
}

caf::error append_event(const std::string& run_dir, const std::string& event,
                        const std::string& fields) {
  auto t = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  auto line = "{\"t\":" + json_number_text(t.count()) + ",\"event\":" + json_quote(event)
              + (fields.empty() ? "" : "," + fields) + "}\n";
  std::ofstream out(run_dir + "/events.jsonl", std::ios::app | std::ios::binary);
  out << line << std::flush;
  if (!out)
    return make_error(errc::io_failure, "cannot append to " + run_dir + "/events.jsonl");
  return caf::none;
}

int64_t endpoint_port(const std::string& endpoint) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos)
    return 0;
  try {
    return std::stoll(endpoint.substr(colon + 1));
  } catch (const std::exception&) {
    return 0;
  }
}

namespace {


/// metrics.jsonl keeps the records of steps 1..step (a torn last line or
/// records of steps trained after the checkpoint go); then appended to.
caf::expected<std::shared_ptr<metrics_sink>> continue_metrics(const std::string& dir,
                                                              int64_t step) {
  auto path = dir + "/metrics.jsonl";
  std::string kept;
  std::istringstream in(read_text_file(path));
  for (std::string line; std::getline(in, line);) {
    auto rec = parse_json(line, path, {false, errc::malformed_message});
    auto* s = rec ? rec->find("step") : nullptr;
    if (s && s->as_integer() && *s->as_integer() <= step)
      kept += line + "\n";
  }
  if (auto err = write_file_atomically(path, [&](std::ostream& out) { out << kept; }))
    return err;
  auto sink = jsonl_file_sink::open(path, true);
  if (!sink)
    return sink.error();
  return std::shared_ptr<metrics_sink>{std::move(*sink)};
}

/// RUN_DIR/tb/: a new event file for every head incarnation. A resumed head
/// writes the steps after its checkpoint again, into its own file;
/// TensorBoard reads every file in the directory and shows the newest value
/// of a step (such steps appear twice in the files; metrics.jsonl holds each
/// once). A convenience copy (metrics.jsonl is the record): its failure is
/// logged once on stderr and training goes on (best_effort_sink).
std::shared_ptr<best_effort_sink> tensorboard_copy(const std::string& dir) {
  auto tb = dir + "/tb";
  auto sink = tensorboard_sink::open(tb);
  std::unique_ptr<metrics_sink> inner;
  std::string what = "TensorBoard copy in " + tb;
  if (sink) {
    what = "TensorBoard copy " + (*sink)->path();
    inner = std::move(*sink);
  } else {
    std::cerr << what << " not written: " << describe(sink.error()) << "\n";
  }
  return std::make_shared<best_effort_sink>(std::move(inner), std::cerr, what);
}

caf::expected<std::vector<char>> file_of(const loaded_checkpoint& ck, const std::string& name) {
  auto it = ck.files.find(name);
  if (it == ck.files.end())
    return make_error(errc::malformed_message, ck.dir + ": no " + name);
  return it->second;
}

/// The checkpoint's parts, checked against the current config.
caf::error take_checkpoint(const run_config& cfg, const loaded_checkpoint& ck, restored_run& r) {
  auto current = read_text_file(cfg.source_path);
  auto saved = file_of(ck, "config.yaml");
  auto ctl = file_of(ck, "controller.json");
  auto weights = file_of(ck, "weights.bin");
  auto state = file_of(ck, "learner_state.bin");
  for (auto* e : {&saved, &ctl, &weights, &state})
    if (!*e)
      return e->error();
  if (auto field = incompatible_field(std::string(saved->begin(), saved->end()), current))
    return make_error(errc::invalid_config, "cannot resume from " + ck.dir + " with "
                                              + cfg.source_path + ": " + *field);
  auto snap = parse_controller_snapshot(std::string(ctl->begin(), ctl->end()),
                                        ck.dir + "/controller.json");
  if (!snap)
    return snap.error();
  r.controller = *snap;
  r.learner = learner_snapshot{ck.step, std::move(*weights), std::move(*state)};
  r.step = ck.step;
  return caf::none;
}

} // namespace

caf::expected<restored_run> restore_run(const run_config& cfg, bool resume) {
  const auto& dir = cfg.run.output_dir;
  restored_run r;
  r.store = std::make_shared<checkpoint_store>(real_file_system(), dir + "/checkpoints");
  if (resume) {
    std::vector<std::string> skipped;
    auto ck = r.store->load_newest(&skipped);
    for (auto& s : skipped)
      std::cerr << "skipping checkpoint " << s << "\n";
    if (ck) {
      if (auto err = take_checkpoint(cfg, *ck, r))
        return err;
      std::cerr << "resuming from " << ck->dir << " (step " << ck->step << ")\n";
      if (auto err = append_event(dir, "head_resumed", "\"step\":" + std::to_string(ck->step)))
        return err;
    } else {
      std::cerr << "no valid checkpoint in " << dir << "/checkpoints: starting from step 0\n";
    }
  }
  auto journal = run_journal::open(dir + "/journal.db");
  if (!journal)
    return journal.error();
  r.journal = std::move(*journal);
  auto inc = r.journal->begin_incarnation(r.step);
  if (!inc)
    return inc.error();
  r.incarnation = *inc;
  auto sink = continue_metrics(dir, r.step);
  if (!sink)
    return sink.error();
  r.tensorboard = tensorboard_copy(dir);
  r.metrics = std::make_shared<tee_sink>(std::move(*sink), r.tensorboard);
  return r;
}

caf::error restore_learner(training_backend& trainer, const restored_run& r) {
  if (!r.learner)
    return caf::none;
  auto& l = *r.learner;
  if (auto err = trainer.import_weights(l.weights, l.version))
    return err;
  return trainer.import_state(l.state);
}

run_dir_state inspect_run_dir(const std::string& dir, std::string* reason) {
  std::error_code ec;
  bool any = false;
  for (auto* f : {"config.yaml", "metrics.jsonl", "journal.db", "summary.json", "weights.tndm"})
    any |= fs::exists(fs::path(dir) / f, ec);
  if (!any)
    return run_dir_state::empty;
  auto doc = read_json_file(dir + "/summary.json", {false, errc::malformed_message});
  auto* why = doc ? doc->find("reason") : nullptr;
  auto* ok = doc ? doc->find("ok") : nullptr;
  if (why && why->as_string() && ok && ok->as_integer() && *ok->as_integer() == 1) {
    if (reason)
      *reason = *why->as_string();
    return run_dir_state::finished;
  }
  return run_dir_state::unfinished;
}

caf::error clear_run_dir(const std::string& dir) {
  for (auto* f : {"config.yaml", "metrics.jsonl", "journal.db", "journal.db-wal", "journal.db-shm",
                  "summary.json", "weights.tndm", "head.address", "head.json", "checkpoints",
                  "tb", "hf", "eval.jsonl", "samples.jsonl", "secret"}) {
    // remove_tree, not std::filesystem::remove_all: see file_system.hpp.
    if (auto err = real_file_system()->remove_tree(join_path(dir, f)))
      return err;
  }
  return caf::none;
}

} // namespace tandem
