// big_natural.cpp: base-10^9 limbs; see the header.
#include "tasks/internal/big_natural.hpp"

#include <algorithm>

namespace tandem::internal {

big_natural::big_natural(uint64_t v) {
  while (v > 0) {
    limbs_.push_back(static_cast<uint32_t>(v % base));
    v /= base;
  }
}

big_natural big_natural::from_decimal(std::string_view digits, size_t zeros) {
  const size_t skip = std::min(digits.find_first_not_of('0'), digits.size());
  digits.remove_prefix(skip);
  big_natural n;
  if (digits.empty())
    return n;
  // The value is digits * 10^zeros: whole zero limbs, then the digits read in
  // groups of nine from the right, the lowest group shifted by zeros % 9.
  n.limbs_.assign(zeros / 9, 0);
  uint64_t shift = 1;
  for (size_t i = 0; i < zeros % 9; ++i)
    shift *= 10;
  uint64_t carry = 0; // digits that spill over the top of the current limb
  size_t end = digits.size();
  while (end > 0) {
    const size_t begin = end >= 9 ? end - 9 : 0;
    uint64_t group = 0;
    for (size_t i = begin; i < end; ++i)
      group = group * 10 + static_cast<uint64_t>(digits[i] - '0');
    const uint64_t v = group * shift + carry; // < 10^9 * 10^8 + 10^9: fits
    n.limbs_.push_back(static_cast<uint32_t>(v % base));
    carry = v / base;
    end = begin;
  }
  if (carry > 0)
    n.limbs_.push_back(static_cast<uint32_t>(carry));
  n.trim();
  return n;
}

std::optional<uint64_t> big_natural::to_uint64() const {
  if (limbs_.size() > 3)
    return std::nullopt;
  unsigned __int128 v = 0;
  for (size_t i = limbs_.size(); i-- > 0;)
    v = v * base + limbs_[i];
  if (v > UINT64_MAX)
    return std::nullopt;
  return static_cast<uint64_t>(v);
}

std::string big_natural::to_decimal() const {
  if (limbs_.empty())
    return "0";
  std::string out = std::to_string(limbs_.back());
  for (size_t i = limbs_.size() - 1; i-- > 0;) {
    const std::string part = std::to_string(limbs_[i]);
    out.append(9 - part.size(), '0');
    out += part;
  }
  return out;
}

big_natural operator+(const big_natural& a, const big_natural& b) {
  const auto& longer = a.limbs_.size() >= b.limbs_.size() ? a.limbs_ : b.limbs_;
  const auto& shorter = a.limbs_.size() >= b.limbs_.size() ? b.limbs_ : a.limbs_;
  big_natural r;
  r.limbs_.reserve(longer.size() + 1);
  uint32_t carry = 0;
  for (size_t i = 0; i < longer.size(); ++i) {
    const uint32_t sum = longer[i] + (i < shorter.size() ? shorter[i] : 0) + carry; // < 2 * 10^9 + 1
    carry = sum >= big_natural::base ? 1 : 0;
    r.limbs_.push_back(sum - carry * big_natural::base);
  }
  if (carry > 0)
    r.limbs_.push_back(carry);
  return r;
}

big_natural operator*(const big_natural& a, const big_natural& b) {
  big_natural r;
  if (a.is_zero() || b.is_zero())
    return r;
  std::vector<uint64_t> acc(a.limbs_.size() + b.limbs_.size(), 0);
  for (size_t i = 0; i < a.limbs_.size(); ++i) {
    uint64_t carry = 0;
    for (size_t j = 0; j < b.limbs_.size(); ++j) {
      // < 10^9 + 10^18 + 10^9: no overflow of 64 bits.
      const uint64_t cur = acc[i + j] + uint64_t{a.limbs_[i]} * b.limbs_[j] + carry;
      acc[i + j] = cur % big_natural::base;
      carry = cur / big_natural::base;
    }
    acc[i + b.limbs_.size()] += carry;
  }
  r.limbs_.assign(acc.begin(), acc.end());
  r.trim();
  return r;
}

void big_natural::trim() {
  while (!limbs_.empty() && limbs_.back() == 0)
    limbs_.pop_back();
}

} // namespace tandem::internal
