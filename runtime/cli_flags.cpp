// cli_flags.cpp: declaration, strict value parsing and help text.
#include "runtime/cli_flags.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <iostream>
#include <cstdlib>
#include <limits>
#include <stdexcept>

#include "runtime/error.hpp"

namespace tandem {

std::optional<int64_t> parse_integer(const std::string& text) {
  size_t i = text.size() > 1 && text[0] == '-' ? 1 : 0;
  if (i == text.size() || text.size() > 19 + i)
    return std::nullopt;
  for (size_t k = i; k < text.size(); ++k)
    if (text[k] < '0' || text[k] > '9')
      return std::nullopt;
  errno = 0;
  auto v = std::strtoll(text.c_str(), nullptr, 10);
  if (errno == ERANGE)
    return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty() || text.find_first_of(" \t\n") != std::string::npos)
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v))
    return std::nullopt;
  return v;
}

std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  uint64_t scale = 1;
  std::string digits = text;
  const std::string units = "KMGT";
  if (auto u = units.find(static_cast<char>(std::toupper(text.back()))); u != std::string::npos) {
    digits.pop_back();
    scale = uint64_t{1} << (10 * (u + 1));
  }
  auto v = parse_integer(digits);
  if (!v || *v < 0 || uint64_t(*v) > std::numeric_limits<uint64_t>::max() / scale)
    return std::nullopt;
  return uint64_t(*v) * scale;
}

std::optional<uint16_t> parse_port(const std::string& text) {
  auto v = parse_integer(text);
  if (!v || *v < 1 || *v > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(*v);
}

caf::expected<host_port> parse_host_port(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_argument, "'" + text + "': " + why);
  };
  host_port out;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || text.compare(close + 1, 1, ":") != 0)
      return bad("expected [IPV6]:PORT");
    out.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return bad("expected HOST:PORT");
    out.host = text.substr(0, colon); // "::1:7000" too: the head writes bind_host:port
    port = text.substr(colon + 1);
  }
  auto p = parse_port(port);
  if (!p && parse_integer(port))
    return bad("port " + port + " is out of range 1..65535");
  if (!p)
    return bad("the port must be a whole number 1..65535, got '" + port + "'");
  if (out.host.empty())
    return bad("the host is empty (expected HOST:PORT)");
  out.port = *p;
  return out;
}

command_line::command_line(std::string usage, std::string summary)
  : usage_(std::move(usage)), summary_(std::move(summary)) {}

command_line& command_line::positional(std::string name, std::string help, int count_min,
                                       int count_max) {
  positional_specs_.push_back({std::move(name), std::move(help), count_min, count_max});
  return *this;
}

command_line& command_line::toggle(std::string flag, std::string help) {
  order_.push_back(flag);
  specs_[flag] = spec{kind::toggle, "", std::move(help), "", 0, 0};
  return *this;
}

command_line& command_line::text(std::string flag, std::string value_name, std::string help,
                                 std::string fallback) {
  order_.push_back(flag);
  specs_[flag] = spec{kind::text, std::move(value_name), std::move(help), std::move(fallback),
                      0, 0};
  return *this;
}

command_line& command_line::integer(std::string flag, std::string help, int64_t fallback,
                                    int64_t min, int64_t max) {
  order_.push_back(flag);
  specs_[flag] = spec{kind::integer, "N", std::move(help), std::to_string(fallback),
                      double(min), double(max)};
  return *this;
}

command_line& command_line::number(std::string flag, std::string help, double fallback,
                                   double min, double max) {
  order_.push_back(flag);
  auto text = std::to_string(fallback);
  text.erase(text.find_last_not_of('0') + 1); // "0.500000" -> "0.5"
  if (!text.empty() && text.back() == '.')
    text.pop_back();
  specs_[flag] = spec{kind::number, "X", std::move(help), text, min, max};
  return *this;
}

command_line& command_line::size(std::string flag, std::string help, std::string fallback) {
  order_.push_back(flag);
  specs_[flag] = spec{kind::size, "SIZE", std::move(help), std::move(fallback), 0, 0};
  return *this;
}

const command_line::spec& command_line::find(const std::string& flag) const {
  auto it = specs_.find(flag);
  if (it == specs_.end())
    throw std::logic_error("command_line: flag " + flag + " was never declared");
  return it->second;
}

bool command_line::check_value(const std::string& flag, const spec& s, const std::string& v) {
  auto range = [&](double x) {
    if (x >= s.min && x <= s.max)
      return true;
    auto fmt = [&](double y) {
      return s.k == kind::integer ? std::to_string(int64_t(y)) : std::to_string(y);
    };
    error_ = flag + ": " + v + " is out of range [" + fmt(s.min) + ", " + fmt(s.max) + "]";
    return false;
  };
  switch (s.k) {
    case kind::integer:
      if (auto x = parse_integer(v))
        return range(double(*x));
      error_ = flag + ": expected a whole number, got '" + v + "'";
      return false;
    case kind::number:
      if (auto x = parse_number(v))
        return range(*x);
      error_ = flag + ": expected a number, got '" + v + "'";
      return false;
    case kind::size:
      if (parse_size(v))
        return true;
      error_ = flag + ": expected a size such as 512, 64M or 8G, got '" + v + "'";
      return false;
    default:
      return true;
  }
}

bool command_line::check_positionals() {
  size_t i = 0;
  for (size_t p = 0; p < positional_specs_.size(); ++p) {
    const auto& ps = positional_specs_[p];
    size_t left = positionals_.size() - std::min(i, positionals_.size());
    size_t want_max = ps.max < 0 ? left : std::min<size_t>(left, size_t(ps.max));
    if (want_max < size_t(ps.min)) {
      error_ = "missing " + ps.name;
      return false;
    }
    i += want_max;
  }
  if (i < positionals_.size()) {
    error_ = "unexpected argument '" + positionals_[i] + "'";
    return false;
  }
  return true;
}

command_line::status command_line::parse(const std::vector<std::string>& args) {
  for (auto& a : args)
    if (a == "--help" || a == "-h")
      return status::help;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.size() < 2 || a[0] != '-' || a == "-") {
      positionals_.push_back(a);
      continue;
    }
    std::optional<std::string> inline_value;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    auto it = specs_.find(a);
    if (it == specs_.end()) {
      error_ = "unknown flag " + a + " (see --help)";
      return status::error;
    }
    if (values_.count(a)) {
      error_ = a + " given twice";
      return status::error;
    }
    if (it->second.k == kind::toggle) {
      if (inline_value) {
        error_ = a + " takes no value";
        return status::error;
      }
      values_[a] = "1";
      continue;
    }
    if (!inline_value && i + 1 >= args.size()) {
      error_ = a + " needs a value";
      return status::error;
    }
    auto v = inline_value ? *inline_value : args[++i];
    if (!check_value(a, it->second, v))
      return status::error;
    values_[a] = v;
  }
  return check_positionals() ? status::ok : status::error;
}

std::string command_line::help() const {
  std::string out = "usage: " + usage_ + "\n  " + summary_ + "\n";
  if (!positional_specs_.empty())
    out += "\narguments:\n";
  for (auto& p : positional_specs_)
    out += "  " + p.name + std::string(p.name.size() < 22 ? 22 - p.name.size() : 1, ' ')
           + p.help + "\n";
  out += "\nflags:\n";
  for (auto& f : order_) {
    const auto& s = specs_.at(f);
    auto head = f + (s.value_name.empty() ? "" : " " + s.value_name);
    out += "  " + head + std::string(head.size() < 22 ? 22 - head.size() : 1, ' ') + s.help;
    if (!s.fallback.empty())
      out += " (default " + s.fallback + ")";
    out += "\n";
  }
  out += "  --help                show this help\n";
  return out;
}

bool command_line::given(const std::string& flag) const {
  find(flag);
  return values_.count(flag) > 0;
}

bool command_line::on(const std::string& flag) const { return given(flag); }

std::string command_line::value(const std::string& flag) const {
  const auto& s = find(flag);
  auto it = values_.find(flag);
  return it == values_.end() ? s.fallback : it->second;
}

int64_t command_line::as_int(const std::string& flag) const {
  return parse_integer(value(flag)).value_or(0);
}

double command_line::as_number(const std::string& flag) const {
  return parse_number(value(flag)).value_or(0);
}

uint64_t command_line::as_size(const std::string& flag) const {
  return parse_size(value(flag)).value_or(0);
}

std::string command_line::command() const {
  std::string out;
  size_t i = 0;
  while (i < usage_.size()) {
    const size_t end = std::min(usage_.find(' ', i), usage_.size());
    const auto word = usage_.substr(i, end - i);
    if (word.empty() || word.find_first_not_of("abcdefghijklmnopqrstuvwxyz-") != std::string::npos
        || word[0] == '-')
      break;
    out += (out.empty() ? "" : " ") + word;
    i = end + 1;
  }
  return out;
}

std::optional<int> parse_or_exit(command_line& cl, const std::vector<std::string>& args) {
  switch (cl.parse(args)) {
    case command_line::status::help:
      std::cout << cl.help();
      return 0;
    case command_line::status::error:
      std::cerr << cl.command() << ": " << cl.error() << "\n"
                << cl.help().substr(0, cl.help().find('\n') + 1)
                << "(--help lists every flag)\n";
      return 2;
    default:
      return std::nullopt;
  }
}

} // namespace tandem
