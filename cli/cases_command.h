// `schakel cases`: a director's cases at the gateway, through the user's own
// node (proto/schakel/v1/cases.proto, service Cases; the node sets the actor
// and forwards).
//
//   schakel cases open  --purpose P --title T --goal G --ground G1
//                       [--ground G2]... --ends DATE [--partner ORG]...
//                       [--reference R]
//   schakel cases close ID --reason R
//   schakel cases list  [--purpose P]... [--state open|closed|expired]...
//                       [--limit N]
//   schakel cases show  ID
//
// --ends YYYY-MM-DD keeps the case open through that day (UTC): ends_at is
// 00:00 UTC of the next day; an RFC 3339 time is taken as it is. `open`
// sends 16 random bytes as request_id, so the gateway never opens a case
// twice for one command. Titles, goals, grounds and reasons must describe
// the case in general terms: they go to the gateway and may never name a
// person.
//
// Output: the case as "key: value" lines, a table for `list`; --json prints
// the Case (one document; `list`: one Case per line).
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_CASES_COMMAND_H_
#define SCHAKEL_CLI_CASES_COMMAND_H_

#include <CLI/CLI.hpp>

#include <ostream>

#include "cli/command_context.h"
#include "schakel/v1/cases.pb.h"

namespace schakel::cli {

// Adds `cases` and its subcommands to `app`.
void RegisterCasesCommands(CLI::App& app, CommandContext& context);

// Every field of `c` as "key: value" lines.
void PrintCase(const schakel::v1::Case& c, std::ostream& out);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_CASES_COMMAND_H_
