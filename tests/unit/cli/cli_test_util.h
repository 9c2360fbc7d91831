// Runs the `schakel` command line in-process and captures what it prints.
#ifndef SCHAKEL_TESTS_UNIT_CLI_CLI_TEST_UTIL_H_
#define SCHAKEL_TESTS_UNIT_CLI_CLI_TEST_UTIL_H_

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/command_context.h"

namespace schakel::cli::testing {

struct Outcome {
  int exit_code;
  std::string out;
  std::string err;
};

inline Outcome RunCli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int code = RunSchakel(args, out, err);
  return {code, out.str(), err.str()};
}

// An environment with exactly these variables, and stderr a terminal or not.
inline Environment TestEnvironment(std::map<std::string, std::string> variables,
                                   bool err_is_terminal = false) {
  Environment environment;
  environment.err_is_terminal = err_is_terminal;
  environment.getenv = [variables](const std::string& name) -> std::optional<std::string> {
    auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
  return environment;
}

inline Outcome RunCli(const std::vector<std::string>& args, const Environment& environment) {
  std::ostringstream out, err;
  const int code = RunSchakel(args, out, err, environment);
  return {code, out.str(), err.str()};
}

}  // namespace schakel::cli::testing

#endif  // SCHAKEL_TESTS_UNIT_CLI_CLI_TEST_UTIL_H_
