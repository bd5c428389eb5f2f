// cli_flags.hpp: the one command-line parser of every tandem subcommand.
//
// A command declares its positionals and flags once; the declaration yields
// both the parse and the `--help` text, so they cannot disagree. Rules:
//   - `--help` / `-h` anywhere: parse() answers status::help (print help(),
//     exit 0) whatever else is on the line.
//   - An unknown flag, a flag given twice, a missing value, a value that is
//     not of the flag's kind ("--steps 2.9", "--steps 1e3", "--steps 5x")
//     or outside its range, too few or too many positionals: status::error
//     with a message naming the flag, and the command exits 2.
//   - Integers are decimal digits with an optional leading '-', nothing else;
//     numbers are finite decimals (strtod over the whole text); sizes are an
//     integer with an optional K/M/G/T suffix (powers of 1024).
//   - "--flag=value" is accepted as well as "--flag value".
//   - Ports are whole numbers 1..65535 (parse_port); HOST:PORT addresses go
//     through parse_host_port, whose error says what is wrong with the port.
// Values are read back by name after a successful parse; reading a flag that
// was never declared is a programming error and throws std::logic_error
// (never reached by user input).
//
// Thread safety: a command_line is built and used on one thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace tandem {

class command_line {
public:
  enum class kind { toggle, text, integer, number, size };
  enum class status { ok, help, error };

  /// `usage` is the synopsis ("tandem run CONFIG [flags]"), `summary` one
  /// sentence of what the command does.
  command_line(std::string usage, std::string summary);

  /// A positional argument; `count_max` < 0 = any number.
  command_line& positional(std::string name, std::string help, int count_min = 1,
                           int count_max = 1);
  /// A flag without a value.
  command_line& toggle(std::string flag, std::string help);
  /// A flag with a value; `fallback` is what value() returns when absent
  /// (shown in the help when not empty).
  command_line& text(std::string flag, std::string value_name, std::string help,
                     std::string fallback = {});
  command_line& integer(std::string flag, std::string help, int64_t fallback, int64_t min,
                        int64_t max);
  command_line& number(std::string flag, std::string help, double fallback, double min,
                       double max);
  command_line& size(std::string flag, std::string help, std::string fallback);

  /// Parses `args` (without the command words).
  status parse(const std::vector<std::string>& args);
  /// Why parse() failed, naming the flag; empty otherwise.
  const std::string& error() const { return error_; }
  /// Usage, summary, positionals and every flag with its default.
  std::string help() const;
  /// The command words of the usage ("tandem bench pipeline"), for errors.
  std::string command() const;

  bool given(const std::string& flag) const;
  bool on(const std::string& flag) const; // a toggle
  std::string value(const std::string& flag) const;
  int64_t as_int(const std::string& flag) const;
  double as_number(const std::string& flag) const;
  uint64_t as_size(const std::string& flag) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

private:
  struct spec {
    kind k = kind::toggle;
    std::string value_name, help, fallback;
    double min = 0, max = 0;
  };
  struct positional_spec {
    std::string name, help;
    int min = 1, max = 1;
  };
  const spec& find(const std::string& flag) const;
  bool check_value(const std::string& flag, const spec& s, const std::string& v);
  bool check_positionals();

  std::string usage_, summary_;
  std::vector<std::string> order_; // flags in declaration order (help text)
  std::map<std::string, spec> specs_;
  std::vector<positional_spec> positional_specs_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
  std::string error_;
};

/// The common front of a command: parses `args`; on --help prints the help
/// to stdout and answers 0, on a mistake prints it (and the usage line) to
/// stderr and answers 2; nullopt when the command should go on.
std::optional<int> parse_or_exit(command_line& cl, const std::vector<std::string>& args);

/// Strict parses (see file comment); nullopt when `text` is not one.
std::optional<int64_t> parse_integer(const std::string& text);
std::optional<double> parse_number(const std::string& text);
std::optional<uint64_t> parse_size(const std::string& text);
/// A TCP port: decimal digits, 1..65535; nullopt for anything else
/// ("99999", "-1", "0", "80x", "").
std::optional<uint16_t> parse_port(const std::string& text);

/// An address to connect to.
struct host_port {
  std::string host; // without brackets for IPv6
  uint16_t port = 0;
};

/// "HOST:PORT" or "[V6HOST]:PORT" (an unbracketed IPv6 host ends at the
/// last ':'): a non-empty host and a parse_port port.
/// errc::invalid_argument naming the text and what is wrong, e.g.
/// "host:99999: port 99999 is out of range 1..65535".
caf::expected<host_port> parse_host_port(const std::string& text);

} // namespace tandem
