// countdown_verifier.cpp: recursive-descent parser and exact evaluator.
//
// Grammar (white space allowed between tokens):
//   expression := term (('+' | '-') term)*
//   term       := factor (('*' | '/') factor)*
//   factor     := number | '(' expression ')'
//   number     := digit+            (at most 18 digits: it fits int64)
// The parser evaluates while it parses. An undefined value (division by zero,
// overflow) does not stop the parse: the literals are still collected, so
// "uses the wrong numbers" is reported ahead of "divides by zero", and a
// syntax error ahead of both.
//
// Values are reduced fractions num/den with den > 0 and num != INT64_MIN (so
// negation and std::gcd are defined); every product and sum is checked with
// the compiler's overflow builtins.
#include "tasks/countdown_verifier.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>

namespace tandem {

namespace {

constexpr std::string_view open_tag = "<answer>";
constexpr std::string_view close_tag = "</answer>";
constexpr std::string_view eos_tag = "<eos>";
constexpr size_t max_literal_digits = 18;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

struct rational {
  int64_t num = 0;
  int64_t den = 1;
};

// num/den reduced; nullopt when it does not fit the invariant.
std::optional<rational> reduced(int64_t num, int64_t den) {
  if (num == std::numeric_limits<int64_t>::min() || den <= 0)
    return std::nullopt;
  const int64_t g = std::gcd(num, den); // >= 1: den > 0
  return rational{num / g, den / g};
}

std::optional<rational> add(rational a, rational b) {
  const int64_t g = std::gcd(a.den, b.den);
  int64_t left = 0, right = 0, num = 0, den = 0;
  if (__builtin_mul_overflow(a.num, b.den / g, &left)
      || __builtin_mul_overflow(b.num, a.den / g, &right)
      || __builtin_add_overflow(left, right, &num)
      || __builtin_mul_overflow(a.den, b.den / g, &den))
    return std::nullopt;
  return reduced(num, den);
}

std::optional<rational> multiply(rational a, rational b) {
  const int64_t g1 = std::gcd(a.num, b.den); // >= 1: b.den > 0
  const int64_t g2 = std::gcd(b.num, a.den);
  int64_t num = 0, den = 0;
  if (__builtin_mul_overflow(a.num / g1, b.num / g2, &num)
      || __builtin_mul_overflow(a.den / g2, b.den / g1, &den))
    return std::nullopt;
  return reduced(num, den);
}

// 'x' for printable ASCII, "byte 0x0a" otherwise.
std::string show(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f)
    return std::string("'") + c + "'";
  char hex[16];
  std::snprintf(hex, sizeof(hex), "byte 0x%02x", static_cast<unsigned>(u));
  return hex;
}

// The value of a subexpression; `defined` is false after a division by zero
// or an overflow anywhere inside it.
struct value {
  rational r;
  bool defined = true;
};

class parser {
public:
  explicit parser(std::string_view text) : text_(text) {}

  /// Parses the whole text; false (and error()) on a syntax error.
  bool run() {
    skip_space();
    if (pos_ == text_.size())
      return fail("empty expression");
    result_ = expression(0);
    if (!error_.empty())
      return false;
    if (pos_ != text_.size())
      return fail("unexpected " + show(text_[pos_]) + " at offset " + std::to_string(pos_));
    return true;
  }

  const std::string& error() const { return error_; }
  const std::string& undefined_reason() const { return undefined_; }
  const value& result() const { return result_; }
  const std::vector<int64_t>& literals() const { return literals_; }

private:
  value expression(int depth) {
    value acc = term(depth);
    while (error_.empty() && pos_ < text_.size()
           && (text_[pos_] == '+' || text_[pos_] == '-')) {
      const char op = take();
      acc = combine(acc, op, term(depth));
    }
    return acc;
  }

  value term(int depth) {
    value acc = factor(depth);
    while (error_.empty() && pos_ < text_.size()
           && (text_[pos_] == '*' || text_[pos_] == '/')) {
      const char op = take();
      acc = combine(acc, op, factor(depth));
    }
    return acc;
  }

  value factor(int depth) {
    if (!error_.empty())
      return {};
    if (pos_ == text_.size()) {
      fail("expected a number or '(' at the end");
      return {};
    }
    if (text_[pos_] == '(')
      return parenthesized(depth);
    if (is_digit(text_[pos_]))
      return number();
    fail("expected a number or '(' at offset " + std::to_string(pos_) + ", got "
         + show(text_[pos_]));
    return {};
  }

  value parenthesized(int depth) {
    if (depth + 1 > countdown_max_depth) {
      fail("parentheses nested deeper than " + std::to_string(countdown_max_depth));
      return {};
    }
    const size_t open = pos_;
    take();
    value inner = expression(depth + 1);
    if (!error_.empty())
      return {};
    if (pos_ == text_.size() || text_[pos_] != ')') {
      fail("'(' at offset " + std::to_string(open) + " is not closed");
      return {};
    }
    take();
    return inner;
  }

  value number() {
    const size_t start = pos_;
    int64_t n = 0;
    while (pos_ < text_.size() && is_digit(text_[pos_])) {
      if (pos_ - start == max_literal_digits) {
        fail("number at offset " + std::to_string(start) + " has more than "
             + std::to_string(max_literal_digits) + " digits");
        return {};
      }
      n = n * 10 + (text_[pos_++] - '0');
    }
    skip_space();
    literals_.push_back(n);
    return value{rational{n, 1}, true};
  }

  value combine(const value& a, char op, const value& b) {
    if (!error_.empty() || !a.defined || !b.defined)
      return value{{}, false};
    std::optional<rational> r;
    switch (op) {
      case '+': r = add(a.r, b.r); break;
      case '-': r = add(a.r, rational{-b.r.num, b.r.den}); break;
      case '*': r = multiply(a.r, b.r); break;
      default: // '/'
        if (b.r.num == 0)
          return undefined("division by zero");
        r = multiply(a.r, b.r.num > 0 ? rational{b.r.den, b.r.num}
                                      : rational{-b.r.den, -b.r.num});
    }
    if (!r)
      return undefined("a value exceeds the 64-bit range");
    return value{*r, true};
  }

  value undefined(const char* why) {
    if (undefined_.empty())
      undefined_ = why;
    return value{{}, false};
  }

  char take() {
    const char c = text_[pos_++];
    skip_space();
    return c;
  }

  void skip_space() {
    while (pos_ < text_.size() && is_space(text_[pos_]))
      ++pos_;
  }

  bool fail(std::string why) {
    if (error_.empty())
      error_ = std::move(why);
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
  std::string undefined_;
  value result_;
  std::vector<int64_t> literals_;
};

// "" when `used` is exactly `numbers` as multisets, else why not.
std::string compare_numbers(const std::vector<int64_t>& used,
                            const std::vector<int64_t>& numbers) {
  std::map<int64_t, int64_t> balance; // given minus used
  for (auto n : numbers)
    ++balance[n];
  for (auto n : used)
    --balance[n];
  for (const auto& [n, b] : balance) {
    if (b >= 0)
      continue;
    const bool given = std::count(numbers.begin(), numbers.end(), n) > 0;
    return given ? std::to_string(n) + " is used more often than it is given"
                 : std::to_string(n) + " is not among the numbers";
  }
  for (const auto& [n, b] : balance)
    if (b > 0)
      return std::to_string(n) + " is not used";
  return {};
}

// Decimal digits only, at most 18 of them.
std::optional<int64_t> parse_count(std::string_view s) {
  if (s.empty() || s.size() > max_literal_digits)
    return std::nullopt;
  int64_t n = 0;
  for (char c : s) {
    if (!is_digit(c))
      return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

} // namespace

const char* to_string(countdown_result r) {
  switch (r) {
    case countdown_result::correct: return "correct";
    case countdown_result::wrong_value: return "wrong_value";
    case countdown_result::bad_numbers: return "bad_numbers";
    case countdown_result::invalid: return "invalid";
    case countdown_result::unparsable: return "unparsable";
  }
  return "?";
}

countdown_verdict verify_countdown(std::string_view expression, int64_t target,
                                   const std::vector<int64_t>& numbers) {
  using r = countdown_result;
  if (expression.size() > countdown_max_expression_bytes)
    return {r::unparsable, "longer than " + std::to_string(countdown_max_expression_bytes)
                             + " bytes (" + std::to_string(expression.size()) + ")"};
  parser p(expression);
  if (!p.run())
    return {r::unparsable, p.error()};
  if (auto why = compare_numbers(p.literals(), numbers); !why.empty())
    return {r::bad_numbers, why};
  if (!p.result().defined)
    return {r::invalid, p.undefined_reason()};
  const auto& v = p.result().r;
  if (v.den == 1 && v.num == target)
    return {r::correct, {}};
  const auto shown = std::to_string(v.num) + (v.den == 1 ? "" : "/" + std::to_string(v.den));
  return {r::wrong_value, "makes " + shown + ", not " + std::to_string(target)};
}

std::optional<std::string> extract_answer_tag(std::string_view completion) {
  const auto close = completion.rfind(close_tag);
  if (close == std::string_view::npos)
    return std::nullopt;
  const auto head = completion.substr(0, close);
  const auto open = head.rfind(open_tag);
  const auto start = open == std::string_view::npos ? 0 : open + open_tag.size();
  return std::string{trim(head.substr(start))};
}

std::string format_countdown_reference(const countdown_reference& ref) {
  std::string out{countdown_reference_prefix};
  out += std::to_string(ref.target);
  for (size_t i = 0; i < ref.numbers.size(); ++i)
    out += (i == 0 ? ";" : ",") + std::to_string(ref.numbers[i]);
  return out;
}

std::optional<countdown_reference> parse_countdown_reference(std::string_view text) {
  if (!is_countdown_reference(text))
    return std::nullopt;
  text.remove_prefix(countdown_reference_prefix.size());
  const auto semi = text.find(';');
  if (semi == std::string_view::npos)
    return std::nullopt;
  countdown_reference ref;
  auto target = parse_count(text.substr(0, semi));
  if (!target)
    return std::nullopt;
  ref.target = *target;
  auto rest = text.substr(semi + 1);
  for (;;) {
    const auto comma = rest.find(',');
    auto n = parse_count(rest.substr(0, comma));
    if (!n)
      return std::nullopt;
    ref.numbers.push_back(*n);
    if (comma == std::string_view::npos)
      return ref;
    rest.remove_prefix(comma + 1);
  }
}

bool is_countdown_reference(std::string_view reference) {
  return reference.substr(0, countdown_reference_prefix.size()) == countdown_reference_prefix;
}

reward_breakdown score_countdown(std::string_view completion, std::string_view reference,
                                 const reward_weights& weights, bool allow_eos_tag) {
  reward_breakdown out;
  const auto ref = parse_countdown_reference(reference);
  if (!ref)
    return out;
  if (auto answer = extract_answer_tag(completion))
    out.accuracy = verify_countdown(*answer, ref->target, ref->numbers).correct() ? 1.0 : 0.0;
  const auto close = completion.find(close_tag);
  if (close != std::string_view::npos) {
    const auto expr = completion.substr(0, close);
    const auto rest = completion.substr(close + close_tag.size());
    const bool ends = rest.empty() || (allow_eos_tag && rest == eos_tag);
    const bool parses = expr.find('<') == std::string_view::npos
                        && verify_countdown(expr, ref->target, ref->numbers).result
                             != countdown_result::unparsable;
    out.format = ends && parses ? 1.0 : 0.0;
  }
  out.total = weights.accuracy * out.accuracy + weights.format * out.format;
  return out;
}

} // namespace tandem
