#include "cli/log_command.h"

#include <grpcpp/client_context.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/connection.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "common/strings.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::cli {
namespace {

struct LogFlags {
  std::string since, until, user, purpose;
  std::vector<std::string> kinds;
  uint64_t from_sequence = 0;
  uint64_t limit = 0;
  bool json = false;
  ConnectionFlags connection;
};

std::string Counts(const schakel::v1::LocalLogRecord& record) {
  std::vector<std::string> parts;
  if (record.subject_count() > 0) parts.push_back(StrCat(record.subject_count(), " subjects"));
  if (record.element_count() > 0) parts.push_back(StrCat(record.element_count(), " elements"));
  if (record.hit_count() > 0) parts.push_back(StrCat(record.hit_count(), " hits"));
  if (record.signal_ids_size() > 0) parts.push_back(StrCat(record.signal_ids_size(), " signals"));
  return JoinList(parts, ", ");
}

void RunLog(const LogFlags& flags, CommandContext& context) {
  schakel::v1::ListLocalLogRequest request;
  std::vector<std::string> problems;
  if (!flags.since.empty()) {
    auto since = ParseTime(flags.since, "--since");
    if (since.ok()) {
      *request.mutable_time()->mutable_from() = *since;
    } else {
      problems.emplace_back(since.status().message());
    }
  }
  if (!flags.until.empty()) {
    auto until = ParseTime(flags.until, "--until");
    if (until.ok()) {
      *request.mutable_time()->mutable_to() = *until;
    } else {
      problems.emplace_back(until.status().message());
    }
  }
  for (const std::string& kind : flags.kinds) {
    auto parsed = ParseEnumName<schakel::v1::LocalEventKind>(kind, "--kind");
    if (parsed.ok()) {
      request.add_kinds(*parsed);
    } else {
      problems.emplace_back(parsed.status().message());
    }
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "run 'schakel log --help' for the accepted values");
    return;
  }
  request.set_user_id(flags.user);
  request.set_purpose_id(flags.purpose);
  request.set_from_sequence(flags.from_sequence);
  request.set_limit(flags.limit);

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::LocalLog>();
  auto call = connection->NewCall(kStreamTimeout);
  auto reader = client->ListLocalLog(call.get(), request);
  Table table({"seq", "recorded (UTC)", "kind", "user", "role", "outcome", "purpose", "case",
               "counts", "detail"});
  schakel::v1::ListLocalLogResponse response;
  uint64_t count = 0;
  while (reader->Read(&response)) {
    for (const schakel::v1::LocalLogEntry& entry : response.entries()) {
      ++count;
      if (flags.json) {
        context.out() << ToJson(entry) << "\n";
        continue;
      }
      const schakel::v1::LocalLogRecord& r = entry.record();
      const std::string detail = DetailWithReasons(r.denial_reasons(), r.detail());
      table.AddRow({StrCat(entry.sequence()), FormatTime(r.recorded_at()), EnumName(r.kind()),
                    r.user_id().empty() ? "(node)" : r.user_id(),
                    r.role() == schakel::v1::ROLE_UNSPECIFIED ? "-" : EnumName(r.role()),
                    r.outcome() == schakel::v1::OUTCOME_UNSPECIFIED ? "-" : EnumName(r.outcome()),
                    r.purpose_id().empty() ? "-" : r.purpose_id(),
                    r.case_id().empty() ? "-" : r.case_id(), Counts(r),
                    detail.empty() ? "-" : detail});
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    connection->Fail(status, {"read the node's log", "auditor or admin"}, context);
    return;
  }
  if (flags.json) return;
  if (count == 0) {
    context.out() << "no log entries match\n";
    return;
  }
  table.Print(context.out());
}

}  // namespace

void RegisterLogCommand(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<LogFlags>();
  CLI::App* log = app.add_subcommand(
      "log", "The node's own log: what happened at this node, by whom (auditor or admin)");
  log->add_option("--since", flags->since, "recorded at or after: YYYY-MM-DD or RFC 3339");
  log->add_option("--until", flags->until, "recorded before: YYYY-MM-DD or RFC 3339");
  log->add_option("--kind", flags->kinds,
                  StrCat("only this kind (repeatable): ",
                         EnumNames<schakel::v1::LocalEventKind>()));
  log->add_option("--user", flags->user, "only this user id");
  log->add_option("--purpose", flags->purpose, "only this purpose id");
  log->add_option("--from-sequence", flags->from_sequence, "from this entry on");
  log->add_option("--limit", flags->limit, "at most this many entries (default: all)");
  log->add_flag("--json", flags->json, "print one LocalLogEntry per line as JSON");
  AddConnectionFlags(*log, flags->connection);
  log->footer(HelpFooter(
      "Examples:\n"
      "  schakel log --since 2025-03-01 --kind match_run --kind signals_imported\n"
      "  schakel log --kind login_failed --limit 50\n"
      "\n"
      "Times are UTC. The log holds no identifiers of persons."));
  log->callback([flags, &context] { RunLog(*flags, context); });
}

}  // namespace schakel::cli
