#include "cli/approvals_command.h"

#include <grpcpp/client_context.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/connection.h"
#include "cli/disclosure_text.h"
#include "cli/paged_list.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "common/strings.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::cli {
namespace {

using schakel::v1::Approval;

constexpr std::string_view kReadRoles = "approver or auditor";
constexpr std::string_view kDecideRole = "approver";

// The disclosure id from the ID argument; reports a usage error.
std::optional<std::string> IdArgument(const std::string& text, CommandContext& context) {
  auto id = ParseId(text, "ID", "a disclosure");
  if (!id.ok()) {
    context.Fail(ExitCode::kUsageError, std::string(id.status().message()),
                 "give the id 'schakel approvals list' printed");
    return std::nullopt;
  }
  return *id;
}

struct ListFlags {
  std::vector<std::string> states;
  uint32_t limit = 0;
  bool json = false;
  ConnectionFlags connection;
};

void RunList(const ListFlags& flags, CommandContext& context) {
  schakel::v1::ListApprovalsRequest request;
  std::vector<std::string> problems;
  for (const std::string& state : flags.states) {
    auto parsed = ParseEnumName<schakel::v1::ApprovalState>(state, "--state");
    if (parsed.ok()) {
      request.add_states(*parsed);
    } else {
      problems.emplace_back(parsed.status().message());
    }
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "), "e.g. --state pending");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Approvals>();
  Table table({"disclosure", "state", "requester", "purpose", "case", "fields asked",
               "received (UTC)", "decide by / decided"});
  uint32_t count = 0;
  const grpc::Status status = ForEachPage<schakel::v1::ListApprovalsResponse>(
      request, flags.limit,
      [&](const schakel::v1::ListApprovalsRequest& page,
          schakel::v1::ListApprovalsResponse* response) {
        auto call = connection->NewCall(kCallTimeout);
        return client->ListApprovals(call.get(), page, response);
      },
      [](const schakel::v1::ListApprovalsResponse& response) -> const auto& {
        return response.approvals();
      },
      [&](const Approval& approval) {
        ++count;
        if (flags.json) {
          context.out() << ToJson(approval) << "\n";
          return;
        }
        const bool pending = approval.state() == schakel::v1::APPROVAL_STATE_PENDING;
        table.AddRow({HexId(approval.disclosure_id()), EnumName(approval.state()),
                      RequesterText(approval.requester()), approval.purpose_id(),
                      approval.case_id().empty() ? "-" : approval.case_id(),
                      JoinList(FieldNames(approval.ask().fields()), ","),
                      FormatTime(approval.received_at()),
                      FormatTime(pending ? approval.decide_by() : approval.decided_at())});
      });
  if (!status.ok()) {
    connection->Fail(status, {"list disclosure requests", std::string(kReadRoles)}, context);
    return;
  }
  if (flags.json) return;
  if (count == 0) {
    context.out() << "no disclosure requests match\n";
    return;
  }
  table.Print(context.out());
}

struct ShowFlags {
  std::string id;
  bool json = false;
  ConnectionFlags connection;
};

void RunShow(const ShowFlags& flags, CommandContext& context) {
  auto id = IdArgument(flags.id, context);
  if (!id) return;
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Approvals>();
  schakel::v1::GetApprovalRequest request;
  request.set_disclosure_id(*id);
  schakel::v1::GetApprovalResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->GetApproval(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"show the disclosure request", std::string(kReadRoles)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response.approval(), /*pretty=*/true) << "\n";
    return;
  }
  PrintApproval(response.approval(), context.out());
  if (response.approval().state() == schakel::v1::APPROVAL_STATE_PENDING) {
    context.out() << "\ndecide with 'schakel approvals approve " << flags.id
                  << " [--fields ...] [--signals ...]' or 'schakel approvals deny " << flags.id
                  << " --reason ...'\n";
  }
}

struct ApproveFlags {
  std::string id, reason;
  std::vector<std::string> fields, signals;
  bool json = false;
  ConnectionFlags connection;
};

// After a decision: the request, and whether the gateway has it yet.
void PrintDecided(const Approval& approval, bool json, CommandContext& context) {
  if (json) {
    context.out() << ToJson(approval, /*pretty=*/true) << "\n";
    return;
  }
  context.out() << EnumName(approval.state()) << ": " << HexId(approval.disclosure_id()) << "\n";
  context.out() << (approval.delivered_to_gateway()
                        ? "the decision was sent to the gateway, which tells the requester\n"
                        : "your node is sending the decision to the gateway; it keeps it and "
                          "sends it when the gateway is back if it cannot be reached now "
                          "('sent to gateway' below, or 'schakel approvals show ID' later)\n");
  context.out() << "\n";
  PrintApproval(approval, context.out());
}

void RunApprove(const ApproveFlags& flags, CommandContext& context) {
  auto id = IdArgument(flags.id, context);
  if (!id) return;
  if (!CheckReason(flags.reason, /*required=*/false, "", context)) return;
  schakel::v1::ApproveRequest request;
  request.set_disclosure_id(*id);
  request.set_reason(flags.reason);
  std::vector<std::string> problems;
  for (const std::string& field : flags.fields) {
    auto parsed = ParseEnumName<schakel::v1::SignalField>(field, "--fields");
    if (parsed.ok()) {
      request.add_fields(*parsed);
    } else {
      problems.emplace_back(parsed.status().message());
    }
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "e.g. --fields contact_name,contact_phone (see 'schakel approvals show ID')");
    return;
  }
  for (const std::string& signal : flags.signals) request.add_signal_ids(signal);

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Approvals>();
  schakel::v1::ApproveResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->Approve(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"approve the disclosure", std::string(kDecideRole)}, context);
    return;
  }
  PrintDecided(response.approval(), flags.json, context);
}

struct DenyFlags {
  std::string id, reason;
  bool json = false;
  ConnectionFlags connection;
};

void RunDeny(const DenyFlags& flags, CommandContext& context) {
  auto id = IdArgument(flags.id, context);
  if (!id) return;
  if (!CheckReason(flags.reason, /*required=*/true,
                   "say why, in general terms: the requester sees it (never name a person)",
                   context)) {
    return;
  }
  schakel::v1::DenyRequest request;
  request.set_disclosure_id(*id);
  request.set_reason(flags.reason);
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Approvals>();
  schakel::v1::DenyResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->Deny(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"deny the disclosure", std::string(kDecideRole)}, context);
    return;
  }
  PrintDecided(response.approval(), flags.json, context);
}

}  // namespace

void PrintApproval(const Approval& approval, std::ostream& out) {
  std::vector<std::string> categories(approval.ask().categories().begin(),
                                      approval.ask().categories().end());
  std::vector<std::pair<std::string, std::string>> fields = {
      {"disclosure", HexId(approval.disclosure_id())},
      {"exchange", HexId(approval.exchange_id())},
      {"state", EnumName(approval.state())},
      {"requester", RequesterText(approval.requester())},
      {"purpose", approval.purpose_id()},
      {"lawful basis", approval.lawful_basis().reference()},
      {"case", approval.case_id().empty() ? "-" : approval.case_id()},
      {"fields asked", JoinList(FieldNames(approval.ask().fields()))},
      {"categories asked", JoinList(categories, ", ", "every category the policy allows")},
      {"reason asked", approval.ask().reason()},
      {"fields allowed", JoinList(FieldNames(approval.fields_allowed()), ", ",
                                  "none (your local policy allows none of them)")},
      {"received", FormatTime(approval.received_at())},
      {"decide by", FormatTime(approval.decide_by())},
  };
  if (approval.state() != schakel::v1::APPROVAL_STATE_PENDING) {
    fields.emplace_back("decided", FormatTime(approval.decided_at()));
    fields.emplace_back("decision", EnumName(approval.decision()));
    fields.emplace_back("decided by", approval.decided_by_user_id().empty()
                                          ? "-"
                                          : approval.decided_by_user_id());
    fields.emplace_back("decision reason",
                        approval.decision_reason().empty() ? "-" : approval.decision_reason());
    fields.emplace_back("sent to gateway", approval.delivered_to_gateway() ? "yes" : "not yet");
  }
  PrintFields(fields, out);
  if (!approval.lawful_basis().text().empty()) {
    out << "\nlawful basis text:\n  " << approval.lawful_basis().text() << "\n";
  }
  if (approval.signals_size() == 0) return;
  out << "\nyour signals it concerns:\n";
  Table table({"signal_id", "category", "domain", "owner", "registered", "expires"});
  for (const schakel::v1::Signal& signal : approval.signals()) {
    table.AddRow({signal.signal_id(), signal.category(), EnumName(signal.domain()),
                  signal.owner_user_id().empty() ? "-" : signal.owner_user_id(),
                  FormatDate(signal.registered_at()), FormatDate(signal.expires_at())});
  }
  table.Print(out);
}

void RegisterApprovalsCommands(CLI::App& app, CommandContext& context) {
  CLI::App* approvals = app.add_subcommand(
      "approvals", "Disclosure requests partners sent to your organisation: list, show, "
                   "approve, deny (approver)");
  approvals->require_subcommand(1);
  approvals->footer(std::string(kExitCodesHelp));
  {
    auto flags = std::make_shared<ListFlags>();
    CLI::App* list = approvals->add_subcommand(
        "list", "List disclosure requests: pending ones first (oldest first), then decided");
    list->add_option("--state", flags->states,
                     StrCat("only this state (repeatable): ",
                            EnumNames<schakel::v1::ApprovalState>()));
    list->add_option("--limit", flags->limit, "at most this many (default: all)");
    list->add_flag("--json", flags->json, "print one Approval per line as JSON");
    AddConnectionFlags(*list, flags->connection);
    list->footer(HelpFooter("Example:\n  schakel approvals list --state pending"));
    list->callback([flags, &context] { RunList(*flags, context); });
  }
  {
    auto flags = std::make_shared<ShowFlags>();
    CLI::App* show = approvals->add_subcommand(
        "show", "Show one request with the fields your policy allows and your signals it concerns");
    show->add_option("ID", flags->id, "the disclosure id (32 hex digits)")->required();
    show->add_flag("--json", flags->json,
                   "print the Approval as JSON (with the signals, identifiers included)");
    AddConnectionFlags(*show, flags->connection);
    show->footer(HelpFooter("Example:\n  schakel approvals show 0a1b2c3d4e5f60718293a4b5c6d7e8f9"));
    show->callback([flags, &context] { RunShow(*flags, context); });
  }
  {
    auto flags = std::make_shared<ApproveFlags>();
    CLI::App* approve = approvals->add_subcommand(
        "approve", "Approve a pending request, optionally for fewer fields or signals");
    approve->add_option("ID", flags->id, "the disclosure id (32 hex digits)")->required();
    approve
        ->add_option("--fields", flags->fields,
                     "disclose only these of the fields allowed, comma-separated (default: all "
                     "allowed)")
        ->delimiter(',');
    approve
        ->add_option("--signals", flags->signals,
                     "disclose only these signals, comma-separated (default: all it concerns)")
        ->delimiter(',');
    approve->add_option("--reason", flags->reason, "why, for the log and the requester; no "
                                                   "identifiers");
    approve->add_flag("--json", flags->json, "print the Approval after the decision as JSON");
    AddConnectionFlags(*approve, flags->connection);
    approve->footer(HelpFooter(
        "Example:\n"
        "  schakel approvals approve 0a1b2c3d4e5f60718293a4b5c6d7e8f9 \\\n"
        "      --fields contact_name,contact_phone --reason \"binnen mandaat casusoverleg\"\n"
        "\n"
        "Your node seals the fields to the requester and signs the decision; the gateway\n"
        "relays it without being able to read it."));
    approve->callback([flags, &context] { RunApprove(*flags, context); });
  }
  {
    auto flags = std::make_shared<DenyFlags>();
    CLI::App* deny =
        approvals->add_subcommand("deny", "Deny a pending request, with a reason the requester sees");
    deny->add_option("ID", flags->id, "the disclosure id (32 hex digits)")->required();
    deny->add_option("--reason", flags->reason,
                     "why, 1 to 2,000 characters; the requester sees it; no identifiers")
        ->required();
    deny->add_flag("--json", flags->json, "print the Approval after the decision as JSON");
    AddConnectionFlags(*deny, flags->connection);
    deny->footer(HelpFooter(
        "Example:\n"
        "  schakel approvals deny 0a1b2c3d4e5f60718293a4b5c6d7e8f9 \\\n"
        "      --reason \"geen betrokkenheid van ons team bij deze casus\""));
    deny->callback([flags, &context] { RunDeny(*flags, context); });
  }
}

}  // namespace schakel::cli
