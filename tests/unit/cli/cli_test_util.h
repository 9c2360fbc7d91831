// Runs the `schakel` command line in-process and captures what it prints.
#ifndef SCHAKEL_TESTS_UNIT_CLI_CLI_TEST_UTIL_H_
#define SCHAKEL_TESTS_UNIT_CLI_CLI_TEST_UTIL_H_

#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"

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

}  // namespace schakel::cli::testing

#endif  // SCHAKEL_TESTS_UNIT_CLI_CLI_TEST_UTIL_H_
