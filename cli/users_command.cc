#include "cli/users_command.h"

#include <grpcpp/client_context.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/client_config.h"
#include "cli/connection.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "common/strings.h"
#include "schakel/v1/node_admin.grpc.pb.h"

namespace schakel::cli {
namespace {

using schakel::v1::User;

std::string Roles(const User& user) {
  std::vector<std::string> roles;
  for (int role : user.roles()) roles.push_back(EnumName(static_cast<schakel::v1::Role>(role)));
  return JoinList(roles);
}

void PrintUser(const User& user, std::ostream& out,
               std::vector<std::pair<std::string, std::string>> extra = {}) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"user", user.user_id()},
      {"name", user.display_name().empty() ? "-" : user.display_name()},
      {"roles", Roles(user)},
  };
  if (user.disabled()) fields.emplace_back("disabled", "yes");
  fields.insert(fields.end(), extra.begin(), extra.end());
  PrintFields(fields, out);
}

// Creates the credential file before the node issues the credential.
std::optional<NewCredentialFile> CreateCredentialFile(const std::string& path,
                                                      CommandContext& context) {
  auto file = NewCredentialFile::Create(path);
  if (!file.ok()) {
    context.Fail(ExitCode::kInvalidInput, std::string(file.status().message()),
                 file.status().code() == absl::StatusCode::kAlreadyExists
                     ? "choose a new --credential-out file; an existing one is never overwritten"
                     : "--credential-out must name a new file in an existing directory you may "
                       "write to");
    return std::nullopt;
  }
  return *std::move(file);
}

// Writes the credential the node issued; reports a failure (the credential
// is then lost and must be rotated).
bool StoreCredential(NewCredentialFile& file, const std::string& credential,
                     const std::string& user_id, CommandContext& context) {
  const absl::Status written = file.Write(credential);
  if (written.ok()) return true;
  context.Fail(ExitCode::kInternalError,
               StrCat("the node issued a credential for ", user_id,
                      ", but it could not be stored: ", written.message()),
               StrCat("the credential is lost (it was not printed); issue a new one with "
                      "'schakel users rotate-credential ",
                      user_id, " --credential-out FILE'"));
  return false;
}

struct CreateFlags {
  std::string user_id, name, credential_out;
  std::vector<std::string> roles;
  bool json = false;
  ConnectionFlags connection;
};

void RunCreate(const CreateFlags& flags, CommandContext& context) {
  schakel::v1::CreateUserRequest request;
  request.set_user_id(flags.user_id);
  request.set_display_name(flags.name);
  for (const std::string& role : flags.roles) {
    auto parsed = ParseEnumName<schakel::v1::Role>(role, "--role");
    if (!parsed.ok()) {
      context.Fail(ExitCode::kUsageError, std::string(parsed.status().message()),
                   "e.g. --role analyst --role auditor");
      return;
    }
    request.add_roles(*parsed);
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto file = CreateCredentialFile(flags.credential_out, context);
  if (!file) return;
  auto client = connection->Client<schakel::v1::Users>();
  schakel::v1::CreateUserResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->CreateUser(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"create the user", "admin"}, context);
    return;  // `file` removes itself
  }
  const bool stored = StoreCredential(*file, response.credential(), flags.user_id, context);
  // The credential must not linger in this process longer than needed.
  std::fill(response.mutable_credential()->begin(), response.mutable_credential()->end(), '\0');
  if (!stored) return;
  if (flags.json) {
    context.out() << ToJson(response.user(), /*pretty=*/true) << "\n";
    return;
  }
  PrintUser(response.user(), context.out(),
            {{"credential", StrCat("written to ", flags.credential_out, " (mode 0600)")}});
  context.out() << "\nGive the file to the user by a safe route; it is their "
                   "\"credential_file\" (docs/cli.md).\n";
}

struct RotateFlags {
  std::string user_id, credential_out;
  ConnectionFlags connection;
};

void RunRotate(const RotateFlags& flags, CommandContext& context) {
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto file = CreateCredentialFile(flags.credential_out, context);
  if (!file) return;
  auto client = connection->Client<schakel::v1::Users>();
  schakel::v1::RotateCredentialRequest request;
  request.set_user_id(flags.user_id);
  schakel::v1::RotateCredentialResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->RotateCredential(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"issue a new credential", "admin (or the user themself)"}, context);
    return;
  }
  const std::string user = flags.user_id.empty() ? connection->user_id() : flags.user_id;
  const bool stored = StoreCredential(*file, response.credential(), user, context);
  std::fill(response.mutable_credential()->begin(), response.mutable_credential()->end(), '\0');
  if (!stored) return;
  PrintFields({{"user", user},
               {"credential", StrCat("written to ", flags.credential_out, " (mode 0600)")},
               {"old credential", "no longer works"}},
              context.out());
}

struct ListFlags {
  bool include_disabled = false;
  bool json = false;
  ConnectionFlags connection;
};

void RunList(const ListFlags& flags, CommandContext& context) {
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Users>();
  schakel::v1::ListUsersRequest request;
  request.set_include_disabled(flags.include_disabled);
  Table table({"user", "name", "roles", "state", "created", "last seen"});
  size_t count = 0;
  do {
    schakel::v1::ListUsersResponse response;
    auto call = connection->NewCall(kCallTimeout);
    const grpc::Status status = client->ListUsers(call.get(), request, &response);
    if (!status.ok()) {
      connection->Fail(status, {"list users", "admin"}, context);
      return;
    }
    for (const User& user : response.users()) {
      ++count;
      if (flags.json) {
        context.out() << ToJson(user) << "\n";
        continue;
      }
      table.AddRow({user.user_id(), user.display_name().empty() ? "-" : user.display_name(),
                    Roles(user), user.disabled() ? "disabled" : "active",
                    FormatDate(user.created_at()), FormatTime(user.last_seen_at())});
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  if (flags.json) return;
  if (count == 0) {
    context.out() << "no users\n";
    return;
  }
  table.Print(context.out());
}

struct WhoAmIFlags {
  bool json = false;
  ConnectionFlags connection;
};

void RunWhoAmI(const WhoAmIFlags& flags, CommandContext& context) {
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Users>();
  schakel::v1::WhoAmIResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status =
      client->WhoAmI(call.get(), schakel::v1::WhoAmIRequest(), &response);
  if (!status.ok()) {
    connection->Fail(status, {"ask who you are", ""}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    return;
  }
  PrintUser(response.user(), context.out(),
            {{"acting as", EnumName(response.acting_role())},
             {"organisation", response.org_id()},
             {"node", connection->config().endpoint}});
}

}  // namespace

void RegisterUsersCommands(CLI::App& app, CommandContext& context) {
  CLI::App* users =
      app.add_subcommand("users", "The node's users, their roles and credentials (admin)");
  users->require_subcommand(1);
  users->footer(std::string(kExitCodesHelp));
  const std::string roles = StrCat("a role: ", EnumNames<schakel::v1::Role>(), " (repeatable)");
  {
    auto flags = std::make_shared<CreateFlags>();
    CLI::App* create = users->add_subcommand(
        "create", "Create a user and write their credential to a new file (mode 0600)");
    create->add_option("USER_ID", flags->user_id, "1-64 of [a-z0-9._-], e.g. a.bakker")
        ->required();
    create->add_option("--role", flags->roles, roles)->required();
    create->add_option("--name", flags->name, "name for people, e.g. \"A. Bakker (analist)\"");
    create->add_option("--credential-out", flags->credential_out,
                       "new file to write the credential to (never printed)")
        ->required();
    create->add_flag("--json", flags->json, "print the user as JSON");
    AddConnectionFlags(*create, flags->connection, /*with_role=*/false);
    create->footer(HelpFooter(
        "Example:\n"
        "  schakel users create a.bakker --role analyst --name \"A. Bakker (RIEC)\" \\\n"
        "      --credential-out a.bakker.cred\n"
        "\n"
        "The credential is written only to the new file, never printed. You act in the\n"
        "role set in your config (\"role\"), else the node picks admin if you hold it."));
    create->callback([flags, &context] { RunCreate(*flags, context); });
  }
  {
    auto flags = std::make_shared<ListFlags>();
    CLI::App* list = users->add_subcommand("list", "List the node's users");
    list->add_flag("--include-disabled", flags->include_disabled, "also disabled users");
    list->add_flag("--json", flags->json, "print one User per line as JSON");
    AddConnectionFlags(*list, flags->connection);
    list->footer(HelpFooter("Example:\n  schakel users list --include-disabled"));
    list->callback([flags, &context] { RunList(*flags, context); });
  }
  {
    auto flags = std::make_shared<RotateFlags>();
    CLI::App* rotate = users->add_subcommand(
        "rotate-credential", "Issue a new credential; the old one stops working at once");
    rotate->add_option("USER_ID", flags->user_id, "the user (default: yourself)");
    rotate->add_option("--credential-out", flags->credential_out,
                       "new file to write the credential to (never printed)")
        ->required();
    AddConnectionFlags(*rotate, flags->connection);
    rotate->footer(HelpFooter(
        "Example:\n  schakel users rotate-credential a.bakker --credential-out a.bakker-2.cred"));
    rotate->callback([flags, &context] { RunRotate(*flags, context); });
  }
  {
    auto flags = std::make_shared<WhoAmIFlags>();
    CLI::App* whoami =
        app.add_subcommand("whoami", "Show who the node takes you for, and your roles");
    whoami->add_flag("--json", flags->json, "print the answer as JSON");
    AddConnectionFlags(*whoami, flags->connection);
    whoami->footer(HelpFooter("Example:\n  schakel whoami --role analyst"));
    whoami->callback([flags, &context] { RunWhoAmI(*flags, context); });
  }
}

}  // namespace schakel::cli
