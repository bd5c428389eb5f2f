// config_checker.cpp: see config_checker.hpp.
#include "topology/internal/config_checker.hpp"

#include <filesystem>
#include <sstream>

#include "runtime/error.hpp"

namespace tandem::internal {

std::string num(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}
std::string num(int64_t x) { return std::to_string(x); }
std::string num(int32_t x) { return std::to_string(x); }

std::string error_text(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return describe(err);
}

std::string resolve(const std::string& path, const std::string& base_dir) {
  std::filesystem::path p(path);
  if (p.is_relative() && !base_dir.empty())
    p = std::filesystem::path(base_dir) / p;
  return p.lexically_normal().string();
}

} // namespace tandem::internal
