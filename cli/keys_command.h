// `schakel keys`: the commands about match keys.
//
//   schakel keys derive [--bsn B] [--given-names G --surname S --birth-date D]
//                       [--postcode P --house-number H] [--json]
//
// `keys derive` shows the canonical match keys (protocol.md, "Match keys") a
// subject's identifiers yield, so that a user can see why two records do or
// do not match. It prints only the user's own canonical keys and their OPRF
// input strings: nothing secret (no node key, no OPRF output, no tag).
//
// Ownership and thread safety: RegisterKeysCommands stores a reference to the
// context in the commands' callbacks; the context must outlive the app. Not
// for concurrent use.
#ifndef SCHAKEL_CLI_KEYS_COMMAND_H_
#define SCHAKEL_CLI_KEYS_COMMAND_H_

#include <CLI/CLI.hpp>

#include "cli/command_context.h"
#include "crypto/match_keys.h"

namespace schakel::cli {

// Adds `keys` and its subcommands to `app`.
void RegisterKeysCommands(CLI::App& app, CommandContext& context);

struct KeysDeriveRequest {
  crypto::SubjectIdentifiers subject;
  bool json = false;
};

// Derives and prints the keys of `request.subject`: an aligned table with a
// note on what was removed, or with `json` the document
//   {"keys":[{"type":"bsn","canonical":"...","oprf_input":"schakel:v1:bsn:..."}, ...]}
// Invalid identifiers fail the context with ExitCode::kInvalidInput and a
// message that names the field, not the value.
void RunKeysDerive(const KeysDeriveRequest& request, CommandContext& context);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_KEYS_COMMAND_H_
