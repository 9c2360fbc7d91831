#include "gateway/gateway_service.h"

#include <algorithm>
#include <latch>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "crypto/pseudonym.h"
#include "crypto/random.h"
#include "crypto/ristretto.h"
#include "gateway/service_records.h"
#include "proto/canonical.h"
#include "rpc/channel.h"
#include "rpc/deadline.h"
#include "rpc/status.h"

namespace schakel::gateway {
namespace {

constexpr size_t kIdSize = 16;
// TagIndex::Apply's limit (gateway.proto, PublishIndex).
constexpr uint32_t kMaxChangesPerBatch = 65536;
// The node's batch limit (node.proto, Evaluate).
constexpr size_t kMaxElementsPerExchange = 65535;
// At most this many field problems are returned and logged for one request.
constexpr size_t kMaxProblems = 100;
// Part of the caller's remaining deadline kept back for logging and
// answering after the fan-out.
constexpr absl::Duration kMinDeadlineMargin = absl::Milliseconds(250);

std::string RandomId() {
  std::string id(kIdSize, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(id.data()), id.size()));
  return id;
}

std::string Hex(std::string_view bytes) { return crypto::ToHex(crypto::AsBytes(bytes)); }

std::string DigestString(const canonical::DigestBytes& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

absl::Time WholeMillis(absl::Time t) { return absl::FromUnixMillis(absl::ToUnixMillis(t)); }

void SetTime(google::protobuf::Timestamp* out, absl::Time t) { SetMillis(out, absl::ToUnixMillis(t)); }

void SetDuration(google::protobuf::Duration* out, absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
}

bool ValidUserId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

bool ValidCaseId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

bool ValidRole(v1::Role role) { return v1::Role_IsValid(role) && role != v1::ROLE_UNSPECIFIED; }

// The actor as it may be logged: a user id that is not one is left out.
v1::Actor LoggableActor(const v1::Actor& actor) {
  v1::Actor out;
  if (ValidUserId(actor.user_id())) out.set_user_id(actor.user_id());
  out.set_role(ValidRole(actor.role()) ? actor.role() : v1::ROLE_UNSPECIFIED);
  return out;
}

void CheckActor(bool has_actor, const v1::Actor& actor, std::vector<v1::FieldProblem>& problems) {
  if (!has_actor) {
    problems.push_back(Problem("actor", "missing", "the user and role the request is made for"));
    return;
  }
  if (!ValidUserId(actor.user_id())) {
    problems.push_back(Problem("actor.user_id", actor.user_id().empty() ? "empty" : "not a user id",
                               "1 to 64 characters of a-z, 0-9, '.', '_' and '-'"));
  }
  if (!ValidRole(actor.role())) {
    problems.push_back(Problem("actor.role", "not set", "the role the user acts in, e.g. analyst"));
  }
}

absl::StatusCode CodeFor(v1::DenialReason reason) {
  switch (reason) {
    case v1::DENIAL_REASON_PURPOSE_UNKNOWN:
    case v1::DENIAL_REASON_CASE_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case v1::DENIAL_REASON_PURPOSE_NOT_IN_FORCE:
    case v1::DENIAL_REASON_CASE_NOT_OPEN:
    case v1::DENIAL_REASON_CASE_PURPOSE_MISMATCH:
      return absl::StatusCode::kFailedPrecondition;
    case v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED:
    case v1::DENIAL_REASON_ROLE_NOT_ALLOWED:
    case v1::DENIAL_REASON_NO_PERMITTED_PARTNER:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInvalidArgument;
  }
}

// A node's refusal reason from its ErrorDetail, or a default by code.
v1::DenialReason NodeReason(const absl::Status& status) {
  if (auto detail = rpc::ErrorDetailOf(status);
      detail.has_value() && detail->reason() != v1::DENIAL_REASON_UNSPECIFIED) {
    return detail->reason();
  }
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted: return v1::DENIAL_REASON_QUOTA_EXCEEDED;
    case absl::StatusCode::kAlreadyExists: return v1::DENIAL_REASON_AUTHORISATION_REPLAYED;
    case absl::StatusCode::kFailedPrecondition: return v1::DENIAL_REASON_AUTHORISATION_EXPIRED;
    default: return v1::DENIAL_REASON_NODE_POLICY;
  }
}

std::string FormatMs(absl::Duration d) { return StrCat(absl::ToInt64Milliseconds(d), " ms"); }

// Element index ranges of the subjects: subject i has elements
// [offsets[i], offsets[i + 1]).
std::vector<size_t> ElementOffsets(const v1::OpenExchangeRequest& shape) {
  std::vector<size_t> offsets{0};
  for (const v1::BlindedSubject& s : shape.subjects()) {
    offsets.push_back(offsets.back() + static_cast<size_t>(s.keys_size()));
  }
  return offsets;
}

}  // namespace

// A refusal being built: what is logged, and what the caller gets back.
struct GatewayService::Refusal {
  std::string method;
  v1::LogRecord record;
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  v1::DenialReason reason = v1::DENIAL_REASON_MALFORMED_REQUEST;
  std::string message;
  std::vector<v1::FieldProblem> problems;
  std::optional<absl::Duration> retry_after;
  std::string recipient;  // who the receipt is issued to

  Refusal& With(absl::StatusCode c, v1::DenialReason r, std::string m) {
    code = c;
    reason = r;
    message = std::move(m);
    return *this;
  }
};

// One partner asked in an exchange.
struct GatewayService::Fanout {
  struct Call {
    const DirectoryOrg* org = nullptr;
    std::shared_ptr<v1::Node::Stub> stub;
    v1::EvaluateRequest request;
    v1::EvaluateResponse response;
    grpc::ClientContext context;
    grpc::Status status;
    absl::Time started;
    absl::Time finished;
  };
  std::vector<std::unique_ptr<Call>> calls;
};

GatewayService::GatewayService(Parts parts, Options options)
    : parts_(std::move(parts)), options_(std::move(options)) {}

GatewayService::~GatewayService() {
  std::unique_lock lock(workers_mu_);
  workers_cv_.wait(lock, [&] { return workers_ == 0; });
}

absl::Time GatewayService::Now() const { return WholeMillis(options_.now()); }

void GatewayService::LogLine(std::string_view line) const {
  if (options_.log_line) options_.log_line(line);
}

void GatewayService::Appended() const {
  if (options_.on_appended) options_.on_appended();
}

grpc::Status GatewayService::Finish(std::string_view method, const absl::Status& status) const {
  if (!status.ok() && status.code() != absl::StatusCode::kUnauthenticated) {
    // Refusals are reported where they are logged; this covers the rest.
    const auto detail = rpc::ErrorDetailOf(status);
    if (!detail.has_value()) {
      LogLine(StrCat(method, " failed: ", absl::StatusCodeToString(status.code()), ": ",
                     status.message()));
    }
  }
  return rpc::ToGrpcStatus(status);
}

absl::Status GatewayService::Refuse(Refusal& r) const {
  if (r.message.empty()) r.message = ProblemsMessage(r.problems);
  if (r.problems.size() > kMaxProblems) r.problems.resize(kMaxProblems);
  r.record.set_outcome(v1::OUTCOME_REFUSED);
  r.record.clear_denial_reasons();
  r.record.add_denial_reasons(r.reason);
  r.record.set_detail(TruncateUtf8(r.message, kMaxLogDetailChars));
  auto appended = parts_.log->Append(r.record);
  if (!appended.ok()) {
    LogLine(StrCat(r.method, ": a refusal (", v1::DenialReason_Name(r.reason),
                   ") could not be logged: ", appended.status().message()));
    return absl::UnavailableError(
        StrCat("the exchange log could not be written (", appended.status().message(),
               "); nothing was done; retry later"));
  }
  Appended();
  LogLine(StrCat("refused ", r.method, r.recipient.empty() ? "" : StrCat(" from ", r.recipient), ": ",
                 absl::StatusCodeToString(r.code), " ", v1::DenialReason_Name(r.reason), ": ",
                 r.message));
  v1::ErrorDetail detail;
  detail.set_reason(r.reason);
  for (v1::FieldProblem& p : r.problems) *detail.add_problems() = std::move(p);
  if (r.retry_after.has_value()) SetDuration(detail.mutable_retry_after(), *r.retry_after);
  if (!r.recipient.empty()) {
    auto receipt = parts_.receipts->Issue(*appended, r.recipient, r.record.exchange_id());
    if (receipt.ok()) *detail.mutable_receipt() = *std::move(receipt);
  }
  return rpc::WithErrorDetail(absl::Status(r.code, r.message), detail);
}

absl::StatusOr<v1::Receipt> GatewayService::ReissueReceipt(uint64_t sequence,
                                                           std::string_view recipient,
                                                           std::string_view exchange_id) const {
  auto entries = parts_.log->Read(sequence, 1);
  if (!entries.ok()) return entries.status();
  if (entries->empty() || (*entries)[0].sequence() != sequence ||
      (*entries)[0].entry_hash().size() != canonical::kDigestSize) {
    return absl::DataLossError(StrCat("exchange log: entry ", sequence, " is missing"));
  }
  ExchangeLog::Appended appended{};
  appended.sequence = sequence;
  const std::string& hash = (*entries)[0].entry_hash();
  std::copy(hash.begin(), hash.end(), appended.entry_hash.begin());
  return parts_.receipts->Issue(appended, recipient, exchange_id);
}

std::shared_ptr<v1::Node::Stub> GatewayService::NodeStub(const DirectoryOrg& org) {
  if (org.endpoint.empty() || options_.node_credentials == nullptr) return nullptr;
  std::lock_guard lock(stubs_mu_);
  auto& [endpoint, stub] = stubs_[org.org_id];
  if (stub == nullptr || endpoint != org.endpoint) {
    auto channel = rpc::CreateChannel(org.endpoint, options_.node_credentials,
                                      options_.node_target_name_override);
    if (!channel.ok()) return nullptr;
    endpoint = org.endpoint;
    stub = std::shared_ptr<v1::Node::Stub>(v1::Node::NewStub(*channel));
  }
  return stub;
}

void GatewayService::Evaluate(Fanout& fanout, absl::Duration partner_deadline) {
  size_t running = 0;
  for (const auto& call : fanout.calls) running += call->stub != nullptr;
  std::latch done(static_cast<std::ptrdiff_t>(running));
  for (const auto& c : fanout.calls) {
    Fanout::Call* call = c.get();
    call->started = absl::Now();
    if (call->stub == nullptr) {
      call->finished = call->started;
      call->status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  call->org->endpoint.empty() ? "no endpoint in the directory"
                                                              : "no channel to its endpoint");
      continue;
    }
    rpc::SetDeadline(call->context, absl::ToChronoMilliseconds(partner_deadline));
    call->stub->async()->Evaluate(&call->context, &call->request, &call->response,
                                  [call, &done](grpc::Status status) {
                                    call->status = std::move(status);
                                    call->finished = absl::Now();
                                    done.count_down();
                                  });
  }
  done.wait();
}

// ---------------------------------------------------------------- OpenExchange

absl::StatusOr<v1::OpenExchangeResponse> GatewayService::OpenExchangeFor(
    std::string_view caller_org, const v1::OpenExchangeRequest& req, absl::Time caller_deadline) {
  const absl::Time now = Now();
  const std::shared_ptr<const Policy> policy = parts_.current_policy();
  const std::string org(caller_org);
  const absl::CivilDay today = absl::ToCivilDay(now, options_.zone);

  size_t element_count = 0;
  for (const v1::BlindedSubject& s : req.subjects()) element_count += static_cast<size_t>(s.keys_size());

  // The record every refusal logs: the request as asked, as far as it can
  // be logged (ids that are not ids are left out).
  Refusal refusal;
  refusal.method = "OpenExchange";
  refusal.recipient = org;
  const bool purpose_syntax_ok = crypto::ValidatePurposeId(req.purpose_id()).ok();
  refusal.record = NewLogRecord(v1::RECORD_KIND_EXCHANGE_REQUESTED, now, policy.get(),
                                purpose_syntax_ok ? req.purpose_id() : "", org,
                                LoggableActor(req.actor()));
  if (ValidCaseId(req.case_id())) refusal.record.set_case_id(req.case_id());
  refusal.record.mutable_counts()->set_subjects(static_cast<uint32_t>(req.subjects_size()));
  refusal.record.mutable_counts()->set_elements(static_cast<uint32_t>(element_count));
  {
    std::set<std::string> named;
    for (const std::string& t : req.target_org_ids()) {
      if (rpc::IsValidOrgId(t)) named.insert(t);
    }
    for (const std::string& t : named) refusal.record.add_answering_org_ids(t);
  }

  // 2. Shape.
  std::vector<v1::FieldProblem>& problems = refusal.problems;
  if (req.request_id().size() != kIdSize) {
    problems.push_back(Problem("request_id", StrCat(req.request_id().size(), " bytes"),
                               "exactly 16 random bytes"));
  }
  CheckActor(req.has_actor(), req.actor(), problems);
  if (req.purpose_id().empty()) {
    problems.push_back(Problem("purpose_id", "empty", "the id of a purpose of the policy"));
  } else if (!purpose_syntax_ok) {
    problems.push_back(Problem("purpose_id", "not a purpose id",
                               "2 to 63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter"));
  }
  if (!req.case_id().empty() && !ValidCaseId(req.case_id())) {
    problems.push_back(Problem("case_id", "not a case id", "1 to 64 characters of A-Z, a-z, 0-9 and '-'"));
  }
  {
    std::set<std::string> seen;
    for (int i = 0; i < req.target_org_ids_size(); ++i) {
      const std::string& t = req.target_org_ids(i);
      const std::string field = StrCat("target_org_ids[", i, "]");
      if (!rpc::IsValidOrgId(t)) {
        problems.push_back(Problem(field, "not an organisation id",
                                   "2 to 63 characters of a-z, 0-9 and '-', starting with a letter"));
      } else if (!seen.insert(t).second) {
        problems.push_back(Problem(field, "repeats an earlier target", "each partner once"));
      }
    }
  }
  if (req.subjects().empty()) {
    problems.push_back(Problem("subjects", "no subject", "1 or more blinded subjects"));
  }
  if (!problems.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_MALFORMED_REQUEST, ""));
  }

  // Idempotency: one request at a time per request id, then the stored one.
  auto in_flight = parts_.exchanges->Begin(org, req.request_id());
  if (!in_flight.ok()) {
    v1::ErrorDetail detail;
    SetDuration(detail.mutable_retry_after(), absl::Seconds(1));
    return rpc::WithErrorDetail(in_flight.status(), detail);
  }
  const canonical::DigestBytes request_digest = Fingerprint(req);
  auto previous = parts_.exchanges->FindRequest(org, req.request_id(), request_digest);
  if (!previous.ok()) {
    if (previous.status().code() == absl::StatusCode::kAlreadyExists) {
      return Refuse(refusal.With(absl::StatusCode::kAlreadyExists, v1::DENIAL_REASON_MALFORMED_REQUEST,
                                 std::string(previous.status().message())));
    }
    return previous.status();
  }
  if (previous->has_value()) {
    const StoredExchange& stored = **previous;
    v1::OpenExchangeResponse response = stored.response;
    for (uint64_t sequence : {stored.requested_sequence, stored.evaluated_sequence}) {
      auto receipt = ReissueReceipt(sequence, org, stored.exchange_id);
      if (!receipt.ok()) return receipt.status();
      *response.add_receipts() = *std::move(receipt);
    }
    return response;
  }

  // 3. Purpose, organisation, role.
  if (policy == nullptr) return absl::UnavailableError("no policy is in force");
  const AskDecision ask = policy->MayAsk(req.purpose_id(), org, req.actor().role(), today);
  if (!ask.allowed()) return Refuse(refusal.With(CodeFor(ask.reason), ask.reason, ask.message));
  const Purpose& purpose = *policy->Find(req.purpose_id());

  // 4. Case.
  std::optional<v1::Case> the_case;
  if (req.case_id().empty()) {
    if (purpose.case_required) {
      problems.push_back(Problem("case_id", "empty", "an open case of this purpose (the purpose requires one)"));
      return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_CASE_REQUIRED,
                                 "case_id: this purpose requires an open case; none was named"));
    }
  } else {
    if (parts_.cases == nullptr) return absl::UnavailableError("cases are not available");
    auto found = parts_.cases->Get(req.case_id(), now);
    if (!found.ok()) {
      if (found.status().code() == absl::StatusCode::kNotFound) {
        return Refuse(refusal.With(absl::StatusCode::kNotFound, v1::DENIAL_REASON_CASE_NOT_FOUND,
                                   "case_id: no case with this id"));
      }
      return found.status();
    }
    if (found->purpose_id() != purpose.purpose_id) {
      return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition,
                                 v1::DENIAL_REASON_CASE_PURPOSE_MISMATCH,
                                 "case_id: the case belongs to another purpose"));
    }
    if (EffectiveState(*found, now) != v1::CASE_STATE_OPEN) {
      return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_CASE_NOT_OPEN,
                                 EffectiveState(*found, now) == v1::CASE_STATE_EXPIRED
                                     ? "case_id: the case has passed its end date"
                                     : "case_id: the case is closed"));
    }
    the_case = *std::move(found);
  }

  // 5. Partners.
  const std::vector<std::string> named(req.target_org_ids().begin(), req.target_org_ids().end());
  const PartnerSelection selection = purpose.AnsweringOrgs(org, named);
  std::map<std::string, std::string> refused;  // org -> why, reported REFUSED_BY_POLICY
  for (const std::string& r : selection.refused) {
    refused[r] = r == org ? "the requester itself is not asked" : "may not answer under this purpose";
  }
  std::vector<const DirectoryOrg*> forward;
  for (const std::string& p : selection.permitted) {
    std::string why;
    if (the_case.has_value() && !the_case->partner_org_ids().empty() &&
        std::find(the_case->partner_org_ids().begin(), the_case->partner_org_ids().end(), p) ==
            the_case->partner_org_ids().end()) {
      why = "not a partner of the case";
    } else if (parts_.directory->FindActive(p) == nullptr) {
      why = "not an active organisation in the directory";
    }
    if (why.empty()) {
      forward.push_back(parts_.directory->FindActive(p));
    } else if (!named.empty()) {
      refused[p] = std::move(why);  // named partners are reported; the default set just narrows
    }
  }
  if (forward.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kPermissionDenied, v1::DENIAL_REASON_NO_PERMITTED_PARTNER,
                               named.empty() ? "no partner may be asked under this purpose and case"
                                             : "none of the named partners may be asked under this purpose and case"));
  }
  std::sort(forward.begin(), forward.end(),
            [](const DirectoryOrg* a, const DirectoryOrg* b) { return a->org_id < b->org_id; });

  // 6. Limits and elements.
  const uint32_t subject_count = static_cast<uint32_t>(req.subjects_size());
  if (subject_count > purpose.max_subjects_per_exchange) {
    problems.push_back(Problem("subjects", StrCat(subject_count, " subjects"),
                               StrCat("at most ", purpose.max_subjects_per_exchange, " for this purpose")));
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_TOO_MANY_SUBJECTS, ""));
  }
  if (element_count > kMaxElementsPerExchange) {
    problems.push_back(Problem("subjects", StrCat(element_count, " keys in all"),
                               StrCat("at most ", kMaxElementsPerExchange, " keys in one exchange")));
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_TOO_MANY_SUBJECTS, ""));
  }
  bool too_many_keys = false;
  std::string allowed_types;
  for (v1::MatchKeyType t : purpose.key_types) {
    allowed_types += StrCat(allowed_types.empty() ? "" : ", ", KeyTypeName(t));
  }
  for (uint32_t i = 0; i < subject_count && problems.size() < kMaxProblems; ++i) {
    const v1::BlindedSubject& s = req.subjects(static_cast<int>(i));
    const std::string field = StrCat("subjects[", i, "]");
    if (s.keys().empty()) {
      problems.push_back(Problem(StrCat(field, ".keys"), "no key",
                                 StrCat("1 to ", purpose.max_keys_per_subject, " keys")));
    } else if (static_cast<uint32_t>(s.keys_size()) > purpose.max_keys_per_subject) {
      too_many_keys = true;
      problems.push_back(Problem(StrCat(field, ".keys"), StrCat(s.keys_size(), " keys"),
                                 StrCat("at most ", purpose.max_keys_per_subject, " per subject for this purpose")));
    }
    if (s.family() > subject_count) {
      problems.push_back(Problem(StrCat(field, ".family"), StrCat("family number ", s.family()),
                                 StrCat("0 (none) or 1 to ", subject_count, " (the number of subjects)")));
    }
    if (!v1::Relation_IsValid(s.relation())) {
      problems.push_back(Problem(StrCat(field, ".relation"), "not a relation", "a Relation value"));
    } else if (s.family() == 0 && s.relation() != v1::RELATION_UNSPECIFIED) {
      problems.push_back(Problem(StrCat(field, ".relation"), "set without a family",
                                 "unspecified when family is 0"));
    }
    for (int j = 0; j < s.keys_size() && problems.size() < kMaxProblems; ++j) {
      const v1::BlindedKey& k = s.keys(j);
      const std::string key_field = StrCat(field, ".keys[", j, "]");
      if (!v1::MatchKeyType_IsValid(k.key_type()) || k.key_type() == v1::MATCH_KEY_TYPE_UNSPECIFIED) {
        problems.push_back(Problem(StrCat(key_field, ".key_type"), "not set", StrCat("one of: ", allowed_types)));
      } else if (!purpose.AllowsKeyType(k.key_type())) {
        problems.push_back(Problem(StrCat(key_field, ".key_type"),
                                   StrCat(KeyTypeName(k.key_type()), " is not allowed under this purpose"),
                                   StrCat("one of: ", allowed_types)));
      }
      const std::string element_field = StrCat(key_field, ".blinded_element");
      auto element = crypto::Element::FromBytes(crypto::AsBytes(k.blinded_element()), element_field);
      if (!element.ok()) {
        std::string problem(element.status().message());
        if (problem.starts_with(element_field + ": ")) problem.erase(0, element_field.size() + 2);
        problems.push_back(Problem(element_field, problem,
                                   "32 bytes, a canonical ristretto255 encoding of a point that is not the identity"));
      }
    }
  }
  if (!problems.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument,
                               too_many_keys ? v1::DENIAL_REASON_TOO_MANY_SUBJECTS
                                             : v1::DENIAL_REASON_MALFORMED_REQUEST,
                               ""));
  }

  // 7. Quota.
  const std::string exchange_id = RandomId();
  auto reservation = parts_.quota->Reserve(
      org, purpose.purpose_id, subject_count,
      QuotaBook::Limits{purpose.daily_exchange_quota, purpose.daily_subject_quota}, exchange_id, now);
  if (!reservation.ok()) {
    if (auto detail = rpc::ErrorDetailOf(reservation.status()); detail && detail->has_retry_after()) {
      refusal.retry_after = absl::Seconds(detail->retry_after().seconds()) +
                            absl::Nanoseconds(detail->retry_after().nanos());
    }
    return Refuse(refusal.With(absl::StatusCode::kResourceExhausted, v1::DENIAL_REASON_QUOTA_EXCEEDED,
                               std::string(reservation.status().message())));
  }

  // 8. EXCHANGE_REQUESTED, durably, with the quota count.
  v1::LogRecord requested = refusal.record;
  requested.set_exchange_id(exchange_id);
  requested.clear_answering_org_ids();
  for (const DirectoryOrg* p : forward) requested.add_answering_org_ids(p->org_id);
  requested.set_outcome(v1::OUTCOME_GRANTED);
  requested.set_detail(StrCat("accepted: ", subject_count, " subjects, ", element_count, " keys, ",
                              forward.size(), forward.size() == 1 ? " partner" : " partners", " to ask",
                              refused.empty() ? "" : StrCat("; ", refused.size(), " refused by policy")));
  auto requested_entry = parts_.log->Append(
      requested, [&](uint64_t, store::WriteBatch& batch) { parts_.quota->AddWrites(*reservation, batch); });
  if (!requested_entry.ok()) {
    parts_.quota->Release(*reservation);
    LogLine(StrCat("OpenExchange from ", org, ": not performed, the log could not be written: ",
                   requested_entry.status().message()));
    return absl::UnavailableError(
        "the exchange log could not be written; nothing was forwarded; retry with the same request_id");
  }
  Appended();

  // 9. Fan-out.
  v1::ElementBatch batch;
  for (const v1::BlindedSubject& s : req.subjects()) {
    for (const v1::BlindedKey& k : s.keys()) batch.add_elements(k.blinded_element());
  }
  auto batch_digest = canonical::Digest(canonical::kElementBatchContext, batch);
  if (!batch_digest.ok()) return batch_digest.status();
  Fanout fanout;
  for (const DirectoryOrg* p : forward) {
    auto call = std::make_unique<Fanout::Call>();
    call->org = p;
    v1::AuthorisationPayload payload;
    payload.set_operation(v1::AUTHORISED_OPERATION_EVALUATE);
    payload.set_exchange_id(exchange_id);
    payload.set_requester_org_id(org);
    payload.set_responder_org_id(p->org_id);
    payload.set_purpose_id(purpose.purpose_id);
    payload.set_case_id(req.case_id());
    payload.set_policy_version(policy->version());
    payload.set_subject_count(subject_count);
    payload.set_element_count(static_cast<uint32_t>(element_count));
    payload.set_request_digest(DigestString(*batch_digest));
    auto authorisation = parts_.authoriser->Issue(std::move(payload));
    if (!authorisation.ok()) return authorisation.status();
    *call->request.mutable_authorisation() = *std::move(authorisation);
    *call->request.mutable_blinded_elements() = batch.elements();
    auto receipt = parts_.receipts->Issue(*requested_entry, p->org_id, exchange_id);
    if (!receipt.ok()) return receipt.status();
    *call->request.mutable_receipt() = *std::move(receipt);
    call->stub = NodeStub(*p);
    fanout.calls.push_back(std::move(call));
  }
  const absl::Duration remaining = caller_deadline - absl::Now();
  absl::Duration partner_deadline = options_.partner_deadline;
  if (remaining != absl::InfiniteDuration()) {
    const absl::Duration margin = std::max(kMinDeadlineMargin, remaining / 10);
    partner_deadline = std::max(absl::Milliseconds(1), std::min(partner_deadline, remaining - margin));
  }
  Evaluate(fanout, partner_deadline);

  // Each answer checked; one outcome per targeted partner, in directory order.
  std::map<std::string, v1::PartnerEvaluation> evaluations;
  uint32_t answered = 0;
  std::set<v1::DenialReason> reasons;
  std::string failures;
  for (const auto& call : fanout.calls) {
    v1::PartnerEvaluation e;
    v1::PartnerOutcome& outcome = *e.mutable_outcome();
    outcome.set_org_id(call->org->org_id);
    outcome.set_domain(call->org->domain);
    SetDuration(outcome.mutable_latency(), call->finished - call->started);
    if (call->stub != nullptr) *e.mutable_authorisation() = call->request.authorisation();
    const absl::Status status = rpc::FromGrpcStatus(call->status);
    if (status.ok()) {
      const v1::EvaluateResponse& r = call->response;
      std::string invalid;
      if (static_cast<size_t>(r.evaluated_elements_size()) != element_count) {
        invalid = StrCat(r.evaluated_elements_size(), " evaluated elements for ", element_count, " blinded");
      }
      for (int i = 0; invalid.empty() && i < r.evaluated_elements_size(); ++i) {
        auto element = crypto::Element::FromBytes(crypto::AsBytes(r.evaluated_elements(i)),
                                                  StrCat("evaluated_elements[", i, "]"));
        if (!element.ok()) invalid = std::string(element.status().message());
      }
      if (invalid.empty() && r.proof().size() != 64) invalid = StrCat("proof: ", r.proof().size(), " bytes, expected 64");
      if (invalid.empty()) {
        v1::EvaluationStatement statement;
        auto auth_digest = canonical::Digest(canonical::kAuthorisationContext,
                                             call->request.authorisation().payload());
        if (!auth_digest.ok()) return auth_digest.status();
        statement.set_authorisation_digest(DigestString(*auth_digest));
        statement.set_responder_org_id(call->org->org_id);
        *statement.mutable_evaluated_elements() = r.evaluated_elements();
        statement.set_proof(r.proof());
        const absl::Status signed_ok = parts_.directory->VerifyNodeSignature(
            call->org->org_id, canonical::kEvaluationContext, statement, r.signature(), now);
        if (!signed_ok.ok()) invalid = StrCat("signature: ", signed_ok.message());
      }
      if (invalid.empty()) {
        outcome.set_status(v1::PARTNER_STATUS_OK);
        *e.mutable_evaluated_elements() = r.evaluated_elements();
        e.set_proof(r.proof());
        *e.mutable_node_signature() = r.signature();
        ++answered;
      } else {
        outcome.set_status(v1::PARTNER_STATUS_INVALID_RESPONSE);
        outcome.set_reason(v1::DENIAL_REASON_INVALID_PROOF);
        outcome.set_detail(TruncateUtf8(StrCat("invalid answer: ", invalid), 200));
      }
    } else if (status.code() == absl::StatusCode::kDeadlineExceeded) {
      outcome.set_status(v1::PARTNER_STATUS_TIMED_OUT);
      outcome.set_detail(StrCat("deadline of ", FormatMs(partner_deadline), " passed"));
    } else if (status.code() == absl::StatusCode::kInvalidArgument ||
               status.code() == absl::StatusCode::kPermissionDenied ||
               status.code() == absl::StatusCode::kFailedPrecondition ||
               status.code() == absl::StatusCode::kAlreadyExists ||
               status.code() == absl::StatusCode::kResourceExhausted ||
               status.code() == absl::StatusCode::kUnauthenticated) {
      outcome.set_status(v1::PARTNER_STATUS_REFUSED_BY_NODE);
      outcome.set_reason(NodeReason(status));
      outcome.set_detail(TruncateUtf8(StrCat("node refused (", absl::StatusCodeToString(status.code()),
                                             "): ", status.message()), 200));
    } else {
      outcome.set_status(v1::PARTNER_STATUS_UNAVAILABLE);
      outcome.set_detail(TruncateUtf8(StrCat("could not be reached (", absl::StatusCodeToString(status.code()),
                                             "): ", status.message()), 200));
    }
    if (outcome.status() != v1::PARTNER_STATUS_OK) {
      if (outcome.reason() != v1::DENIAL_REASON_UNSPECIFIED) reasons.insert(outcome.reason());
      failures += StrCat("; ", outcome.org_id(), ": ", v1::PartnerStatus_Name(outcome.status()));
      LogLine(StrCat("exchange ", Hex(exchange_id), ": partner ", outcome.org_id(), " ",
                     v1::PartnerStatus_Name(outcome.status()), ": ", outcome.detail()));
    }
    evaluations[call->org->org_id] = std::move(e);
  }
  for (const auto& [id, why] : refused) {
    v1::PartnerEvaluation e;
    v1::PartnerOutcome& outcome = *e.mutable_outcome();
    outcome.set_org_id(id);
    if (const DirectoryOrg* o = parts_.directory->Find(id)) outcome.set_domain(o->domain);
    outcome.set_status(v1::PARTNER_STATUS_REFUSED_BY_POLICY);
    outcome.set_reason(v1::DENIAL_REASON_PARTNER_NOT_PERMITTED);
    outcome.set_detail(why);
    SetDuration(outcome.mutable_latency(), absl::ZeroDuration());
    reasons.insert(v1::DENIAL_REASON_PARTNER_NOT_PERMITTED);
    failures += StrCat("; ", id, ": REFUSED_BY_POLICY");
    evaluations[id] = std::move(e);
  }

  // 10. EXCHANGE_EVALUATED, with the stored exchange.
  StoredExchange stored;
  stored.exchange_id = exchange_id;
  stored.requester.set_org_id(org);
  stored.requester.set_user_id(req.actor().user_id());
  stored.requester.set_role(req.actor().role());
  stored.shape = req;
  for (v1::BlindedSubject& s : *stored.shape.mutable_subjects()) {
    for (v1::BlindedKey& k : *s.mutable_keys()) k.clear_blinded_element();
  }
  stored.requested_sequence = requested_entry->sequence;
  v1::OpenExchangeResponse& response = stored.response;
  response.set_exchange_id(exchange_id);
  response.set_policy_version(policy->version());
  response.mutable_lawful_basis()->set_reference(purpose.lawful_basis.reference);
  response.mutable_lawful_basis()->set_text(purpose.lawful_basis.text);
  for (auto& [id, e] : evaluations) *response.add_evaluations() = std::move(e);
  SetTime(response.mutable_resolve_by(), now + options_.resolve_window);
  *response.mutable_quota_usage() = ToProto(reservation->after);

  v1::LogRecord evaluated = requested;
  evaluated.set_kind(v1::RECORD_KIND_EXCHANGE_EVALUATED);
  SetTime(evaluated.mutable_recorded_at(), Now());
  const uint32_t failed = static_cast<uint32_t>(response.evaluations_size()) - answered;
  evaluated.mutable_counts()->set_partners_answered(answered);
  evaluated.mutable_counts()->set_partners_failed(failed);
  for (const v1::PartnerEvaluation& e : response.evaluations()) *evaluated.add_partners() = e.outcome();
  evaluated.set_outcome(answered == 0 ? v1::OUTCOME_FAILED
                                      : failed == 0 ? v1::OUTCOME_GRANTED : v1::OUTCOME_PARTIAL);
  for (v1::DenialReason r : reasons) evaluated.add_denial_reasons(r);
  evaluated.set_detail(TruncateUtf8(StrCat(answered, " of ", response.evaluations_size(),
                                           " partners answered", failures),
                                    kMaxLogDetailChars));
  auto evaluated_entry = parts_.log->Append(evaluated, [&](uint64_t sequence, store::WriteBatch& b) {
    stored.evaluated_sequence = sequence;
    parts_.exchanges->AddOpened(stored, request_digest, b);
  });
  if (!evaluated_entry.ok()) {
    LogLine(StrCat("exchange ", Hex(exchange_id), ": the outcome could not be logged: ",
                   evaluated_entry.status().message()));
    return absl::UnavailableError(
        "the exchange log could not be written; the evaluations are withheld; retry with the same "
        "request_id");
  }
  Appended();

  v1::OpenExchangeResponse out = stored.response;
  for (const ExchangeLog::Appended* entry : {&*requested_entry, &*evaluated_entry}) {
    auto receipt = parts_.receipts->Issue(*entry, org, exchange_id);
    if (!receipt.ok()) return receipt.status();
    *out.add_receipts() = *std::move(receipt);
  }
  return out;
}

// ------------------------------------------------------------- ResolveMatches

absl::StatusOr<v1::ResolveMatchesResponse> GatewayService::ResolveMatchesFor(
    std::string_view caller_org, const v1::ResolveMatchesRequest& req) {
  const absl::Time now = Now();
  const std::shared_ptr<const Policy> policy = parts_.current_policy();
  const std::string org(caller_org);

  Refusal refusal;
  refusal.method = "ResolveMatches";
  refusal.recipient = org;
  refusal.record = NewLogRecord(v1::RECORD_KIND_EXCHANGE_RESOLVED, now, policy.get(), "", org,
                                LoggableActor(req.actor()));
  std::vector<v1::FieldProblem>& problems = refusal.problems;
  if (req.exchange_id().size() != kIdSize) {
    problems.push_back(Problem("exchange_id", StrCat(req.exchange_id().size(), " bytes"), "exactly 16 bytes"));
  } else {
    refusal.record.set_exchange_id(req.exchange_id());
  }
  CheckActor(req.has_actor(), req.actor(), problems);
  if (!problems.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_MALFORMED_REQUEST, ""));
  }

  std::unique_lock lock = parts_.exchanges->LockExchange(req.exchange_id());
  auto found = parts_.exchanges->Get(req.exchange_id());
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->requester.org_id() != org) {
    // Another organisation's exchange is reported as if it did not exist.
    return Refuse(refusal.With(absl::StatusCode::kNotFound, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
                               "exchange_id: no such exchange for the calling organisation"));
  }
  const StoredExchange& exchange = **found;
  const std::string& purpose_id = exchange.shape.purpose_id();
  {
    v1::LogRecord base = NewLogRecord(v1::RECORD_KIND_EXCHANGE_RESOLVED, now, policy.get(), purpose_id,
                                      org, LoggableActor(req.actor()));
    base.set_exchange_id(req.exchange_id());
    base.set_case_id(exchange.shape.case_id());
    refusal.record = std::move(base);
  }

  // The same tags again: the stored result.
  v1::ResolveMatchesRequest tags_only;
  tags_only.set_exchange_id(req.exchange_id());
  {
    std::vector<const v1::PartnerTags*> sorted;
    for (const v1::PartnerTags& p : req.partners()) sorted.push_back(&p);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const v1::PartnerTags* a, const v1::PartnerTags* b) { return a->org_id() < b->org_id(); });
    for (const v1::PartnerTags* p : sorted) *tags_only.add_partners() = *p;
  }
  const canonical::DigestBytes tags_digest = Fingerprint(tags_only);
  auto resolved = parts_.exchanges->GetResolved(req.exchange_id());
  if (!resolved.ok()) return resolved.status();
  if (resolved->has_value()) {
    if ((*resolved)->tags_digest != tags_digest) {
      return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
                                 "exchange_id: already resolved with other tags"));
    }
    v1::ResolveMatchesResponse response = (*resolved)->response;
    auto receipt = ReissueReceipt((*resolved)->resolved_sequence, org, req.exchange_id());
    if (!receipt.ok()) return receipt.status();
    *response.add_receipts() = *std::move(receipt);
    return response;
  }
  if (now > absl::FromUnixMillis(ToMillis(exchange.response.resolve_by()))) {
    return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
                               "exchange_id: past resolve_by; open a new exchange"));
  }
  if (policy == nullptr) return absl::UnavailableError("no policy is in force");
  const AskDecision ask = policy->MayAsk(purpose_id, org, req.actor().role(),
                                         absl::ToCivilDay(now, options_.zone));
  if (!ask.allowed()) {
    const absl::StatusCode code = ask.reason == v1::DENIAL_REASON_PURPOSE_UNKNOWN
                                      ? absl::StatusCode::kFailedPrecondition
                                      : CodeFor(ask.reason);
    return Refuse(refusal.With(code, ask.reason, ask.message));
  }

  // The tags, checked against the partners that answered OK.
  const std::vector<size_t> offsets = ElementOffsets(exchange.shape);
  const size_t element_count = offsets.back();
  std::map<std::string, const v1::PartnerTags*> given;
  bool count_mismatch = false;
  for (int i = 0; i < req.partners_size(); ++i) {
    const v1::PartnerTags& p = req.partners(i);
    const std::string field = StrCat("partners[", i, "]");
    const auto evaluation = std::find_if(
        exchange.response.evaluations().begin(), exchange.response.evaluations().end(),
        [&](const v1::PartnerEvaluation& e) { return e.outcome().org_id() == p.org_id(); });
    if (evaluation == exchange.response.evaluations().end() ||
        evaluation->outcome().status() != v1::PARTNER_STATUS_OK) {
      problems.push_back(Problem(StrCat(field, ".org_id"), "not a partner that answered OK in this exchange",
                                 "one entry per partner whose status was OK"));
      continue;
    }
    if (!given.emplace(p.org_id(), &p).second) {
      problems.push_back(Problem(StrCat(field, ".org_id"), "repeats an earlier partner", "each partner once"));
      continue;
    }
    if (!v1::EvaluationCheck_IsValid(p.check()) || p.check() == v1::EVALUATION_CHECK_UNSPECIFIED) {
      problems.push_back(Problem(StrCat(field, ".check"), "not set", "VERIFIED, or why the answer was rejected"));
      continue;
    }
    if (p.check() != v1::EVALUATION_CHECK_VERIFIED) {
      if (!p.tags().empty()) {
        problems.push_back(Problem(StrCat(field, ".tags"), StrCat(p.tags_size(), " tags with a check other than VERIFIED"),
                                   "no tags for an answer that did not verify"));
      }
      continue;
    }
    if (static_cast<size_t>(p.tags_size()) != element_count) {
      count_mismatch = true;
      problems.push_back(Problem(StrCat(field, ".tags"), StrCat(p.tags_size(), " tags"),
                                 StrCat("exactly ", element_count, ", one per evaluated element")));
      continue;
    }
    for (int j = 0; j < p.tags_size() && problems.size() < kMaxProblems; ++j) {
      if (p.tags(j).size() != crypto::kTagSize) {
        problems.push_back(Problem(StrCat(field, ".tags[", j, "]"), StrCat(p.tags(j).size(), " bytes"), "exactly 16 bytes"));
      }
    }
  }
  for (const v1::PartnerEvaluation& e : exchange.response.evaluations()) {
    if (e.outcome().status() == v1::PARTNER_STATUS_OK && given.count(e.outcome().org_id()) == 0 &&
        problems.size() < kMaxProblems) {
      problems.push_back(Problem("partners", StrCat("no entry for ", e.outcome().org_id(), ", which answered OK"),
                                 "one entry per partner whose status was OK"));
    }
  }
  if (!problems.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument,
                               count_mismatch ? v1::DENIAL_REASON_TAG_COUNT_MISMATCH
                                              : v1::DENIAL_REASON_MALFORMED_REQUEST,
                               ""));
  }

  // Look-ups and the result.
  v1::MatchResult result;
  result.set_exchange_id(req.exchange_id());
  struct Hits {
    const v1::PartnerTags* tags = nullptr;
    std::vector<bool> hit;
  };
  std::vector<std::pair<v1::PartnerOutcome, Hits>> partners;
  std::set<v1::DenialReason> reasons;
  for (const v1::PartnerEvaluation& e : exchange.response.evaluations()) {
    v1::PartnerOutcome outcome = e.outcome();
    Hits hits;
    if (outcome.status() == v1::PARTNER_STATUS_OK) {
      const v1::PartnerTags* p = given.at(outcome.org_id());
      if (p->check() == v1::EVALUATION_CHECK_VERIFIED) {
        std::vector<TagBytes> tags;
        tags.reserve(element_count);
        for (const std::string& t : p->tags()) tags.push_back(ToTag(t, "tag").value());
        hits.tags = p;
        hits.hit = parts_.tags->Lookup(outcome.org_id(), purpose_id, tags);
      } else {
        outcome.set_status(v1::PARTNER_STATUS_INVALID_RESPONSE);
        outcome.set_reason(v1::DENIAL_REASON_INVALID_PROOF);
        outcome.set_detail(StrCat("the requester rejected the answer: ",
                                  v1::EvaluationCheck_Name(p->check())));
      }
    }
    if (outcome.status() != v1::PARTNER_STATUS_OK && outcome.reason() != v1::DENIAL_REASON_UNSPECIFIED) {
      reasons.insert(outcome.reason());
    }
    partners.emplace_back(std::move(outcome), std::move(hits));
  }

  v1::MatchCounts& counts = *result.mutable_counts();
  counts.set_subjects(static_cast<uint32_t>(exchange.shape.subjects_size()));
  counts.set_elements(static_cast<uint32_t>(element_count));
  std::map<uint32_t, std::map<v1::Domain, std::pair<std::set<std::string>, std::set<uint32_t>>>> family_domains;
  std::map<uint32_t, std::pair<uint32_t, uint32_t>> family_members;  // family -> (members, with hit)
  for (int s = 0; s < exchange.shape.subjects_size(); ++s) {
    const v1::BlindedSubject& subject = exchange.shape.subjects(s);
    v1::SubjectMatch& match = *result.add_subjects();
    match.set_subject_index(static_cast<uint32_t>(s));
    match.set_family(subject.family());
    match.set_relation(subject.relation());
    bool any_hit = false;
    for (auto& [outcome, hits] : partners) {
      if (hits.tags == nullptr) continue;
      v1::PartnerMatch& pm = *match.add_partners();
      pm.set_org_id(outcome.org_id());
      pm.set_domain(outcome.domain());
      std::map<v1::MatchKeyType, std::pair<uint32_t, uint32_t>> by_type;  // sent, hit
      for (size_t e = offsets[static_cast<size_t>(s)]; e < offsets[static_cast<size_t>(s) + 1]; ++e) {
        const v1::MatchKeyType type =
            subject.keys(static_cast<int>(e - offsets[static_cast<size_t>(s)])).key_type();
        by_type[type].first += 1;
        by_type[type].second += hits.hit[e] ? 1 : 0;
      }
      for (const auto& [type, sent_hit] : by_type) {
        v1::KeyTypeMatch& k = *pm.add_key_types();
        k.set_key_type(type);
        k.set_keys_sent(sent_hit.first);
        k.set_keys_hit(sent_hit.second);
        k.set_hit(sent_hit.second > 0);
        if (sent_hit.second > 0) pm.set_hit(true);
      }
      if (pm.hit()) {
        any_hit = true;
        outcome.set_subjects_hit(outcome.subjects_hit() + 1);
        counts.set_subject_partner_hits(counts.subject_partner_hits() + 1);
        if (subject.family() != 0) {
          auto& [orgs, members] = family_domains[subject.family()][outcome.domain()];
          orgs.insert(outcome.org_id());
          members.insert(static_cast<uint32_t>(s));
        }
      }
    }
    if (any_hit) counts.set_subjects_hit(counts.subjects_hit() + 1);
    if (subject.family() != 0) {
      auto& [members, with_hit] = family_members[subject.family()];
      members += 1;
      with_hit += any_hit ? 1 : 0;
    }
  }
  for (const auto& [family, members] : family_members) {
    v1::FamilySummary& f = *result.add_families();
    f.set_family(family);
    f.set_member_count(members.first);
    f.set_members_with_hit(members.second);
    for (const auto& [domain, knowledge] : family_domains[family]) {
      v1::DomainKnowledge& d = *f.add_domains();
      d.set_domain(domain);
      for (const std::string& o : knowledge.first) d.add_org_ids(o);
      for (uint32_t i : knowledge.second) d.add_subject_indices(i);
    }
  }
  uint32_t answered = 0;
  for (const auto& [outcome, hits] : partners) {
    *result.add_partners() = outcome;
    answered += outcome.status() == v1::PARTNER_STATUS_OK ? 1 : 0;
  }
  counts.set_partners_answered(answered);
  counts.set_partners_failed(static_cast<uint32_t>(partners.size()) - answered);

  // EXCHANGE_RESOLVED, with the stored result.
  v1::LogRecord record = refusal.record;
  for (const v1::PartnerEvaluation& e : exchange.response.evaluations()) {
    record.add_answering_org_ids(e.outcome().org_id());
  }
  *record.mutable_counts() = counts;
  for (const auto& [outcome, hits] : partners) {
    *record.add_partners() = outcome;
    if (hits.tags == nullptr) continue;
    v1::OrgTags& t = *record.add_tags();
    t.set_org_id(outcome.org_id());
    t.set_purpose_id(purpose_id);
    *t.mutable_tags() = hits.tags->tags();
    for (size_t e = 0; e < hits.hit.size(); ++e) {
      if (hits.hit[e]) t.add_hit_element_indices(static_cast<uint32_t>(e));
    }
  }
  record.set_outcome(answered == 0 ? v1::OUTCOME_FAILED
                                   : answered == partners.size() ? v1::OUTCOME_GRANTED
                                                                 : v1::OUTCOME_PARTIAL);
  for (v1::DenialReason r : reasons) record.add_denial_reasons(r);
  record.set_detail(StrCat(counts.subjects_hit(), " of ", counts.subjects(), " subjects hit at ",
                           answered, answered == 1 ? " partner" : " partners"));
  ResolvedExchange stored;
  stored.tags_digest = tags_digest;
  *stored.response.mutable_result() = result;
  auto entry = parts_.log->Append(record, [&](uint64_t sequence, store::WriteBatch& b) {
    stored.resolved_sequence = sequence;
    parts_.exchanges->AddResolved(req.exchange_id(), stored, b);
  });
  if (!entry.ok()) {
    LogLine(StrCat("exchange ", Hex(req.exchange_id()), ": the resolution could not be logged: ",
                   entry.status().message()));
    return absl::UnavailableError("the exchange log could not be written; nothing was resolved; retry");
  }
  Appended();
  v1::ResolveMatchesResponse response = stored.response;
  auto receipt = parts_.receipts->Issue(*entry, org, req.exchange_id());
  if (!receipt.ok()) return receipt.status();
  *response.add_receipts() = *std::move(receipt);
  return response;
}

// ------------------------------------------------------------------ Reads

absl::StatusOr<v1::GetDirectoryResponse> GatewayService::GetDirectoryFor(
    std::string_view, const v1::GetDirectoryRequest& req) const {
  v1::GetDirectoryResponse response;
  const std::set<std::string> only(req.org_ids().begin(), req.org_ids().end());
  for (const DirectoryOrg& o : parts_.directory->organisations()) {
    if (!only.empty() && only.count(o.org_id) == 0) continue;
    if (!o.active && !req.include_inactive()) continue;
    *response.add_organisations() = parts_.directory->ToProto(o);
  }
  v1::GatewayIdentity& gateway = *response.mutable_gateway();
  v1::PublicKey& key = *gateway.add_signing_keys();
  const crypto::Bytes raw = parts_.receipts->verify_key().ToBytes();
  key.set_key(std::string(raw.begin(), raw.end()));
  const canonical::KeyIdBytes id = canonical::KeyId(parts_.receipts->verify_key());
  key.set_key_id(std::string(id.begin(), id.end()));
  gateway.set_certificate_identity(OrgUri(options_.gateway_org_id));
  response.set_directory_version(parts_.directory->version());
  return response;
}

absl::StatusOr<v1::ListPurposesResponse> GatewayService::ListPurposesFor(
    std::string_view caller_org, const v1::ListPurposesRequest& req) const {
  const std::shared_ptr<const Policy> policy = parts_.current_policy();
  if (policy == nullptr) return absl::UnavailableError("no policy is in force");
  const absl::Time now = Now();
  const absl::CivilDay today = absl::ToCivilDay(now, options_.zone);
  const v1::PolicyInfo info = ToProto(*policy, options_.zone);
  v1::ListPurposesResponse response;
  response.set_policy_version(policy->version());
  for (size_t i = 0; i < policy->purposes().size(); ++i) {
    const Purpose& p = policy->purposes()[i];
    if (!p.TakesPart(caller_org)) continue;
    if (!req.include_not_in_force() && !p.InForce(today)) continue;
    v1::PurposeView& view = *response.add_purposes();
    *view.mutable_purpose() = info.purposes(static_cast<int>(i));
    if (const RequesterGrant* grant = p.GrantFor(caller_org)) {
      for (v1::Role r : grant->roles) view.add_roles_that_may_ask(r);
      *view.mutable_quota_usage() = ToProto(parts_.quota->Current(caller_org, p.purpose_id, now));
    }
    view.set_may_answer(p.MayAnswer(caller_org));
    view.set_may_open_cases(p.MayDirectCases(caller_org));
  }
  return response;
}

absl::StatusOr<v1::GetIndexStateResponse> GatewayService::GetIndexStateFor(
    std::string_view caller_org) const {
  const std::shared_ptr<const Policy> policy = parts_.current_policy();
  if (policy == nullptr) return absl::UnavailableError("no policy is in force");
  const std::string org(caller_org);
  v1::GetIndexStateResponse response;
  response.set_applied_through(parts_.tags->AppliedThrough(org));
  for (const Purpose& p : policy->purposes()) {
    if (!p.MayAnswer(org)) continue;
    v1::PurposeIndexState& s = *response.add_purposes();
    s.set_purpose_id(p.purpose_id);
    s.set_tag_count(parts_.tags->Size(org, p.purpose_id));
  }
  response.set_max_changes_per_batch(kMaxChangesPerBatch);
  return response;
}

absl::StatusOr<v1::IndexAck> GatewayService::ApplyIndexBatch(std::string_view caller_org,
                                                             const v1::IndexBatch& batch) {
  const std::shared_ptr<const Policy> policy = parts_.current_policy();
  if (policy == nullptr) return absl::UnavailableError("no policy is in force");
  const std::string org(caller_org);
  auto may_answer = [&](const std::string& purpose_id) {
    const Purpose* p = policy->Find(purpose_id);
    return p != nullptr && p->MayAnswer(org);
  };
  // A clear is logged before it is applied (and only when the batch is new).
  if (batch.sequence() == parts_.tags->AppliedThrough(org) + 1) {
    for (const v1::PurposeTagChanges& c : batch.changes()) {
      if (!c.clear() || c.purpose_id().empty()) continue;
      v1::LogRecord record = NewLogRecord(v1::RECORD_KIND_INDEX_CLEARED, Now(), policy.get(),
                                          crypto::ValidatePurposeId(c.purpose_id()).ok() ? c.purpose_id() : "",
                                          org, v1::Actor());
      record.add_answering_org_ids(org);
      record.set_outcome(v1::OUTCOME_GRANTED);
      record.set_detail(StrCat("tag set cleared by index batch ", batch.sequence(), " (",
                               parts_.tags->Size(org, c.purpose_id()), " tags)"));
      auto appended = parts_.log->Append(record);
      if (!appended.ok()) {
        LogLine(StrCat("PublishIndex from ", org, ": a clear could not be logged: ",
                       appended.status().message()));
        return absl::UnavailableError("the exchange log could not be written; the batch was not applied");
      }
      Appended();
    }
  }
  auto applied = parts_.tags->Apply(org, batch, may_answer);
  if (!applied.ok()) {
    LogLine(StrCat("refused PublishIndex from ", org, ": ", absl::StatusCodeToString(applied.status().code()),
                   ": ", applied.status().message()));
    return applied.status();
  }
  v1::IndexAck ack;
  ack.set_applied_through(applied->applied_through);
  for (const std::string& p : applied->ignored_purpose_ids) ack.add_ignored_purpose_ids(p);
  return ack;
}

// ------------------------------------------------------------ gRPC adapters

grpc::Status GatewayService::GetDirectory(grpc::ServerContext* context,
                                          const v1::GetDirectoryRequest* request,
                                          v1::GetDirectoryResponse* response) {
  auto org = IdentifyCaller(*parts_.directory, *context, *parts_.log, v1::LogRecord());
  if (!org.ok()) return Finish("GetDirectory", org.status());
  auto result = GetDirectoryFor(*org, *request);
  if (result.ok()) *response = *std::move(result);
  return Finish("GetDirectory", result.status());
}

grpc::Status GatewayService::ListPurposes(grpc::ServerContext* context,
                                          const v1::ListPurposesRequest* request,
                                          v1::ListPurposesResponse* response) {
  auto org = IdentifyCaller(*parts_.directory, *context, *parts_.log, v1::LogRecord());
  if (!org.ok()) return Finish("ListPurposes", org.status());
  auto result = ListPurposesFor(*org, *request);
  if (result.ok()) *response = *std::move(result);
  return Finish("ListPurposes", result.status());
}

grpc::Status GatewayService::OpenExchange(grpc::ServerContext* context,
                                          const v1::OpenExchangeRequest* request,
                                          v1::OpenExchangeResponse* response) {
  const absl::Time now = Now();
  v1::LogRecord refusal = NewLogRecord(
      v1::RECORD_KIND_EXCHANGE_REQUESTED, now, parts_.current_policy().get(),
      crypto::ValidatePurposeId(request->purpose_id()).ok() ? request->purpose_id() : "", "",
      LoggableActor(request->actor()));
  if (ValidCaseId(request->case_id())) refusal.set_case_id(request->case_id());
  auto org = IdentifyCaller(*parts_.directory, *context, *parts_.log, std::move(refusal));
  if (!org.ok()) {
    Appended();
    LogLine(StrCat("refused OpenExchange: UNAUTHENTICATED: ", org.status().message(), " (presented ",
                   PresentedIdentity(*context), ")"));
    return rpc::ToGrpcStatus(org.status());
  }
  const auto deadline = context->deadline();
  const absl::Time caller_deadline = deadline == std::chrono::system_clock::time_point::max()
                                         ? absl::InfiniteFuture()
                                         : absl::FromChrono(deadline);
  auto result = OpenExchangeFor(*org, *request, caller_deadline);
  if (result.ok()) *response = *std::move(result);
  return Finish("OpenExchange", result.status());
}

grpc::Status GatewayService::ResolveMatches(grpc::ServerContext* context,
                                            const v1::ResolveMatchesRequest* request,
                                            v1::ResolveMatchesResponse* response) {
  v1::LogRecord refusal = NewLogRecord(v1::RECORD_KIND_EXCHANGE_RESOLVED, Now(),
                                       parts_.current_policy().get(), "", "",
                                       LoggableActor(request->actor()));
  if (request->exchange_id().size() == kIdSize) refusal.set_exchange_id(request->exchange_id());
  auto org = IdentifyCaller(*parts_.directory, *context, *parts_.log, std::move(refusal));
  if (!org.ok()) {
    Appended();
    LogLine(StrCat("refused ResolveMatches: UNAUTHENTICATED: ", org.status().message(), " (presented ",
                   PresentedIdentity(*context), ")"));
    return rpc::ToGrpcStatus(org.status());
  }
  auto result = ResolveMatchesFor(*org, *request);
  if (result.ok()) *response = *std::move(result);
  return Finish("ResolveMatches", result.status());
}

namespace {
constexpr char kLater[] = "disclosure and notifications come in a later version";
}  // namespace

grpc::Status GatewayService::RequestDisclosure(grpc::ServerContext*, const v1::RequestDisclosureRequest*,
                                               v1::RequestDisclosureResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, kLater);
}

grpc::Status GatewayService::GetDisclosure(grpc::ServerContext*, const v1::GetDisclosureRequest*,
                                           v1::GetDisclosureResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, kLater);
}

grpc::Status GatewayService::CompleteDisclosure(grpc::ServerContext*, const v1::CompleteDisclosureRequest*,
                                                v1::CompleteDisclosureResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, kLater);
}

grpc::Status GatewayService::FetchNotifications(grpc::ServerContext*, const v1::FetchNotificationsRequest*,
                                                v1::FetchNotificationsResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, kLater);
}

grpc::Status GatewayService::GetIndexState(grpc::ServerContext* context, const v1::GetIndexStateRequest*,
                                           v1::GetIndexStateResponse* response) {
  auto org = IdentifyCaller(*parts_.directory, *context, *parts_.log, v1::LogRecord());
  if (!org.ok()) return Finish("GetIndexState", org.status());
  auto result = GetIndexStateFor(*org);
  if (result.ok()) *response = *std::move(result);
  return Finish("GetIndexState", result.status());
}

// -------------------------------------------------------------- PublishIndex

// One PublishIndex stream: read a batch, apply it on a worker thread (a
// synced write must not block gRPC's callback threads), acknowledge, read
// the next. A newer stream of the same organisation supersedes this one,
// which then ends with ABORTED: at once when it is waiting for a batch,
// else as soon as the batch in hand is applied.
class IndexStream final : public grpc::ServerBidiReactor<v1::IndexBatch, v1::IndexAck> {
 public:
  IndexStream(GatewayService* service, std::string org) : service_(service), org_(std::move(org)) {
    service_->RegisterStream(org_, this);
    // Under the lock, so that a newer stream cannot finish this one between
    // the check and the read (reactions never run inline, so no deadlock).
    std::lock_guard lock(mu_);
    if (!finished_) StartRead(&batch_);
  }

  // Called with the service's stream registry locked; returns whether the
  // caller must Finish(ABORTED) now (after unlocking).
  bool Supersede() {
    std::lock_guard lock(mu_);
    superseded_ = true;
    if (state_ == State::kReading && !finished_) {
      finished_ = true;
      return true;
    }
    return false;
  }

  void FinishAborted() {
    Finish(grpc::Status(grpc::StatusCode::ABORTED,
                        "superseded by a newer PublishIndex stream of the same organisation"));
  }

  void OnReadDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (!ok) {
        finished_ = true;
      } else {
        state_ = State::kWorking;
      }
    }
    if (!ok) {
      Finish(grpc::Status::OK);  // the node closed its side (or went away)
      return;
    }
    service_->WorkerStarted();
    std::thread([this] { Work(); }).detach();
  }

  void OnWriteDone(bool ok) override {
    bool abort = false;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (ok && !superseded_) {
        state_ = State::kReading;
        StartRead(&batch_);  // under the lock: see the constructor
        return;
      }
      finished_ = true;
      abort = superseded_;
    }
    if (abort) {
      FinishAborted();
    } else {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the acknowledgement could not be sent"));
    }
  }

  void OnDone() override {
    service_->UnregisterStream(org_, this);
    delete this;
  }

 private:
  enum class State { kReading, kWorking, kWriting };

  void Work() {
    GatewayService* service = service_;
    absl::StatusOr<v1::IndexAck> ack = service->ApplyIndexBatch(org_, batch_);
    bool superseded = false;
    {
      std::lock_guard lock(mu_);
      superseded = superseded_;
      if (superseded || !ack.ok()) {
        finished_ = true;
      } else {
        ack_ = *std::move(ack);
        state_ = State::kWriting;
      }
    }
    // The last touch of `this`: after it the stream may finish and go.
    if (superseded) {
      FinishAborted();
    } else if (!ack.ok()) {
      Finish(rpc::ToGrpcStatus(ack.status()));
    } else {
      StartWrite(&ack_);
    }
    service->WorkerDone();
  }

  GatewayService* const service_;
  const std::string org_;
  v1::IndexBatch batch_;
  v1::IndexAck ack_;
  std::mutex mu_;
  State state_ = State::kReading;  // guarded by mu_
  bool finished_ = false;          // guarded by mu_
  bool superseded_ = false;        // guarded by mu_
};

grpc::ServerBidiReactor<v1::IndexBatch, v1::IndexAck>* GatewayService::PublishIndex(
    grpc::CallbackServerContext* context) {
  auto org = parts_.directory->CallerOrg(*context);
  if (!org.ok()) {
    class Refused final : public grpc::ServerBidiReactor<v1::IndexBatch, v1::IndexAck> {
     public:
      explicit Refused(const absl::Status& status) { Finish(rpc::ToGrpcStatus(status)); }
      void OnDone() override { delete this; }
    };
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_UNKNOWN_ORGANISATION);
    LogLine(StrCat("refused PublishIndex: UNAUTHENTICATED: ", org.status().message()));
    return new Refused(rpc::WithErrorDetail(org.status(), detail));
  }
  return new IndexStream(this, *org);
}

void GatewayService::RegisterStream(const std::string& org, IndexStream* stream) {
  IndexStream* old = nullptr;
  bool finish_old = false;
  {
    std::lock_guard lock(streams_mu_);
    auto it = streams_.find(org);
    if (it != streams_.end()) {
      old = it->second;
      finish_old = old->Supersede();
    }
    streams_[org] = stream;
  }
  // Safe outside the lock: `old` cannot finish (and go) before this Finish,
  // since Supersede claimed finishing it.
  if (finish_old) old->FinishAborted();
  if (old != nullptr) LogLine(StrCat("PublishIndex from ", org, ": a newer stream supersedes the older one"));
}

void GatewayService::UnregisterStream(const std::string& org, IndexStream* stream) {
  std::lock_guard lock(streams_mu_);
  auto it = streams_.find(org);
  if (it != streams_.end() && it->second == stream) streams_.erase(it);
}

void GatewayService::WorkerStarted() {
  std::lock_guard lock(workers_mu_);
  ++workers_;
}

void GatewayService::WorkerDone() {
  std::lock_guard lock(workers_mu_);
  if (--workers_ == 0) workers_cv_.notify_all();
}

}  // namespace schakel::gateway
