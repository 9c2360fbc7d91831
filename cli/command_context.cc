#include "cli/command_context.h"

namespace schakel::cli {

ExitCode ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return ExitCode::kOk;
  if (status.code() == absl::StatusCode::kInvalidArgument) return ExitCode::kInvalidInput;
  return ExitCode::kInternalError;
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
