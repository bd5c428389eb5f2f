#include "runtime/checkpoint_store.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string_view>

#include "runtime/checksum.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

namespace {

// Every name under ROOT that starts with this is a temporary of write():
// never loaded, removed by the next write.
constexpr std::string_view tmp_prefix = ".tmp-";
constexpr std::string_view replaced_prefix = ".tmp-replaced-";
constexpr std::string_view step_prefix = "step-";

struct manifest_entry {
  std::string name;
  uint64_t bytes = 0;
  uint64_t checksum = 0;
};

// The context text of a tandem error ("cannot write P: ..."), else all of it.
std::string reason(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return describe(err);
}

void note(std::vector<std::string>* lines, std::string line) {
  if (lines != nullptr)
    lines->push_back(std::move(line));
}

std::string hex64(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(x));
  return buf;
}

bool parse_hex64(const std::string& s, uint64_t& x) {
  if (s.size() != 16)
    return false;
  x = 0;
  for (char c : s) {
    const auto pos = std::string_view("0123456789abcdef").find(c);
    if (pos == std::string_view::npos)
      return false;
    x = (x << 4) | pos;
  }
  return true;
}

// Empty when `name` may name a file of a checkpoint. Names come back from
// manifests on disk, so this also keeps a damaged manifest from reaching
// outside its directory ("../x").
std::string name_problem(const std::string& name) {
  const auto quoted = json_quote(name);
  if (name.empty() || name.size() > 255)
    return "file name " + quoted + " must have 1 to 255 characters";
  if (name[0] == '.')
    return "file name " + quoted + " starts with '.'";
  if (name == checkpoint_store::manifest_name)
    return "file name " + quoted + " is the store's own manifest";
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '.' || c == '_' || c == '-'))
      return "file name " + quoted + " has a character other than A-Z a-z 0-9 . _ -";
  return {};
}

caf::error check_request(int64_t step, const std::vector<checkpoint_file>& files,
                         int32_t keep) {
  const auto what = "checkpoint step " + std::to_string(step) + ": ";
  if (step < 0)
    return make_error(errc::invalid_argument, what + "the step must be >= 0");
  if (keep < 1)
    return make_error(errc::invalid_argument,
                      what + "keep is " + std::to_string(keep) + ", must be >= 1");
  if (files.size() > checkpoint_store::max_files)
    return make_error(errc::invalid_argument,
                      what + std::to_string(files.size()) + " files, more than "
                        + std::to_string(checkpoint_store::max_files));
  std::set<std::string> seen;
  for (const auto& f : files) {
    if (auto p = name_problem(f.name); !p.empty())
      return make_error(errc::invalid_argument, what + p);
    if (!seen.insert(f.name).second)
      return make_error(errc::invalid_argument,
                        what + "file " + json_quote(f.name) + " given twice");
  }
  return caf::none;
}

std::string manifest_text(int64_t step, const std::vector<manifest_entry>& entries) {
  std::string out = "{\"format\":" + std::to_string(checkpoint_store::format_version)
                    + ",\"step\":" + std::to_string(step) + ",\"files\":[";
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    out += i == 0 ? "\n  " : ",\n  ";
    out += "{\"name\":" + json_quote(e.name) + ",\"bytes\":" + std::to_string(e.bytes)
           + ",\"checksum\":\"" + hex64(e.checksum) + "\"}";
  }
  return out + "\n]}\n";
}

caf::error bad_manifest(const std::string& what) {
  return make_error(errc::malformed_message, std::string{checkpoint_store::manifest_name}
                                               + ": " + what);
}

caf::expected<manifest_entry> parse_entry(const json_value& v, size_t index) {
  const auto where = "files[" + std::to_string(index) + "]: ";
  const json_value* name = v.find("name");
  const json_value* bytes = v.find("bytes");
  const json_value* sum = v.find("checksum");
  if (name == nullptr || name->as_string() == nullptr || bytes == nullptr
      || bytes->as_integer() == nullptr || *bytes->as_integer() < 0 || sum == nullptr
      || sum->as_string() == nullptr)
    return bad_manifest(where + "needs \"name\" (a string), \"bytes\" (an integer >= 0) "
                                "and \"checksum\" (16 hex digits)");
  manifest_entry e{*name->as_string(), static_cast<uint64_t>(*bytes->as_integer()), 0};
  if (auto p = name_problem(e.name); !p.empty())
    return bad_manifest(where + p);
  if (!parse_hex64(*sum->as_string(), e.checksum))
    return bad_manifest(where + "checksum " + json_quote(*sum->as_string())
                        + " is not 16 lowercase hex digits");
  return e;
}

caf::expected<std::vector<manifest_entry>> parse_manifest(const std::vector<char>& text,
                                                          int64_t step) {
  json_options opts;
  opts.unique_keys = true;
  opts.code = errc::malformed_message;
  auto doc = parse_json(std::string_view(text.data(), text.size()),
                        checkpoint_store::manifest_name, opts);
  if (!doc)
    return doc.error();
  if (doc->as_object() == nullptr)
    return bad_manifest(std::string{"not a JSON object but "} + doc->type_name());
  const json_value* format = doc->find("format");
  if (format == nullptr || format->as_integer() == nullptr
      || *format->as_integer() != checkpoint_store::format_version)
    return bad_manifest("\"format\" must be 1 (the format this tandem reads)");
  const json_value* at = doc->find("step");
  if (at == nullptr || at->as_integer() == nullptr || *at->as_integer() != step)
    return bad_manifest("\"step\" does not match the directory's step "
                        + std::to_string(step));
  const json_value* files = doc->find("files");
  if (files == nullptr || files->as_array() == nullptr)
    return bad_manifest("\"files\" must be an array");
  if (files->as_array()->size() > checkpoint_store::max_files)
    return bad_manifest(std::to_string(files->as_array()->size()) + " files, more than "
                        + std::to_string(checkpoint_store::max_files));
  std::vector<manifest_entry> out;
  std::set<std::string> seen;
  for (const auto& v : *files->as_array()) {
    auto e = parse_entry(v, out.size());
    if (!e)
      return e.error();
    if (!seen.insert(e->name).second)
      return bad_manifest("file " + json_quote(e->name) + " is listed twice");
    out.push_back(std::move(*e));
  }
  return out;
}

// Empty when file `e` in `dir` checks out; else "NAME: why". Reads the file
// (into `out`, when given) unless only sizes are asked for.
std::string verify_file(file_system& fs, const std::string& dir, const manifest_entry& e,
                        checkpoint_check how, loaded_checkpoint* out) {
  const auto path = join_path(dir, e.name);
  if (!fs.exists(path))
    return e.name + ": missing";
  auto size = fs.file_size(path);
  if (!size)
    return e.name + ": " + reason(size.error());
  if (*size != e.bytes)
    return e.name + ": " + std::to_string(*size) + " bytes, the manifest says "
           + std::to_string(e.bytes);
  if (how == checkpoint_check::sizes && out == nullptr)
    return {};
  auto bytes = fs.read_file(path, e.bytes);
  if (!bytes)
    return e.name + ": " + reason(bytes.error());
  if (bytes->size() != e.bytes || fast_checksum64(bytes->data(), bytes->size()) != e.checksum)
    return e.name + ": checksum mismatch";
  if (out != nullptr)
    out->files[e.name] = std::move(*bytes);
  return {};
}

// The step of a directory named exactly dir_name(step), or -1.
int64_t parse_step_name(const std::string& name) {
  if (name.compare(0, step_prefix.size(), step_prefix) != 0)
    return -1;
  const auto digits = name.substr(step_prefix.size());
  if (digits.empty() || digits.size() > 18
      || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  const int64_t step = std::stoll(digits);
  return checkpoint_store::dir_name(step) == name ? step : -1;
}

} // namespace

checkpoint_store::checkpoint_store(std::shared_ptr<file_system> fs, std::string root)
  : fs_(std::move(fs)), root_(std::move(root)) {
}

std::string checkpoint_store::dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%08lld", static_cast<long long>(step));
  return buf;
}

caf::expected<std::vector<checkpoint_store::step_dir>>
checkpoint_store::scan(std::vector<std::string>* temporaries) {
  std::vector<step_dir> out;
  if (!fs_->exists(root_))
    return out;
  auto entries = fs_->list_dir(root_);
  if (!entries)
    return entries.error();
  for (const auto& e : *entries) {
    if (!e.is_dir)
      continue;
    if (e.name.compare(0, tmp_prefix.size(), tmp_prefix) == 0)
      note(temporaries, e.name);
    else if (const int64_t step = parse_step_name(e.name); step >= 0)
      out.push_back({step, e.name});
  }
  std::sort(out.begin(), out.end(),
            [](const step_dir& a, const step_dir& b) { return a.step > b.step; });
  return out;
}

std::string checkpoint_store::verify(const step_dir& d, checkpoint_check how,
                                     loaded_checkpoint* out) {
  const auto dir = join_path(root_, d.name);
  const auto manifest_path = join_path(dir, manifest_name);
  auto text = fs_->read_file(manifest_path, max_manifest_bytes);
  if (!text)
    return fs_->exists(manifest_path) ? std::string{manifest_name} + ": " + reason(text.error())
                                      : std::string{"no "} + manifest_name;
  auto entries = parse_manifest(*text, d.step);
  if (!entries)
    return reason(entries.error());
  for (const auto& e : *entries)
    if (auto problem = verify_file(*fs_, dir, e, how, out); !problem.empty())
      return problem;
  if (out != nullptr) {
    out->step = d.step;
    out->dir = dir;
  }
  return {};
}

caf::error checkpoint_store::ensure_root() {
  if (fs_->exists(root_))
    return caf::none;
  if (auto err = fs_->create_dir(root_))
    return err;
  return fs_->sync_dir(parent_dir(root_));
}

caf::error checkpoint_store::fill(const std::string& tmp, int64_t step,
                                  const std::vector<checkpoint_file>& files) {
  if (auto err = fs_->remove_tree(tmp)) // a stale one from a crashed write
    return err;
  if (auto err = fs_->create_dir(tmp))
    return err;
  std::vector<manifest_entry> entries;
  for (const auto& f : files) {
    if (auto err = fs_->write_bytes(join_path(tmp, f.name), f.bytes.data(), f.bytes.size()))
      return err;
    entries.push_back({f.name, f.bytes.size(), fast_checksum64(f.bytes.data(), f.bytes.size())});
  }
  // The manifest goes last: a directory with a complete manifest has all
  // of its files (each was fsynced before the manifest was written).
  const auto text = manifest_text(step, entries);
  if (auto err = fs_->write_bytes(join_path(tmp, manifest_name), text.data(), text.size()))
    return err;
  return fs_->sync_dir(tmp);
}

caf::error checkpoint_store::publish(const std::string& tmp, const std::string& name,
                                     std::vector<std::string>* problems) {
  const auto final_dir = join_path(root_, name);
  const auto aside = join_path(root_, std::string{replaced_prefix} + name);
  const bool replacing = fs_->exists(final_dir);
  if (replacing) {
    if (auto err = fs_->remove_tree(aside))
      return err;
    if (auto err = fs_->rename(final_dir, aside))
      return err;
  }
  if (auto err = fs_->rename(tmp, final_dir)) {
    if (replacing)
      fs_->rename(aside, final_dir); // put the old one back
    return err;
  }
  if (auto err = fs_->sync_dir(root_))
    return err;
  if (replacing)
    if (auto err = fs_->remove_tree(aside))
      note(problems, reason(err));
  return caf::none;
}

caf::expected<std::string> checkpoint_store::write(int64_t step,
                                                   const std::vector<checkpoint_file>& files,
                                                   int32_t keep,
                                                   std::vector<std::string>* prune_problems) {
  if (auto err = check_request(step, files, keep))
    return err;
  const auto name = dir_name(step);
  const auto tmp = join_path(root_, std::string{tmp_prefix} + name);
  if (auto err = ensure_root())
    return err;
  if (auto err = fill(tmp, step, files)) {
    fs_->remove_tree(tmp);
    return err;
  }
  if (auto err = publish(tmp, name, prune_problems)) {
    fs_->remove_tree(tmp);
    return err;
  }
  prune(step, keep, prune_problems);
  return join_path(root_, name);
}

// Removals are not fsynced: a removed checkpoint that reappears after a
// power loss is valid or skipped, and the next prune removes it again.
void checkpoint_store::prune(int64_t written, int32_t keep, std::vector<std::string>* problems) {
  std::vector<std::string> temporaries;
  auto dirs = scan(&temporaries);
  if (!dirs) {
    note(problems, reason(dirs.error()));
    return;
  }
  std::vector<std::string> doomed = temporaries;
  int32_t kept = 0;
  for (const auto& d : *dirs) { // newest first
    if (d.step == written) {
      ++kept;
      continue;
    }
    const bool valid = verify(d, checkpoint_check::sizes, nullptr).empty();
    if (valid && kept < keep)
      ++kept;
    else if (valid || d.step < written)
      doomed.push_back(d.name);
  }
  for (const auto& name : doomed)
    if (auto err = fs_->remove_tree(join_path(root_, name)))
      note(problems, reason(err));
}

caf::expected<loaded_checkpoint>
checkpoint_store::load_newest(std::vector<std::string>* skipped) {
  auto dirs = scan(nullptr);
  if (!dirs)
    return dirs.error();
  for (const auto& d : *dirs) {
    loaded_checkpoint c;
    auto problem = verify(d, checkpoint_check::contents, &c);
    if (problem.empty())
      return c;
    note(skipped, d.name + ": " + problem);
  }
  std::string what = "no valid checkpoint in " + root_;
  if (!dirs->empty())
    what += " (" + std::to_string(dirs->size()) + " invalid)";
  return make_error(errc::not_found, what);
}

caf::expected<loaded_checkpoint> checkpoint_store::load(int64_t step) {
  auto dirs = scan(nullptr);
  if (!dirs)
    return dirs.error();
  for (const auto& d : *dirs) {
    if (d.step != step)
      continue;
    loaded_checkpoint c;
    auto problem = verify(d, checkpoint_check::contents, &c);
    if (problem.empty())
      return c;
    return make_error(errc::malformed_message, join_path(root_, d.name) + ": " + problem);
  }
  return make_error(errc::not_found,
                    "no checkpoint of step " + std::to_string(step) + " in " + root_);
}

caf::expected<std::vector<checkpoint_info>> checkpoint_store::list(checkpoint_check how) {
  auto dirs = scan(nullptr);
  if (!dirs)
    return dirs.error();
  std::vector<checkpoint_info> out;
  for (const auto& d : *dirs) {
    auto problem = verify(d, how, nullptr);
    out.push_back({d.step, join_path(root_, d.name), problem.empty(), problem});
  }
  return out;
}

} // namespace tandem
