// answer_number.hpp: reads a cleaned answer (answer_text::clean_answer) as a
// number, by the grammar in tasks/math_grader.hpp (COMPARISON: Numbers).
//
// One left-to-right scan with a cursor; digits are counted as they are read
// and a number longer than math::max_number_digits is refused before any
// big integer is built, so the cost is linear in the text plus at most a
// few products of bounded size.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

#include "tasks/math_grader.hpp"

namespace tandem::answer_text {

/// A number as written: its value without the percent applied, and whether a
/// '%' followed it.
struct quantity {
  math::rational value;
  bool percent = false;
};

/// The number `cleaned` denotes, or nullopt when it is not one.
std::optional<quantity> scan_quantity(std::string_view cleaned);

} // namespace tandem::answer_text
