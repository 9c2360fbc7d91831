// `schakel disclose` and `schakel disclosures`: an analyst asks a partner to
// disclose fields about subjects that hit there, and follows the answer
// (proto/schakel/v1/local.proto, Matching.AskDisclosure, ShowDisclosure,
// ListDisclosures). The node seals nothing here: it opens the sealed box the
// partner sent, checks the partner's signature and the payload hash, and
// only then returns the content.
//
//   schakel disclose (--exchange ID | --match FILE) --partner ORG
//                    (--subject N... | --family F) --fields F1,F2...
//                    [--categories C1,C2...] --reason R
//                    [--wait [--wait-for S] [--poll-interval S]] [--json]
//   schakel disclosures list [--state S]... [--exchange ID] [--limit N]
//   schakel disclosures show ID [--wait ...] [--json]
//
// Ids (exchange, disclosure) are 32 hex digits, as `schakel match` and these
// commands print them. --match FILE reads what `schakel match --json`
// printed: it gives the exchange id, and lets --family name a family by the
// caller's own family id (its members that hit at the partner are asked
// about) and --subject be checked for a hit before anything is sent.
//
// Output for people (PrintDisclosure): the disclosure as "key: value"
// lines, then, once delivered and verified, one table per disclosed signal
// (field, value). --json prints the AskDisclosureResponse (`disclose`), the
// OutgoingDisclosure (`show`), or one OutgoingDisclosure per line (`list`).
//
// Exit codes of `disclose` and `disclosures show` follow the disclosure's
// state (DisclosureExitCode): 0 delivered, or pending without --wait; 6
// denied by the partner, refused or expired; 4 partner unavailable, or still
// pending when --wait ended (the request stands: do not ask again); 5 the
// delivered payload failed verification at the node (not shown). Errors of
// the call itself map as for every command (connection.h), e.g. an unknown
// exchange 7, a field the purpose does not allow 6.
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_DISCLOSE_COMMAND_H_
#define SCHAKEL_CLI_DISCLOSE_COMMAND_H_

#include <CLI/CLI.hpp>

#include <ostream>

#include "cli/command_context.h"
#include "cli/exit_codes.h"
#include "schakel/v1/local.pb.h"

namespace schakel::cli {

// Adds `disclose` and `disclosures` (list, show) to `app`.
void RegisterDiscloseCommands(CLI::App& app, CommandContext& context);

// The disclosure for people (see the top of this file).
void PrintDisclosure(const schakel::v1::OutgoingDisclosure& disclosure, std::ostream& out);

// The exit code for a disclosure's state (see the top of this file);
// `waited_out` is true when --wait ended while it was still pending.
ExitCode DisclosureExitCode(const schakel::v1::OutgoingDisclosure& disclosure,
                            bool waited_out);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_DISCLOSE_COMMAND_H_
