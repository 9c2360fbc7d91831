// Exit codes of the `schakel` command line.
//
// Scripts depend on these numbers: a value, once released, never changes
// meaning. Every command maps its outcome to one of them; `--help` shows
// kExitCodesHelp in its footer.
//
// Thread safety: constants only.
#ifndef SCHAKEL_CLI_EXIT_CODES_H_
#define SCHAKEL_CLI_EXIT_CODES_H_

#include <string_view>

namespace schakel::cli {

enum class ExitCode : int {
  kOk = 0,
  // A bug or an environment failure: not the user's input.
  kInternalError = 1,
  // Bad, unknown, missing or conflicting flags; the command did nothing.
  kUsageError = 2,
  // The flags were right but a value is not valid data (a BSN that fails the
  // elfproef, a date that does not exist, ...).
  kInvalidInput = 3,
};

inline constexpr int ToInt(ExitCode code) { return static_cast<int>(code); }

inline constexpr std::string_view kExitCodesHelp =
    "Exit codes: 0 ok, 1 unexpected internal error, 2 usage error (bad or missing flags), "
    "3 invalid input data (e.g. a BSN that fails the elfproef).";

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_EXIT_CODES_H_
