// reference_commands.cpp: `tandem logits` and `tandem tokenize` (see
// reference_commands.hpp).
#include "bench/reference_commands.hpp"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "models/batch_generator.hpp"
#include "models/policy.hpp"
#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/bpe_tokenizer.hpp"

namespace tandem {

namespace {

caf::expected<std::vector<int32_t>> parse_ids(const std::string& s) {
  std::vector<int32_t> out;
  std::stringstream in(s);
  for (std::string tok; std::getline(in, tok, ',');) {
    auto id = parse_integer(tok);
    if (!id || *id < 0 || *id > INT32_MAX)
      return make_error(errc::invalid_argument, "--ids: '" + tok + "' is not a token id");
    out.push_back(static_cast<int32_t>(*id));
  }
  if (out.empty())
    return make_error(errc::invalid_argument, "--ids: no token ids");
  return out;
}

caf::error write_floats(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  return f ? caf::none : make_error(errc::io_failure, "cannot write " + path);
}

/// CPU float32 full forward, or the device decoding path (prefill + teacher-
/// forced decode steps) when --device is given.
caf::expected<std::vector<float>> compute_logits(const command_line& cl,
                                                 const std::vector<int32_t>& ids, size_t* rows) {
  auto pol = policy::load_hf(cl.value("--model"),
                             hf_load_options{static_cast<int32_t>(ids.size())});
  if (!pol)
    return pol.error();
  if (!cl.given("--device")) {
    *rows = ids.size();
    return (*pol)->logits(ids);
  }
  device_options d;
  d.device = cl.value("--device");
  d.dtype = cl.value("--dtype");
  d.max_rows = 1;
  auto prefill = static_cast<size_t>(cl.as_int("--prefill"));
  if (prefill > ids.size())
    return make_error(errc::invalid_argument, "--prefill: " + std::to_string(prefill)
                                                + " is more than the " + std::to_string(ids.size())
                                                + " ids");
  auto gen = batch_generator::make(**pol, d);
  if (!gen)
    return gen.error();
  *rows = ids.size() - prefill + 1;
  return (*gen)->forced_logits(ids, prefill);
}

/// The flags every one of `names` must have been given; prints the first
/// missing one and the usage line.
bool has_required(const command_line& cl, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (!cl.given(n)) {
      std::cerr << "missing " << n << "\n" << cl.help().substr(0, cl.help().find('\n') + 1)
                << "(--help lists every flag)\n";
      return false;
    }
  return true;
}

int fail(const char* cmd, const caf::error& err) {
  std::cerr << cmd << ": " << describe(err) << "\n";
  return is(err, errc::invalid_argument) || is(err, errc::invalid_config) ? 2 : 1;
}

std::string json_ids(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i)
    s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

} // namespace

int logits_command(const std::vector<std::string>& a) {
  command_line cl("tandem logits --model HF_DIR --ids 1,2,3 --out FILE [flags]",
                  "logits of a checkpoint as raw float32, one row per position "
                  "(reference checks against transformers)");
  cl.text("--model", "DIR", "Hugging Face checkpoint (required)")
    .text("--ids", "LIST", "comma-separated token ids (required)")
    .text("--out", "FILE", "where the float32 logits go (required)")
    .text("--device", "DEV", "decode on this device (prefill + teacher-forced steps) "
                             "instead of the CPU float32 full forward")
    .text("--dtype", "TYPE", "with --device: float32 | bfloat16 | float16", "float32")
    .integer("--prefill", "with --device: ids prefilled before the first row", 1, 1, 1 << 20);
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  if (!has_required(cl, {"--model", "--ids", "--out"}))
    return 2;
  auto ids = parse_ids(cl.value("--ids"));
  if (!ids)
    return fail("logits", ids.error());
  size_t rows = 0;
  auto out = compute_logits(cl, *ids, &rows);
  if (!out)
    return fail("logits", out.error());
  if (auto err = write_floats(cl.value("--out"), *out))
    return fail("logits", err);
  std::printf("{\"rows\":%zu,\"vocab\":%zu}\n", rows, rows ? out->size() / rows : 0);
  return 0;
}

int tokenize_command(const std::vector<std::string>& a) {
  command_line cl("tandem tokenize --tokenizer tokenizer.json --input texts.json --out ids.json",
                  "token ids of a JSON list of strings (reference checks against tokenizers)");
  cl.text("--tokenizer", "FILE", "a Hugging Face tokenizer.json (required)")
    .text("--input", "FILE", "a JSON list of strings (required)")
    .text("--out", "FILE", "where the JSON list of id lists goes (required)");
  if (auto rc = parse_or_exit(cl, a))
    return *rc;
  if (!has_required(cl, {"--tokenizer", "--input", "--out"}))
    return 2;
  auto tok = load_tokenizer_json(cl.value("--tokenizer"));
  if (!tok)
    return fail("tokenize", tok.error());
  auto texts = read_json_file(cl.value("--input"));
  if (!texts)
    return fail("tokenize", texts.error());
  auto* list = texts->as_array();
  if (list == nullptr)
    return fail("tokenize",
                make_error(errc::invalid_argument, "--input: expected a JSON list of strings"));
  std::ofstream f(cl.value("--out"));
  f << "[";
  for (size_t i = 0; i < list->size(); ++i) {
    auto* s = (*list)[i].as_string();
    if (s == nullptr)
      return fail("tokenize", make_error(errc::invalid_argument,
                                         "--input: item " + std::to_string(i) + " is not a string"));
    auto ids = tok->encode(*s);
    if (!ids)
      return fail("tokenize", ids.error());
    f << (i ? ",\n" : "\n") << json_ids(*ids);
  }
  f << "\n]\n";
  return f ? 0 : fail("tokenize", make_error(errc::io_failure, "cannot write --out"));
}

} // namespace tandem
