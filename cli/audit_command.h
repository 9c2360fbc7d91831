// `schakel audit`: the compliance view of the gateway's exchange log,
// through the user's own node (proto/schakel/v1/audit.proto, service Audit;
// the node sets the actor and forwards). Needs the role auditor.
//
//   schakel audit verify [--from N] [--to N] [--progress] [--json]
//
// Audit.VerifyChain has the gateway walk the hash chain and the signed
// checkpoints. Progress goes to stderr (a bar on a terminal; with
// --progress, lines otherwise). The outcome on stdout:
//
//   chain intact: 1,204 entries, 12 checkpoints           exit 0
//   entry 42: record hash does not match its record (<detail>)
//                                                         exit 5
//
// The second form names the first bad entry and the kind of problem
// (VerifyResult.problem); exit 5 is "verification failed" (exit_codes.h).
// --json prints the VerifyResult instead.
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_AUDIT_COMMAND_H_
#define SCHAKEL_CLI_AUDIT_COMMAND_H_

#include <CLI/CLI.hpp>

#include <string>

#include "cli/command_context.h"
#include "schakel/v1/audit.pb.h"

namespace schakel::cli {

// Adds `audit` and its subcommands to `app`.
void RegisterAuditCommands(CLI::App& app, CommandContext& context);

// "record hash does not match its record", ... for a ChainProblem.
std::string ChainProblemText(schakel::v1::ChainProblem problem);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_AUDIT_COMMAND_H_
