// The `schakel` command line as a function: builds the command tree, parses
// the arguments, runs the chosen command and returns the exit code.
//
// main.cc only forwards argv and the standard streams here, so tests run the
// very same command line in-process with string streams.
//
// Command groups (one header each, registered in app.cc; docs/cli.md):
//   keys     match keys: `keys derive` shows what identifiers become,
//            `keys generate` writes key files            (keys_command.h)
//   signals  the organisation's signals: add, get, list, update, delete,
//            import                       (signals_command.h, import_command.h)
//   cases    cases at the gateway: open, close, list, show (cases_command.h)
//   match    a purpose-bound match                          (match_command.h)
//   disclose, disclosures
//            after a hit: ask a partner to disclose, follow it
//                                                       (disclose_command.h)
//   approvals  disclosure requests partners sent; approve, deny
//                                                      (approvals_command.h)
//   notifications  partners' hits on your signals, decided disclosures
//                                                  (notifications_command.h)
//   log      the node's own log                               (log_command.h)
//   audit    `audit verify`: the exchange log's chain       (audit_command.h)
//   users    users and credentials; `whoami`               (users_command.h)
// Every command but `keys` talks to the user's own node (connection.h),
// configured by a client config file (client_config.h).
//
// Thread safety: each call builds its own command tree; calls on different
// streams may run concurrently.
#ifndef SCHAKEL_CLI_APP_H_
#define SCHAKEL_CLI_APP_H_

#include <ostream>
#include <string>
#include <vector>

#include "cli/command_context.h"

namespace schakel::cli {

// Runs `schakel <args...>` (args without the program name). Output goes to
// `out`, errors to `err` as "schakel: error: <message>" plus a hint. Returns
// an ExitCode (cli/exit_codes.h) as int; `--help` returns 0.
// Environment variables are read from the process (ProcessEnvironment) and
// stderr is taken not to be a terminal.
int RunSchakel(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The same with an explicit environment (main.cc: the real one, with
// isatty(2); tests: their own).
int RunSchakel(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const Environment& environment);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_APP_H_
