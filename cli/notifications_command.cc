#include "cli/notifications_command.h"

#include <grpcpp/client_context.h>

#include <memory>
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

using schakel::v1::LocalNotification;

// Every authenticated user may list (their own); admins and auditors all.
constexpr std::string_view kAnyRole = "";


// "z-1: overlast, owner a.bakker, hit by bsn".
std::string SignalText(const schakel::v1::MatchedSignal& signal) {
  std::vector<std::string> types;
  for (int type : signal.key_types()) {
    types.push_back(EnumName(static_cast<schakel::v1::MatchKeyType>(type)));
  }
  return StrCat("signal ", signal.signal_id(), ": ", signal.category(), ", owner ",
                signal.owner_user_id().empty() ? "-" : signal.owner_user_id(), ", hit by ",
                JoinList(types, ","));
}

// Rows for one notification: one per hit signal for a match notice.
void AddRows(const LocalNotification& local, Table& table) {
  const schakel::v1::Notification& n = local.notification();
  std::vector<std::string> row = {StrCat(n.sequence()), FormatTime(n.created_at()),
                                  local.read() ? "" : "*"};
  if (n.has_match()) {
    const schakel::v1::MatchNotice& match = n.match();
    row.insert(row.end(), {"match", RequesterText(match.requester()), match.purpose_id(),
                           match.case_id().empty() ? "-" : match.case_id()});
    if (local.signals_size() == 0) {
      row.push_back(StrCat(match.tags_size(), match.tags_size() == 1 ? " tag" : " tags",
                           " hit; no signal of yours carries it any more"));
      table.AddRow(std::move(row));
      return;
    }
    for (int i = 0; i < local.signals_size(); ++i) {
      if (i > 0) row = std::vector<std::string>(7, "");
      row.push_back(SignalText(local.signals(i)));
      table.AddRow(std::move(row));
    }
    return;
  }
  if (n.has_disclosure()) {
    const schakel::v1::DisclosureStatus& status = n.disclosure().status();
    std::string detail = StrCat("disclosure ", HexId(status.disclosure_id()), ": ",
                                EnumName(status.state()));
    if (status.reason() != schakel::v1::DENIAL_REASON_UNSPECIFIED) {
      detail += StrCat(" (", EnumName(status.reason()), ")");
    }
    row.insert(row.end(), {"disclosure", status.responder_org_id(), status.purpose_id(),
                           status.case_id().empty() ? "-" : status.case_id(), detail});
    table.AddRow(std::move(row));
    return;
  }
  row.insert(row.end(), {"unknown", "-", "-", "-", "a kind this schakel does not know"});
  table.AddRow(std::move(row));
}

// Lists notifications page by page, calling `each` for every one (at most
// `limit`, 0: all). Returns false when a call failed (reported).
template <typename Each>
bool ForEachNotification(const NodeConnection& connection,
                         const schakel::v1::ListNotificationsRequest& request, uint32_t limit,
                         CommandContext& context, Each each) {
  auto client = connection.Client<schakel::v1::Inbox>();
  const grpc::Status status = ForEachPage<schakel::v1::ListNotificationsResponse>(
      request, limit,
      [&](const schakel::v1::ListNotificationsRequest& page,
          schakel::v1::ListNotificationsResponse* response) {
        auto call = connection.NewCall(kCallTimeout);
        return client->ListNotifications(call.get(), page, response);
      },
      [](const schakel::v1::ListNotificationsResponse& response) -> const auto& {
        return response.notifications();
      },
      each);
  if (status.ok()) return true;
  connection.Fail(status, {"list notifications", std::string(kAnyRole)}, context);
  return false;
}

struct ListFlags {
  bool unread = false;
  std::string owner;
  uint32_t limit = 0;
  bool json = false;
  ConnectionFlags connection;
};

void RunList(const ListFlags& flags, CommandContext& context) {
  schakel::v1::ListNotificationsRequest request;
  request.set_unread_only(flags.unread);
  request.set_owner_user_id(flags.owner);
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  Table table({"seq", "created (UTC)", "unread", "kind", "from", "purpose", "case", "details"});
  uint32_t count = 0, unread = 0;
  const bool listed =
      ForEachNotification(*connection, request, flags.limit, context,
                          [&](const LocalNotification& notification) {
                            ++count;
                            if (!notification.read()) ++unread;
                            if (flags.json) {
                              context.out() << ToJson(notification) << "\n";
                            } else {
                              AddRows(notification, table);
                            }
                          });
  if (!listed || flags.json) return;
  if (count == 0) {
    context.out() << (flags.unread ? "no unread notifications\n" : "no notifications\n");
    return;
  }
  table.Print(context.out());
  if (unread > 0) {
    context.out() << "\n" << unread << " unread (*); mark them read with 'schakel notifications "
                  << "mark-read SEQ...' or 'schakel notifications mark-read --all'\n";
  }
}

struct MarkFlags {
  std::vector<uint64_t> sequences;
  bool all = false;
  bool json = false;
  ConnectionFlags connection;
};

void RunMarkRead(const MarkFlags& flags, CommandContext& context) {
  if (flags.sequences.empty() == !flags.all) {
    context.Fail(ExitCode::kUsageError,
                 flags.all ? "give the sequences or --all, not both"
                           : "no notification given: give their sequences (the 'seq' column) "
                             "or --all",
                 "e.g. 'schakel notifications mark-read 12 13'");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  schakel::v1::MarkNotificationsReadRequest request;
  for (uint64_t sequence : flags.sequences) request.add_sequences(sequence);
  if (flags.all) {
    schakel::v1::ListNotificationsRequest list;
    list.set_unread_only(true);
    if (!ForEachNotification(*connection, list, 0, context,
                             [&](const LocalNotification& notification) {
                               request.add_sequences(notification.notification().sequence());
                             })) {
      return;
    }
    if (request.sequences_size() == 0) {
      if (flags.json) {
        context.out() << ToJson(schakel::v1::MarkNotificationsReadResponse(), true) << "\n";
      } else {
        context.out() << "no unread notifications\n";
      }
      return;
    }
  }
  auto client = connection->Client<schakel::v1::Inbox>();
  schakel::v1::MarkNotificationsReadResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->MarkNotificationsRead(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"mark notifications read", std::string(kAnyRole)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    return;
  }
  context.out() << "marked " << response.marked() << " of " << request.sequences_size()
                << " read (the others were read already, or unknown)\n";
}

}  // namespace

void RegisterNotificationsCommands(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* notifications = app.add_subcommand(
      "notifications",
      "What the gateway told your organisation: partners' hits on your signals, decided "
      "disclosures");
  notifications->add_flag("--unread", flags->unread, "only those you have not marked read");
  notifications->add_option("--owner", flags->owner,
                            "only those about this user's signals (admin, auditor; default: "
                            "your own, or all for admin and auditor)");
  notifications->add_option("--limit", flags->limit, "at most this many (default: all)");
  notifications->add_flag("--json", flags->json, "print one LocalNotification per line as JSON");
  AddConnectionFlags(*notifications, flags->connection);
  notifications->footer(HelpFooter(
      "Examples:\n"
      "  schakel notifications --unread\n"
      "  schakel notifications mark-read 12 13\n"
      "\n"
      "A match notification says which organisation asked about a person you have a\n"
      "signal about, under which purpose and case, so that you can contact each other;\n"
      "purposes that would tip off an investigation send none."));

  auto mark_flags = std::make_shared<MarkFlags>();
  CLI::App* mark = notifications->add_subcommand("mark-read", "Mark notifications read for you");
  mark->add_option("SEQ", mark_flags->sequences, "notification sequences (the 'seq' column)");
  mark->add_flag("--all", mark_flags->all, "every unread notification you see");
  mark->add_flag("--json", mark_flags->json, "print the answer as JSON");
  AddConnectionFlags(*mark, mark_flags->connection);
  mark->footer(HelpFooter("Examples:\n  schakel notifications mark-read 12 13\n"
                          "  schakel notifications mark-read --all"));
  mark->callback([mark_flags, &context] { RunMarkRead(*mark_flags, context); });

  notifications->callback([flags, notifications, mark, &context] {
    if (notifications->got_subcommand(mark)) return;
    RunList(*flags, context);
  });
}

}  // namespace schakel::cli
