#include "cli/cases_command.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/connection.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "common/strings.h"
#include "crypto/random.h"
#include "schakel/v1/cases.grpc.pb.h"

namespace schakel::cli {
namespace {

using schakel::v1::Case;

constexpr std::string_view kDirectorRole = "director";
constexpr std::string_view kReadRoles = "director, analyst or auditor";

bool IsBlank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

struct OpenFlags {
  std::string purpose, title, goal, ends, reference;
  std::vector<std::string> grounds, partners;
  bool json = false;
  ConnectionFlags connection;
};

void RunOpen(const OpenFlags& flags, CommandContext& context) {
  std::vector<std::string> problems;
  if (IsBlank(flags.title)) problems.emplace_back("--title is empty");
  if (IsBlank(flags.goal)) problems.emplace_back("--goal is empty");
  for (size_t i = 0; i < flags.grounds.size(); ++i) {
    if (IsBlank(flags.grounds[i])) problems.push_back(StrCat("--ground ", i + 1, " is empty"));
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "describe the case in general terms (never a person); run 'schakel cases open "
                 "--help' for an example");
    return;
  }
  auto ends = ParseTime(flags.ends, "--ends");
  if (!ends.ok()) {
    context.Fail(ExitCode::kInvalidInput, std::string(ends.status().message()),
                 "give the last day of the case, e.g. --ends 2025-12-31");
    return;
  }
  if (flags.ends.size() == 10) ends->set_seconds(ends->seconds() + 86400);

  schakel::v1::OpenCaseRequest request;
  std::array<uint8_t, 16> request_id{};
  crypto::RandomBytes(request_id);
  request.set_request_id(std::string(request_id.begin(), request_id.end()));
  request.set_purpose_id(flags.purpose);
  request.set_title(flags.title);
  request.set_goal(flags.goal);
  for (const std::string& ground : flags.grounds) request.add_selection_grounds(ground);
  *request.mutable_ends_at() = *ends;
  for (const std::string& partner : flags.partners) request.add_partner_org_ids(partner);
  request.set_external_reference(flags.reference);

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Cases>();
  schakel::v1::OpenCaseResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->OpenCase(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"open the case", std::string(kDirectorRole)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response.case_info(), /*pretty=*/true) << "\n";
    return;
  }
  context.out() << "case opened: " << response.case_info().case_id() << "\n\n";
  PrintCase(response.case_info(), context.out());
}

struct CloseFlags {
  std::string case_id, reason;
  bool json = false;
  ConnectionFlags connection;
};

void RunClose(const CloseFlags& flags, CommandContext& context) {
  if (IsBlank(flags.reason)) {
    context.Fail(ExitCode::kUsageError, "--reason is empty",
                 "say why the case is closed, e.g. --reason \"doel bereikt\"");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Cases>();
  schakel::v1::CloseCaseRequest request;
  request.set_case_id(flags.case_id);
  request.set_reason(flags.reason);
  schakel::v1::CloseCaseResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->CloseCase(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"close the case", std::string(kDirectorRole)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response.case_info(), /*pretty=*/true) << "\n";
    return;
  }
  context.out() << "case closed: " << response.case_info().case_id() << "\n\n";
  PrintCase(response.case_info(), context.out());
}

struct ListFlags {
  std::vector<std::string> purposes, states;
  uint32_t limit = 0;
  bool json = false;
  ConnectionFlags connection;
};

void RunList(const ListFlags& flags, CommandContext& context) {
  schakel::v1::ListCasesRequest request;
  for (const std::string& purpose : flags.purposes) request.add_purpose_ids(purpose);
  for (const std::string& state : flags.states) {
    auto parsed = ParseEnumName<schakel::v1::CaseState>(state, "--state");
    if (!parsed.ok()) {
      context.Fail(ExitCode::kUsageError, std::string(parsed.status().message()),
                   "e.g. --state open");
      return;
    }
    request.add_states(*parsed);
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Cases>();
  Table table({"case_id", "purpose", "state", "ends", "director", "title"});
  uint32_t count = 0;
  do {
    const uint32_t left = flags.limit > 0 ? flags.limit - count : 0;
    request.set_page_size(std::min<uint32_t>(left, 1000));
    schakel::v1::ListCasesResponse response;
    auto call = connection->NewCall(kCallTimeout);
    const grpc::Status status = client->ListCases(call.get(), request, &response);
    if (!status.ok()) {
      connection->Fail(status, {"list cases", std::string(kReadRoles)}, context);
      return;
    }
    for (const Case& c : response.cases()) {
      if (flags.limit > 0 && count >= flags.limit) break;
      ++count;
      if (flags.json) {
        context.out() << ToJson(c) << "\n";
        continue;
      }
      table.AddRow({c.case_id(), c.purpose_id(), EnumName(c.state()), FormatDate(c.ends_at()),
                    StrCat(c.director_org_id(), "/", c.director_user_id()), c.title()});
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty() && (flags.limit == 0 || count < flags.limit));
  if (flags.json) return;
  if (count == 0) {
    context.out() << "no cases match\n";
    return;
  }
  table.Print(context.out());
}

struct ShowFlags {
  std::string case_id;
  bool json = false;
  ConnectionFlags connection;
};

void RunShow(const ShowFlags& flags, CommandContext& context) {
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Cases>();
  schakel::v1::GetCaseRequest request;
  request.set_case_id(flags.case_id);
  schakel::v1::GetCaseResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->GetCase(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"show the case", std::string(kReadRoles)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response.case_info(), /*pretty=*/true) << "\n";
    return;
  }
  PrintCase(response.case_info(), context.out());
}

}  // namespace

void PrintCase(const Case& c, std::ostream& out) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"case_id", c.case_id()},
      {"purpose", c.purpose_id()},
      {"state", EnumName(c.state())},
      {"title", c.title()},
      {"goal", c.goal()},
  };
  for (int i = 0; i < c.selection_grounds_size(); ++i) {
    fields.emplace_back(StrCat("ground ", i + 1), c.selection_grounds(i));
  }
  std::vector<std::string> partners(c.partner_org_ids().begin(), c.partner_org_ids().end());
  fields.emplace_back("partners",
                      JoinList(partners, ", ", "every partner the purpose lets answer"));
  fields.emplace_back("director", StrCat(c.director_org_id(), "/", c.director_user_id()));
  fields.emplace_back("opened", FormatTime(c.opened_at()));
  fields.emplace_back("ends", FormatTime(c.ends_at()));
  if (c.state() == schakel::v1::CASE_STATE_CLOSED) {
    fields.emplace_back("closed", FormatTime(c.closed_at()));
    fields.emplace_back("close reason", c.close_reason());
  }
  if (!c.external_reference().empty()) fields.emplace_back("reference", c.external_reference());
  PrintFields(fields, out);
}

void RegisterCasesCommands(CLI::App& app, CommandContext& context) {
  CLI::App* cases = app.add_subcommand(
      "cases", "Cases at the gateway: a director opens one for a purpose, with its goal and "
               "selection grounds");
  cases->require_subcommand(1);
  cases->footer(std::string(kExitCodesHelp));
  {
    auto flags = std::make_shared<OpenFlags>();
    CLI::App* open = cases->add_subcommand("open", "Open a case (role director)");
    open->add_option("--purpose", flags->purpose, "the purpose id")->required();
    open->add_option("--title", flags->title, "short title, no identifiers")->required();
    open->add_option("--goal", flags->goal, "the goal (doelstelling), no identifiers")
        ->required();
    open->add_option("--ground", flags->grounds,
                     "a selection ground, no identifiers (repeat for more)")
        ->required();
    open->add_option("--ends", flags->ends,
                     "last day of the case, YYYY-MM-DD (UTC), or an RFC 3339 time")
        ->required();
    open->add_option("--partner", flags->partners,
                     "a partner organisation the case may ask (repeatable; default: every "
                     "partner the purpose lets answer)")
        ->delimiter(',');
    open->add_option("--reference", flags->reference, "your own file number, e.g. ZVH-2025-117");
    open->add_flag("--json", flags->json, "print the case as JSON");
    AddConnectionFlags(*open, flags->connection);
    open->footer(HelpFooter(
        "Example:\n"
        "  schakel cases open --purpose zvh.casusoverleg --title \"Wijk Noord, gezinnen\" \\\n"
        "      --goal \"Samenhangende aanpak van gezinnen met signalen in meerdere domeinen\" \\\n"
        "      --ground \"signalen bij twee of meer partners\" --ground \"minderjarige kinderen\" "
        "\\\n"
        "      --ends 2025-12-31 --partner politie --partner zorg --reference ZVH-2025-117\n"
        "\n"
        "Title, goal and grounds go to the gateway and its log: never name a person."));
    open->callback([flags, &context] { RunOpen(*flags, context); });
  }
  {
    auto flags = std::make_shared<CloseFlags>();
    CLI::App* close = cases->add_subcommand("close", "Close an open case (role director)");
    close->add_option("ID", flags->case_id, "the case id")->required();
    close->add_option("--reason", flags->reason, "why, no identifiers")->required();
    close->add_flag("--json", flags->json, "print the case as JSON");
    AddConnectionFlags(*close, flags->connection);
    close->footer(HelpFooter("Example:\n  schakel cases close 2025-0042 --reason \"doel bereikt\""));
    close->callback([flags, &context] { RunClose(*flags, context); });
  }
  {
    auto flags = std::make_shared<ListFlags>();
    CLI::App* list = cases->add_subcommand("list", "List the cases you may see, newest first");
    list->add_option("--purpose", flags->purposes, "only this purpose (repeatable)");
    list->add_option("--state", flags->states,
                     StrCat("only this state (repeatable): ", EnumNames<schakel::v1::CaseState>()));
    list->add_option("--limit", flags->limit, "at most this many (default: all)");
    list->add_flag("--json", flags->json, "print one Case per line as JSON");
    AddConnectionFlags(*list, flags->connection);
    list->footer(HelpFooter("Example:\n  schakel cases list --purpose zvh.casusoverleg --state open"));
    list->callback([flags, &context] { RunList(*flags, context); });
  }
  {
    auto flags = std::make_shared<ShowFlags>();
    CLI::App* show = cases->add_subcommand("show", "Show one case");
    show->add_option("ID", flags->case_id, "the case id")->required();
    show->add_flag("--json", flags->json, "print the case as JSON");
    AddConnectionFlags(*show, flags->connection);
    show->footer(HelpFooter("Example:\n  schakel cases show 2025-0042"));
    show->callback([flags, &context] { RunShow(*flags, context); });
  }
}

}  // namespace schakel::cli
