// What a command gets from the command line: where to write its output and
// errors, and where to leave its exit code.
//
// Commands never write to std::cout or std::cerr themselves, so that they can
// be run and checked in-process by tests. Errors are printed in one format:
//
//   schakel: error: <message>
//   hint: <what to do about it>
//
// Messages name fields and problems, never identifier values (see
// crypto/match_keys.h).
//
// Ownership and thread safety: the context refers to the streams, it does not
// own them; they must outlive it. One command runs at a time; not for
// concurrent use.
#ifndef SCHAKEL_CLI_COMMAND_CONTEXT_H_
#define SCHAKEL_CLI_COMMAND_CONTEXT_H_

#include <ostream>
#include <string_view>

#include "absl/status/status.h"
#include "cli/exit_codes.h"

namespace schakel::cli {

// INVALID_ARGUMENT is the user's data (kInvalidInput); anything else is
// unexpected (kInternalError). Later commands add codes for their failures.
ExitCode ExitCodeFor(const absl::Status& status);

class CommandContext {
 public:
  CommandContext(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  CommandContext(const CommandContext&) = delete;
  CommandContext& operator=(const CommandContext&) = delete;

  std::ostream& out() const { return out_; }
  std::ostream& err() const { return err_; }

  // Prints the error and the hint to err() and records `code`.
  void Fail(ExitCode code, std::string_view message, std::string_view hint);
  // The same for a failed status; the code is ExitCodeFor(status).
  void Fail(const absl::Status& status, std::string_view hint);

  ExitCode exit_code() const { return exit_code_; }

 private:
  std::ostream& out_;
  std::ostream& err_;
  ExitCode exit_code_ = ExitCode::kOk;
};

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_COMMAND_CONTEXT_H_
