// Exit codes of the `schakel` command line.
//
// Scripts depend on these numbers: a value, once released, never changes
// meaning. Every command maps its outcome to one of them; `--help` shows
// kExitCodesHelp in its footer and docs/cli.md lists them with examples.
//
// Thread safety: constants only.
#ifndef SCHAKEL_CLI_EXIT_CODES_H_
#define SCHAKEL_CLI_EXIT_CODES_H_

#include <string_view>

namespace schakel::cli {

enum class ExitCode : int {
  kOk = 0,
  // A bug, an environment failure, or an answer from the node that makes no
  // sense (INTERNAL, UNKNOWN, UNIMPLEMENTED): not the user's input.
  kInternalError = 1,
  // Bad, unknown, missing or conflicting flags; the command did nothing.
  kUsageError = 2,
  // The flags were right but a value is not valid data (a BSN that fails the
  // elfproef, a date that does not exist, a bad row in an import file); the
  // node's INVALID_ARGUMENT. Nothing was stored.
  kInvalidInput = 3,
  // The node could not be reached, or did not answer in time, or answered
  // UNAVAILABLE (e.g. it cannot reach the gateway). Nothing was done; the
  // command may be retried.
  kUnavailable = 4,
  // Something did not verify: `schakel audit verify` found the exchange
  // log's chain broken, `audit reconcile` found a receipt missing or changed,
  // or a delivered disclosure failed its signature, hash or content checks.
  kVerificationFailed = 5,
  // The node refused: the credential (UNAUTHENTICATED), the role or the
  // policy (PERMISSION_DENIED), a quota (RESOURCE_EXHAUSTED).
  kRefused = 6,
  // The request does not fit the node's state: no such signal or case
  // (NOT_FOUND), it already exists (ALREADY_EXISTS), it changed meanwhile
  // (ABORTED), or it is not in a state that allows this
  // (FAILED_PRECONDITION).
  kConflict = 7,
  // The client configuration: the config file or the credential file is
  // missing, unreadable, malformed or not mode 0600, or the CA file is bad.
  kConfigError = 8,
};

inline constexpr int ToInt(ExitCode code) { return static_cast<int>(code); }

inline constexpr std::string_view kExitCodesHelp =
    "Exit codes: 0 ok, 1 unexpected internal error, 2 usage error (bad or missing flags), "
    "3 invalid input data (e.g. a BSN that fails the elfproef), 4 node unreachable or not "
    "answering, 5 verification failed, 6 refused (credential, role, policy or quota), "
    "7 not found or conflict, 8 client configuration problem.";

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_EXIT_CODES_H_
