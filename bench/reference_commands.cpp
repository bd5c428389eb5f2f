// reference_commands.cpp: `tandem logits` and `tandem tokenize`, the tandem
// halves of the reference checks against transformers and tokenizers
// (tests/reference/gpu_reference_check.py runs both sides and compares).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands.hpp"
#include "models/batch_generator.hpp"
#include "models/policy.hpp"
#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "tasks/bpe_tokenizer.hpp"

namespace tandem {

namespace {

caf::expected<std::vector<int32_t>> parse_ids(const std::string& s) {
  std::vector<int32_t> out;
  std::stringstream in(s);
  for (std::string tok; std::getline(in, tok, ',');) {
    try {
      out.push_back(std::stoi(tok));
    } catch (const std::exception&) {
      return make_error(errc::invalid_argument, "--ids: '" + tok + "' is not an integer");
    }
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
caf::expected<std::vector<float>> compute_logits(const args& a, const std::vector<int32_t>& ids,
                                                 size_t* rows) {
  auto pol = policy::load_hf(flag_value(a, "--model", ""),
                             hf_load_options{static_cast<int32_t>(ids.size())});
  if (!pol)
    return pol.error();
  if (!has_flag(a, "--device")) {
    *rows = ids.size();
    return (*pol)->logits(ids);
  }
  device_options d;
  d.device = flag_value(a, "--device", "cpu");
  d.dtype = flag_value(a, "--dtype", "float32");
  d.max_rows = 1;
  size_t prefill = 0;
  try {
    prefill = static_cast<size_t>(std::stoul(flag_value(a, "--prefill", "1")));
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "--prefill needs an integer");
  }
  auto gen = batch_generator::make(**pol, d);
  if (!gen)
    return gen.error();
  *rows = ids.size() - prefill + 1;
  return (*gen)->forced_logits(ids, prefill);
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

int logits_command(const args& a) {
  if (!has_flag(a, "--model") || !has_flag(a, "--ids") || !has_flag(a, "--out")) {
    std::cerr << "usage: tandem logits --model HF_DIR --ids 1,2,3 [--device cuda --dtype "
                 "bfloat16 --prefill K] --out FILE\n";
    return 2;
  }
  auto ids = parse_ids(flag_value(a, "--ids", ""));
  if (!ids)
    return fail("logits", ids.error());
  size_t rows = 0;
  auto out = compute_logits(a, *ids, &rows);
  if (!out)
    return fail("logits", out.error());
  if (auto err = write_floats(flag_value(a, "--out", ""), *out))
    return fail("logits", err);
  std::printf("{\"rows\":%zu,\"vocab\":%zu}\n", rows, rows ? out->size() / rows : 0);
  return 0;
}

int tokenize_command(const args& a) {
  if (!has_flag(a, "--tokenizer") || !has_flag(a, "--input") || !has_flag(a, "--out")) {
    std::cerr << "usage: tandem tokenize --tokenizer tokenizer.json --input texts.json --out ids.json\n";
    return 2;
  }
  auto tok = load_tokenizer_json(flag_value(a, "--tokenizer", ""));
  if (!tok)
    return fail("tokenize", tok.error());
  auto texts = read_json_file(flag_value(a, "--input", ""));
  if (!texts)
    return fail("tokenize", texts.error());
  auto* list = texts->as_array();
  if (list == nullptr)
    return fail("tokenize", make_error(errc::invalid_argument, "--input: expected a JSON list of strings"));
  std::ofstream f(flag_value(a, "--out", ""));
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
