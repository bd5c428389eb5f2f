#include "actors/recorder.hpp"

#include <iostream>

#include <caf/all.hpp>

#include "runtime/error.hpp"

namespace tandem {

namespace {

std::vector<journal_group> to_journal(const std::vector<group_ref>& gs) {
  std::vector<journal_group> out;
  out.reserve(gs.size());
  for (auto& g : gs)
    out.push_back({g.group_id, g.problem_id});
  return out;
}

caf::result<std::string> write(recorder_actor_t* self, checkpoint_write& w) {
  auto& st = self->state;
  if (!st.store)
    return make_error(errc::invalid_argument, "this head keeps no checkpoints");
  std::vector<checkpoint_file> files;
  for (auto& f : w.files)
    files.push_back({f.name, std::move(f.bytes)});
  for (auto& f : st.constant)
    files.push_back({f.name, f.bytes});
  auto dir = st.store->write(w.step, files, st.keep);
  if (!dir)
    return dir.error();
  if (st.after_write)
    if (auto err = st.after_write(*dir, files)) {
      ++st.hook_failures;
      std::cerr << "[recorder] " << *dir << ": " << describe(err) << " (failure "
                << st.hook_failures << "; the checkpoint itself is complete)\n";
    }
  return *dir;
}

} // namespace

caf::behavior recorder_actor(recorder_actor_t* self, std::shared_ptr<run_journal> journal,
                             std::shared_ptr<checkpoint_store> store, int32_t keep,
                             std::vector<checkpoint_blob> constant,
                             checkpoint_hook after_write) {
  self->state.constant = std::move(constant);
  self->state.after_write = std::move(after_write);
  self->state.journal = std::move(journal);
  self->state.store = std::move(store);
  self->state.keep = keep;
  return {
    [=](journal_step& j) -> caf::result<int64_t> {
      auto& jl = self->state.journal;
      if (jl)
        if (auto err = jl->record_step(j.step, j.version, to_journal(j.issued),
                                       to_journal(j.consumed), to_journal(j.dropped)))
          return err;
      return j.step;
    },
    [=](checkpoint_write& w) { return write(self, w); },
    [=](journal_finish& f) {
      if (auto& jl = self->state.journal)
        self->state.finish_failed = jl->record_finish(f.ok, to_journal(f.issued),
                                                      to_journal(f.dropped),
                                                      to_journal(f.outstanding), f.problems_drawn);
    },
    [=](status_atom) -> caf::result<std::string> {
      if (auto& err = self->state.finish_failed)
        return make_error(errc::io_failure,
                          "the end of the run could not be journaled: " + describe(err));
      return std::string{"ok"};
    },
  };
}

} // namespace tandem
