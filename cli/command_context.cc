#include "cli/command_context.h"

#include <cstdlib>
#include <utility>

namespace schakel::cli {

Environment ProcessEnvironment(bool err_is_terminal) {
  Environment environment;
  environment.err_is_terminal = err_is_terminal;
  environment.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  return environment;
}

ExitCode ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return ExitCode::kOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return ExitCode::kInvalidInput;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return ExitCode::kUnavailable;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
      return ExitCode::kRefused;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return ExitCode::kConflict;
    default:
      return ExitCode::kInternalError;
  }
}

std::string HelpFooter(std::string_view examples) {
  std::string footer(examples);
  footer += "\n\n";
  footer += kExitCodesHelp;
  return footer;
}

void CommandContext::Fail(ExitCode code, std::string_view message, std::string_view hint) {
  err_ << "schakel: error: " << message << "\n";
  if (!hint.empty()) err_ << "hint: " << hint << "\n";
  exit_code_ = code;
}

void CommandContext::Fail(const absl::Status& status, std::string_view hint) {
  Fail(ExitCodeFor(status), std::string_view(status.message().data(), status.message().size()),
       hint);
}

}  // namespace schakel::cli
