#include "gateway/cases_service.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "common/utf8.h"
#include "crypto/hash.h"
#include "gateway/authoriser.h"
#include "gateway/directory.h"
#include "gateway/receipts.h"
#include "gateway/service_records.h"
#include "proto/canonical.h"
#include "rpc/status.h"

namespace schakel::gateway {
namespace {

constexpr size_t kRequestIdSize = 16;
constexpr size_t kMaxTitleChars = 200;
constexpr size_t kMaxGoalChars = 10'000;
constexpr size_t kMaxGroundChars = 2'000;
constexpr size_t kMaxReasonChars = 2'000;
constexpr size_t kMaxExternalReferenceChars = 64;
constexpr size_t kMaxCaseIdChars = 64;
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::string RoleNameOf(v1::Role role) { return std::string(RoleName(role)); }

// Case ids as common.proto defines them; anything else cannot name a case.
bool IsValidCaseId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxCaseIdChars &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-';
         });
}

// What is logged of an id a caller named: short ids as given, others not
// (a refusal must stay loggable whatever was sent).
std::string AsAsked(std::string_view id) {
  return id.size() <= kMaxCaseIdChars ? std::string(id) : std::string();
}

void CheckText(std::vector<v1::FieldProblem>& problems, const std::string& field,
               std::string_view value, size_t max_chars) {
  const size_t chars = Utf8Chars(value);
  if (chars == 0) {
    problems.push_back(Problem(field, "missing", StrCat("1 to ", max_chars, " characters")));
  } else if (chars > max_chars) {
    problems.push_back(
        Problem(field, StrCat(chars, " characters"), StrCat("1 to ", max_chars, " characters")));
  }
}

void CheckGrounds(std::vector<v1::FieldProblem>& problems, std::string_view field,
                  const google::protobuf::RepeatedPtrField<std::string>& grounds) {
  if (grounds.empty()) {
    problems.push_back(Problem(std::string(field), "no selection ground",
                               "at least one ground, why the families and persons were selected"));
  }
  for (int i = 0; i < grounds.size(); ++i) {
    CheckText(problems, StrCat(field, "[", i, "]"), grounds[i], kMaxGroundChars);
  }
}

// The first moment the purpose is no longer in force, if it ends.
std::optional<absl::Time> PurposeEnd(const Purpose& purpose, absl::TimeZone zone) {
  if (!purpose.valid_until.has_value()) return std::nullopt;
  return absl::FromCivil(*purpose.valid_until, zone);
}

void CheckEndsAt(std::vector<v1::FieldProblem>& problems, std::string_view field, const v1::Case& c,
                 bool present, const Purpose& purpose, absl::Time now, absl::TimeZone zone) {
  const std::string name(field);
  if (!present) {
    problems.push_back(Problem(name, "missing", "a time in the future"));
    return;
  }
  const google::protobuf::Timestamp& t = c.ends_at();
  if (t.nanos() < 0 || t.nanos() % 1'000'000 != 0) {
    problems.push_back(Problem(name, "not a whole number of milliseconds", "whole milliseconds"));
    return;
  }
  const absl::Time ends = TimeOf(t);
  if (ends <= now) {
    problems.push_back(Problem(name, "not in the future", "a time in the future"));
  }
  if (auto end = PurposeEnd(purpose, zone); end.has_value() && ends > *end) {
    problems.push_back(
        Problem(name, "beyond the purpose's validity",
                StrCat("at most the end of the purpose, ",
                       absl::FormatCivilTime(*purpose.valid_until), " 00:00 ", zone.name())));
  }
}

void CheckPartners(std::vector<v1::FieldProblem>& problems, std::string_view field,
                   const google::protobuf::RepeatedPtrField<std::string>& partners,
                   const Purpose& purpose, const Directory& directory) {
  std::set<std::string, std::less<>> seen;
  for (int i = 0; i < partners.size(); ++i) {
    const std::string& org = partners[i];
    const std::string name = StrCat(field, "[", i, "]");
    if (!seen.insert(org).second) {
      problems.push_back(Problem(name, "named twice", "each partner once"));
    } else if (directory.Find(org) == nullptr || !purpose.MayAnswer(org)) {
      problems.push_back(Problem(name, "not a partner that may answer under the purpose",
                                 "organisations in the purpose's may_answer_org_ids"));
    }
  }
}

// INVALID_ARGUMENT's reason: a partner that may not answer is
// PARTNER_NOT_PERMITTED when it is the only kind of problem.
v1::DenialReason ReasonFor(const std::vector<v1::FieldProblem>& problems) {
  const bool only_partners = std::all_of(problems.begin(), problems.end(), [](const auto& p) {
    return p.field().find("partner_org_ids") != std::string::npos && p.problem() != "named twice";
  });
  return only_partners ? v1::DENIAL_REASON_PARTNER_NOT_PERMITTED
                       : v1::DENIAL_REASON_MALFORMED_REQUEST;
}

absl::Status Invalid(std::string_view rpc, const std::vector<v1::FieldProblem>& problems) {
  return absl::InvalidArgumentError(StrCat(rpc, ": ", ProblemsMessage(problems)));
}

// A loggable copy of a case as asked: times cut to whole milliseconds.
v1::Case Loggable(v1::Case c) {
  if (c.has_ends_at()) SetMillis(c.mutable_ends_at(), ToMillis(c.ends_at()));
  return c;
}

}  // namespace

namespace {

absl::TimeZone PolicyZone() {
  absl::TimeZone zone;
  // Policy days are civil days in Europe/Amsterdam (policy.h).
  if (!absl::LoadTimeZone("Europe/Amsterdam", &zone)) zone = absl::FixedTimeZone(3600);
  return zone;
}

// Whether `org` (acting as `role`) may see cases of `purpose_id`
// (cases.proto, GetCase). `purpose` is null when the policy in force no
// longer has the purpose.
bool MaySee(const v1::Case& c, const Purpose* purpose, const Policy& policy, std::string_view org,
            v1::Role role) {
  if (c.director_org_id() == org) return true;
  if (role == v1::ROLE_AUDITOR && policy.IsSupervisor(org)) return true;
  if (purpose == nullptr) return false;
  if (purpose->MayDirectCases(org) || purpose->GrantFor(org) != nullptr) return true;
  return role == v1::ROLE_AUDITOR && purpose->TakesPart(org);
}

}  // namespace

// One call that changes (or tries to change) a case: when, under which
// policy, who, which record kind logs it, and what the record carries.
struct CasesService::Call {
  absl::Time now;
  std::shared_ptr<const Policy> policy;
  std::string org;
  v1::Actor actor;
  v1::RecordKind kind;
  std::string rpc;         // "OpenCase", ... for messages
  std::string case_id;     // as asked, when loggable
  std::string purpose_id;  // as asked (OpenCase); else the case's
  // The case a refusal record carries: as asked (OpenCase) or as stored.
  std::optional<v1::Case> current;
  // The entry that recorded the change, for its receipt.
  std::optional<ExchangeLog::Appended> appended;
};

CasesService::CasesService(CaseStore* cases, ExchangeLog* log, CurrentDirectory current_directory,
                           std::function<std::shared_ptr<const Policy>()> current_policy,
                           std::function<absl::Time()> now, const ReceiptIssuer* receipts)
    : cases_(cases),
      log_(log),
      current_directory_(std::move(current_directory)),
      current_policy_(std::move(current_policy)),
      now_(std::move(now)),
      receipts_(receipts) {}

absl::Status CasesService::Refuse(const Call& call, absl::Status error, v1::DenialReason reason,
                                  std::vector<v1::FieldProblem> problems) const {
  const std::string purpose_id = !call.purpose_id.empty()   ? call.purpose_id
                                 : call.current.has_value() ? call.current->purpose_id()
                                                            : "";
  v1::LogRecord record =
      NewLogRecord(call.kind, call.now, call.policy.get(), purpose_id, call.org, call.actor);
  record.set_case_id(call.case_id);
  if (call.current.has_value()) *record.mutable_case_info() = *call.current;
  return LogRefusal(*log_, receipts_, std::move(record), std::move(error), reason,
                    std::move(problems), call.org);
}

CaseStore::Commit CasesService::LoggedCommit(Call& call, std::string detail) const {
  return
      [this, &call, detail = std::move(detail)](
          const v1::Case& after, const ExchangeLog::WithEntry& writes) -> absl::StatusOr<uint64_t> {
        v1::LogRecord record = NewLogRecord(call.kind, call.now, call.policy.get(),
                                            after.purpose_id(), call.org, call.actor);
        record.set_case_id(after.case_id());
        record.set_outcome(v1::OUTCOME_GRANTED);
        record.set_detail(TruncateUtf8(detail, kMaxLogDetailChars));
        *record.mutable_case_info() = after;
        auto appended = log_->Append(record, writes);
        if (!appended.ok()) return appended.status();
        call.appended = *appended;
        return appended->sequence;
      };
}

absl::Status CasesService::AddReceipt(const Call& call,
                                      google::protobuf::RepeatedPtrField<v1::Receipt>& out) const {
  if (receipts_ == nullptr || !call.appended.has_value()) return absl::OkStatus();
  auto receipt = receipts_->Issue(*call.appended, call.org, "");
  if (!receipt.ok()) return receipt.status();
  *out.Add() = *std::move(receipt);
  return absl::OkStatus();
}

absl::Status CasesService::FindOwnCase(Call& call, std::string_view verb) {
  if (call.actor.role() != v1::ROLE_DIRECTOR) {
    return Refuse(
        call,
        absl::PermissionDeniedError(StrCat(call.rpc, ": role ", RoleNameOf(call.actor.role()),
                                           " may not ", verb, " cases; director required")),
        v1::DENIAL_REASON_ROLE_NOT_ALLOWED);
  }
  if (IsValidCaseId(call.case_id)) {
    auto c = cases_->Get(call.case_id, call.now);
    if (c.ok()) {
      call.current = *std::move(c);
    } else if (!absl::IsNotFound(c.status())) {
      return c.status();
    }
  }
  const Policy& policy = *call.policy;
  if (!call.current.has_value() || !MaySee(*call.current, policy.Find(call.current->purpose_id()),
                                           policy, call.org, call.actor.role())) {
    call.current.reset();  // what the caller may not see is not logged as its case either
    return Refuse(call, absl::NotFoundError(StrCat(call.rpc, ": no such case")),
                  v1::DENIAL_REASON_CASE_NOT_FOUND);
  }
  if (call.current->director_org_id() != call.org) {
    return Refuse(call,
                  absl::PermissionDeniedError(StrCat(
                      call.rpc, ": only directors of the organisation that opened the case may ",
                      verb, " it")),
                  v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::OpenCaseResponse> CasesService::Open(std::string_view caller_org,
                                                        const v1::OpenCaseRequest& request,
                                                        std::shared_ptr<const Directory> directory) {
  if (directory == nullptr) directory = current_directory_();
  Call call{now_(),
            current_policy_(),
            std::string(caller_org),
            request.actor(),
            v1::RECORD_KIND_CASE_OPENED,
            "OpenCase",
            "",
            AsAsked(request.purpose_id()),
            {},
            {}};
  if (call.policy == nullptr) return absl::UnavailableError("OpenCase: no policy in force");
  const Policy& policy = *call.policy;
  const absl::TimeZone zone = PolicyZone();

  v1::Case draft;
  draft.set_purpose_id(request.purpose_id());
  draft.set_title(request.title());
  draft.set_goal(request.goal());
  *draft.mutable_selection_grounds() = request.selection_grounds();
  draft.set_director_org_id(call.org);
  draft.set_director_user_id(request.actor().user_id());
  *draft.mutable_partner_org_ids() = request.partner_org_ids();
  if (request.has_ends_at()) *draft.mutable_ends_at() = request.ends_at();
  draft.set_external_reference(request.external_reference());
  call.current = Loggable(draft);  // a refusal logs the case as asked
  auto invalid = [&](std::vector<v1::FieldProblem> problems) {
    const v1::DenialReason reason = ReasonFor(problems);
    absl::Status error = Invalid("OpenCase", problems);
    return Refuse(call, std::move(error), reason, std::move(problems));
  };

  if (request.actor().role() != v1::ROLE_DIRECTOR) {
    return Refuse(
        call,
        absl::PermissionDeniedError(StrCat("OpenCase: role ", RoleNameOf(request.actor().role()),
                                           " may not open cases; director required")),
        v1::DENIAL_REASON_ROLE_NOT_ALLOWED);
  }
  if (request.purpose_id().empty()) {
    return invalid({Problem("purpose_id", "missing", "a purpose id of the policy")});
  }
  const Purpose* purpose = policy.Find(request.purpose_id());
  if (purpose == nullptr) {
    return Refuse(
        call,
        absl::NotFoundError("OpenCase: no purpose with this purpose_id in the policy in force"),
        v1::DENIAL_REASON_PURPOSE_UNKNOWN);
  }
  if (!purpose->InForce(absl::ToCivilDay(call.now, zone))) {
    return Refuse(call,
                  absl::FailedPreconditionError("OpenCase: the purpose is not in force today"),
                  v1::DENIAL_REASON_PURPOSE_NOT_IN_FORCE);
  }
  if (purpose->case_director_org_ids.empty()) {
    return Refuse(
        call,
        absl::FailedPreconditionError(
            "OpenCase: the purpose has no case directors; no organisation may open cases for it"),
        v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);
  }
  if (!purpose->MayDirectCases(call.org)) {
    return Refuse(call,
                  absl::PermissionDeniedError(
                      "OpenCase: the organisation may not open cases for this purpose "
                      "(not among its case_director_org_ids)"),
                  v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);
  }
  if (request.request_id().size() != kRequestIdSize) {
    return invalid({Problem("request_id", StrCat(request.request_id().size(), " bytes"),
                            "exactly 16 random bytes")});
  }

  // A retry of a request that opened a case returns that case. The
  // fingerprint covers the whole request and the caller's organisation.
  auto encoded = canonical::Encode(request);
  if (!encoded.ok()) {
    // Only a time finer than milliseconds cannot be encoded.
    return invalid(
        {Problem("ends_at", "not a whole number of milliseconds", "whole milliseconds")});
  }
  crypto::Bytes fingerprint_input = canonical::EncodeString(call.org);
  fingerprint_input.insert(fingerprint_input.end(), encoded->begin(), encoded->end());
  const crypto::Blake2b256Digest digest = crypto::Blake2b256Hash(fingerprint_input);
  const std::string fingerprint(digest.begin(), digest.end());
  auto replay = cases_->FindRequest(request.request_id(), fingerprint);
  if (!replay.ok()) {
    if (absl::IsAlreadyExists(replay.status())) {
      std::vector<v1::FieldProblem> problems{
          Problem("request_id", "already used for a different request", "a new random request_id")};
      return Refuse(call, absl::AlreadyExistsError(StrCat("OpenCase: ", ProblemsMessage(problems))),
                    v1::DENIAL_REASON_MALFORMED_REQUEST, problems);
    }
    return replay.status();
  }

  if (!replay->has_value()) {
    std::vector<v1::FieldProblem> problems;
    CheckText(problems, "title", request.title(), kMaxTitleChars);
    CheckText(problems, "goal", request.goal(), kMaxGoalChars);
    CheckGrounds(problems, "selection_grounds", request.selection_grounds());
    CheckEndsAt(problems, "ends_at", draft, request.has_ends_at(), *purpose, call.now, zone);
    CheckPartners(problems, "partner_org_ids", request.partner_org_ids(), *purpose, *directory);
    if (const size_t n = Utf8Chars(request.external_reference()); n > kMaxExternalReferenceChars) {
      problems.push_back(
          Problem("external_reference", StrCat(n, " characters"), "at most 64 characters"));
    }
    if (!problems.empty()) return invalid(std::move(problems));
  }

  auto opened =
      cases_->OpenCase(draft, request.request_id(), fingerprint, call.now, LoggedCommit(call, ""));
  if (!opened.ok()) return opened.status();

  v1::OpenCaseResponse response;
  *response.mutable_case_info() = opened->case_info;
  if (opened->replayed && opened->log_sequence != 0) {
    // The receipt of the entry that opened it, as the first response had.
    auto entries = log_->Read(opened->log_sequence, 1);
    if (!entries.ok()) return entries.status();
    if (!entries->empty() && entries->front().sequence() == opened->log_sequence) {
      const v1::LogEntry& e = entries->front();
      ExchangeLog::Appended a{e.sequence(), {}, {}};
      std::copy_n(e.record_hash().begin(), std::min(e.record_hash().size(), a.record_hash.size()),
                  a.record_hash.begin());
      std::copy_n(e.entry_hash().begin(), std::min(e.entry_hash().size(), a.entry_hash.size()),
                  a.entry_hash.begin());
      call.appended = a;
    }
  }
  if (absl::Status s = AddReceipt(call, *response.mutable_receipts()); !s.ok()) return s;
  return response;
}

absl::StatusOr<v1::UpdateCaseResponse> CasesService::Update(std::string_view caller_org,
                                                            const v1::UpdateCaseRequest& request,
                                                            std::shared_ptr<const Directory> directory) {
  if (directory == nullptr) directory = current_directory_();
  Call call{now_(),
            current_policy_(),
            std::string(caller_org),
            request.actor(),
            v1::RECORD_KIND_CASE_UPDATED,
            "UpdateCase",
            AsAsked(request.case_id()),
            "",
            {},
            {}};
  if (call.policy == nullptr) return absl::UnavailableError("UpdateCase: no policy in force");
  if (absl::Status s = FindOwnCase(call, "change"); !s.ok()) return s;
  const Purpose* purpose = call.policy->Find(call.current->purpose_id());
  if (call.current->state() != v1::CASE_STATE_OPEN) {
    return Refuse(
        call,
        absl::FailedPreconditionError(
            StrCat("UpdateCase: the case is ",
                   call.current->state() == v1::CASE_STATE_EXPIRED ? "past its end date" : "closed",
                   "; only an open case can be changed")),
        v1::DENIAL_REASON_CASE_NOT_OPEN);
  }

  // The mask, then the values it names.
  std::vector<v1::FieldProblem> problems;
  static const std::set<std::string, std::less<>> kPaths = {"title", "ends_at", "selection_grounds",
                                                            "partner_org_ids"};
  std::set<std::string, std::less<>> paths;
  const auto& mask = request.update_mask().paths();
  if (mask.empty()) {
    problems.push_back(
        Problem("update_mask.paths", "empty",
                "one or more of title, ends_at, selection_grounds, partner_org_ids"));
  }
  for (int i = 0; i < mask.size(); ++i) {
    const std::string field = StrCat("update_mask.paths[", i, "]");
    if (!kPaths.contains(mask[i])) {
      problems.push_back(Problem(field, "not a path that can change",
                                 "title, ends_at, selection_grounds, partner_org_ids"));
    } else if (!paths.insert(mask[i]).second) {
      problems.push_back(Problem(field, "named twice", "each path once"));
    }
  }
  CheckText(problems, "reason", request.reason(), kMaxReasonChars);
  const v1::Case& asked = request.case_info();
  if (paths.contains("title"))
    CheckText(problems, "case_info.title", asked.title(), kMaxTitleChars);
  if (paths.contains("selection_grounds")) {
    CheckGrounds(problems, "case_info.selection_grounds", asked.selection_grounds());
  }
  if ((paths.contains("ends_at") || paths.contains("partner_org_ids")) && purpose == nullptr) {
    return Refuse(call,
                  absl::FailedPreconditionError(
                      "UpdateCase: the case's purpose is no longer in the policy in force; its end "
                      "date and partners cannot change"),
                  v1::DENIAL_REASON_PURPOSE_UNKNOWN);
  }
  if (paths.contains("ends_at")) {
    CheckEndsAt(problems, "case_info.ends_at", asked, asked.has_ends_at(), *purpose, call.now,
                PolicyZone());
  }
  if (paths.contains("partner_org_ids")) {
    CheckPartners(problems, "case_info.partner_org_ids", asked.partner_org_ids(), *purpose,
                  *directory);
  }
  if (!problems.empty()) {
    const v1::DenialReason reason = ReasonFor(problems);
    absl::Status error = Invalid("UpdateCase", problems);
    return Refuse(call, std::move(error), reason, std::move(problems));
  }

  std::string changed;
  for (const std::string& p : paths) changed += changed.empty() ? p : StrCat(", ", p);
  auto change = [&](v1::Case& c) {
    if (paths.contains("title")) c.set_title(asked.title());
    if (paths.contains("ends_at")) *c.mutable_ends_at() = asked.ends_at();
    if (paths.contains("selection_grounds"))
      *c.mutable_selection_grounds() = asked.selection_grounds();
    if (paths.contains("partner_org_ids")) *c.mutable_partner_org_ids() = asked.partner_org_ids();
    return absl::OkStatus();
  };
  auto updated =
      cases_->Update(request.case_id(), change, call.now,
                     LoggedCommit(call, StrCat("changed ", changed, ": ", request.reason())));
  if (!updated.ok()) {
    if (absl::IsFailedPrecondition(updated.status())) {  // closed or expired meanwhile
      return Refuse(call, updated.status(), v1::DENIAL_REASON_CASE_NOT_OPEN);
    }
    return updated.status();
  }
  v1::UpdateCaseResponse response;
  *response.mutable_case_info() = *updated;
  if (absl::Status s = AddReceipt(call, *response.mutable_receipts()); !s.ok()) return s;
  return response;
}

absl::StatusOr<v1::CloseCaseResponse> CasesService::Close(std::string_view caller_org,
                                                          const v1::CloseCaseRequest& request) {
  Call call{now_(),
            current_policy_(),
            std::string(caller_org),
            request.actor(),
            v1::RECORD_KIND_CASE_CLOSED,
            "CloseCase",
            AsAsked(request.case_id()),
            "",
            {},
            {}};
  if (call.policy == nullptr) return absl::UnavailableError("CloseCase: no policy in force");
  if (absl::Status s = FindOwnCase(call, "close"); !s.ok()) return s;
  std::vector<v1::FieldProblem> problems;
  CheckText(problems, "reason", request.reason(), kMaxReasonChars);
  if (!problems.empty()) {
    absl::Status error = Invalid("CloseCase", problems);
    return Refuse(call, std::move(error), v1::DENIAL_REASON_MALFORMED_REQUEST,
                  std::move(problems));
  }
  if (call.current->state() != v1::CASE_STATE_OPEN) {
    return Refuse(call,
                  absl::FailedPreconditionError(StrCat(
                      "CloseCase: the case is already ",
                      call.current->state() == v1::CASE_STATE_EXPIRED ? "expired" : "closed")),
                  v1::DENIAL_REASON_CASE_NOT_OPEN);
  }
  auto closed =
      cases_->Close(request.case_id(), request.reason(), call.now, LoggedCommit(call, ""));
  if (!closed.ok()) {
    if (absl::IsFailedPrecondition(closed.status())) {  // closed or expired meanwhile
      return Refuse(call, closed.status(), v1::DENIAL_REASON_CASE_NOT_OPEN);
    }
    return closed.status();
  }
  v1::CloseCaseResponse response;
  *response.mutable_case_info() = *closed;
  if (absl::Status s = AddReceipt(call, *response.mutable_receipts()); !s.ok()) return s;
  return response;
}

absl::StatusOr<v1::GetCaseResponse> CasesService::Get(std::string_view caller_org,
                                                      const v1::GetCaseRequest& request) const {
  const std::shared_ptr<const Policy> policy = current_policy_();
  if (policy == nullptr) return absl::UnavailableError("GetCase: no policy in force");
  auto not_found = [] {
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_CASE_NOT_FOUND);
    return rpc::WithErrorDetail(absl::NotFoundError("GetCase: no such case"), detail);
  };
  if (!IsValidCaseId(request.case_id())) return not_found();
  auto c = cases_->Get(request.case_id(), now_());
  if (absl::IsNotFound(c.status())) return not_found();
  if (!c.ok()) return c.status();
  if (!MaySee(*c, policy->Find(c->purpose_id()), *policy, caller_org, request.actor().role())) {
    return not_found();
  }
  v1::GetCaseResponse response;
  *response.mutable_case_info() = *std::move(c);
  return response;
}

absl::StatusOr<v1::ListCasesResponse> CasesService::List(
    std::string_view caller_org, const v1::ListCasesRequest& request) const {
  const std::shared_ptr<const Policy> policy = current_policy_();
  if (policy == nullptr) return absl::UnavailableError("ListCases: no policy in force");
  std::vector<v1::FieldProblem> problems;
  if (request.page_size() > kMaxPageSize) {
    problems.push_back(Problem("page_size", StrCat(request.page_size()), "0 (100) to 1000"));
  }
  for (int i = 0; i < request.states_size(); ++i) {
    if (request.states(i) == v1::CASE_STATE_UNSPECIFIED ||
        !v1::CaseState_IsValid(request.states(i))) {
      problems.push_back(
          Problem(StrCat("states[", i, "]"), "not a case state", "OPEN, CLOSED, EXPIRED"));
    }
  }
  if (!problems.empty()) {
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_MALFORMED_REQUEST);
    for (const auto& p : problems) *detail.add_problems() = p;
    return rpc::WithErrorDetail(Invalid("ListCases", problems), detail);
  }
  const std::set<std::string, std::less<>> purposes(request.purpose_ids().begin(),
                                                    request.purpose_ids().end());
  const std::set<int> states(request.states().begin(), request.states().end());
  const v1::Role role = request.actor().role();
  auto keep = [&](const v1::Case& c) {
    if (!purposes.empty() && !purposes.contains(c.purpose_id())) return false;
    if (!states.empty() && !states.contains(c.state())) return false;
    return MaySee(c, policy->Find(c.purpose_id()), *policy, caller_org, role);
  };
  auto page = cases_->List(keep, request.page_size() == 0 ? kDefaultPageSize : request.page_size(),
                           request.page_token(), now_());
  if (!page.ok()) return page.status();
  v1::ListCasesResponse response;
  for (v1::Case& c : page->cases) *response.add_cases() = std::move(c);
  response.set_next_page_token(page->next_page_token);
  return response;
}

absl::StatusOr<size_t> CasesService::RecordExpiries() {
  const absl::Time now = now_();
  const std::shared_ptr<const Policy> policy = current_policy_();
  auto commit = [&](const v1::Case& after,
                    const ExchangeLog::WithEntry& writes) -> absl::StatusOr<uint64_t> {
    v1::LogRecord record = NewLogRecord(v1::RECORD_KIND_CASE_CLOSED, now, policy.get(),
                                        after.purpose_id(), "", v1::Actor());
    record.set_case_id(after.case_id());
    record.set_outcome(v1::OUTCOME_EXPIRED);
    record.set_detail("passed its end date without being closed");
    *record.mutable_case_info() = after;
    auto a = log_->Append(record, writes);
    if (!a.ok()) return a.status();
    return a->sequence;
  };
  auto expired = cases_->ExpireDue(now, commit);
  if (!expired.ok()) return expired.status();
  return expired->size();
}

absl::StatusOr<std::string> CasesService::Caller(grpc::ServerContext* context, v1::RecordKind kind,
                                                 const v1::Actor& actor, std::string_view case_id,
                                                 const Directory& directory) {
  const std::shared_ptr<const Policy> policy = current_policy_();
  v1::LogRecord refusal = NewLogRecord(kind, now_(), policy.get(), "", "", actor);
  refusal.set_case_id(AsAsked(case_id));
  return IdentifyCaller(directory, *context, *log_, std::move(refusal));
}

grpc::Status CasesService::OpenCase(grpc::ServerContext* context,
                                    const v1::OpenCaseRequest* request,
                                    v1::OpenCaseResponse* response) {
  const std::shared_ptr<const Directory> directory = current_directory_();
  return AnswerUnary(Caller(context, v1::RECORD_KIND_CASE_OPENED, request->actor(), "", *directory),
                     response, [&](const std::string& org) { return Open(org, *request, directory); });
}

grpc::Status CasesService::UpdateCase(grpc::ServerContext* context,
                                      const v1::UpdateCaseRequest* request,
                                      v1::UpdateCaseResponse* response) {
  const std::shared_ptr<const Directory> directory = current_directory_();
  return AnswerUnary(
      Caller(context, v1::RECORD_KIND_CASE_UPDATED, request->actor(), request->case_id(), *directory),
      response, [&](const std::string& org) { return Update(org, *request, directory); });
}

grpc::Status CasesService::CloseCase(grpc::ServerContext* context,
                                     const v1::CloseCaseRequest* request,
                                     v1::CloseCaseResponse* response) {
  return AnswerUnary(
      Caller(context, v1::RECORD_KIND_CASE_CLOSED, request->actor(), request->case_id(),
             *current_directory_()),
      response, [&](const std::string& org) { return Close(org, *request); });
}

// Reads are not logged (RECORD_KIND_UNSPECIFIED), refusals included.
grpc::Status CasesService::GetCase(grpc::ServerContext* context, const v1::GetCaseRequest* request,
                                   v1::GetCaseResponse* response) {
  return AnswerUnary(Caller(context, v1::RECORD_KIND_UNSPECIFIED, request->actor(), "", *current_directory_()),
                     response,
                     [&](const std::string& org) { return Get(org, *request); });
}

grpc::Status CasesService::ListCases(grpc::ServerContext* context,
                                     const v1::ListCasesRequest* request,
                                     v1::ListCasesResponse* response) {
  return AnswerUnary(Caller(context, v1::RECORD_KIND_UNSPECIFIED, request->actor(), "", *current_directory_()),
                     response,
                     [&](const std::string& org) { return List(org, *request); });
}

}  // namespace schakel::gateway
