// `schakel signals import FILE`: many signals at once, all or nothing
// (Signals.ImportSignals).
//
//   schakel signals import FILE [--format csv|jsonl] [--replace] [--dry-run]
//                               [--progress] [--json]
//
// The file (CSV with a header row, or JSON Lines; import_parser.h and
// docs/cli.md "Import files") is parsed here, row by row, and streamed to
// the node in batches of at most kImportBatchRows rows: only one batch is
// in memory, so a file of a million rows needs a few megabytes. The node
// validates every row and stores all of them only when the end message asks
// for it and no row has a problem. The client asks for it only when it found
// no problem itself (and not with --dry-run); otherwise it still sends every
// row it could parse, so that one run lists every problem, its own and the
// node's together, sorted by line:
//
//   line 7: bsn: fails the elfproef
//   line 12: expires_at: not a date (YYYY-MM-DD) or an RFC 3339 time ...
//
// (on stderr), then "nothing stored" and exit 3. Field paths from the node
// ("subject.birth_date") are shown as the column names ("birth_date").
//
// Progress: a bar on stderr when it is a terminal (by bytes of the file
// read, with rows read and validated); with --progress, plain progress
// lines otherwise. On success a summary: rows, signals stored, tags queued,
// elapsed time, rows per second. --json prints instead one JSON document:
//   {"file","format","committed","dry_run","rows","rows_sent",
//    "signals_stored","tags_queued","elapsed_seconds","rows_per_second",
//    "problem_count","problems":[{"line","field","problem"}]}
//
// Ownership and thread safety: a reader thread takes the node's progress
// messages while the command's thread sends rows; both end before the
// command returns.
#ifndef SCHAKEL_CLI_IMPORT_COMMAND_H_
#define SCHAKEL_CLI_IMPORT_COMMAND_H_

#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "cli/command_context.h"

namespace schakel::cli {

// Rows per ImportRows message (signals.proto: at most 10,000).
inline constexpr size_t kImportBatchRows = 10'000;
// Problems kept for printing (the node also lists at most 100,000); the
// count covers all.
inline constexpr size_t kMaxProblemsListed = 100'000;

// Adds `import` to the `signals` command.
void RegisterImportCommand(CLI::App& signals, CommandContext& context);

// The import column a node's field path names: "subject.bsn" -> "bsn",
// "signal.subject.address.postcode" -> "postcode", "contact.email" ->
// "contact_email"; other paths unchanged.
std::string ColumnOfPath(std::string_view path);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_IMPORT_COMMAND_H_
