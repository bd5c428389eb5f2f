// hf_export.cpp: a weight blob as a Hugging Face directory (see
// hf_export.hpp). Torch-free: the blob layout comes from
// policy_tensor_specs, which mirrors the module registration order of
// models/internal/transformer.cpp (hf_export_test checks the two agree by
// loading an export back into a policy).
//
// Thread safety: stateless functions; hf_exporter is immutable.

#include "models/hf_export.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "runtime/error.hpp"
#include "runtime/file_system.hpp"
#include "runtime/json_reader.hpp"

namespace stdfs = std::filesystem;

namespace tandem {

namespace {

constexpr const char* weights_file = "model.safetensors";

// Tokenizer files of a Hugging Face directory, copied when present.
const char* const tokenizer_files[] = {
  "tokenizer.json",     "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
  "merges.txt",         "added_tokens.json",     "generation_config.json",
};

caf::expected<std::vector<char>> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(errc::io_failure, "cannot read " + path);
  std::vector<char> out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    return make_error(errc::io_failure, "cannot read " + path);
  return out;
}

bool is_file(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::is_regular_file(p, ec);
}

// The safetensors files of an input directory: model.safetensors, else the
// shards its index names.
caf::expected<std::vector<std::string>> weight_files(const std::string& dir) {
  const auto single = stdfs::path(dir) / weights_file;
  if (is_file(single))
    return std::vector<std::string>{single.string()};
  const auto index = (stdfs::path(dir) / "model.safetensors.index.json").string();
  auto doc = read_json_file(index, json_options{true, errc::malformed_message});
  if (!doc)
    return doc.error();
  const auto* map = doc->find("weight_map");
  if (map == nullptr || map->as_object() == nullptr)
    return make_error(errc::malformed_message, index + ": \"weight_map\" must be an object");
  std::set<std::string> names;
  for (const auto& m : *map->as_object())
    if (const auto* f = m.value.as_string())
      names.insert(*f);
  std::vector<std::string> out;
  for (const auto& n : names)
    out.push_back((stdfs::path(dir) / n).string());
  return out;
}

// HF tensor name -> its header entry, over every weight file of `dir`.
caf::expected<std::map<std::string, safetensors_entry>> input_tensors(const std::string& dir) {
  auto files = weight_files(dir);
  if (!files)
    return files.error();
  std::map<std::string, safetensors_entry> out;
  for (const auto& f : *files) {
    auto h = read_safetensors_header(f);
    if (!h)
      return h.error();
    for (const auto& t : h->tensors)
      out[t.name] = t;
  }
  return out;
}

caf::expected<std::vector<st_dtype>> dtypes_for(const std::string& dir,
                                                const std::vector<hf_tensor_spec>& specs) {
  auto found = input_tensors(dir);
  if (!found)
    return found.error();
  std::vector<st_dtype> out;
  for (const auto& s : specs) {
    auto it = found->find(to_hf_name(s.name));
    if (it == found->end())
      return make_error(errc::malformed_message,
                        dir + ": no tensor \"" + to_hf_name(s.name) + "\" to take the dtype of");
    if (it->second.shape != std::vector<uint64_t>(s.shape.begin(), s.shape.end()))
      return make_error(errc::malformed_message,
                        dir + ": tensor \"" + it->first + "\" is not shaped like the policy's");
    const auto t = it->second.dtype;
    if (t != st_dtype::f32 && t != st_dtype::f16 && t != st_dtype::bf16 && t != st_dtype::f64)
      return make_error(errc::malformed_message, dir + ": tensor \"" + it->first + "\" has dtype "
                                                   + to_string(t) + ", not a float type");
    out.push_back(t);
  }
  return out;
}

// config.json, then the tokenizer files (see the header for precedence).
caf::expected<std::vector<std::pair<std::string, std::vector<char>>>>
source_files(const hf_export_source& src) {
  std::vector<std::pair<std::string, stdfs::path>> picked{
    {"config.json", stdfs::path(src.hf_dir) / "config.json"}};
  const auto tok_dir = src.tokenizer_path.empty() ? stdfs::path()
                                                  : stdfs::path(src.tokenizer_path).parent_path();
  for (const char* name : tokenizer_files) {
    stdfs::path from;
    if (std::string(name) == "tokenizer.json" && !src.tokenizer_path.empty())
      from = src.tokenizer_path; // the tokenizer the run encoded with
    else if (is_file(stdfs::path(src.hf_dir) / name))
      from = stdfs::path(src.hf_dir) / name;
    else if (!tok_dir.empty() && is_file(tok_dir / name))
      from = tok_dir / name;
    if (!from.empty())
      picked.emplace_back(name, from);
  }
  std::vector<std::pair<std::string, std::vector<char>>> out;
  for (const auto& [name, from] : picked) {
    auto bytes = read_whole(from.string());
    if (!bytes)
      return bytes.error();
    out.emplace_back(name, std::move(*bytes));
  }
  return out;
}

uint64_t elements(const hf_tensor_spec& s) {
  uint64_t n = 1;
  for (auto d : s.shape)
    n *= static_cast<uint64_t>(d);
  return n;
}

caf::error fail_step(const std::string& what, const caf::error& err) {
  return make_error(errc::io_failure, what + ": " + describe(err));
}

} // namespace

std::vector<hf_tensor_spec> policy_tensor_specs(const model_config& c) {
  const int64_t hd = head_dim_of(c);
  const int64_t h = c.hidden_size, q = c.num_heads * hd, kv = c.num_kv_heads * hd;
  std::vector<hf_tensor_spec> out{{"embed_tokens.weight", {c.vocab_size, h}}};
  for (int32_t i = 0; i < c.num_layers; ++i) {
    const auto l = "layers." + std::to_string(i) + ".";
    // torch::nn::Linear registers weight, then bias.
    for (auto [name, rows] : {std::pair<const char*, int64_t>{"q_proj", q}, {"k_proj", kv},
                              {"v_proj", kv}}) {
      out.push_back({l + "self_attn." + name + ".weight", {rows, h}});
      if (c.attention_bias)
        out.push_back({l + "self_attn." + name + ".bias", {rows}});
    }
    out.push_back({l + "self_attn.o_proj.weight", {h, q}});
    if (c.qk_norm) { // Qwen3: per-head RMSNorm gains, registered after o_proj
      out.push_back({l + "self_attn.q_norm.weight", {hd}});
      out.push_back({l + "self_attn.k_norm.weight", {hd}});
    }
    out.push_back({l + "mlp.gate_proj.weight", {c.intermediate_size, h}});
    out.push_back({l + "mlp.up_proj.weight", {c.intermediate_size, h}});
    out.push_back({l + "mlp.down_proj.weight", {h, c.intermediate_size}});
    out.push_back({l + "input_layernorm.weight", {h}});
    out.push_back({l + "post_attention_layernorm.weight", {h}});
  }
  out.push_back({"norm.weight", {h}});
  if (!c.tie_embeddings)
    out.push_back({"lm_head.weight", {c.vocab_size, h}});
  return out;
}

caf::expected<hf_exporter> hf_exporter::make(const hf_export_source& src) {
  hf_exporter e;
  e.specs_ = policy_tensor_specs(src.model);
  auto dtypes = dtypes_for(src.hf_dir, e.specs_);
  if (!dtypes)
    return dtypes.error();
  e.dtypes_ = std::move(*dtypes);
  auto files = source_files(src);
  if (!files)
    return files.error();
  e.copies_ = std::move(*files);
  return e;
}

std::vector<std::string> hf_exporter::file_names() const {
  std::vector<std::string> out{copies_.front().first, weights_file};
  for (size_t i = 1; i < copies_.size(); ++i)
    out.push_back(copies_[i].first);
  return out;
}

caf::error hf_exporter::fill(file_system& fs, const std::vector<char>& weights,
                             const std::string& dir) const {
  std::vector<std::vector<char>> converted(specs_.size());
  std::vector<safetensors_view> views;
  size_t off = 0;
  for (size_t i = 0; i < specs_.size(); ++i) {
    const auto n = elements(specs_[i]);
    std::vector<float> values(n);
    std::memcpy(values.data(), weights.data() + off, n * sizeof(float));
    off += n * sizeof(float);
    auto bytes = from_float32(values.data(), n, dtypes_[i]);
    if (!bytes)
      return bytes.error();
    converted[i] = std::move(*bytes);
    const auto& shape = specs_[i].shape;
    views.push_back({to_hf_name(specs_[i].name), dtypes_[i],
                     std::vector<uint64_t>(shape.begin(), shape.end()), converted[i].data()});
  }
  // transformers refuses a safetensors file whose format is not a known one.
  if (auto err = write_safetensors(fs, join_path(dir, weights_file), views, {{"format", "pt"}}))
    return err;
  for (const auto& [name, bytes] : copies_)
    if (auto err = fs.write_bytes(join_path(dir, name), bytes.data(), bytes.size()))
      return err;
  return fs.sync_dir(dir);
}

caf::error hf_exporter::write(file_system& fs, const std::vector<char>& weights,
                              const std::string& out) const {
  uint64_t expected = 0;
  for (const auto& s : specs_)
    expected += elements(s) * sizeof(float);
  if (weights.size() != expected)
    return make_error(errc::invalid_argument, "hf export: the weights hold "
                                                + std::to_string(weights.size())
                                                + " bytes, the model " + std::to_string(expected));
  const auto tmp = out + ".tmp-hf", old = out + ".old-hf";
  for (const auto& leftover : {tmp, old})
    if (auto err = fs.remove_tree(leftover))
      return err;
  if (auto err = fs.create_dir(tmp))
    return err;
  if (auto err = fill(fs, weights, tmp)) {
    fs.remove_tree(tmp);
    return err;
  }
  if (fs.exists(out))
    if (auto err = fs.rename(out, old)) {
      fs.remove_tree(tmp);
      return fail_step("cannot move the previous export aside", err);
    }
  if (auto err = fs.rename(tmp, out))
    return fail_step("cannot publish " + out, err);
  if (auto err = fs.sync_dir(parent_dir(out)))
    return err;
  return fs.remove_tree(old);
}

} // namespace tandem
