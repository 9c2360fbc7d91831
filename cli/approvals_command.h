// `schakel approvals`: the disclosure requests partners sent to this
// organisation, and an approver's decision on them
// (proto/schakel/v1/local.proto, service Approvals).
//
//   schakel approvals list    [--state S]... [--limit N] [--json]
//   schakel approvals show    ID [--json]
//   schakel approvals approve ID [--fields F1,F2...] [--signals S1,S2...]
//                             [--reason R] [--json]
//   schakel approvals deny    ID --reason R [--json]
//
// IDs are disclosure ids, 32 hex digits, as `list` prints them. `approve`
// may narrow the request to fewer fields (of those the local policy allows)
// or fewer signals; without them it approves everything allowed. `deny`
// needs a reason, which the requester sees: general terms, never a person.
// Listing and showing need the role approver or auditor, deciding approver.
//
// Output for people: a table for `list`; "key: value" lines for one
// request (PrintApproval) with its signals as a table (id, category,
// domain, owner, dates: never the subject's identifiers; `schakel signals
// get ID` shows those). --json prints the Approval (one document; `list`:
// one per line). Deciding a request that is no longer pending exits 7; a
// reason-less deny exits 2 before anything is sent.
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_APPROVALS_COMMAND_H_
#define SCHAKEL_CLI_APPROVALS_COMMAND_H_

#include <CLI/CLI.hpp>

#include <ostream>

#include "cli/command_context.h"
#include "schakel/v1/local.pb.h"

namespace schakel::cli {

// Adds `approvals` and its subcommands to `app`.
void RegisterApprovalsCommands(CLI::App& app, CommandContext& context);

// One request for people (see the top of this file).
void PrintApproval(const schakel::v1::Approval& approval, std::ostream& out);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_APPROVALS_COMMAND_H_
