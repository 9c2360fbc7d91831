// `schakel notifications`: what the gateway told this organisation
// (proto/schakel/v1/local.proto, service Inbox): a partner's match hit your
// signals (where the purpose provides that), or a disclosure you asked for
// was decided or expired.
//
//   schakel notifications [--unread] [--owner U] [--limit N] [--json]
//   schakel notifications mark-read (SEQ... | --all)
//
// The list is newest first, a row per hit signal: for a match, who asked
// (organisation, user, role), under which purpose and case, and your
// signals the tags resolve to with their owner and the key types that hit;
// for a disclosure, its id and state. You see the notifications about your
// own signals; admins and auditors see all (or one owner's with --owner).
// `mark-read` marks the given sequences read for you; --all marks every
// unread one you see. --json prints one LocalNotification per line
// (`mark-read`: the MarkNotificationsReadResponse).
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_NOTIFICATIONS_COMMAND_H_
#define SCHAKEL_CLI_NOTIFICATIONS_COMMAND_H_

#include <CLI/CLI.hpp>

#include "cli/command_context.h"

namespace schakel::cli {

// Adds `notifications` (and `notifications mark-read`) to `app`.
void RegisterNotificationsCommands(CLI::App& app, CommandContext& context);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_NOTIFICATIONS_COMMAND_H_
