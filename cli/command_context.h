// What a command gets from the command line: where to write its output and
// errors, what it may know of its environment (environment variables,
// whether stderr is a terminal), and where to leave its exit code.
//
// Commands never write to std::cout or std::cerr themselves, nor read the
// process environment, so that they can be run and checked in-process by
// tests. Errors are printed in one format:
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

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "cli/exit_codes.h"

namespace schakel::cli {

// What a command may know of the process it runs in.
struct Environment {
  // True when err() is a terminal: progress bars are drawn only then.
  bool err_is_terminal = false;
  // Looks up an environment variable ($SCHAKEL_CONFIG, $HOME,
  // $XDG_CONFIG_HOME); nullopt when it is not set. Unset function: nothing
  // is set.
  std::function<std::optional<std::string>(const std::string&)> getenv;

  std::optional<std::string> Get(const std::string& name) const {
    return getenv ? getenv(name) : std::nullopt;
  }
};

// The real process environment (getenv(3)); err_is_terminal as given.
Environment ProcessEnvironment(bool err_is_terminal);

// The exit code for a failed status, by its code (exit_codes.h):
// INVALID_ARGUMENT / OUT_OF_RANGE -> kInvalidInput; UNAVAILABLE /
// DEADLINE_EXCEEDED -> kUnavailable; UNAUTHENTICATED / PERMISSION_DENIED /
// RESOURCE_EXHAUSTED -> kRefused; NOT_FOUND / ALREADY_EXISTS / ABORTED /
// FAILED_PRECONDITION -> kConflict; anything else -> kInternalError.
ExitCode ExitCodeFor(const absl::Status& status);

// A command's help footer: its examples, then the exit codes.
std::string HelpFooter(std::string_view examples);

class CommandContext {
 public:
  CommandContext(std::ostream& out, std::ostream& err, Environment environment = {})
      : out_(out), err_(err), environment_(std::move(environment)) {}

  CommandContext(const CommandContext&) = delete;
  CommandContext& operator=(const CommandContext&) = delete;

  std::ostream& out() const { return out_; }
  std::ostream& err() const { return err_; }
  const Environment& environment() const { return environment_; }

  // Prints the error and the hint to err() and records `code`.
  void Fail(ExitCode code, std::string_view message, std::string_view hint);
  // The same for a failed status; the code is ExitCodeFor(status).
  void Fail(const absl::Status& status, std::string_view hint);
  // Records `code` without printing (the command printed its own report).
  void SetExitCode(ExitCode code) { exit_code_ = code; }

  ExitCode exit_code() const { return exit_code_; }

 private:
  std::ostream& out_;
  std::ostream& err_;
  Environment environment_;
  ExitCode exit_code_ = ExitCode::kOk;
};

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_COMMAND_CONTEXT_H_
