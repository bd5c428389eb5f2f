// control_requests.cpp: checks the console's control bodies (see
// control_requests.hpp).

#include "console/internal/control_requests.hpp"

#include <cstdint>
#include <initializer_list>
#include <limits>

#include "runtime/error.hpp"
#include "runtime/json_reader.hpp"
#include "runtime/json_writer.hpp"

namespace tandem {

namespace {

constexpr std::string_view source = "request body";

caf::error field_error(const json_value& at, const std::string& what) {
  return make_error(errc::invalid_argument,
                    std::string{source} + ":" + at.where() + ": " + what);
}

/// The body as an object whose keys are all in `allowed`. An empty body is
/// an empty object (POST /api/stop needs none).
caf::expected<json_value> parse_object(std::string_view body,
                                       std::initializer_list<std::string_view> allowed) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return json_value{json_value::object_type{}};
  json_options opts;
  opts.unique_keys = true;
  opts.code = errc::invalid_argument;
  auto doc = parse_json(body, source, opts);
  if (!doc)
    return doc.error();
  if (!doc->as_object())
    return field_error(*doc, std::string{"expected a JSON object, got "} + doc->type_name());
  for (const auto& m : *doc->as_object()) {
    bool known = false;
    std::string expected;
    for (auto key : allowed) {
      known = known || key == m.key;
      expected += (expected.empty() ? "" : ", ") + json_quote(key);
    }
    if (!known)
      return field_error(m.value, "unknown field " + json_quote(m.key) +
                                      (expected.empty() ? " (expected none)"
                                                        : " (expected " + expected + ")"));
  }
  return doc;
}

caf::error missing(std::string_view key) {
  return make_error(errc::invalid_argument,
                    std::string{source} + ": field " + json_quote(key) + " is missing");
}

caf::expected<std::string> string_field(const json_value& obj, std::string_view key) {
  const json_value* v = obj.find(key);
  if (!v)
    return missing(key);
  if (!v->as_string())
    return field_error(*v, json_quote(key) + " must be a string, got " + v->type_name());
  return *v->as_string();
}

} // namespace

caf::expected<scale_request> parse_scale_request(std::string_view body) {
  auto obj = parse_object(body, {"role", "count"});
  if (!obj)
    return obj.error();
  auto role = string_field(*obj, "role");
  if (!role)
    return role.error();
  if (*role != "sampler" && *role != "reward")
    return field_error(*obj->find("role"),
                       "\"role\" must be \"sampler\" or \"reward\", got " + json_quote(*role));
  const json_value* count = obj->find("count");
  if (!count)
    return missing("count");
  const int64_t* n = count->as_integer();
  if (!n || *n < 0 || *n > std::numeric_limits<int32_t>::max())
    return field_error(*count, "\"count\" must be an integer from 0 to 2147483647");
  return scale_request{std::move(*role), static_cast<int32_t>(*n)};
}

caf::expected<std::string> parse_drain_request(std::string_view body) {
  auto obj = parse_object(body, {"name"});
  if (!obj)
    return obj.error();
  auto name = string_field(*obj, "name");
  if (!name)
    return name.error();
  if (name->empty())
    return field_error(*obj->find("name"), "\"name\" must not be empty");
  return name;
}

caf::error parse_stop_request(std::string_view body) {
  auto obj = parse_object(body, {});
  return obj ? caf::error{} : obj.error();
}

} // namespace tandem
