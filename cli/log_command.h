// `schakel log`: the node's own log (proto/schakel/v1/local.proto,
// LocalLog.ListLocalLog): every signal change, import, match, evaluation,
// disclosure, case change, user change and failed login at this node, with
// user and role. It holds no identifiers of persons.
//
//   schakel log [--since T] [--until T] [--kind K]... [--user U]
//               [--purpose P] [--from-sequence N] [--limit N] [--json]
//
// Times are YYYY-MM-DD (00:00 UTC) or RFC 3339; --until is exclusive.
// Kinds are the short names of LocalEventKind (signal_added, match_run,
// login_failed, ...; `schakel log --help` lists them). Output: a table, or
// with --json one LocalLogEntry per line. Needs the role auditor or admin.
//
// `schakel audit verify`: see audit_command.h.
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_LOG_COMMAND_H_
#define SCHAKEL_CLI_LOG_COMMAND_H_

#include <CLI/CLI.hpp>

#include "cli/command_context.h"

namespace schakel::cli {

// Adds `log` to `app`.
void RegisterLogCommand(CLI::App& app, CommandContext& context);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_LOG_COMMAND_H_
