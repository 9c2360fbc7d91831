#include "cli/app.h"

#include <CLI/CLI.hpp>

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "cli/admin_command.h"
#include "cli/approvals_command.h"
#include "cli/audit_command.h"
#include "cli/cases_command.h"
#include "cli/command_context.h"
#include "cli/disclose_command.h"
#include "cli/exit_codes.h"
#include "cli/keys_command.h"
#include "cli/log_command.h"
#include "cli/match_command.h"
#include "cli/notifications_command.h"
#include "cli/signals_command.h"
#include "cli/node_command.h"
#include "cli/users_command.h"
#include "common/strings.h"

namespace schakel::cli {
namespace {

// "schakel keys derive": the chain of subcommands the user selected.
std::string CommandPath(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* current = &app;
  while (true) {
    const std::vector<CLI::App*> selected = current->get_subcommands();
    if (selected.empty()) break;
    current = selected.front();
    path += " " + current->get_name();
  }
  return path;
}

// CLI11 quotes unexpected arguments in its message; they may be identifiers
// typed without their flag, so this names unknown flags only and counts the
// rest.
std::string ExtrasMessage(const CLI::App& app) {
  std::string flags;
  size_t values = 0;
  for (const std::string& arg : app.remaining(true)) {
    if (arg.size() > 1 && arg[0] == '-') {
      // "--bsnn=123456782": keep the flag, not the value.
      const std::string flag = arg.substr(0, arg.find('='));
      flags += flags.empty() ? flag : ", " + flag;
    } else {
      ++values;
    }
  }
  std::string message;
  if (!flags.empty()) message = StrCat("unknown flag(s): ", flags);
  if (values > 0 || message.empty()) {
    if (!message.empty()) message += "; ";
    message += StrCat(values > 0 ? StrCat(values, " ") : std::string(),
                      "unexpected value(s) (not shown); every value needs its flag");
  }
  return message;
}

}  // namespace

int RunSchakel(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return RunSchakel(args, out, err, ProcessEnvironment(/*err_is_terminal=*/false));
}

int RunSchakel(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
               const Environment& environment) {
  CommandContext context(out, err, environment);
  CLI::App app(
      "Schakel: privacy-preserving information sharing for Dutch public-safety partnerships.\n"
      "Every command but 'keys' works through your own organisation's node.",
      "schakel");
  app.footer(StrCat(
      "Examples:\n"
      "  schakel whoami\n"
      "  schakel signals import signalen.csv\n"
      "  schakel match --purpose riec.ondermijning --case 2025-0042 --subjects gezin.csv\n"
      "  schakel audit verify\n"
      "\n"
      "Run 'schakel COMMAND --help' for a command's flags and an example. The node and\n"
      "your credential come from ~/.config/schakel/cli.json (or $SCHAKEL_CONFIG, or\n"
      "--config FILE): {\"endpoint\", \"ca\", \"server_name\", \"credential_file\", \"role\"};\n"
      "see docs/cli.md. Tables are for people; add --json for scripts.\n"
      "\n",
      kExitCodesHelp));
  app.require_subcommand(1);

  RegisterKeysCommands(app, context);
  RegisterSignalsCommands(app, context);
  RegisterCasesCommands(app, context);
  RegisterMatchCommand(app, context);
  RegisterDiscloseCommands(app, context);
  RegisterApprovalsCommands(app, context);
  RegisterNotificationsCommands(app, context);
  RegisterLogCommand(app, context);
  RegisterAuditCommands(app, context);
  RegisterUsersCommands(app, context);
  RegisterNodeCommands(app, context);
  RegisterAdminCommands(app, context);

  // CLI11 takes the arguments in reverse order.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(std::move(reversed));
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return ToInt(ExitCode::kOk);
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return ToInt(ExitCode::kOk);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return ToInt(ExitCode::kOk);
    const std::string path = CommandPath(app);
    const std::string message =
        dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr ? ExtrasMessage(app) : e.what();
    context.Fail(ExitCode::kUsageError, message,
                 StrCat("run '", path, " --help' for its usage"));
    return ToInt(ExitCode::kUsageError);
  } catch (const std::exception& e) {
    context.Fail(ExitCode::kInternalError, StrCat("internal error: ", e.what()),
                 "this is a bug in schakel; please report it with the command you ran (leave "
                 "out the identifiers)");
    return ToInt(ExitCode::kInternalError);
  }
  return ToInt(context.exit_code());
}

}  // namespace schakel::cli
