#include "bench/reference_process.hpp"

#include <filesystem>
#include <sstream>

#include "runtime/error.hpp"
#include "runtime/process_launcher.hpp"

namespace tandem {

std::vector<std::string> split_command(const std::string& cmd) {
  std::istringstream in(cmd);
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

caf::expected<json_value> run_reference(std::vector<std::string> argv, const std::string& out_file,
                                        std::chrono::seconds deadline) {
  if (argv.empty())
    return make_error(errc::invalid_argument, "reference: empty command");
  std::error_code ec;
  std::filesystem::remove(out_file, ec);
  argv.push_back("--out");
  argv.push_back(out_file);
  os_process_launcher launcher;
  auto child = launcher.launch(argv);
  if (!child)
    return child.error();
  if (!wait_exit(**child, deadline)) {
    (*child)->stop(std::chrono::milliseconds{5000});
    return make_error(errc::timeout, "reference '" + argv[0] + " " + argv[1]
                                       + "' did not finish within "
                                       + std::to_string(deadline.count()) + " s");
  }
  if ((*child)->exit_code() != 0)
    return make_error(errc::process_failure, "reference '" + argv[0] + " " + argv[1]
                                               + "' exited with code "
                                               + std::to_string((*child)->exit_code()));
  return read_json_file(out_file);
}

caf::expected<double> json_number_at(const json_value& v, const std::string& key,
                                     const std::string& what) {
  auto* x = v.find(key);
  if (x == nullptr || x->as_number() == nullptr)
    return make_error(errc::malformed_message, what + ": no number '" + key + "'");
  return x->as_number()->value;
}

} // namespace tandem
