// The `schakel` command line as a function: builds the command tree, parses
// the arguments, runs the chosen command and returns the exit code.
//
// main.cc only forwards argv and the standard streams here, so tests run the
// very same command line in-process with string streams.
//
// Command groups (one header each, registered in app.cc):
//   keys     match keys: `keys derive` shows what identifiers become
//
// Thread safety: each call builds its own command tree; calls on different
// streams may run concurrently.
#ifndef SCHAKEL_CLI_APP_H_
#define SCHAKEL_CLI_APP_H_

#include <ostream>
#include <string>
#include <vector>

namespace schakel::cli {

// Runs `schakel <args...>` (args without the program name). Output goes to
// `out`, errors to `err` as "schakel: error: <message>" plus a hint. Returns
// an ExitCode (cli/exit_codes.h) as int; `--help` returns 0.
int RunSchakel(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_APP_H_
