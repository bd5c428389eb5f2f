// answer_number.cpp: the number grammar of tasks/math_grader.hpp as a cursor
// scan; see the header.
#include "tasks/internal/answer_number.hpp"

#include <cstdint>
#include <string>

#include "tasks/internal/answer_text.hpp"
#include "tasks/internal/big_natural.hpp"

namespace tandem::answer_text {

namespace {

using internal::big_natural;
using math::rational;

// Words after a number that are not units: they change its value.
constexpr std::string_view value_words[] = {"pi",      "hundred", "thousand", "million",
                                            "billion", "trillion", "dozen"};

template <size_t N>
bool one_of_words(std::string_view word, const std::string_view (&words)[N]) {
  for (auto w : words)
    if (w == word)
      return true;
  return false;
}

// Exponents beyond this are refused while reading (the digit bound refuses
// far smaller ones later; this only keeps the arithmetic in range).
constexpr int64_t max_exponent = 1000000;

// Digits as written (separators removed): value = digits * 10^scale.
struct decimal {
  std::string digits;
  int64_t scale = 0;
  bool plain_integer = true; // no '.', no exponent: may start a mixed number
};

std::optional<rational> to_rational(const decimal& d, bool negative) {
  const size_t lead = d.digits.find_first_not_of('0');
  const size_t significant = lead == std::string::npos ? 0 : d.digits.size() - lead;
  const auto cap = static_cast<int64_t>(math::max_number_digits);
  if (d.scale >= 0) {
    if (static_cast<int64_t>(significant) + d.scale > cap)
      return std::nullopt;
    return rational::fraction(negative,
                              big_natural::from_decimal(d.digits, static_cast<size_t>(d.scale)),
                              big_natural{1});
  }
  if (-d.scale > cap)
    return std::nullopt;
  return rational::fraction(negative, big_natural::from_decimal(d.digits),
                            big_natural::from_decimal("1", static_cast<size_t>(-d.scale)));
}

std::optional<rational> divide(const rational& a, const rational& b) {
  return rational::fraction(a.negative() != b.negative(), a.numerator() * b.denominator(),
                            a.denominator() * b.numerator());
}

// a + b for non-negative a and b.
std::optional<rational> add(const rational& a, const rational& b) {
  return rational::fraction(false,
                            a.numerator() * b.denominator() + b.numerator() * a.denominator(),
                            a.denominator() * b.denominator());
}

class scanner {
public:
  explicit scanner(std::string_view s) : s_(s) {}
  std::optional<quantity> scan();

private:
  char peek(size_t ahead = 0) const { return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0'; }
  bool at_end() const { return i_ >= s_.size(); }
  bool eat(std::string_view token);
  bool eat_command(std::string_view name);
  size_t skip_spaces();
  bool read_digits(std::string& into);
  bool read_groups(decimal& d);
  std::optional<int64_t> read_signed_integer();
  std::optional<int64_t> read_exponent();
  std::optional<decimal> read_decimal();
  std::optional<rational> read_frac_argument();
  std::optional<rational> read_frac();
  std::optional<rational> read_value();
  bool read_units(bool spaced);
  bool read_text_unit();
  bool read_word_unit();
  bool read_unit_power();

  std::string_view s_;
  size_t i_ = 0;
  bool percent_ = false;      // a '%' followed the value
  bool percent_word_ = false; // so did the word "percent"
};

bool scanner::eat(std::string_view token) {
  if (s_.compare(i_, token.size(), token) != 0)
    return false;
  i_ += token.size();
  return true;
}

// "\NAME" not followed by another letter.
bool scanner::eat_command(std::string_view name) {
  if (peek() != '\\' || s_.compare(i_ + 1, name.size(), name) != 0
      || is_letter(peek(1 + name.size())))
    return false;
  i_ += 1 + name.size();
  return true;
}

size_t scanner::skip_spaces() {
  const size_t from = i_;
  while (!at_end() && is_space(s_[i_]))
    ++i_;
  return i_ - from;
}

// Appends a run of digits; false once the number has too many.
bool scanner::read_digits(std::string& into) {
  while (is_digit(peek())) {
    if (into.size() >= math::max_number_digits)
      return false;
    into += s_[i_++];
  }
  return true;
}

// ",ddd" groups after a first group of one to three digits.
bool scanner::read_groups(decimal& d) {
  const size_t first = d.digits.size();
  while (peek() == ',' && is_digit(peek(1)) && is_digit(peek(2)) && is_digit(peek(3))
         && !is_digit(peek(4))) {
    if (first == 0 || first > 3 || d.digits.size() + 3 > math::max_number_digits)
      return false;
    d.digits.append(s_.substr(i_ + 1, 3));
    i_ += 4;
  }
  return true;
}

std::optional<int64_t> scanner::read_signed_integer() {
  const bool negative = peek() == '-';
  if (peek() == '-' || peek() == '+')
    ++i_;
  if (!is_digit(peek()))
    return std::nullopt;
  int64_t v = 0;
  while (is_digit(peek())) {
    v = v * 10 + (s_[i_++] - '0');
    if (v > max_exponent)
      return std::nullopt;
  }
  return negative ? -v : v;
}

// "e-3", "E3", "\times 10^{3}", "\cdot 10^3"; 0 when there is none.
std::optional<int64_t> scanner::read_exponent() {
  const char c = peek();
  if ((c == 'e' || c == 'E')
      && (is_digit(peek(1)) || ((peek(1) == '-' || peek(1) == '+') && is_digit(peek(2))))) {
    ++i_;
    return read_signed_integer();
  }
  const size_t save = i_;
  skip_spaces();
  if (eat_command("times") || eat_command("cdot")) {
    skip_spaces();
    if (eat("10^")) {
      if (!eat("{"))
        return read_signed_integer();
      skip_spaces();
      const auto e = read_signed_integer();
      skip_spaces();
      return e && eat("}") ? e : std::nullopt;
    }
  }
  i_ = save;
  return 0;
}

std::optional<decimal> scanner::read_decimal() {
  decimal d;
  if (!read_digits(d.digits) || !read_groups(d))
    return std::nullopt;
  size_t fraction = 0;
  if (peek() == '.' && (is_digit(peek(1)) || !d.digits.empty())) {
    ++i_;
    d.plain_integer = false;
    const size_t before = d.digits.size();
    if (!read_digits(d.digits))
      return std::nullopt;
    fraction = d.digits.size() - before;
  }
  if (d.digits.empty())
    return std::nullopt;
  const auto exponent = read_exponent();
  if (!exponent)
    return std::nullopt;
  if (*exponent != 0)
    d.plain_integer = false;
  d.scale = *exponent - static_cast<int64_t>(fraction);
  return d;
}

// {[+|-] DECIMAL} or one digit.
std::optional<rational> scanner::read_frac_argument() {
  skip_spaces();
  if (is_digit(peek()))
    return to_rational(decimal{std::string(1, s_[i_++])}, false);
  if (!eat("{"))
    return std::nullopt;
  skip_spaces();
  const bool negative = peek() == '-';
  if (peek() == '-' || peek() == '+')
    ++i_;
  skip_spaces();
  const auto d = read_decimal();
  skip_spaces();
  if (!d || !eat("}"))
    return std::nullopt;
  return to_rational(*d, negative);
}

// The two arguments of a \frac already read.
std::optional<rational> scanner::read_frac() {
  const auto a = read_frac_argument();
  if (!a)
    return std::nullopt;
  const auto b = read_frac_argument();
  if (!b)
    return std::nullopt;
  return divide(*a, *b);
}

std::optional<rational> scanner::read_value() {
  if (eat_command("frac"))
    return read_frac();
  const auto d = read_decimal();
  if (!d)
    return std::nullopt;
  const auto v = to_rational(*d, false);
  if (!v)
    return std::nullopt;
  const size_t save = i_;
  skip_spaces();
  if (d->plain_integer && eat_command("frac")) { // a mixed number
    const auto f = read_frac();
    return f && !f->negative() ? add(*v, *f) : std::nullopt;
  }
  if (eat("/")) {
    skip_spaces();
    const auto e = read_decimal();
    const auto w = e ? to_rational(*e, false) : std::nullopt;
    return w ? divide(*v, *w) : std::nullopt;
  }
  i_ = save;
  return v;
}

// "^2" or "^{2}" after a unit; true when there is none.
bool scanner::read_unit_power() {
  if (peek() != '^')
    return true;
  if (is_digit(peek(1))) {
    i_ += 2;
    return true;
  }
  if (peek(1) != '{' || !is_digit(peek(2)))
    return false;
  i_ += 2;
  while (is_digit(peek()))
    ++i_;
  return eat("}");
}

// \text{cm} and kin: letters, spaces, '.', '/' inside.
bool scanner::read_text_unit() {
  if (!eat_command("text") && !eat_command("mbox") && !eat_command("mathrm")
      && !eat_command("textrm"))
    return false;
  skip_spaces();
  if (!eat("{"))
    return false;
  bool letters = false;
  while (!at_end() && peek() != '}') {
    const char c = s_[i_++];
    if (is_letter(c))
      letters = true;
    else if (!is_space(c) && c != '.' && c != '/')
      return false;
  }
  return letters && eat("}") && read_unit_power();
}

// A word unit: letters with '/' between ("km/h"), two letters at least;
// not a word that changes the value. "percent" is read as '%'.
bool scanner::read_word_unit() {
  const size_t from = i_;
  size_t letters = 0;
  while (is_letter(peek()) || (peek() == '/' && is_letter(peek(1)) && i_ > from)) {
    letters += is_letter(peek()) ? 1 : 0;
    ++i_;
  }
  const auto word = s_.substr(from, i_ - from);
  if (letters < 2 || one_of_words(word, value_words))
    return false;
  if (word == "percent" || word == "percents") {
    if (percent_ || percent_word_)
      return false;
    percent_word_ = true;
  }
  if (!read_unit_power())
    return false;
  eat(".");
  return true;
}

bool scanner::read_units(bool spaced) {
  while (!at_end()) {
    if (peek() == '\\') {
      if (!read_text_unit())
        return false;
    } else if (!spaced || !is_letter(peek()) || !read_word_unit()) {
      return false;
    }
    spaced = skip_spaces() > 0;
  }
  return true;
}

std::optional<quantity> scanner::scan() {
  skip_spaces();
  eat("$");
  skip_spaces();
  const bool negative = peek() == '-';
  if (peek() == '-' || peek() == '+')
    ++i_;
  skip_spaces();
  eat("$");
  skip_spaces();
  const auto v = read_value();
  if (!v)
    return std::nullopt;
  size_t spaces = skip_spaces();
  percent_ = eat("%");
  if (percent_)
    spaces = skip_spaces();
  if (!at_end() && !read_units(spaces > 0))
    return std::nullopt;
  const auto signed_value = rational::fraction(negative != v->negative(), v->numerator(),
                                               v->denominator());
  return quantity{*signed_value, percent_ || percent_word_};
}

} // namespace

std::optional<quantity> scan_quantity(std::string_view cleaned) {
  return scanner{cleaned}.scan();
}

} // namespace tandem::answer_text
