// `schakel signals`: the organisation's own signals on its node
// (proto/schakel/v1/signals.proto, service Signals).
//
//   schakel signals add    [--signal-id ID] --category C [subject and other
//                          field flags] [--json-file FILE]
//   schakel signals get    ID
//   schakel signals list   [--category C]... [--domain D]... [--owner U]
//                          [--registered-from T] [--registered-until T]
//                          [--expires-before T] [--family-id F]
//                          [subject flags] [--limit N]
//   schakel signals update ID [field flags] [--expected-version V]
//                          [--reason R]
//   schakel signals delete ID --reason R [--expected-version V]
//   schakel signals import FILE            (import_command.h)
//
// Field flags are the import columns (import_parser.h) with '-' for '_':
// --bsn, --given-names, --surname, --surname-prefix, --birth-date,
// --postcode, --house-number, --house-number-suffix, --street, --city,
// --family-id, --relation, --category, --domain, --registered-at,
// --expires-at, --contact-name, --contact-phone, --contact-email,
// --contact-unit, --free-text.
//
// `update` reads the signal, changes only the fields given (an empty value
// clears a field), and sends the changed paths with the version it read
// (or --expected-version), so a concurrent change is refused (ABORTED, exit
// 7), never overwritten.
//
// Output: `add` and `update` print a summary without identifiers (id,
// version, key types, purposes tagged for); `get` prints every field;
// `list` prints a table without identifiers. --json prints the Signal (one
// JSON document; `list`: one Signal per line, JSON Lines).
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_SIGNALS_COMMAND_H_
#define SCHAKEL_CLI_SIGNALS_COMMAND_H_

#include <CLI/CLI.hpp>

#include <ostream>

#include "cli/command_context.h"
#include "schakel/v1/signals.pb.h"

namespace schakel::cli {

// Adds `signals` and its subcommands (import included) to `app`; returns
// the `signals` command.
CLI::App* RegisterSignalsCommands(CLI::App& app, CommandContext& context);

// Every field of `signal` as "key: value" lines (identifiers included: for
// `signals get`, the user's own node's data).
void PrintSignal(const schakel::v1::Signal& signal, std::ostream& out);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_SIGNALS_COMMAND_H_
