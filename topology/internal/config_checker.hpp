// config_checker.hpp: how the config checks report (config_checks.hpp and
// the section checks beside it): `checker` reports a broken rule at the
// field that most needs changing, and stays quiet when a field the rule
// reads already failed to bind; plus the small text and path helpers the
// checks share.
//
// Thread safety: a checker belongs to one check of one file.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include <caf/error.hpp>

#include "topology/internal/yaml_binder.hpp"

namespace tandem::internal {

/// A number as a message shows it (doubles in their shortest form).
std::string num(double x);
std::string num(int64_t x);
std::string num(int32_t x);

/// The context string of a tandem error (its message without the code name).
std::string error_text(const caf::error& err);

/// `path` relative to the config file's directory, normalised.
std::string resolve(const std::string& path, const std::string& base_dir);

/// Reports at a field unless the rule holds or a field it reads failed to
/// bind (then the type error already covers it).
class checker {
public:
  explicit checker(binder_context& ctx) : ctx_(ctx) {}

  void require(bool ok, const std::string& field, const std::string& message,
               std::initializer_list<const char*> reads = {}) {
    if (ok || ctx_.invalid(field))
      return;
    for (const char* r : reads)
      if (ctx_.invalid(r))
        return;
    ctx_.add(ctx_.where(field), field, message);
  }

  template <class T>
  void at_least(const std::string& field, T v, T lo) {
    require(v >= lo, field, "must be >= " + num(lo) + " (got " + num(v) + ")");
  }

  void positive(const std::string& field, double v) {
    require(v > 0, field, "must be > 0 (got " + num(v) + ")");
  }

  /// A field present in the file that the rest of the config ignores.
  void no_effect(const std::string& field, bool ignored, const std::string& because) {
    if (ignored && ctx_.present(field))
      ctx_.add(ctx_.where(field), field, "has no effect with " + because + "; remove it");
  }

  binder_context& ctx() { return ctx_; }

private:
  binder_context& ctx_;
};

} // namespace tandem::internal
