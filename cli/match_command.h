// `schakel match`: a purpose-bound match for a person, a family or a list
// (proto/schakel/v1/local.proto, Matching.Match). The node blinds the keys;
// identifiers never leave it.
//
//   schakel match --purpose P [--case C] [--partners a,b]
//                 (--bsn B | --given-names G --surname S --birth-date D |
//                  --postcode P --house-number H ... [--label L])
//                 | --subjects FILE.csv
//
// The subjects file is CSV with a header row naming any of the columns
// label, bsn, given_names, surname, surname_prefix, birth_date, postcode,
// house_number, house_number_suffix, family_id, relation (import_parser.h);
// rows sharing a family_id are one family. Every problem in the file is
// listed by line and nothing is sent (exit 3). The node's own problems with
// a subject ("subjects[2].subject.bsn") are shown with the line of the
// file they come from.
//
// Output for people (PrintMatchTable): the exchange, then a table grouped by
// family (family id, member label, relation, and per partner that answered
// the key types that hit there, or "-"), the summary per family (which
// domains know which members), and every partner's status (OK, refused by
// policy, refused by the partner, unavailable, timed out, invalid response)
// with the exchange id. --json prints the whole MatchResponse as JSON and
// nothing else on stdout.
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_MATCH_COMMAND_H_
#define SCHAKEL_CLI_MATCH_COMMAND_H_

#include <CLI/CLI.hpp>

#include <ostream>

#include "cli/command_context.h"
#include "schakel/v1/local.pb.h"

namespace schakel::cli {

// Adds `match` to `app`.
void RegisterMatchCommand(CLI::App& app, CommandContext& context);

// The result for people (see the top of this file).
void PrintMatchTable(const schakel::v1::MatchResponse& response, std::ostream& out);

// "OK", "refused by policy", "refused by the partner", "unavailable",
// "timed out", "invalid response".
std::string PartnerStatusText(schakel::v1::PartnerStatus status);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_MATCH_COMMAND_H_
