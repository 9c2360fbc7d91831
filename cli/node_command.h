// `schakel node`: how your organisation's node stands (NodeAdmin,
// proto/schakel/v1/node_admin.proto). Needs the role admin or auditor.
//
//   schakel node status [--wait-published] [--wait-for S] [--poll-interval S] [--json]
//       index publication: batches queued and acknowledged by the gateway,
//       whether the stream is connected, the last acknowledgement, and per
//       purpose the tags the node holds against the gateway's count.
//       --wait-published asks again until nothing waits (every batch
//       queued was acknowledged by the gateway), e.g. after an import, and
//       exits 4 when --wait-for (default 300 s) passed first.
//   schakel node policy [--json]
//       the local policy in force: version, categories with their retention,
//       purposes answered and their matchable categories, disclosure rules,
//       how many institutional addresses are excluded (never which).
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_NODE_COMMAND_H_
#define SCHAKEL_CLI_NODE_COMMAND_H_

#include <CLI/CLI.hpp>

#include "cli/command_context.h"

namespace schakel::cli {

// Adds `node` (with its subcommands) to `app`.
void RegisterNodeCommands(CLI::App& app, CommandContext& context);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_NODE_COMMAND_H_
