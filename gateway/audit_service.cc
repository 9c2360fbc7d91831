#include "gateway/audit_service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
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
constexpr int kMaxSubjectTags = 10'000;
// Export chunks: at most 1 MiB, ending at a line boundary.
constexpr size_t kExportChunk = 1 << 20;
constexpr char kPolicyArchivePrefix[] = "audit/policy/";


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

}  // namespace

AuditService::AuditService(ExchangeLog* log, CheckpointStore* checkpoints,
                           CurrentDirectory current_directory,
                           std::function<std::shared_ptr<const Policy>()> current_policy,
                           std::function<absl::Time()> now, const ReceiptIssuer* receipts)
    : log_(log),
      checkpoints_(checkpoints),
      current_directory_(std::move(current_directory)),
      current_policy_(std::move(current_policy)),
      now_(std::move(now)),
      own_receipts_(receipts == nullptr ? checkpoints->NewReceiptIssuer() : nullptr),
      receipts_(receipts != nullptr ? receipts : own_receipts_.get()),
      exchanges_(ExchangeStore::Open(log->store())) {}

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

grpc::Status AuditService::FindSubjectEntries(grpc::ServerContext* context,
                                              const v1::FindSubjectEntriesRequest* request,
                                              v1::FindSubjectEntriesResponse* response) {
  return AnswerUnary(Caller(context, "FindSubjectEntries", request->actor()), response,
                     [&](const std::string& org) { return FindSubjectEntriesFor(org, *request); });
}

grpc::Status AuditService::GetStats(grpc::ServerContext* context,
                                    const v1::GetStatsRequest* request,
                                    v1::GetStatsResponse* response) {
  return AnswerUnary(Caller(context, "GetStats", request->actor()), response,
                     [&](const std::string& org) { return GetStatsFor(org, *request); });
}

grpc::Status AuditService::Export(grpc::ServerContext* context, const v1::ExportRequest* request,
                                  grpc::ServerWriter<v1::ExportResponse>* writer) {
  return AnswerStream(Caller(context, "Export", request->actor()), writer,
                      [&](const std::string& org, const auto& send) {
                        return ExportFor(org, *request, send);
                      });
}

namespace {

// The problems CheckLogFilter finds in a filter that is not itself a field
// of the request (FindSubjectEntries' time and tag_sets).
void CheckTopLevelFilter(const v1::LogFilter& filter, std::string_view caller_org,
                         std::vector<v1::FieldProblem>& problems) {
  std::vector<v1::FieldProblem> found;
  CheckLogFilter(filter, "", caller_org, /*caller_is_supervisor=*/false, found);
  for (v1::FieldProblem& p : found) {
    if (!p.field().empty() && p.field().front() == '.') p.set_field(p.field().substr(1));
    problems.push_back(std::move(p));
  }
}

// Subject index of each element of an exchange, from its shape.
std::vector<uint32_t> SubjectOfElements(const v1::OpenExchangeRequest& shape) {
  std::vector<uint32_t> out;
  for (int s = 0; s < shape.subjects_size(); ++s) {
    for (int k = 0; k < shape.subjects(s).keys_size(); ++k) out.push_back(static_cast<uint32_t>(s));
  }
  return out;
}

v1::SubjectAccessRecord AccessRecordOf(const v1::LogEntry& e, std::string_view matched_purpose) {
  const v1::LogRecord& r = e.record();
  v1::SubjectAccessRecord a;
  a.set_sequence(e.sequence());
  *a.mutable_recorded_at() = r.recorded_at();
  a.set_kind(r.kind());
  a.set_requester_org_id(r.requester().org_id());
  a.set_requester_role(r.requester().role());
  a.set_purpose_id(r.purpose_id());
  *a.mutable_lawful_basis() = r.lawful_basis();
  a.set_case_id(r.case_id());
  a.set_exchange_id(r.exchange_id());
  a.set_outcome(r.outcome());
  a.set_matched_purpose_id(std::string(matched_purpose));
  return a;
}

}  // namespace

absl::Status AuditService::ArchivePolicy(const Policy& policy) {
  store::WriteBatch batch;
  batch.Put(StrCat(kPolicyArchivePrefix, policy.version()), policy.canonical_text());
  return log_->store()->Write(batch, store::Durability::kSynced);
}

void AuditService::ArchiveCurrent(const std::shared_ptr<const Policy>& policy) {
  if (policy == nullptr) return;
  std::lock_guard lock(archived_mu_);
  if (archived_version_ == policy->version()) return;
  // A failure only leaves Export without this version's text (it says so).
  if (ArchivePolicy(*policy).ok()) archived_version_ = policy->version();
}

std::string AuditService::PolicyTextFor(const Policy& current, std::string_view version,
                                        std::string_view purpose_id,
                                        std::map<std::string, std::string>& cache) const {
  auto it = cache.find(std::string(version));
  if (it == cache.end()) {
    std::string text;
    if (version == current.version()) {
      text = current.canonical_text();
    } else {
      auto stored = log_->store()->Get(StrCat(kPolicyArchivePrefix, version));
      if (stored.ok() && stored->has_value()) text = **stored;
    }
    it = cache.emplace(std::string(version), std::move(text)).first;
  }
  if (purpose_id.empty()) return "";
  if (it->second.empty()) {
    return StrCat("(the text of policy version ", version, " is not kept at this gateway)");
  }
  return PurposeSection(it->second, purpose_id);
}

absl::Status AuditService::Scan(std::string_view caller_org, const Policy& policy,
                                const v1::LogFilter& filter, uint64_t to,
                                const std::function<bool(v1::LogEntry&)>& each) const {
  for (uint64_t next = std::max<uint64_t>(filter.from_sequence(), 1); next <= to;) {
    auto entries =
        log_->Read(next, static_cast<size_t>(std::min<uint64_t>(to - next + 1, kScanPage)));
    if (!entries.ok()) return entries.status();
    if (entries->empty()) break;
    for (v1::LogEntry& e : *entries) {
      if (e.sequence() > to) return absl::OkStatus();
      next = e.sequence() + 1;
      if (!MatchesLogFilter(e, filter) || !InAuditScope(e.record(), policy, caller_org)) continue;
      if (!each(e)) return absl::CancelledError("the client went away");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::FindSubjectEntriesResponse> AuditService::FindSubjectEntriesFor(
    std::string_view caller_org, const v1::FindSubjectEntriesRequest& request) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  ArchiveCurrent(policy);
  std::vector<v1::FieldProblem> problems;
  int total = 0;
  for (const v1::TagSet& set : request.tag_sets()) total += set.tags_size();
  if (request.tag_sets().empty()) {
    problems.push_back(Problem("tag_sets", "empty", "1 or more tag sets of the caller's organisation"));
  } else if (total > kMaxSubjectTags) {
    problems.push_back(Problem("tag_sets", StrCat(total, " tags in all"), "at most 10,000 tags"));
  }
  // The AUDIT_QUERY record keeps the tags searched (log.proto).
  v1::LogFilter filter;
  if (request.has_time()) *filter.mutable_time() = request.time();
  *filter.mutable_tag_sets() = request.tag_sets();
  CheckTopLevelFilter(filter, caller_org, problems);
  auto receipt = StartQuery(*log_, *receipts_, now_(), policy, caller_org, request.actor(),
                            "FindSubjectEntries", filter,
                            StrCat(total, " tags in ", request.tag_sets_size(), " tag set(s)"),
                            problems);
  if (!receipt.ok()) return receipt.status();

  // Entries found through the index, with the purpose and tags that matched.
  const uint64_t head = log_->head_sequence();
  struct Match {
    std::string purpose_id;
    std::set<std::string> tags;
  };
  std::map<uint64_t, Match> matches;
  for (const v1::TagSet& set : request.tag_sets()) {
    for (const std::string& tag : set.tags()) {
      auto sequences = log_->SequencesWithTag(caller_org, set.purpose_id(), tag);
      if (!sequences.ok()) return sequences.status();
      for (uint64_t s : *sequences) {
        if (s > head) continue;
        Match& m = matches[s];
        if (m.purpose_id.empty()) m.purpose_id = set.purpose_id();
        if (m.purpose_id == set.purpose_id()) m.tags.insert(tag);
      }
    }
  }
  v1::LogFilter time_only;
  if (request.has_time()) *time_only.mutable_time() = request.time();

  std::map<uint64_t, v1::SubjectAccessRecord> records;
  for (const auto& [sequence, match] : matches) {
    auto read = log_->Read(sequence, 1);
    if (!read.ok()) return read.status();
    if (read->empty() || read->front().sequence() != sequence) continue;
    const v1::LogEntry& e = read->front();
    if (!MatchesLogFilter(e, time_only)) continue;
    // The index is not covered by the chain: the entry itself must carry
    // the tag.
    std::set<uint32_t> elements;
    bool hit = false;
    for (const v1::OrgTags& t : e.record().tags()) {
      if (t.org_id() != caller_org || t.purpose_id() != match.purpose_id) continue;
      for (int i = 0; i < t.tags_size(); ++i) {
        if (!match.tags.contains(t.tags(i))) continue;
        elements.insert(static_cast<uint32_t>(i));
        hit = hit || std::find(t.hit_element_indices().begin(), t.hit_element_indices().end(),
                               static_cast<uint32_t>(i)) != t.hit_element_indices().end();
      }
    }
    if (elements.empty()) continue;
    v1::SubjectAccessRecord a = AccessRecordOf(e, match.purpose_id);
    a.set_hit(hit);
    records[sequence] = std::move(a);

    // Disclosures of this exchange by the caller about the same subject.
    const std::string& exchange_id = e.record().exchange_id();
    if (exchange_id.empty()) continue;
    std::set<uint32_t> subjects;
    auto stored = exchanges_->Get(exchange_id);
    if (stored.ok() && stored->has_value()) {
      const std::vector<uint32_t> subject_of = SubjectOfElements((*stored)->shape);
      for (uint32_t el : elements) {
        if (el < subject_of.size()) subjects.insert(subject_of[el]);
      }
    } else if (e.record().counts().subjects() == 1) {
      subjects.insert(0);  // the shape is gone, but there was only one subject
    }
    if (subjects.empty()) continue;
    auto of_exchange = log_->SequencesOfExchange(exchange_id);
    if (!of_exchange.ok()) return of_exchange.status();
    for (uint64_t s : *of_exchange) {
      if (s > head || records.contains(s)) continue;
      auto d = log_->Read(s, 1);
      if (!d.ok()) return d.status();
      if (d->empty() || d->front().sequence() != s) continue;
      const v1::LogEntry& de = d->front();
      const v1::LogRecord& dr = de.record();
      if ((dr.kind() != v1::RECORD_KIND_DISCLOSURE_REQUESTED &&
           dr.kind() != v1::RECORD_KIND_DISCLOSURE_DECIDED) ||
          dr.exchange_id() != exchange_id || dr.disclosure().responder_org_id() != caller_org ||
          !MatchesLogFilter(de, time_only)) {
        continue;
      }
      const auto& asked = dr.disclosure().subject_indices();
      if (std::none_of(asked.begin(), asked.end(),
                       [&](uint32_t i) { return subjects.contains(i); })) {
        continue;
      }
      v1::SubjectAccessRecord da = AccessRecordOf(de, match.purpose_id);
      da.set_hit(true);  // only hits can be asked about
      if (dr.disclosure().state() == v1::DISCLOSURE_STATE_DELIVERED) {
        *da.mutable_fields_disclosed() = dr.disclosure().statement().fields_disclosed();
      }
      records[s] = std::move(da);
    }
  }
  v1::FindSubjectEntriesResponse response;
  *response.mutable_receipt() = *receipt;
  for (auto& [s, a] : records) *response.add_records() = std::move(a);
  return response;
}

absl::StatusOr<v1::GetStatsResponse> AuditService::GetStatsFor(
    std::string_view caller_org, const v1::GetStatsRequest& request) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  ArchiveCurrent(policy);
  std::vector<v1::FieldProblem> problems;
  const bool supervisor = policy != nullptr && policy->IsSupervisor(caller_org);
  CheckLogFilter(request.filter(), "filter", caller_org, supervisor, problems);
  std::vector<v1::StatsDimension> group_by;
  std::string grouping;
  for (int i = 0; i < request.group_by_size(); ++i) {
    const int d = request.group_by(i);
    if (d == v1::STATS_DIMENSION_UNSPECIFIED || !v1::StatsDimension_IsValid(d)) {
      problems.push_back(Problem(StrCat("group_by[", i, "]"), "not a dimension",
                                 "PURPOSE, REQUESTER, ANSWERER or PERIOD"));
    } else if (std::find(group_by.begin(), group_by.end(), d) != group_by.end()) {
      problems.push_back(Problem(StrCat("group_by[", i, "]"),
                                 StrCat(v1::StatsDimension_Name(request.group_by(i)),
                                        " is listed twice"),
                                 "each dimension at most once"));
    } else {
      group_by.push_back(request.group_by(i));
      grouping += StrCat(grouping.empty() ? "group by " : ", ",
                         v1::StatsDimension_Name(request.group_by(i)));
    }
  }
  if (!v1::StatsPeriod_IsValid(request.period())) {
    problems.push_back(Problem("period", StrCat(static_cast<int>(request.period())),
                               "DAY, WEEK, MONTH or YEAR"));
  }
  const std::string zone =
      request.time_zone().empty() ? std::string("Europe/Amsterdam") : request.time_zone();
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(zone, &tz)) {
    problems.push_back(Problem("time_zone", StrCat("unknown time zone \"", TruncateUtf8(zone, 64), "\""),
                               "an IANA time zone, e.g. Europe/Amsterdam"));
  }
  auto receipt = StartQuery(*log_, *receipts_, now_(), policy, caller_org, request.actor(),
                            "GetStats", request.filter(), grouping, problems);
  if (!receipt.ok()) return receipt.status();

  const v1::StatsPeriod period =
      request.period() == v1::STATS_PERIOD_UNSPECIFIED ? v1::STATS_PERIOD_MONTH : request.period();
  StatsTable table(group_by, period, tz);
  const uint64_t to =
      request.filter().to_sequence() != 0 ? request.filter().to_sequence() : log_->head_sequence();
  absl::Status scanned = Scan(caller_org, *policy, request.filter(), to, [&](v1::LogEntry& e) {
    table.Add(e.record());
    return true;
  });
  if (!scanned.ok()) return scanned;
  v1::GetStatsResponse response;
  *response.mutable_receipt() = *receipt;
  for (v1::StatsRow& row : table.Rows()) *response.add_rows() = std::move(row);
  return response;
}

absl::Status AuditService::ExportFor(std::string_view caller_org, const v1::ExportRequest& request,
                                     const std::function<bool(const v1::ExportResponse&)>& send) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  ArchiveCurrent(policy);
  std::vector<v1::FieldProblem> problems;
  const bool supervisor = policy != nullptr && policy->IsSupervisor(caller_org);
  CheckLogFilter(request.filter(), "filter", caller_org, supervisor, problems);
  const bool csv = request.format() == v1::EXPORT_FORMAT_CSV;
  if (request.format() != v1::EXPORT_FORMAT_CSV &&
      request.format() != v1::EXPORT_FORMAT_JSON_LINES) {
    problems.push_back(Problem("format", request.format() == v1::EXPORT_FORMAT_UNSPECIFIED
                                             ? "unspecified"
                                             : "not an export format",
                               "JSON_LINES or CSV"));
  }
  const bool with_text = request.include_policy_text();
  auto receipt = StartQuery(
      *log_, *receipts_, now_(), policy, caller_org, request.actor(), "Export", request.filter(),
      StrCat(csv ? "CSV" : "JSON Lines", with_text ? ", with policy text" : ""), problems);
  if (!receipt.ok()) return receipt.status();

  v1::ExportResponse message;
  *message.mutable_receipt() = *receipt;
  std::string chunk = csv ? ExportCsvHeader(with_text) : std::string();
  uint64_t in_chunk = 0;
  auto flush = [&] {
    message.set_data(std::move(chunk));
    message.set_entries(in_chunk);
    if (!send(message)) return false;
    message.Clear();
    chunk.clear();
    in_chunk = 0;
    return true;
  };
  std::map<std::string, std::string> texts;
  absl::Status line_error;
  const uint64_t to =
      request.filter().to_sequence() != 0 ? request.filter().to_sequence() : log_->head_sequence();
  absl::Status scanned = Scan(caller_org, *policy, request.filter(), to, [&](v1::LogEntry& e) {
    const std::string text =
        with_text ? PolicyTextFor(*policy, e.record().policy_version(), e.record().purpose_id(), texts)
                  : std::string();
    std::string line;
    if (csv) {
      line = ExportCsvLine(e, with_text, text);
    } else {
      auto json = ExportJsonLine(e, with_text, text);
      if (!json.ok()) {
        line_error = json.status();
        return false;
      }
      line = *std::move(json);
    }
    // A single line longer than a chunk still goes out whole.
    if (!chunk.empty() && chunk.size() + line.size() > kExportChunk && !flush()) return false;
    chunk += line;
    ++in_chunk;
    return true;
  });
  if (!line_error.ok()) return line_error;
  if (!scanned.ok()) return absl::Status(scanned.code(), StrCat("Export: ", scanned.message()));
  // The last piece; for an empty export the only message (header or nothing).
  if ((!chunk.empty() || message.has_receipt()) && !flush()) {
    return absl::CancelledError("Export: the client went away");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> AuditService::Caller(grpc::ServerContext* context,
                                                 std::string_view method, const v1::Actor& actor) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  v1::LogRecord refusal =
      NewLogRecord(v1::RECORD_KIND_AUDIT_QUERY, now_(), policy.get(), "", "", actor);
  refusal.mutable_audit_query()->set_method(std::string(method));
  return IdentifyCaller(*current_directory_(), *context, *log_, std::move(refusal));
}

}  // namespace schakel::gateway
