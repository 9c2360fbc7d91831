// Runs a program to completion and captures what it wrote, for integration
// tests that exercise the real binaries.
//
// Thread safety: reentrant; each call owns its pipes and child.
#ifndef SCHAKEL_TESTS_INTEGRATION_SUBPROCESS_H_
#define SCHAKEL_TESTS_INTEGRATION_SUBPROCESS_H_

#include <string>
#include <vector>

namespace schakel::integration {

struct ProcessResult {
  // The exit status, or 128 + signal number when the child was killed by a
  // signal, or -1 when it could not be started.
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Starts `program` with `args` (argv[0] is `program`), stdin from /dev/null,
// and waits for it to exit while draining stdout and stderr.
ProcessResult RunProcess(const std::string& program, const std::vector<std::string>& args);

}  // namespace schakel::integration

#endif  // SCHAKEL_TESTS_INTEGRATION_SUBPROCESS_H_
