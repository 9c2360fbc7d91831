#include "cli/audit_command.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/connection.h"
#include "cli/import_parser.h"
#include "cli/progress.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "crypto/bytes.h"
#include "common/strings.h"
#include "schakel/v1/audit.grpc.pb.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::cli {
namespace {

struct VerifyFlags {
  uint64_t from = 0;
  uint64_t to = 0;
  bool progress = false;
  bool json = false;
  ConnectionFlags connection;
};

void RunVerify(const VerifyFlags& flags, CommandContext& context) {
  if (flags.to != 0 && flags.from > flags.to) {
    context.Fail(ExitCode::kUsageError, "--from is after --to",
                 "give a range with --from at most --to");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Audit>();
  schakel::v1::VerifyChainRequest request;
  request.set_from_sequence(flags.from);
  request.set_to_sequence(flags.to);
  auto call = connection->NewCall(kStreamTimeout);
  auto reader = client->VerifyChain(call.get(), request);

  Progress progress(context.err(), Progress::ModeFor(context.environment(), flags.progress));
  std::optional<schakel::v1::VerifyResult> result;
  schakel::v1::VerifyChainResponse response;
  while (reader->Read(&response)) {
    if (response.has_progress()) {
      const auto& p = response.progress();
      progress.Update(p.entries_total() > 0 ? static_cast<double>(p.entries_checked()) /
                                                  static_cast<double>(p.entries_total())
                                            : -1,
                      StrCat(GroupThousands(p.entries_checked()), " of ",
                             GroupThousands(p.entries_total()), " entries verified"));
    }
    if (response.has_result()) result = response.result();
  }
  progress.Done();
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    connection->Fail(status, {"verify the exchange log", "auditor"}, context);
    return;
  }
  if (!result.has_value()) {
    context.Fail(ExitCode::kInternalError, "the verification ended without a result",
                 "nothing can be concluded about the chain; run it again and report this if it "
                 "persists");
    return;
  }
  if (flags.json) {
    context.out() << ToJson(*result, /*pretty=*/true) << "\n";
  }
  if (result->intact()) {
    if (!flags.json) {
      context.out() << "chain intact: " << GroupThousands(result->entries_checked())
                    << " entries, " << GroupThousands(result->checkpoints_checked())
                    << " checkpoints\n";
      if (result->has_latest_checkpoint()) {
        context.out() << "latest checkpoint: entry "
                      << result->latest_checkpoint().payload().sequence() << " at "
                      << FormatTime(result->latest_checkpoint().payload().created_at()) << "\n";
      }
    }
    return;
  }
  const std::string finding =
      StrCat("entry ", result->first_bad_sequence(), ": ", ChainProblemText(result->problem()),
             result->detail().empty() ? std::string() : StrCat(" (", result->detail(), ")"));
  if (!flags.json) {
    context.out() << finding << "\n"
                  << "verified before it: " << GroupThousands(result->entries_checked())
                  << " entries, " << GroupThousands(result->checkpoints_checked())
                  << " checkpoints\n";
  }
  context.Fail(ExitCode::kVerificationFailed,
               StrCat("the exchange log's chain is broken at ", finding),
               "the log was changed after it was written, or damaged: keep this output and "
               "tell the gateway's operator and your privacy officer (FG)");
}

// --since / --until as a TimeRange; problems are appended.
schakel::v1::TimeRange ParseTimeRange(const std::string& since, const std::string& until,
                                      std::vector<std::string>& problems) {
  schakel::v1::TimeRange range;
  if (!since.empty()) {
    auto t = ParseTime(since, "--since");
    if (t.ok()) *range.mutable_from() = *t;
    else problems.emplace_back(t.status().message());
  }
  if (!until.empty()) {
    auto t = ParseTime(until, "--until");
    if (t.ok()) *range.mutable_to() = *t;
    else problems.emplace_back(t.status().message());
  }
  return range;
}

// The LogFilter flags of `audit log`, `stats` and `export`.
struct FilterFlags {
  std::string since, until;
  std::vector<std::string> purposes, orgs, requesters, answerers, cases, outcomes, reasons,
      kinds, tags;
  uint64_t from = 0;
  uint64_t to = 0;
};

void AddFilterFlags(CLI::App& command, FilterFlags& f) {
  const std::string group = "Which entries";
  command.add_option("--since", f.since, "recorded at or after: YYYY-MM-DD or RFC 3339")
      ->group(group);
  command.add_option("--until", f.until, "recorded before: YYYY-MM-DD or RFC 3339")->group(group);
  command.add_option("--purpose", f.purposes, "purpose id (repeatable)")->group(group);
  command.add_option("--org", f.orgs, "organisation that asked or answered (repeatable)")
      ->group(group);
  command.add_option("--requester", f.requesters, "requesting organisation (repeatable)")
      ->group(group);
  command.add_option("--answerer", f.answerers, "answering organisation (repeatable)")
      ->group(group);
  command.add_option("--case", f.cases, "case id (repeatable)")->group(group);
  command.add_option("--outcome", f.outcomes,
                     StrCat("outcome (repeatable): ", EnumNames<schakel::v1::Outcome>()))
      ->group(group);
  command.add_option("--reason", f.reasons, "refusal or denial reason (repeatable), e.g. "
                                            "quota_exceeded")
      ->group(group);
  command.add_option("--kind", f.kinds,
                     StrCat("record kind (repeatable): ", EnumNames<schakel::v1::RecordKind>()))
      ->group(group);
  command.add_option("--tag", f.tags,
                     "entries carrying a tag: ORG:PURPOSE:HEX (16 bytes; your own "
                     "organisation's tags unless you audit for a supervisor)")
      ->group(group);
  command.add_option("--from", f.from, "first entry (sequence number)")->group(group);
  command.add_option("--to", f.to, "last entry (sequence number)")->group(group);
}

// Parses the filter flags; problems are appended, one per bad flag.
schakel::v1::LogFilter ParseFilter(const FilterFlags& f, std::vector<std::string>& problems) {
  schakel::v1::LogFilter filter;
  if (!f.since.empty() || !f.until.empty()) {
    *filter.mutable_time() = ParseTimeRange(f.since, f.until, problems);
  }
  if (f.to != 0 && f.from > f.to) problems.emplace_back("--from is after --to");
  filter.set_from_sequence(f.from);
  filter.set_to_sequence(f.to);
  for (const std::string& v : f.purposes) filter.add_purpose_ids(v);
  for (const std::string& v : f.orgs) filter.add_org_ids(v);
  for (const std::string& v : f.requesters) filter.add_requester_org_ids(v);
  for (const std::string& v : f.answerers) filter.add_answering_org_ids(v);
  for (const std::string& v : f.cases) filter.add_case_ids(v);
  for (const std::string& v : f.outcomes) {
    auto parsed = ParseEnumName<schakel::v1::Outcome>(v, "--outcome");
    if (parsed.ok()) filter.add_outcomes(*parsed);
    else problems.emplace_back(parsed.status().message());
  }
  for (const std::string& v : f.reasons) {
    auto parsed = ParseEnumName<schakel::v1::DenialReason>(v, "--reason");
    if (parsed.ok()) filter.add_denial_reasons(*parsed);
    else problems.emplace_back(parsed.status().message());
  }
  for (const std::string& v : f.kinds) {
    auto parsed = ParseEnumName<schakel::v1::RecordKind>(v, "--kind");
    if (parsed.ok()) filter.add_kinds(*parsed);
    else problems.emplace_back(parsed.status().message());
  }
  for (const std::string& v : f.tags) {
    const size_t a = v.find(':');
    const size_t b = a == std::string::npos ? a : v.find(':', a + 1);
    auto bytes = b == std::string::npos ? absl::StatusOr<crypto::Bytes>(absl::InvalidArgumentError(""))
                                        : crypto::FromHex(v.substr(b + 1), "--tag");
    if (b == std::string::npos || !bytes.ok() || bytes->size() != 16) {
      problems.emplace_back(StrCat("--tag ", v, ": not ORG:PURPOSE:HEX with 32 hex digits"));
      continue;
    }
    schakel::v1::TagSet& set = *filter.add_tag_sets();
    set.set_org_id(v.substr(0, a));
    set.set_purpose_id(v.substr(a + 1, b - a - 1));
    set.add_tags(std::string(bytes->begin(), bytes->end()));
  }
  return filter;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// --- audit log ------------------------------------------------------------

struct LogFlags {
  FilterFlags filter;
  uint64_t limit = 0;
  bool json = false;
  ConnectionFlags connection;
};

void RunLog(const LogFlags& flags, CommandContext& context) {
  std::vector<std::string> problems;
  schakel::v1::ListEntriesRequest request;
  *request.mutable_filter() = ParseFilter(flags.filter, problems);
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "run 'schakel audit log --help' for the accepted values");
    return;
  }
  request.set_limit(flags.limit);
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Audit>();
  auto call = connection->NewCall(kStreamTimeout);
  auto reader = client->ListEntries(call.get(), request);
  Table table({"seq", "recorded (UTC)", "kind", "requester", "purpose", "case", "answering",
               "outcome", "detail"});
  schakel::v1::ListEntriesResponse response;
  uint64_t count = 0;
  while (reader->Read(&response)) {
    for (const schakel::v1::LogEntry& e : response.entries()) {
      ++count;
      if (flags.json) {
        context.out() << ToJson(e) << "\n";
        continue;
      }
      const schakel::v1::LogRecord& r = e.record();
      const std::string detail = DetailWithReasons(r.denial_reasons(), r.detail());
      std::vector<std::string> answering(r.answering_org_ids().begin(),
                                         r.answering_org_ids().end());
      const std::string requester =
          r.requester().org_id().empty()
              ? OrDash(r.peer_identity())
              : StrCat(r.requester().org_id(),
                       r.requester().user_id().empty() ? "" : StrCat("/", r.requester().user_id()));
      table.AddRow({StrCat(e.sequence()), FormatTime(r.recorded_at()), EnumName(r.kind()),
                    requester, OrDash(r.purpose_id()), OrDash(r.case_id()),
                    answering.empty() ? "-" : JoinList(answering, ","), EnumName(r.outcome()),
                    OrDash(detail)});
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    connection->Fail(status, {"list the exchange log", "auditor"}, context);
    return;
  }
  if (flags.json) return;
  if (count == 0) {
    context.out() << "no log entries match\n";
    return;
  }
  table.Print(context.out());
}

// --- audit stats ----------------------------------------------------------

struct StatsFlags {
  FilterFlags filter;
  std::vector<std::string> by;
  std::string period, time_zone;
  bool json = false;
  ConnectionFlags connection;
};

void RunStats(const StatsFlags& flags, CommandContext& context) {
  std::vector<std::string> problems;
  schakel::v1::GetStatsRequest request;
  *request.mutable_filter() = ParseFilter(flags.filter, problems);
  for (const std::string& d : flags.by) {
    auto parsed = ParseEnumName<schakel::v1::StatsDimension>(d, "--by");
    if (parsed.ok()) request.add_group_by(*parsed);
    else problems.emplace_back(parsed.status().message());
  }
  if (!flags.period.empty()) {
    auto parsed = ParseEnumName<schakel::v1::StatsPeriod>(flags.period, "--period");
    if (parsed.ok()) request.set_period(*parsed);
    else problems.emplace_back(parsed.status().message());
  }
  request.set_time_zone(flags.time_zone);
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "run 'schakel audit stats --help' for the accepted values");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Audit>();
  auto call = connection->NewCall(kStreamTimeout);
  schakel::v1::GetStatsResponse response;
  const grpc::Status status = client->GetStats(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"compute statistics over the exchange log", "auditor"}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    return;
  }
  if (response.rows().empty()) {
    context.out() << "no log entries match\n";
    return;
  }
  std::vector<std::string> header;
  for (int d : request.group_by()) {
    header.push_back(EnumName(static_cast<schakel::v1::StatsDimension>(d)));
  }
  for (const char* h : {"exchanges", "subjects", "hits", "disclosures asked", "delivered",
                        "denied", "expired", "refusals", "partner failures", "by reason"}) {
    header.emplace_back(h);
  }
  Table table(header);
  for (const schakel::v1::StatsRow& row : response.rows()) {
    std::vector<std::string> cells;
    for (int d : request.group_by()) {
      switch (d) {
        case schakel::v1::STATS_DIMENSION_PURPOSE: cells.push_back(OrDash(row.purpose_id())); break;
        case schakel::v1::STATS_DIMENSION_REQUESTER:
          cells.push_back(OrDash(row.requester_org_id()));
          break;
        case schakel::v1::STATS_DIMENSION_ANSWERER:
          cells.push_back(OrDash(row.answerer_org_id()));
          break;
        default: cells.push_back(FormatTime(row.period_start())); break;
      }
    }
    std::vector<std::string> reasons;
    for (const schakel::v1::ReasonCount& rc : row.by_reason()) {
      reasons.push_back(StrCat(EnumName(rc.reason()), " ", rc.count()));
    }
    for (uint64_t n : {row.exchanges(), row.subjects(), row.hits(), row.disclosures_requested(),
                       row.disclosures_delivered(), row.disclosures_denied(),
                       row.disclosures_expired(), row.refusals(), row.partner_failures()}) {
      cells.push_back(GroupThousands(n));
    }
    cells.push_back(reasons.empty() ? "-" : JoinList(reasons, ", "));
    table.AddRow(std::move(cells));
  }
  table.Print(context.out());
}

// --- audit export ---------------------------------------------------------

struct ExportFlags {
  FilterFlags filter;
  std::string format, output;
  bool policy_text = false;
  ConnectionFlags connection;
};

void RunExport(const ExportFlags& flags, CommandContext& context) {
  std::vector<std::string> problems;
  schakel::v1::ExportRequest request;
  *request.mutable_filter() = ParseFilter(flags.filter, problems);
  if (flags.format == "jsonl") {
    request.set_format(schakel::v1::EXPORT_FORMAT_JSON_LINES);
  } else if (flags.format == "csv") {
    request.set_format(schakel::v1::EXPORT_FORMAT_CSV);
  } else {
    problems.push_back(StrCat("--format ", flags.format, ": not jsonl or csv"));
  }
  request.set_include_policy_text(flags.policy_text);
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "run 'schakel audit export --help' for the accepted values");
    return;
  }
  std::ofstream file;
  const std::string partial = flags.output.empty() ? "" : StrCat(flags.output, ".partial");
  if (!flags.output.empty()) {
    file.open(partial, std::ios::binary | std::ios::trunc);
    if (!file) {
      context.Fail(ExitCode::kInvalidInput, StrCat("cannot write ", partial),
                   "give --output a path in a writable directory");
      return;
    }
  }
  std::ostream& out = flags.output.empty() ? context.out() : file;
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Audit>();
  auto call = connection->NewCall(kStreamTimeout);
  auto reader = client->Export(call.get(), request);
  schakel::v1::ExportResponse chunk;
  uint64_t entries = 0;
  while (reader->Read(&chunk)) {
    out << chunk.data();
    entries += chunk.entries();
  }
  const grpc::Status status = reader->Finish();
  if (!flags.output.empty()) file.close();
  if (!status.ok() || (!flags.output.empty() && !file)) {
    if (!partial.empty()) std::filesystem::remove(partial);
    if (!status.ok()) {
      connection->Fail(status, {"export the exchange log", "auditor"}, context);
    } else {
      context.Fail(ExitCode::kInternalError, StrCat("cannot write ", flags.output),
                   "check the disk space and try again");
    }
    return;
  }
  if (!flags.output.empty()) {
    std::error_code error;
    std::filesystem::rename(partial, flags.output, error);
    if (error) {
      context.Fail(ExitCode::kInternalError, StrCat("cannot write ", flags.output),
                   error.message());
      return;
    }
    context.err() << "exported " << GroupThousands(entries) << " entries to " << flags.output
                  << "\n";
  }
}

// --- audit subject --------------------------------------------------------

struct SubjectFlags {
  std::string bsn, given_names, surname, birth_date, postcode, house_number;
  std::vector<std::string> purposes;
  std::string since, until;
  bool json = false;
  ConnectionFlags connection;
};

void RunSubject(const SubjectFlags& flags, CommandContext& context) {
  schakel::v1::AuditSubjectRequest request;
  std::vector<std::string> problems;
  schakel::v1::MatchSubject subject;
  bool any = false;
  for (const auto& [column, value] :
       std::vector<std::pair<std::string_view, const std::string*>>{
           {"bsn", &flags.bsn},
           {"given_names", &flags.given_names},
           {"surname", &flags.surname},
           {"birth_date", &flags.birth_date},
           {"postcode", &flags.postcode},
           {"house_number", &flags.house_number}}) {
    if (value->empty()) continue;
    any = true;
    std::string problem;
    if (!SetSubjectColumn(column, *value, subject, problem)) {
      std::string flag = StrCat("--", column);
      for (char& c : flag) c = c == '_' ? '-' : c;
      problems.push_back(StrCat(flag, ": ", problem));
    }
  }
  if (!any) {
    context.Fail(ExitCode::kUsageError,
                 "no person given: use --bsn, or --surname with --given-names and --birth-date, "
                 "or --postcode with --house-number",
                 "run 'schakel audit subject --help' for examples");
    return;
  }
  if (!flags.since.empty() || !flags.until.empty()) {
    *request.mutable_time() = ParseTimeRange(flags.since, flags.until, problems);
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kInvalidInput, JoinList(problems, "; "),
                 "correct the flag(s) named above; nothing was sent");
    return;
  }
  *request.mutable_subject() = subject.subject();
  for (const std::string& p : flags.purposes) request.add_purpose_ids(p);

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::LocalLog>();
  auto call = connection->NewCall(kCallTimeout);
  schakel::v1::AuditSubjectResponse response;
  const grpc::Status status = client->AuditSubject(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"find who asked about a person", "auditor"}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    return;
  }
  std::vector<std::string> keys;
  for (const schakel::v1::KeyTypeCount& k : response.keys()) {
    keys.push_back(StrCat(EnumName(k.key_type()), " ", k.count()));
  }
  std::vector<std::string> purposes(response.purposes_checked().begin(),
                                    response.purposes_checked().end());
  context.out() << "searched under: " << (purposes.empty() ? "-" : JoinList(purposes, ", "))
                << " (keys: " << (keys.empty() ? "-" : JoinList(keys, ", ")) << ")\n";
  if (response.records().empty()) {
    context.out() << "no exchange about this person was asked of this organisation\n";
    return;
  }
  Table table({"seq", "date (UTC)", "kind", "asked by", "purpose", "lawful basis", "case",
               "outcome", "hit", "fields disclosed"});
  for (const schakel::v1::SubjectAccessRecord& r : response.records()) {
    std::vector<std::string> fields;
    for (int f : r.fields_disclosed()) fields.push_back(EnumName(static_cast<schakel::v1::SignalField>(f)));
    table.AddRow({StrCat(r.sequence()), FormatTime(r.recorded_at()), EnumName(r.kind()),
                  r.requester_role() == schakel::v1::ROLE_UNSPECIFIED
                      ? OrDash(r.requester_org_id())
                      : StrCat(r.requester_org_id(), " (", EnumName(r.requester_role()), ")"),
                  OrDash(r.purpose_id()), OrDash(r.lawful_basis().reference()),
                  OrDash(r.case_id()), EnumName(r.outcome()), r.hit() ? "yes" : "no",
                  fields.empty() ? "-" : JoinList(fields, ",")});
  }
  table.Print(context.out());
  context.out() << response.records_size() << " record(s); gateway receipt for this query: entry "
                << response.receipt().payload().sequence() << "\n";
}

// --- audit reconcile ------------------------------------------------------

struct ReconcileFlags {
  std::string since, until;
  bool progress = false;
  bool json = false;
  ConnectionFlags connection;
};

std::string ReconcileProblemText(schakel::v1::ReconcileProblem problem) {
  switch (problem) {
    case schakel::v1::RECONCILE_PROBLEM_ENTRY_MISSING: return "entry missing";
    case schakel::v1::RECONCILE_PROBLEM_ENTRY_CHANGED: return "entry changed";
    case schakel::v1::RECONCILE_PROBLEM_RECEIPT_INVALID: return "receipt invalid";
    case schakel::v1::RECONCILE_PROBLEM_NOT_IN_CHAIN: return "not in the signed chain";
    default: return "problem not further specified";
  }
}

void RunReconcile(const ReconcileFlags& flags, CommandContext& context) {
  schakel::v1::ReconcileReceiptsRequest request;
  std::vector<std::string> problems;
  if (!flags.since.empty() || !flags.until.empty()) {
    *request.mutable_time() = ParseTimeRange(flags.since, flags.until, problems);
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "give dates as YYYY-MM-DD or RFC 3339");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::LocalLog>();
  auto call = connection->NewCall(kStreamTimeout);
  auto reader = client->ReconcileReceipts(call.get(), request);
  Progress progress(context.err(), Progress::ModeFor(context.environment(), flags.progress));
  std::optional<schakel::v1::ReconcileReport> report;
  schakel::v1::ReconcileReceiptsResponse response;
  while (reader->Read(&response)) {
    if (response.has_progress()) {
      const auto& p = response.progress();
      progress.Update(p.receipts_total() > 0 ? static_cast<double>(p.receipts_checked()) /
                                                   static_cast<double>(p.receipts_total())
                                             : -1,
                      StrCat(GroupThousands(p.receipts_checked()), " of ",
                             GroupThousands(p.receipts_total()), " receipts checked"));
    }
    if (response.has_report()) report = response.report();
  }
  progress.Done();
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    connection->Fail(status, {"reconcile the receipts with the gateway's log", "auditor"},
                     context);
    return;
  }
  if (!report.has_value()) {
    context.Fail(ExitCode::kInternalError, "the reconciliation ended without a report",
                 "nothing can be concluded; run it again and report this if it persists");
    return;
  }
  if (flags.json) context.out() << ToJson(*report, /*pretty=*/true) << "\n";
  const std::string against =
      report->has_checkpoint()
          ? StrCat(" (chain checked up to the checkpoint at entry ",
                   report->checkpoint().payload().sequence(), ")")
          : std::string(" (the gateway has no checkpoint yet)");
  if (report->consistent()) {
    if (!flags.json) {
      context.out() << "all " << GroupThousands(report->receipts_checked())
                    << " receipts match the gateway's log" << against << "\n";
    }
    return;
  }
  if (!flags.json) {
    Table table({"entry", "problem", "detail"});
    for (const schakel::v1::ReconcileFinding& f : report->findings()) {
      table.AddRow({StrCat(f.receipt().payload().sequence()), ReconcileProblemText(f.problem()),
                    OrDash(f.detail())});
    }
    table.Print(context.out());
    context.out() << report->findings_size() << " finding(s) in "
                  << GroupThousands(report->receipts_checked()) << " receipts" << against << "\n";
  }
  context.Fail(ExitCode::kVerificationFailed,
               StrCat(report->findings_size(),
                      " receipt(s) do not match the gateway's log"),
               "the gateway's log lost or changed entries this node holds receipts for: keep "
               "this output and tell the gateway's operator and your privacy officer (FG)");
}

}  // namespace

std::string ChainProblemText(schakel::v1::ChainProblem problem) {
  switch (problem) {
    case schakel::v1::CHAIN_PROBLEM_RECORD_HASH_MISMATCH:
      return "record hash does not match its record";
    case schakel::v1::CHAIN_PROBLEM_ENTRY_HASH_MISMATCH:
      return "entry hash does not match";
    case schakel::v1::CHAIN_PROBLEM_PREVIOUS_HASH_MISMATCH:
      return "previous hash does not match the previous entry's hash";
    case schakel::v1::CHAIN_PROBLEM_SEQUENCE_GAP:
      return "sequence number missing or repeated";
    case schakel::v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY:
      return "entry cannot be decoded";
    case schakel::v1::CHAIN_PROBLEM_CHECKPOINT_SIGNATURE_INVALID:
      return "checkpoint signature does not verify";
    case schakel::v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH:
      return "checkpoint head hash does not match the entry";
    default:
      return "problem not further specified";
  }
}

void RegisterAuditCommands(CLI::App& app, CommandContext& context) {
  CLI::App* audit = app.add_subcommand(
      "audit", "The gateway's exchange log, for auditors (compliance, privacy officer)");
  audit->require_subcommand(1);
  audit->footer(std::string(kExitCodesHelp));
  auto flags = std::make_shared<VerifyFlags>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "Check that the exchange log's hash chain and checkpoints are intact");
  verify->add_option("--from", flags->from, "first entry to verify (default: 1)");
  verify->add_option("--to", flags->to, "last entry to verify (default: the newest)");
  verify->add_flag("--progress", flags->progress,
                   "print progress lines to stderr when it is not a terminal");
  verify->add_flag("--json", flags->json, "print the VerifyResult as JSON");
  AddConnectionFlags(*verify, flags->connection);
  verify->footer(HelpFooter(
      "Example:\n"
      "  schakel audit verify --role auditor\n"
      "\n"
      "Prints \"chain intact: N entries, M checkpoints\", or names the first bad entry\n"
      "(\"entry 42: record hash does not match its record (...)\") and exits with 5."));
  verify->callback([flags, &context] { RunVerify(*flags, context); });

  auto log_flags = std::make_shared<LogFlags>();
  CLI::App* log = audit->add_subcommand("log", "List the exchange log's entries that match a filter");
  AddFilterFlags(*log, log_flags->filter);
  log->add_option("--limit", log_flags->limit, "at most this many entries (default: all)");
  log->add_flag("--json", log_flags->json, "print each LogEntry as one line of JSON");
  AddConnectionFlags(*log, log_flags->connection);
  log->footer(HelpFooter(
      "Examples:\n"
      "  schakel audit log --since 2026-03-01 --purpose riec.ondermijning --outcome refused\n"
      "  schakel audit log --reason quota_exceeded --requester gemeente-tilburg --json\n"
      "\n"
      "Your organisation's auditors see the entries it took part in; a supervisor's\n"
      "auditors see every entry. The query itself is logged at the gateway."));
  log->callback([log_flags, &context] { RunLog(*log_flags, context); });

  auto stats_flags = std::make_shared<StatsFlags>();
  CLI::App* stats = audit->add_subcommand(
      "stats", "Count exchanges, subjects, hits, disclosures and refusals per purpose, partner "
               "and period");
  AddFilterFlags(*stats, stats_flags->filter);
  stats->add_option("--by", stats_flags->by,
                    StrCat("group by, comma-separated: ", EnumNames<schakel::v1::StatsDimension>()))
      ->delimiter(',');
  stats->add_option("--period", stats_flags->period,
                    StrCat("period length with --by period: ", EnumNames<schakel::v1::StatsPeriod>(),
                           " (default: month)"));
  stats->add_option("--time-zone", stats_flags->time_zone,
                    "IANA time zone of the periods (default: Europe/Amsterdam)");
  stats->add_flag("--json", stats_flags->json, "print the GetStatsResponse as JSON");
  AddConnectionFlags(*stats, stats_flags->connection);
  stats->footer(HelpFooter(
      "Examples:\n"
      "  schakel audit stats --by purpose,answerer --since 2026-01-01\n"
      "  schakel audit stats --by period --period week --purpose zvh.families"));
  stats->callback([stats_flags, &context] { RunStats(*stats_flags, context); });

  auto export_flags = std::make_shared<ExportFlags>();
  CLI::App* exp = audit->add_subcommand(
      "export", "Export the entries that match a filter as JSON Lines or CSV");
  AddFilterFlags(*exp, export_flags->filter);
  exp->add_option("--format", export_flags->format, "jsonl or csv")->required();
  exp->add_option("--output", export_flags->output,
                  "write to this file (default: standard output); written whole or not at all");
  exp->add_flag("--policy-text", export_flags->policy_text,
                "add, per entry, the purpose's section of the policy version in force for it");
  AddConnectionFlags(*exp, export_flags->connection);
  exp->footer(HelpFooter(
      "Examples:\n"
      "  schakel audit export --format csv --since 2026-01-01 --output q1.csv\n"
      "  schakel audit export --format jsonl --purpose riec.ondermijning --policy-text > log.jsonl\n"
      "\n"
      "CSV columns are those of audit.proto (ExportFormat); tags are only in JSON Lines."));
  exp->callback([export_flags, &context] { RunExport(*export_flags, context); });

  auto subject_flags = std::make_shared<SubjectFlags>();
  CLI::App* subject = audit->add_subcommand(
      "subject", "Who asked about this person? (a data subject's access request)");
  const std::string one = "The person (as for schakel match)";
  subject->add_option("--bsn", subject_flags->bsn, "BSN")->group(one);
  subject->add_option("--given-names", subject_flags->given_names, "given names")->group(one);
  subject->add_option("--surname", subject_flags->surname, "surname")->group(one);
  subject->add_option("--birth-date", subject_flags->birth_date, "date of birth")->group(one);
  subject->add_option("--postcode", subject_flags->postcode, "postcode")->group(one);
  subject->add_option("--house-number", subject_flags->house_number, "house number")->group(one);
  subject->add_option("--purpose", subject_flags->purposes,
                      "only this purpose (repeatable; default: every purpose this node answers)");
  subject->add_option("--since", subject_flags->since, "exchanges at or after: YYYY-MM-DD or RFC 3339");
  subject->add_option("--until", subject_flags->until, "exchanges before: YYYY-MM-DD or RFC 3339");
  subject->add_flag("--json", subject_flags->json, "print the AuditSubjectResponse as JSON");
  AddConnectionFlags(*subject, subject_flags->connection);
  subject->footer(HelpFooter(
      "Examples:\n"
      "  schakel audit subject --bsn 111222333\n"
      "  schakel audit subject --surname \"de Vries\" --given-names Sem --birth-date 2010-05-04\n"
      "\n"
      "Your node computes its own tags of the person and asks the gateway which\n"
      "exchanges carried them; the identifiers never leave the node. Found: every\n"
      "exchange in which your organisation was asked about the person (hit or not),\n"
      "and the disclosures about the person your organisation was asked for."));
  subject->callback([subject_flags, &context] { RunSubject(*subject_flags, context); });

  auto reconcile_flags = std::make_shared<ReconcileFlags>();
  CLI::App* reconcile = audit->add_subcommand(
      "reconcile", "Check the receipts this node kept against the gateway's log");
  reconcile->add_option("--since", reconcile_flags->since, "receipts issued at or after this date");
  reconcile->add_option("--until", reconcile_flags->until, "receipts issued before this date");
  reconcile->add_flag("--progress", reconcile_flags->progress,
                      "print progress lines to stderr when it is not a terminal");
  reconcile->add_flag("--json", reconcile_flags->json, "print the ReconcileReport as JSON");
  AddConnectionFlags(*reconcile, reconcile_flags->connection);
  reconcile->footer(HelpFooter(
      "Example:\n"
      "  schakel audit reconcile --since 2026-01-01\n"
      "\n"
      "Prints \"all N receipts match the gateway's log\", or lists every entry that is\n"
      "missing, changed, or not in the chain the latest checkpoint signs, and exits\n"
      "with 5."));
  reconcile->callback([reconcile_flags, &context] { RunReconcile(*reconcile_flags, context); });
}

}  // namespace schakel::cli
