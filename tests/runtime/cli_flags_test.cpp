// cli_flags_test.cpp: the one command-line parser: strict values, unknown
// and repeated flags, positionals, --help.
#include <gtest/gtest.h>

#include "runtime/cli_flags.hpp"
#include "runtime/error.hpp"

namespace tandem {
namespace {

command_line run_like() {
  command_line cl("tandem run CONFIG [flags]", "train");
  cl.positional("CONFIG", "the run file")
    .integer("--steps", "steps", 0, 1, 1000000)
    .text("--output", "DIR", "run directory", "runs/run")
    .number("--target-reward", "target", 0, 0, 1)
    .size("--bytes", "size", "8G")
    .toggle("--quiet", "quiet");
  return cl;
}

TEST(CliFlags, ParsesEveryKindAndBothSpellings) {
  auto cl = run_like();
  ASSERT_EQ(cl.parse({"cfg.yaml", "--steps", "50", "--output=runs/x", "--quiet",
                      "--target-reward", "0.95", "--bytes", "64M"}),
            command_line::status::ok)
    << cl.error();
  EXPECT_EQ(cl.positionals(), std::vector<std::string>{"cfg.yaml"});
  EXPECT_EQ(cl.as_int("--steps"), 50);
  EXPECT_EQ(cl.value("--output"), "runs/x");
  EXPECT_DOUBLE_EQ(cl.as_number("--target-reward"), 0.95);
  EXPECT_EQ(cl.as_size("--bytes"), 64u << 20);
  EXPECT_TRUE(cl.on("--quiet"));
}

TEST(CliFlags, AbsentFlagsGiveTheirDefaults) {
  auto cl = run_like();
  ASSERT_EQ(cl.parse({"cfg.yaml"}), command_line::status::ok);
  EXPECT_FALSE(cl.given("--steps"));
  EXPECT_EQ(cl.value("--output"), "runs/run");
  EXPECT_EQ(cl.as_size("--bytes"), uint64_t{8} << 30);
  EXPECT_FALSE(cl.on("--quiet"));
}

TEST(CliFlags, RejectsWhatWouldSilentlyDoSomethingElse) {
  struct bad {
    std::vector<std::string> args;
    std::string says;
  };
  for (auto& b : std::vector<bad>{
         {{"c", "--stpes", "5"}, "unknown flag --stpes"},
         {{"c", "--steps", "2.9"}, "--steps: expected a whole number, got '2.9'"},
         {{"c", "--steps", "1e3"}, "--steps: expected a whole number, got '1e3'"},
         {{"c", "--steps", "5x"}, "expected a whole number"},
         {{"c", "--steps", "0"}, "--steps: 0 is out of range"},
         {{"c", "--steps", "99999999999999999999"}, "expected a whole number"},
         {{"c", "--steps"}, "--steps needs a value"},
         {{"c", "--steps", "1", "--steps", "2"}, "--steps given twice"},
         {{"c", "--target-reward", "nan"}, "expected a number"},
         {{"c", "--target-reward", "1.5"}, "out of range"},
         {{"c", "--bytes", "8Q"}, "expected a size"},
         {{"c", "--quiet=1"}, "--quiet takes no value"},
         {{}, "missing CONFIG"},
         {{"a", "b"}, "unexpected argument 'b'"},
       }) {
    auto cl = run_like();
    EXPECT_EQ(cl.parse(b.args), command_line::status::error) << b.says;
    EXPECT_NE(cl.error().find(b.says), std::string::npos) << cl.error();
  }
}

TEST(CliFlags, HelpWinsAndListsEveryFlagWithItsDefault) {
  auto cl = run_like();
  EXPECT_EQ(cl.parse({"--bogus", "--help"}), command_line::status::help);
  auto text = cl.help();
  for (auto* s : {"usage: tandem run CONFIG", "--steps N", "--output DIR", "(default runs/run)",
                  "--bytes SIZE", "--quiet", "--help", "CONFIG"})
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
}

TEST(CliFlags, StrictNumberParsers) {
  EXPECT_EQ(parse_integer("-12"), -12);
  EXPECT_FALSE(parse_integer("+1"));
  EXPECT_FALSE(parse_integer(" 1"));
  EXPECT_FALSE(parse_integer("-"));
  EXPECT_EQ(parse_number("1e-3"), 1e-3);
  EXPECT_FALSE(parse_number("1e999"));
  EXPECT_FALSE(parse_number("inf"));
  EXPECT_EQ(parse_size("2K"), 2048u);
  EXPECT_EQ(parse_size("3g"), uint64_t{3} << 30);
  EXPECT_FALSE(parse_size("-1M"));
}

TEST(CliFlags, PortsAreWholeNumbersFromOneTo65535) {
  EXPECT_EQ(parse_port("1"), 1);
  EXPECT_EQ(parse_port("65535"), 65535);
  EXPECT_EQ(parse_port("08080"), 8080);
  for (auto* bad : {"0", "65536", "99999", "-1", "", "80x", "8e3", "+80", " 80",
                    "99999999999999999999999"})
    EXPECT_FALSE(parse_port(bad)) << bad;
}

TEST(CliFlags, HostPortSaysWhatIsWrongWithThePort) {
  auto ok = parse_host_port("head.example:7000");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->host, "head.example");
  EXPECT_EQ(ok->port, 7000);
  auto v6 = parse_host_port("[::1]:65535");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 65535);
  auto bare_v6 = parse_host_port("::1:7000"); // as a head bound to ::1 writes it
  ASSERT_TRUE(bare_v6);
  EXPECT_EQ(bare_v6->host, "::1");
  EXPECT_EQ(bare_v6->port, 7000);
  struct bad {
    std::string text, says;
  };
  for (auto& b : std::vector<bad>{
         {"host:99999", "port 99999 is out of range 1..65535"},
         {"host:-1", "port -1 is out of range 1..65535"},
         {":-1", "port -1 is out of range 1..65535"},
         {":7000", "the host is empty"},
         {"host:0", "port 0 is out of range"},
         {"host:80x", "must be a whole number 1..65535, got '80x'"},
         {"host:1e3", "got '1e3'"},
         {"host:", "got ''"},
         {"host", "expected HOST:PORT"},
         {"[::1]80", "expected [IPV6]:PORT"},
       }) {
    auto r = parse_host_port(b.text);
    ASSERT_FALSE(r) << b.text;
    auto why = describe(r.error());
    EXPECT_NE(why.find(b.says), std::string::npos) << b.text << ": " << why;
    EXPECT_NE(why.find("'" + b.text + "'"), std::string::npos) << why;
  }
}

TEST(CliFlags, CommandIsTheUsagesLeadingWords) {
  EXPECT_EQ(run_like().command(), "tandem run");
  EXPECT_EQ(command_line("tandem bench pipeline CONFIG [flags]", "").command(),
            "tandem bench pipeline");
  EXPECT_EQ(command_line("tandem worker --config CONFIG", "").command(), "tandem worker");
  EXPECT_EQ(command_line("tandem status HOST:PORT [flags]", "").command(), "tandem status");
}

} // namespace
} // namespace tandem
