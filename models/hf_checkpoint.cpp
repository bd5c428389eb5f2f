// hf_checkpoint.cpp: the weights of Hugging Face checkpoints: safetensors
// (single or sharded with an index) reading and writing, checked against the
// parameters the model expects (see hf_checkpoint.hpp; config.json is in
// hf_config.cpp). Torch-free: the LibTorch side
// (models/internal/transformer.cpp) only copies float buffers in and out.
//
// Saving writes each file to a .tmp and renames it; a crash in the middle of
// a sharded save can leave a mix of old and new shards, not a torn file.
//
// Thread safety: stateless.

#include "models/hf_checkpoint.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"
#include "runtime/safetensors.hpp"

namespace fs = std::filesystem;

namespace tandem {

namespace {

constexpr const char* single_file = "model.safetensors";
constexpr const char* index_file = "model.safetensors.index.json";

// --- weight files -------------------------------------------------------------

struct located {
  const safetensors_header* file;
  const safetensors_entry* entry;
};

caf::error bad_weights(const std::string& what) {
  return make_error(errc::malformed_message, what);
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string shape_text(const std::vector<uint64_t>& s) {
  return shape_text(std::vector<int64_t>(s.begin(), s.end()));
}

// A shard name from the index must stay inside the checkpoint directory.
bool plain_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos
         && name.find('\\') == std::string::npos && name != "." && name != "..";
}

// weight_map of DIR/model.safetensors.index.json: HF name -> shard file.
// Programs write it, so like a safetensors header a broken one is malformed
// data, and a tensor mapped twice is refused rather than resolved.
caf::expected<std::map<std::string, std::string>> read_index(const std::string& path) {
  auto doc = read_json_file(path, json_options{/*unique_keys=*/true, errc::malformed_message});
  if (!doc)
    return doc.error();
  const auto* wm = doc->find("weight_map");
  const auto* entries = wm == nullptr ? nullptr : wm->as_object();
  if (entries == nullptr)
    return bad_weights(path + (wm ? ":" + wm->where() : std::string())
                       + ": \"weight_map\" must be an object");
  std::map<std::string, std::string> out;
  for (const auto& m : *entries) {
    const auto* file = m.value.as_string();
    if (file == nullptr || !plain_file_name(*file))
      return bad_weights(path + ":" + m.value.where() + ": weight_map \"" + m.key
                         + "\" must name a file in the same directory");
    out[m.key] = *file;
  }
  return out;
}

// The weight files of `dir`: model.safetensors, else the shards its index
// names (`map`: HF name -> shard).
caf::error list_weight_files(const std::string& dir, std::vector<std::string>& names,
                             std::map<std::string, std::string>& map) {
  const auto single = (fs::path(dir) / single_file).string();
  const auto index = (fs::path(dir) / index_file).string();
  if (fs::exists(single)) {
    names.push_back(single_file);
  } else if (fs::exists(index)) {
    auto m = read_index(index);
    if (!m)
      return m.error();
    map = std::move(*m);
    std::set<std::string> unique;
    for (const auto& kv : map)
      if (unique.insert(kv.second).second)
        names.push_back(kv.second);
  } else {
    return make_error(errc::io_failure, dir + ": no " + single_file + " or " + index_file);
  }
  return {};
}

// Reads every header of the checkpoint; `map` (empty for a single file)
// must agree with where each tensor actually is.
caf::error read_headers(const std::string& dir, std::vector<safetensors_header>& files,
                        std::map<std::string, std::string>& map) {
  std::vector<std::string> names;
  if (auto err = list_weight_files(dir, names, map))
    return err;
  for (const auto& n : names) {
    auto h = read_safetensors_header((fs::path(dir) / n).string());
    if (!h)
      return h.error();
    files.push_back(std::move(*h));
  }
  return {};
}

caf::expected<std::map<std::string, located>>
locate_all(const std::string& dir, const std::vector<safetensors_header>& files,
           const std::map<std::string, std::string>& map) {
  std::map<std::string, located> out;
  for (const auto& f : files) {
    const auto file_name = fs::path(f.path).filename().string();
    for (const auto& e : f.tensors) {
      if (!map.empty()) {
        auto it = map.find(e.name);
        if (it == map.end() || it->second != file_name)
          return bad_weights(f.path + ": tensor \"" + e.name + "\" is not mapped to this file by "
                             + index_file);
      }
      if (!out.emplace(e.name, located{&f, &e}).second)
        return bad_weights(dir + ": tensor \"" + e.name + "\" appears in two files");
    }
  }
  for (const auto& kv : map)
    if (out.count(kv.first) == 0)
      return bad_weights(dir + "/" + kv.second + ": missing tensor \"" + kv.first
                         + "\" listed in " + index_file);
  return out;
}

bool skipped(const std::string& hf_name) {
  // Old Llama conversions saved the rotary frequencies; tandem recomputes them.
  static const std::string suffix = ".rotary_emb.inv_freq";
  return hf_name.size() > suffix.size()
         && hf_name.compare(hf_name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

caf::error check_tensor(const std::string& dir, const hf_tensor_spec& spec,
                        const std::map<std::string, located>& found) {
  const auto hf = to_hf_name(spec.name);
  auto it = found.find(hf);
  if (it == found.end())
    return bad_weights(dir + ": missing tensor \"" + hf + "\" (expected shape "
                       + shape_text(spec.shape) + ")");
  const auto& e = *it->second.entry;
  if (shape_text(e.shape) != shape_text(spec.shape))
    return bad_weights(it->second.file->path + ": tensor \"" + hf + "\" has shape "
                       + shape_text(e.shape) + ", expected " + shape_text(spec.shape));
  if (e.dtype != st_dtype::f32 && e.dtype != st_dtype::f16 && e.dtype != st_dtype::bf16
      && e.dtype != st_dtype::f64)
    return bad_weights(it->second.file->path + ": tensor \"" + hf + "\" has dtype "
                       + to_string(e.dtype) + ", expected a float type (F32, F16, BF16, F64)");
  return {};
}

caf::error check_complete(const std::string& dir, const std::vector<hf_tensor_spec>& specs,
                          const std::map<std::string, located>& found) {
  std::set<std::string> expected;
  for (const auto& s : specs) {
    if (auto err = check_tensor(dir, s, found))
      return err;
    expected.insert(to_hf_name(s.name));
  }
  for (const auto& kv : found) {
    if (expected.count(kv.first) != 0 || skipped(kv.first))
      continue;
    std::string why;
    if (kv.first == "lm_head.weight")
      why = " (config.json ties the embeddings: lm_head reuses model.embed_tokens.weight)";
    else if (kv.first.find(".bias") != std::string::npos)
      why = " (config.json's model_type has no such bias)";
    return bad_weights(kv.second.file->path + ": unexpected tensor \"" + kv.first + "\"" + why);
  }
  return {};
}

caf::error load_one(const hf_tensor_spec& spec, const located& at, size_t index,
                    const hf_tensor_sink& sink) {
  auto bytes = read_tensor_bytes(*at.file, *at.entry);
  if (!bytes)
    return bytes.error();
  auto values = to_float32(*at.file, *at.entry, *bytes);
  if (!values)
    return values.error();
  for (float x : *values)
    if (!std::isfinite(x))
      return make_error(errc::numeric_failure, at.file->path + ": tensor \"" + at.entry->name
                                                 + "\" holds a non-finite value");
  return sink(index, *values);
}

// --- writing ------------------------------------------------------------------

uint64_t tensor_bytes(const hf_tensor_ref& t) {
  uint64_t n = sizeof(float);
  for (auto d : t.shape)
    n *= static_cast<uint64_t>(d);
  return n;
}

// Consecutive groups whose bytes stay within `max` (a larger tensor alone).
std::vector<std::vector<size_t>> plan_shards(const std::vector<hf_tensor_ref>& tensors,
                                             uint64_t max) {
  std::vector<std::vector<size_t>> shards(1);
  uint64_t used = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto n = tensor_bytes(tensors[i]);
    if (!shards.back().empty() && used + n > max) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(i);
    used += n;
  }
  return shards;
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

caf::error write_shard(const fs::path& path, const std::vector<hf_tensor_ref>& tensors,
                       const std::vector<size_t>& members) {
  std::vector<safetensors_view> views;
  for (auto i : members) {
    const auto& t = tensors[i];
    views.push_back({to_hf_name(t.name), st_dtype::f32,
                     std::vector<uint64_t>(t.shape.begin(), t.shape.end()), t.data});
  }
  // transformers refuses a safetensors file whose format is not a known one.
  return write_safetensors(path.string(), views, {{"format", "pt"}});
}

std::string index_json(const std::vector<hf_tensor_ref>& tensors,
                       const std::vector<std::vector<size_t>>& shards) {
  std::map<std::string, std::string> weight_map;
  uint64_t total = 0, params = 0;
  for (size_t s = 0; s < shards.size(); ++s)
    for (auto i : shards[s]) {
      weight_map[to_hf_name(tensors[i].name)] = shard_name(s, shards.size());
      total += tensor_bytes(tensors[i]);
      params += tensor_bytes(tensors[i]) / sizeof(float);
    }
  std::string out = "{\n  \"metadata\": {\n    \"total_parameters\": " + std::to_string(params)
                    + ",\n    \"total_size\": " + std::to_string(total)
                    + "\n  },\n  \"weight_map\": {";
  size_t k = 0;
  for (const auto& kv : weight_map)
    out += std::string(k++ ? "," : "") + "\n    " + json_quote(kv.first) + ": "
           + json_quote(kv.second);
  return out + "\n  }\n}\n";
}

// "model-DDDDD-of-DDDDD.safetensors" (shard_name's form), checked by
// position: a directory's file names are not ours to feed to a regex engine.
bool is_shard_name(const std::string& name) {
  static const std::string form = "model-#####-of-#####.safetensors";
  if (name.size() != form.size())
    return false;
  for (size_t i = 0; i < form.size(); ++i) {
    const bool digit = name[i] >= '0' && name[i] <= '9';
    if (form[i] == '#' ? !digit : name[i] != form[i])
      return false;
  }
  return true;
}

// Files of an earlier save that the new one does not replace.
caf::error remove_stale(const fs::path& dir, const std::set<std::string>& written) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    const bool ours = name == single_file || name == index_file || is_shard_name(name);
    if (ours && written.count(name) == 0 && !fs::remove(entry.path(), ec))
      return make_error(errc::io_failure, "cannot remove stale " + entry.path().string());
  }
  if (ec)
    return make_error(errc::io_failure, "cannot list " + dir.string() + ": " + ec.message());
  return {};
}

} // namespace

// --- public -------------------------------------------------------------------

std::string to_hf_name(const std::string& tandem_name) {
  return tandem_name == "lm_head.weight" ? tandem_name : "model." + tandem_name;
}

caf::error read_hf_weights(const std::string& dir, const std::vector<hf_tensor_spec>& specs,
                           const hf_tensor_sink& sink) {
  std::vector<safetensors_header> files;
  std::map<std::string, std::string> map;
  if (auto err = read_headers(dir, files, map))
    return err;
  auto found = locate_all(dir, files, map);
  if (!found)
    return found.error();
  if (auto err = check_complete(dir, specs, *found))
    return err;
  for (size_t i = 0; i < specs.size(); ++i)
    if (auto err = load_one(specs[i], found->at(to_hf_name(specs[i].name)), i, sink))
      return err;
  return {};
}

std::vector<caf::error> check_hf_weights(const std::string& dir,
                                         const std::vector<hf_tensor_spec>& specs) {
  std::vector<safetensors_header> files;
  std::map<std::string, std::string> map;
  std::vector<std::string> names;
  if (auto err = list_weight_files(dir, names, map))
    return {err};
  std::vector<caf::error> errors;
  for (const auto& n : names) {
    auto h = read_safetensors_header((fs::path(dir) / n).string());
    if (h)
      files.push_back(std::move(*h));
    else
      errors.push_back(h.error());
  }
  if (!errors.empty())
    return errors;
  auto found = locate_all(dir, files, map);
  if (!found)
    return {found.error()};
  if (auto err = check_complete(dir, specs, *found))
    return {err};
  return {};
}

caf::error write_hf_weights(const std::string& dir, const std::vector<hf_tensor_ref>& tensors,
                            uint64_t max_shard_bytes) {
  if (max_shard_bytes == 0)
    return make_error(errc::invalid_argument, "write_hf_weights: max_shard_bytes must be > 0");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(errc::io_failure, "cannot create " + dir + ": " + ec.message());
  const auto shards = plan_shards(tensors, max_shard_bytes);
  std::set<std::string> written;
  if (shards.size() == 1) {
    written.insert(single_file);
    if (auto err = write_shard(fs::path(dir) / single_file, tensors, shards[0]))
      return err;
    return remove_stale(dir, written);
  }
  for (size_t s = 0; s < shards.size(); ++s) {
    const auto name = shard_name(s, shards.size());
    written.insert(name);
    if (auto err = write_shard(fs::path(dir) / name, tensors, shards[s]))
      return err;
  }
  written.insert(index_file);
  if (auto err = write_json_file((fs::path(dir) / index_file).string(), index_json(tensors, shards)))
    return err;
  return remove_stale(dir, written);
}

} // namespace tandem
