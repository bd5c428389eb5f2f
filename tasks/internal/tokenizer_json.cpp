// tokenizer_json.cpp: tokenizer.json -> tokenizer_pipeline (see header).
//
// Each section has one reader function; a field that would change the output
// in a way tandem does not implement is an error naming the field, never
// silently ignored. Field defaults follow tokenizers' serde defaults.
#include "tasks/internal/tokenizer_json.hpp"

#include <algorithm>

#include "runtime/error.hpp"
#include "tasks/internal/unicode.hpp"

namespace tandem {

namespace {

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

class reader {
public:
  explicit reader(const std::string& source) : source_(source) {}

  caf::error fail(const json_value& at, const std::string& field, const std::string& what) const {
    return make_error(errc::invalid_config, source_ + ":" + at.where() + ": " + field + ": " + what);
  }

  caf::error read(const json_value& root, tokenizer_pipeline& out) const {
    if (!root.as_object())
      return fail(root, "(top level)", std::string("expected an object, got ") + root.type_name());
    for (const char* unsupported : {"truncation", "padding"}) {
      const json_value* v = root.find(unsupported);
      if (v && !v->is_null())
        return fail(*v, unsupported,
                    "must be null: tandem encodes without truncation or padding");
    }
    const json_value* model = root.find("model");
    if (!model)
      return fail(root, "model", "missing");
    if (auto err = read_model(*model, out.model))
      return err;
    if (auto err = read_normalizer(root.find("normalizer"), "normalizer", out.nfc))
      return err;
    if (auto err = read_added_tokens(root.find("added_tokens"), out))
      return err;
    if (auto err = read_pre_tokenizer(root.find("pre_tokenizer"), "pre_tokenizer",
                                      out.pre_tokenizers))
      return err;
    return read_decoder(root.find("decoder"), out.byte_level_decoder);
  }

private:
  const std::string& source_;

  // A boolean field; missing or null gives `fallback`.
  caf::error get_bool(const json_value& obj, const char* key, const std::string& path,
                      bool fallback, bool& out) const {
    const json_value* v = obj.find(key);
    if (!v || v->is_null()) {
      out = fallback;
      return {};
    }
    if (!v->as_bool())
      return fail(*v, path + "." + key, std::string("expected a boolean, got ") + v->type_name());
    out = *v->as_bool();
    return {};
  }

  // A string field; missing or null leaves `out` empty.
  caf::error get_string(const json_value& obj, const char* key, const std::string& path,
                        std::optional<std::string>& out) const {
    const json_value* v = obj.find(key);
    out.reset();
    if (!v || v->is_null())
      return {};
    if (!v->as_string())
      return fail(*v, path + "." + key, std::string("expected a string, got ") + v->type_name());
    out = *v->as_string();
    return {};
  }

  // The "type" of a section object.
  caf::error get_type(const json_value& obj, const std::string& path, std::string& out) const {
    if (!obj.as_object())
      return fail(obj, path, std::string("expected an object, got ") + obj.type_name());
    std::optional<std::string> type;
    if (auto err = get_string(obj, "type", path, type))
      return err;
    if (!type)
      return fail(obj, path + ".type", "missing");
    out = *type;
    return {};
  }

  caf::error read_model(const json_value& model, bpe_model& out) const {
    std::string type;
    if (auto err = get_type(model, "model", type))
      return err;
    if (type != "BPE")
      return fail(model, "model.type",
                  "unsupported model type " + quoted(type) + " (tandem supports BPE)");
    if (const json_value* dropout = model.find("dropout"); dropout && !dropout->is_null()) {
      const json_number* p = dropout->as_number();
      if (!p || p->value != 0)
        return fail(*dropout, "model.dropout",
                    "must be null or 0: BPE dropout makes encoding random");
    }
    const json_value* vocab = model.find("vocab");
    const json_value* merges = model.find("merges");
    out.reserve(vocab && vocab->as_object() ? vocab->as_object()->size() : 0,
                merges && merges->as_array() ? merges->as_array()->size() : 0);
    if (auto err = read_vocab(model, out))
      return err;
    if (auto err = read_bpe_options(model, out))
      return err;
    return read_merges(model, out);
  }

  caf::error read_vocab(const json_value& model, bpe_model& out) const {
    const json_value* vocab = model.find("vocab");
    if (!vocab)
      return fail(model, "model.vocab", "missing");
    const auto* members = vocab->as_object();
    if (!members)
      return fail(*vocab, "model.vocab",
                  std::string("expected an object of token -> id, got ") + vocab->type_name());
    for (const auto& m : *members) {
      const int64_t* id = m.value.as_integer();
      if (!id)
        return fail(m.value, "model.vocab[" + quoted(m.key) + "]",
                    std::string("expected an integer id, got ") + m.value.type_name());
      if (auto why = out.add_token(m.key, *id); !why.empty())
        return fail(m.value, "model.vocab", why);
    }
    return {};
  }

  caf::error read_bpe_options(const json_value& model, bpe_model& out) const {
    bpe_options o;
    std::optional<std::string> prefix, suffix;
    caf::error err;
    if ((err = get_string(model, "unk_token", "model", o.unk_token))
        || (err = get_string(model, "continuing_subword_prefix", "model", prefix))
        || (err = get_string(model, "end_of_word_suffix", "model", suffix))
        || (err = get_bool(model, "fuse_unk", "model", false, o.fuse_unk))
        || (err = get_bool(model, "byte_fallback", "model", false, o.byte_fallback))
        || (err = get_bool(model, "ignore_merges", "model", false, o.ignore_merges)))
      return err;
    o.continuing_subword_prefix = prefix.value_or("");
    o.end_of_word_suffix = suffix.value_or("");
    if (auto why = out.set_options(std::move(o)); !why.empty())
      return fail(*model.find("unk_token"), "model.unk_token", why);
    return {};
  }

  // One merge: "a b" (exactly one space) or ["a", "b"].
  caf::error split_merge(const json_value& v, const std::string& path, std::string_view& a,
                         std::string_view& b) const {
    if (const std::string* s = v.as_string()) {
      const size_t space = s->find(' ');
      if (space == std::string::npos || s->find(' ', space + 1) != std::string::npos)
        return fail(v, path, "expected \"left right\" with one space, got " + quoted(*s));
      a = std::string_view(*s).substr(0, space);
      b = std::string_view(*s).substr(space + 1);
      return {};
    }
    const auto* pair = v.as_array();
    if (!pair || pair->size() != 2 || !(*pair)[0].as_string() || !(*pair)[1].as_string())
      return fail(v, path, "expected \"left right\" or [\"left\", \"right\"]");
    a = *(*pair)[0].as_string();
    b = *(*pair)[1].as_string();
    return {};
  }

  caf::error read_merges(const json_value& model, bpe_model& out) const {
    const json_value* merges = model.find("merges");
    if (!merges || merges->is_null())
      return {};
    const auto* items = merges->as_array();
    if (!items)
      return fail(*merges, "model.merges",
                  std::string("expected an array, got ") + merges->type_name());
    for (size_t i = 0; i < items->size(); ++i) {
      const std::string path = "model.merges[" + std::to_string(i) + "]";
      std::string_view a, b;
      if (auto err = split_merge((*items)[i], path, a, b))
        return err;
      if (auto why = out.add_merge(a, b); !why.empty())
        return fail((*items)[i], path, "merge of " + quoted(a) + " and " + quoted(b) + ": " + why);
    }
    return {};
  }

  caf::error read_normalizer(const json_value* v, const std::string& path, bool& nfc) const {
    if (!v || v->is_null())
      return {};
    std::string type;
    if (auto err = get_type(*v, path, type))
      return err;
    if (type == "NFC") {
      nfc = true;
      return {};
    }
    if (type != "Sequence")
      return fail(*v, path + ".type",
                  "unsupported normalizer " + quoted(type) + " (tandem supports NFC and Sequence)");
    const json_value* list = v->find("normalizers");
    if (!list || !list->as_array())
      return fail(list ? *list : *v, path + ".normalizers", "expected an array");
    const auto& items = *list->as_array();
    for (size_t i = 0; i < items.size(); ++i)
      if (auto err = read_normalizer(&items[i], path + ".normalizers[" + std::to_string(i) + "]",
                                     nfc))
        return err;
    return {};
  }

  // The id tokenizers' AddedVocabulary::add_tokens gives a new content.
  static int64_t next_added_id(const tokenizer_pipeline& p) {
    const auto vocab_size = static_cast<int64_t>(p.model.size());
    if (p.added.empty())
      return vocab_size;
    int64_t max = 0;
    for (const auto& t : p.added)
      max = std::max<int64_t>(max, t.id);
    return max >= vocab_size || vocab_size == 0 ? max + 1 : vocab_size;
  }

  caf::error read_added_token(const json_value& v, const std::string& path,
                              tokenizer_pipeline& out) const {
    if (!v.as_object())
      return fail(v, path, std::string("expected an object, got ") + v.type_name());
    added_token t;
    std::optional<std::string> content;
    bool single_word = false;
    caf::error err;
    if ((err = get_string(v, "content", path, content))
        || (err = get_bool(v, "single_word", path, false, single_word))
        || (err = get_bool(v, "lstrip", path, false, t.lstrip))
        || (err = get_bool(v, "rstrip", path, false, t.rstrip))
        || (err = get_bool(v, "normalized", path, true, t.normalized))
        || (err = get_bool(v, "special", path, false, t.special)))
      return err;
    if (!content || content->empty())
      return fail(v, path + ".content", "missing or empty");
    t.content = std::move(*content);
    if (single_word)
      return fail(*v.find("single_word"), path + ".single_word",
                  "single_word tokens are not supported by tandem");
    const json_value* id = v.find("id");
    if (!id || !id->as_integer())
      return fail(id ? *id : v, path + ".id", "expected an integer");
    for (const auto& other : out.added)
      if (other.content == t.content)
        return fail(v, path, "content " + quoted(t.content) + " appears twice");
    const auto in_vocab = out.model.token_to_id(t.content);
    const int64_t expected = in_vocab ? *in_vocab : next_added_id(out);
    if (*id->as_integer() != expected)
      return fail(*id, path + ".id",
                  "is " + std::to_string(*id->as_integer()) + " but tokenizers would give "
                    + quoted(t.content) + " id " + std::to_string(expected));
    t.id = static_cast<int32_t>(expected);
    out.added.push_back(std::move(t));
    return {};
  }

  caf::error read_added_tokens(const json_value* v, tokenizer_pipeline& out) const {
    if (!v || v->is_null())
      return {};
    const auto* items = v->as_array();
    if (!items)
      return fail(*v, "added_tokens", std::string("expected an array, got ") + v->type_name());
    for (size_t i = 0; i < items->size(); ++i)
      if (auto err = read_added_token((*items)[i], "added_tokens[" + std::to_string(i) + "]", out))
        return err;
    for (const auto& t : out.added) {
      if (t.special)
        out.special_contents.insert(t.content);
      const bool normalize = t.normalized && out.nfc;
      added_token_matcher::pattern p{normalize ? unicode::nfc(t.content) : t.content, t.id,
                                     t.lstrip, t.rstrip};
      (t.normalized ? out.normalized_added : out.raw_added).add(std::move(p));
    }
    return {};
  }

  caf::error read_split(const json_value& v, const std::string& path,
                        pre_tokenizer_step& step) const {
    step.type = pre_tokenizer_step::kind::split;
    const json_value* pattern = v.find("pattern");
    const json_value* regex = pattern ? pattern->find("Regex") : nullptr;
    if (!regex || !regex->as_string())
      return fail(pattern ? *pattern : v, path + ".pattern",
                  "expected {\"Regex\": \"...\"} (string patterns are not supported)");
    auto known = recognise_split_regex(*regex->as_string());
    if (!known)
      return fail(*regex, path + ".pattern.Regex",
                  "unsupported regex " + quoted(*regex->as_string())
                    + " (tandem implements the GPT-2, Qwen2 and Llama-3 patterns exactly)");
    step.regex = *known;
    bool invert = false;
    if (auto err = get_bool(v, "invert", path, false, invert))
      return err;
    if (invert)
      return fail(*v.find("invert"), path + ".invert", "must be false");
    std::optional<std::string> behavior;
    if (auto err = get_string(v, "behavior", path, behavior))
      return err;
    if (!behavior || *behavior != "Isolated")
      return fail(v.find("behavior") ? *v.find("behavior") : v, path + ".behavior",
                  "unsupported split behavior " + quoted(behavior.value_or("(missing)"))
                    + " (tandem supports Isolated)");
    return {};
  }

  caf::error read_pre_tokenizer(const json_value* v, const std::string& path,
                                std::vector<pre_tokenizer_step>& out) const {
    if (!v || v->is_null())
      return {};
    std::string type;
    if (auto err = get_type(*v, path, type))
      return err;
    pre_tokenizer_step step;
    if (type == "ByteLevel") {
      step.type = pre_tokenizer_step::kind::byte_level;
      caf::error err;
      if ((err = get_bool(*v, "add_prefix_space", path, true, step.add_prefix_space))
          || (err = get_bool(*v, "use_regex", path, true, step.use_regex)))
        return err;
      out.push_back(step);
      return {};
    }
    if (type == "Split") {
      if (auto err = read_split(*v, path, step))
        return err;
      out.push_back(step);
      return {};
    }
    if (type != "Sequence")
      return fail(*v, path + ".type",
                  "unsupported pre-tokenizer " + quoted(type)
                    + " (tandem supports ByteLevel, Split and Sequence)");
    const json_value* list = v->find("pretokenizers");
    if (!list || !list->as_array())
      return fail(list ? *list : *v, path + ".pretokenizers", "expected an array");
    const auto& items = *list->as_array();
    for (size_t i = 0; i < items.size(); ++i)
      if (auto err = read_pre_tokenizer(&items[i],
                                        path + ".pretokenizers[" + std::to_string(i) + "]", out))
        return err;
    return {};
  }

  caf::error read_decoder(const json_value* v, bool& byte_level) const {
    byte_level = false;
    if (!v || v->is_null())
      return {};
    std::string type;
    if (auto err = get_type(*v, "decoder", type))
      return err;
    if (type != "ByteLevel")
      return fail(*v, "decoder.type",
                  "unsupported decoder " + quoted(type) + " (tandem supports ByteLevel)");
    byte_level = true;
    return {};
  }
};

} // namespace

caf::expected<tokenizer_pipeline> read_tokenizer_pipeline(const json_value& root,
                                                          const std::string& source) {
  tokenizer_pipeline p;
  if (auto err = reader{source}.read(root, p))
    return err;
  return p;
}

} // namespace tandem
