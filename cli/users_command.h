// `schakel users` and `schakel whoami`: the node's users, their roles and
// credentials (proto/schakel/v1/node_admin.proto, service Users).
//
//   schakel users create USER_ID --role R [--role R2]... [--name NAME]
//                        --credential-out FILE
//   schakel users list [--include-disabled]
//   schakel users rotate-credential [USER_ID] --credential-out FILE
//   schakel whoami
//
// A credential is shown by the node once. The CLI never prints it: it
// creates FILE first (mode 0600, never overwriting a file), then asks the
// node, then writes "<user_id>.<secret>" into it. If the node refuses,
// FILE is removed again. The file is what the new user names as
// "credential_file" in their config. Needs the role admin (rotating one's
// own credential and whoami: any user).
//
// Ownership and thread safety: as keys_command.h.
#ifndef SCHAKEL_CLI_USERS_COMMAND_H_
#define SCHAKEL_CLI_USERS_COMMAND_H_

#include <CLI/CLI.hpp>

#include "cli/command_context.h"

namespace schakel::cli {

// Adds `users` (with its subcommands) and `whoami` to `app`.
void RegisterUsersCommands(CLI::App& app, CommandContext& context);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_USERS_COMMAND_H_
