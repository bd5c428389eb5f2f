// big_natural.hpp: a non-negative integer of any size, the numerator and
// denominator of the math grader's exact rationals (tasks/math_grader.hpp).
//
// Limbs are base 10^9, least significant first, so decimal text converts both
// ways without division. Only what exact comparison needs is here: decimal
// digits in and out, addition, multiplication and equality. Multiplication is
// schoolbook, O(n*m) in limbs: callers bound the sizes (the grader refuses
// numbers over math::max_number_digits before building one).
//
// Invariant: no most-significant zero limb (zero is the empty vector), so
// equal values have equal limbs.
//
// Thread safety: a plain value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::internal {

class big_natural {
public:
  big_natural() = default; // zero
  explicit big_natural(uint64_t v);

  /// `digits` must hold ASCII digits only (leading zeros allowed; empty is
  /// zero), followed by `zeros` more zero digits (a power-of-ten scale).
  static big_natural from_decimal(std::string_view digits, size_t zeros = 0);

  bool is_zero() const { return limbs_.empty(); }
  /// The value when it is below 2^64.
  std::optional<uint64_t> to_uint64() const;
  /// Decimal digits without leading zeros ("0" for zero).
  std::string to_decimal() const;

  friend big_natural operator+(const big_natural& a, const big_natural& b);
  friend big_natural operator*(const big_natural& a, const big_natural& b);
  friend bool operator==(const big_natural& a, const big_natural& b) {
    return a.limbs_ == b.limbs_;
  }
  friend bool operator!=(const big_natural& a, const big_natural& b) { return !(a == b); }

private:
  static constexpr uint32_t base = 1000000000u;
  void trim();
  std::vector<uint32_t> limbs_;
};

} // namespace tandem::internal
