#include "gateway/audit_service.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "gateway/directory.h"
#include "gateway/log_filter.h"
#include "gateway/receipts.h"
#include "gateway/service_records.h"
#include "rpc/status.h"

namespace schakel::gateway {
namespace {

constexpr size_t kMaxGetEntries = 1000;
constexpr size_t kLinksPerMessage = 10'000;
constexpr uint64_t kProgressEvery = 10'000;
// ListEntries: entries per message, and a byte budget that keeps a message
// well under the gateway's message size limit.
constexpr int kEntriesPerMessage = 1000;
constexpr size_t kBytesPerMessage = 2 << 20;
constexpr size_t kScanPage = 1000;


// A sequence range [from, to] as asked (0 meaning 1 and the head).
struct Range {
  uint64_t from = 1;
  uint64_t to = 0;  // 0: the head
};

Range CheckRange(uint64_t from, uint64_t to, std::vector<v1::FieldProblem>& problems) {
  Range r{from == 0 ? 1 : from, to};
  if (to != 0 && to < r.from) {
    problems.push_back(Problem("to_sequence", StrCat(to, " is before from_sequence ", r.from),
                               "0 (the head) or at least from_sequence"));
  }
  return r;
}

absl::Status Unimplemented(std::string_view method) {
  return absl::UnimplementedError(StrCat(
      "Audit.", method,
      " is not available in this version of the gateway; it comes in a later "
      "version. ListEntries, VerifyChain, ListChainLinks, ListCheckpoints and GetEntries are "
      "served."));
}

}  // namespace

AuditService::AuditService(ExchangeLog* log, CheckpointStore* checkpoints,
                           const Directory* directory,
                           std::function<std::shared_ptr<const Policy>()> current_policy,
                           std::function<absl::Time()> now, const ReceiptIssuer* receipts)
    : log_(log),
      checkpoints_(checkpoints),
      directory_(directory),
      current_policy_(std::move(current_policy)),
      now_(std::move(now)),
      own_receipts_(receipts == nullptr ? checkpoints->NewReceiptIssuer() : nullptr),
      receipts_(receipts != nullptr ? receipts : own_receipts_.get()) {}

AuditService::~AuditService() = default;

namespace {

// Starts a query: the record, the role and organisation checks (refusals
// logged), then `problems` (INVALID_ARGUMENT, logged). On success logs the
// query and returns its receipt.
absl::StatusOr<v1::Receipt> StartQuery(ExchangeLog& log, const ReceiptIssuer& receipts,
                                       absl::Time now, const std::shared_ptr<const Policy>& policy,
                                       std::string_view org, const v1::Actor& actor,
                                       std::string_view method, const v1::LogFilter& filter,
                                       std::string detail,
                                       const std::vector<v1::FieldProblem>& problems) {
  if (policy == nullptr) return absl::UnavailableError(StrCat(method, ": no policy in force"));
  v1::LogRecord record =
      NewLogRecord(v1::RECORD_KIND_AUDIT_QUERY, now, policy.get(), "", org, actor);
  record.mutable_audit_query()->set_method(std::string(method));
  *record.mutable_audit_query()->mutable_filter() = filter;
  if (actor.role() != v1::ROLE_AUDITOR) {
    return LogRefusal(
        log, &receipts, std::move(record),
        absl::PermissionDeniedError(StrCat(method, ": role ", RoleName(actor.role()),
                                           " may not query the log; auditor required")),
        v1::DENIAL_REASON_ROLE_NOT_ALLOWED, {}, org);
  }
  if (!policy->IsParty(org) && !policy->IsSupervisor(org)) {
    return LogRefusal(log, &receipts, std::move(record),
                      absl::PermissionDeniedError(
                          StrCat(method,
                                 ": the organisation is not a party to the convenant and may "
                                 "not audit its log")),
                      v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED, {}, org);
  }
  if (!problems.empty()) {
    return LogRefusal(log, &receipts, std::move(record),
                      absl::InvalidArgumentError(StrCat(method, ": ", ProblemsMessage(problems))),
                      v1::DENIAL_REASON_MALFORMED_REQUEST, problems, org);
  }
  record.set_outcome(v1::OUTCOME_GRANTED);
  record.set_detail(TruncateUtf8(detail, kMaxLogDetailChars));
  auto appended = log.Append(record);
  if (!appended.ok()) return appended.status();
  return receipts.Issue(*appended, org, "");
}

}  // namespace

absl::Status AuditService::VerifyChainFor(
    std::string_view caller_org, const v1::VerifyChainRequest& request,
    const std::function<bool(const v1::VerifyChainResponse&)>& send) {
  const absl::Time started = now_();
  const auto clock_start = std::chrono::steady_clock::now();  // for `elapsed`: real time
  const std::shared_ptr<const Policy> policy = current_policy_();
  std::vector<v1::FieldProblem> problems;
  auto range = CheckRange(request.from_sequence(), request.to_sequence(), problems);
  v1::LogFilter filter;
  filter.set_from_sequence(request.from_sequence());
  filter.set_to_sequence(request.to_sequence());
  auto receipt = StartQuery(*log_, *receipts_, started, policy, caller_org, request.actor(),
                            "VerifyChain", filter, "", problems);
  if (!receipt.ok()) return receipt.status();

  // The head when verification began (the query's own entry included).
  const uint64_t head = log_->head_sequence();
  const uint64_t to = range.to == 0 ? head : std::min(range.to, head);
  v1::VerifyChainResponse first;
  *first.mutable_receipt() = *receipt;
  first.mutable_progress()->set_entries_total(to >= range.from ? to - range.from + 1 : 0);
  if (!send(first)) return absl::CancelledError("VerifyChain: the client went away");

  v1::VerifyChainResponse last;
  v1::VerifyResult& result = *last.mutable_result();
  if (to >= range.from) {
    ExchangeLog::VerifyOptions options;
    options.from_sequence = range.from;
    options.to_sequence = to;
    options.checkpoint_keys.push_back(checkpoints_->verify_key());
    options.progress_every = kProgressEvery;
    options.progress = [&send](uint64_t checked, uint64_t total) {
      v1::VerifyChainResponse progress;
      progress.mutable_progress()->set_entries_checked(checked);
      progress.mutable_progress()->set_entries_total(total);
      return send(progress);
    };
    auto report = log_->Verify(options);
    if (!report.ok()) return report.status();
    result.set_entries_checked(report->entries_checked);
    result.set_checkpoints_checked(report->checkpoints_checked);
    if (report->first_bad_sequence.has_value()) {
      result.set_first_bad_sequence(*report->first_bad_sequence);
      result.set_problem(report->problem_kind);
      result.set_detail(StrCat("entry ", *report->first_bad_sequence, ": ", report->problem));
    }
    *result.mutable_head() = report->head;
    if (report->latest_checkpoint.has_value()) {
      *result.mutable_latest_checkpoint() = *report->latest_checkpoint;
    }
  }
  result.set_intact(result.first_bad_sequence() == 0);
  const int64_t elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - clock_start)
                                 .count();
  result.mutable_elapsed()->set_seconds(elapsed_ms / 1000);
  result.mutable_elapsed()->set_nanos(static_cast<int32_t>(elapsed_ms % 1000) * 1'000'000);
  if (!send(last)) return absl::CancelledError("VerifyChain: the client went away");
  return absl::OkStatus();
}

absl::Status AuditService::ListChainLinksFor(
    std::string_view caller_org, const v1::ListChainLinksRequest& request,
    const std::function<bool(const v1::ListChainLinksResponse&)>& send) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  std::vector<v1::FieldProblem> problems;
  auto range = CheckRange(request.from_sequence(), request.to_sequence(), problems);
  v1::LogFilter filter;
  filter.set_from_sequence(request.from_sequence());
  filter.set_to_sequence(request.to_sequence());
  auto receipt = StartQuery(*log_, *receipts_, now_(), policy, caller_org, request.actor(),
                            "ListChainLinks", filter, "", problems);
  if (!receipt.ok()) return receipt.status();

  const uint64_t head = log_->head_sequence();
  const uint64_t to = range.to == 0 ? head : std::min(range.to, head);
  v1::ListChainLinksResponse message;
  *message.mutable_receipt() = *receipt;
  bool sent_any = false;
  for (uint64_t next = range.from; next <= to;) {
    auto entries =
        log_->Read(next, static_cast<size_t>(std::min<uint64_t>(to - next + 1, kLinksPerMessage)));
    if (!entries.ok()) return entries.status();
    if (entries->empty() || entries->front().sequence() != next) {
      return absl::DataLossError(
          StrCat("ListChainLinks: entry ", next, " is missing from the log; run VerifyChain"));
    }
    for (const v1::LogEntry& e : *entries) {
      if (e.sequence() != next) {
        return absl::DataLossError(
            StrCat("ListChainLinks: entry ", next, " is missing from the log; run VerifyChain"));
      }
      *message.add_links() = ChainLinkOf(e);
      ++next;
    }
    if (!send(message)) return absl::CancelledError("ListChainLinks: the client went away");
    sent_any = true;
    message.Clear();
  }
  if (!sent_any && !send(message))
    return absl::CancelledError("ListChainLinks: the client went away");
  return absl::OkStatus();
}

absl::StatusOr<v1::ListCheckpointsResponse> AuditService::ListCheckpointsFor(
    std::string_view caller_org, const v1::ListCheckpointsRequest& request) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  std::vector<v1::FieldProblem> problems;
  auto range = CheckRange(request.from_sequence(), request.to_sequence(), problems);
  v1::LogFilter filter;
  filter.set_from_sequence(request.from_sequence());
  filter.set_to_sequence(request.to_sequence());
  auto receipt =
      StartQuery(*log_, *receipts_, now_(), policy, caller_org, request.actor(), "ListCheckpoints",
                 filter, request.latest_only() ? "latest only" : "", problems);
  if (!receipt.ok()) return receipt.status();
  auto checkpoints = checkpoints_->List(range.from, range.to);
  if (!checkpoints.ok()) return checkpoints.status();
  v1::ListCheckpointsResponse response;
  *response.mutable_receipt() = *receipt;
  if (request.latest_only()) {
    if (!checkpoints->empty()) *response.add_checkpoints() = checkpoints->back();
  } else {
    for (v1::Checkpoint& c : *checkpoints) *response.add_checkpoints() = std::move(c);
  }
  return response;
}

absl::StatusOr<v1::GetEntriesResponse> AuditService::GetEntriesFor(
    std::string_view caller_org, const v1::GetEntriesRequest& request) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  std::vector<v1::FieldProblem> problems;
  if (request.sequences().empty()) {
    problems.push_back(Problem("sequences", "empty", "1 to 1000 sequence numbers"));
  } else if (static_cast<size_t>(request.sequences_size()) > kMaxGetEntries) {
    problems.push_back(Problem("sequences", StrCat(request.sequences_size(), " sequence numbers"),
                               "1 to 1000 sequence numbers"));
  }
  for (int i = 0; i < request.sequences_size() && problems.size() < 100; ++i) {
    if (request.sequences(i) == 0) {
      problems.push_back(Problem(StrCat("sequences[", i, "]"), "0", "a sequence number from 1"));
    }
  }
  const std::set<uint64_t> sequences(request.sequences().begin(), request.sequences().end());
  std::string asked;
  for (uint64_t s : sequences) {
    if (asked.size() > kMaxLogDetailChars) break;
    asked += asked.empty() ? StrCat("sequences ", s) : StrCat(", ", s);
  }
  v1::LogFilter filter;
  if (!sequences.empty()) {
    filter.set_from_sequence(*sequences.begin());
    filter.set_to_sequence(*sequences.rbegin());
  }
  auto receipt = StartQuery(*log_, *receipts_, now_(), policy, caller_org, request.actor(),
                            "GetEntries", filter, asked, problems);
  if (!receipt.ok()) return receipt.status();

  const uint64_t head = log_->head_sequence();
  v1::GetEntriesResponse response;
  *response.mutable_receipt() = *receipt;
  for (uint64_t s : sequences) {
    if (s > head) {
      response.add_missing_sequences(s);
      continue;
    }
    auto entries = log_->Read(s, 1);
    if (!entries.ok()) return entries.status();
    if (entries->empty() || entries->front().sequence() != s ||
        !InAuditScope(entries->front().record(), *policy, caller_org)) {
      response.add_missing_sequences(s);
      continue;
    }
    *response.add_entries() = std::move(entries->front());
  }
  return response;
}

absl::Status AuditService::ListEntriesFor(
    std::string_view caller_org, const v1::ListEntriesRequest& request,
    const std::function<bool(const v1::ListEntriesResponse&)>& send) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  std::vector<v1::FieldProblem> problems;
  const bool supervisor = policy != nullptr && policy->IsSupervisor(caller_org);
  CheckLogFilter(request.filter(), "filter", caller_org, supervisor, problems);
  auto receipt = StartQuery(
      *log_, *receipts_, now_(), policy, caller_org, request.actor(), "ListEntries",
      request.filter(), request.limit() != 0 ? StrCat("limit ", request.limit()) : "", problems);
  if (!receipt.ok()) return receipt.status();

  // Up to the head when the query began (its own entry included), unless
  // to_sequence names later entries.
  const uint64_t head = log_->head_sequence();
  const v1::LogFilter& filter = request.filter();
  const uint64_t from = std::max<uint64_t>(filter.from_sequence(), 1);
  const uint64_t to = filter.to_sequence() != 0 ? filter.to_sequence() : head;
  v1::ListEntriesResponse message;
  *message.mutable_receipt() = *receipt;
  message.set_head_sequence(head);
  size_t bytes = 0;
  uint64_t found = 0;
  bool sent_any = false;
  auto flush = [&](uint64_t scanned_through) {
    message.set_scanned_through(scanned_through);
    if (!send(message)) return false;
    sent_any = true;
    message.Clear();
    bytes = 0;
    return true;
  };
  uint64_t next = from;
  while (next <= to && (request.limit() == 0 || found < request.limit())) {
    auto entries =
        log_->Read(next, static_cast<size_t>(std::min<uint64_t>(to - next + 1, kScanPage)));
    if (!entries.ok()) return entries.status();
    if (entries->empty()) break;  // beyond the stored head
    const uint64_t scanned_from = next;
    for (v1::LogEntry& e : *entries) {
      if (e.sequence() > to) break;
      next = e.sequence() + 1;
      if (!MatchesLogFilter(e, filter) || !InAuditScope(e.record(), *policy, caller_org)) continue;
      bytes += e.ByteSizeLong();
      *message.add_entries() = std::move(e);
      ++found;
      if (message.entries_size() == kEntriesPerMessage || bytes >= kBytesPerMessage) {
        if (!flush(next - 1)) return absl::CancelledError("ListEntries: the client went away");
      }
      if (request.limit() != 0 && found == request.limit()) break;
    }
    if (next == scanned_from) break;  // only entries beyond `to` are left
  }
  if ((message.entries_size() > 0 || !sent_any) && !flush(next - 1)) {
    return absl::CancelledError("ListEntries: the client went away");
  }
  return absl::OkStatus();
}

grpc::Status AuditService::VerifyChain(grpc::ServerContext* context,
                                       const v1::VerifyChainRequest* request,
                                       grpc::ServerWriter<v1::VerifyChainResponse>* writer) {
  return AnswerStream(Caller(context, "VerifyChain", request->actor()), writer,
                      [&](const std::string& org, const auto& send) {
                        return VerifyChainFor(org, *request, send);
                      });
}

grpc::Status AuditService::ListChainLinks(grpc::ServerContext* context,
                                          const v1::ListChainLinksRequest* request,
                                          grpc::ServerWriter<v1::ListChainLinksResponse>* writer) {
  return AnswerStream(Caller(context, "ListChainLinks", request->actor()), writer,
                      [&](const std::string& org, const auto& send) {
                        return ListChainLinksFor(org, *request, send);
                      });
}

grpc::Status AuditService::ListCheckpoints(grpc::ServerContext* context,
                                           const v1::ListCheckpointsRequest* request,
                                           v1::ListCheckpointsResponse* response) {
  return AnswerUnary(Caller(context, "ListCheckpoints", request->actor()), response,
                     [&](const std::string& org) { return ListCheckpointsFor(org, *request); });
}

grpc::Status AuditService::GetEntries(grpc::ServerContext* context,
                                      const v1::GetEntriesRequest* request,
                                      v1::GetEntriesResponse* response) {
  return AnswerUnary(Caller(context, "GetEntries", request->actor()), response,
                     [&](const std::string& org) { return GetEntriesFor(org, *request); });
}

grpc::Status AuditService::ListEntries(grpc::ServerContext* context,
                                       const v1::ListEntriesRequest* request,
                                       grpc::ServerWriter<v1::ListEntriesResponse>* writer) {
  return AnswerStream(Caller(context, "ListEntries", request->actor()), writer,
                      [&](const std::string& org, const auto& send) {
                        return ListEntriesFor(org, *request, send);
                      });
}

grpc::Status AuditService::FindSubjectEntries(grpc::ServerContext*,
                                              const v1::FindSubjectEntriesRequest*,
                                              v1::FindSubjectEntriesResponse*) {
  return rpc::ToGrpcStatus(Unimplemented("FindSubjectEntries"));
}

grpc::Status AuditService::GetStats(grpc::ServerContext*, const v1::GetStatsRequest*,
                                    v1::GetStatsResponse*) {
  return rpc::ToGrpcStatus(Unimplemented("GetStats"));
}

grpc::Status AuditService::Export(grpc::ServerContext*, const v1::ExportRequest*,
                                  grpc::ServerWriter<v1::ExportResponse>*) {
  return rpc::ToGrpcStatus(Unimplemented("Export"));
}

absl::StatusOr<std::string> AuditService::Caller(grpc::ServerContext* context,
                                                 std::string_view method, const v1::Actor& actor) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  v1::LogRecord refusal =
      NewLogRecord(v1::RECORD_KIND_AUDIT_QUERY, now_(), policy.get(), "", "", actor);
  refusal.mutable_audit_query()->set_method(std::string(method));
  return IdentifyCaller(*directory_, *context, *log_, std::move(refusal));
}

}  // namespace schakel::gateway
