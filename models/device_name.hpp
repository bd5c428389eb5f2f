// device_name.hpp: the one parser of tandem's device names ("cpu", "cuda",
// "cuda:N"), torch-free so that config checks and process wiring use it too.
//
// Thread safety: stateless.
#pragma once

#include <optional>
#include <string>

namespace tandem {

/// The CUDA device index of `name`: 0 for "cuda", N for "cuda:N" (1 to 4
/// digits); nullopt for "cpu" and anything else.
inline std::optional<int> cuda_index(const std::string& name) {
  if (name == "cuda")
    return 0;
  if (name.rfind("cuda:", 0) != 0)
    return std::nullopt;
  auto digits = name.substr(5);
  if (digits.empty() || digits.size() > 4
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoi(digits);
}

/// "cpu", "cuda" or "cuda:N".
inline bool valid_device_name(const std::string& name) {
  return name == "cpu" || cuda_index(name).has_value();
}

} // namespace tandem
