#include "gateway/gateway_service.h"

#include <algorithm>
#include <latch>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/free_text.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "crypto/pseudonym.h"
#include "crypto/random.h"
#include "crypto/sealed_box.h"
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
    // What `check` found in an OK answer: empty when it is valid, else why
    // not; an error when the check itself failed or never ran (fail
    // closed: an unchecked answer is never passed on).
    absl::StatusOr<std::string> invalid = absl::InternalError("the partner's answer was not checked");
  };
  std::vector<std::unique_ptr<Call>> calls;
  // Run on each OK answer as it arrives, on the thread that received it, so
  // that the checks of early answers overlap the wait for later ones.
  std::function<absl::StatusOr<std::string>(const Call&)> check;
};

GatewayService::GatewayService(Parts parts, Options options)
    : parts_(std::move(parts)), options_(std::move(options)) {
  store::KvStore* kv = parts_.log->store();
  disclosures_ = DisclosureStore::Open(kv, DisclosureStore::Options{.box_retention = options_.box_retention});
  NotificationOutbox::Options outbox_options;
  outbox_options.receipt = [this](uint64_t sequence, std::string_view recipient, std::string_view exchange_id) {
    return ReissueReceipt(sequence, recipient, exchange_id);
  };
  outbox_options.now = options_.now;
  outbox_options.first_retry = options_.notification_first_retry;
  auto outbox = NotificationOutbox::Open(kv, std::move(outbox_options));
  if (!outbox.ok()) {
    LogLine(StrCat("the notification outbox could not be opened: ", outbox.status().message(),
                   "; disclosures and notifications are unavailable"));
  } else {
    outbox_ = *std::move(outbox);
    outbox_->Start(
        [this](const std::string& org, const v1::DeliverNotificationsRequest& request) {
          return PushNotifications(org, request);
        },
        options_.log_line);
  }
  if (options_.sweep_interval > absl::ZeroDuration()) sweeper_ = std::thread([this] { Sweep(); });
}

GatewayService::~GatewayService() {
  {
    std::lock_guard lock(sweep_mu_);
    sweep_stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  if (outbox_ != nullptr) outbox_->Stop();
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
                                  [call, &fanout, &done](grpc::Status status) {
                                    call->finished = absl::Now();
                                    call->status = std::move(status);
                                    if (call->status.ok() && fanout.check) {
                                      call->invalid = fanout.check(*call);
                                    }
                                    done.count_down();
                                  });
  }
  done.wait();
}

absl::Duration GatewayService::PartnerDeadline(absl::Time caller_deadline, size_t elements) const {
  const absl::Duration remaining = caller_deadline - absl::Now();
  absl::Duration partner_deadline =
      options_.partner_deadline +
      options_.partner_deadline_per_element * static_cast<int64_t>(elements);
  if (remaining != absl::InfiniteDuration()) {
    const absl::Duration margin = std::max(kMinDeadlineMargin, remaining / 10);
    partner_deadline = std::max(absl::Milliseconds(1), std::min(partner_deadline, remaining - margin));
  }
  return partner_deadline;
}

// ---------------------------------------------------------------- OpenExchange

absl::StatusOr<v1::OpenExchangeResponse> GatewayService::OpenExchangeFor(
    std::string_view caller_org, const v1::OpenExchangeRequest& req, absl::Time caller_deadline,
    std::shared_ptr<const Directory> directory) {
  // One directory for the whole call: the partners' entries (endpoints,
  // keys) stay valid while the fan-out uses them.
  if (directory == nullptr) directory = parts_.current_directory();
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
    } else if (directory->FindActive(p) == nullptr) {
      why = "not an active organisation in the directory";
    }
    if (why.empty()) {
      forward.push_back(directory->FindActive(p));
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
  fanout.check = [&](const Fanout::Call& call) -> absl::StatusOr<std::string> {
    const v1::EvaluateResponse& r = call.response;
    if (static_cast<size_t>(r.evaluated_elements_size()) != element_count) {
      return StrCat(r.evaluated_elements_size(), " evaluated elements for ", element_count, " blinded");
    }
    for (int i = 0; i < r.evaluated_elements_size(); ++i) {
      auto element = crypto::Element::FromBytes(crypto::AsBytes(r.evaluated_elements(i)),
                                                StrCat("evaluated_elements[", i, "]"));
      if (!element.ok()) return std::string(element.status().message());
    }
    if (r.proof().size() != 64) return StrCat("proof: ", r.proof().size(), " bytes, expected 64");
    v1::EvaluationStatement statement;
    auto auth_digest = canonical::Digest(canonical::kAuthorisationContext,
                                         call.request.authorisation().payload());
    if (!auth_digest.ok()) return auth_digest.status();
    statement.set_authorisation_digest(DigestString(*auth_digest));
    statement.set_responder_org_id(call.org->org_id);
    *statement.mutable_evaluated_elements() = r.evaluated_elements();
    statement.set_proof(r.proof());
    const absl::Status signed_ok = directory->VerifyNodeSignature(
        call.org->org_id, canonical::kEvaluationContext, statement, r.signature(), now);
    if (!signed_ok.ok()) return StrCat("signature: ", signed_ok.message());
    return std::string();
  };
  const absl::Duration partner_deadline = PartnerDeadline(caller_deadline, element_count);
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
      if (!call->invalid.ok()) return call->invalid.status();
      const std::string& invalid = *call->invalid;
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
    if (const DirectoryOrg* o = directory->Find(id)) outcome.set_domain(o->domain);
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
    std::string_view caller_org, const v1::ResolveMatchesRequest& req,
    std::shared_ptr<const Directory> directory) {
  if (directory == nullptr) directory = parts_.current_directory();
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
      if (directory == nullptr || directory->FindActive(outcome.org_id()) == nullptr) {
        // Deactivated by a reload after the exchange was opened: fail
        // closed, its tag set is not consulted.
        outcome.set_status(v1::PARTNER_STATUS_REFUSED_BY_POLICY);
        outcome.set_reason(v1::DENIAL_REASON_PARTNER_NOT_PERMITTED);
        outcome.set_detail("deactivated in the directory since the exchange was opened");
      } else if (p->check() == v1::EVALUATION_CHECK_VERIFIED) {
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
  stored.resolved_at = now;
  stored.has_hits = true;
  // The hits per partner (disclosure orders carry them) and, where the
  // purpose says so, one MatchNotice per partner with a hit.
  const Purpose* purpose = policy->Find(purpose_id);
  std::vector<std::pair<std::string, v1::Notification>> notices;
  for (const auto& [outcome, hits] : partners) {
    if (hits.tags == nullptr) continue;
    v1::OrgTags t;
    t.set_org_id(outcome.org_id());
    t.set_purpose_id(purpose_id);
    std::set<v1::MatchKeyType> types;
    std::set<std::string> seen;
    v1::MatchNotice notice;
    for (size_t e = 0; e < hits.hit.size(); ++e) {
      if (!hits.hit[e]) continue;
      t.add_hit_element_indices(static_cast<uint32_t>(e));
      t.add_tags(hits.tags->tags(static_cast<int>(e)));
      const auto subject = std::upper_bound(offsets.begin(), offsets.end(), e) - offsets.begin() - 1;
      types.insert(exchange.shape.subjects(static_cast<int>(subject))
                       .keys(static_cast<int>(e - offsets[static_cast<size_t>(subject)]))
                       .key_type());
      if (seen.insert(hits.tags->tags(static_cast<int>(e))).second) {
        notice.add_tags(hits.tags->tags(static_cast<int>(e)));
      }
    }
    if (t.tags().empty()) continue;
    stored.hit_tags.push_back(t);
    if (purpose == nullptr || !purpose->notify_on_hit) continue;
    notice.set_exchange_id(req.exchange_id());
    notice.set_purpose_id(purpose_id);
    *notice.mutable_lawful_basis() = record.lawful_basis();
    notice.set_case_id(exchange.shape.case_id());
    *notice.mutable_requester() = exchange.requester;
    for (v1::MatchKeyType type : types) notice.add_key_types(type);
    v1::Notification n;
    *n.mutable_match() = std::move(notice);
    record.add_notified_org_ids(outcome.org_id());
    notices.emplace_back(outcome.org_id(), std::move(n));
  }
  if (!notices.empty() && outbox_ == nullptr) {
    return absl::UnavailableError("the notification outbox is not available; nothing was resolved; retry later");
  }
  std::vector<std::string> notified(record.notified_org_ids().begin(), record.notified_org_ids().end());
  std::optional<NotificationOutbox::Reservation> reservation;
  if (!notices.empty()) reservation.emplace(outbox_->Reserve(notified));
  auto entry = parts_.log->Append(record, [&](uint64_t sequence, store::WriteBatch& b) {
    stored.resolved_sequence = sequence;
    parts_.exchanges->AddResolved(req.exchange_id(), stored, b);
    for (auto& [org_id, n] : notices) {
      outbox_->AddQueued(*reservation, org_id, n, sequence, req.exchange_id(), b);
    }
  });
  if (entry.ok() && reservation.has_value()) outbox_->Commit(*reservation);
  reservation.reset();
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

// ------------------------------------------------------------- Disclosure

namespace {

constexpr size_t kMaxAskReasonChars = 2000;
constexpr size_t kMaxCategoryChars = 64;
constexpr int kMaxCategories = 100;
constexpr int kMaxLoggedIndices = 10'000;
constexpr size_t kMaxSealedBoxBytes = size_t{8} << 20;
constexpr size_t kMaxSweepBatch = 1000;

absl::Time TimeOf(const google::protobuf::Timestamp& t) { return absl::FromUnixMillis(ToMillis(t)); }

bool Approved(v1::DisclosureDecision d) {
  return d == v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE || d == v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER;
}

bool Denied(v1::DisclosureDecision d) {
  return d == v1::DISCLOSURE_DECISION_DENIED_BY_POLICY || d == v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER;
}

v1::DisclosureState StateOf(v1::DisclosureDecision d) {
  if (Approved(d)) return v1::DISCLOSURE_STATE_DELIVERED;
  if (Denied(d)) return v1::DISCLOSURE_STATE_DENIED;
  return v1::DISCLOSURE_STATE_EXPIRED;
}

v1::DenialReason ReasonOf(v1::DisclosureDecision d) {
  switch (d) {
    case v1::DISCLOSURE_DECISION_DENIED_BY_POLICY: return v1::DENIAL_REASON_NODE_POLICY;
    case v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER: return v1::DENIAL_REASON_APPROVER_DENIED;
    case v1::DISCLOSURE_DECISION_EXPIRED: return v1::DENIAL_REASON_APPROVAL_EXPIRED;
    default: return v1::DENIAL_REASON_UNSPECIFIED;
  }
}

v1::Outcome OutcomeOf(v1::DisclosureState s) {
  switch (s) {
    case v1::DISCLOSURE_STATE_DELIVERED: return v1::OUTCOME_GRANTED;
    case v1::DISCLOSURE_STATE_DENIED: return v1::OUTCOME_DENIED;
    case v1::DISCLOSURE_STATE_EXPIRED: return v1::OUTCOME_EXPIRED;
    case v1::DISCLOSURE_STATE_PENDING_APPROVAL: return v1::OUTCOME_PENDING;
    case v1::DISCLOSURE_STATE_REFUSED: return v1::OUTCOME_REFUSED;
    default: return v1::OUTCOME_FAILED;
  }
}

bool Decided(v1::DisclosureState s) {
  return s == v1::DISCLOSURE_STATE_DELIVERED || s == v1::DISCLOSURE_STATE_DENIED ||
         s == v1::DISCLOSURE_STATE_EXPIRED;
}

// The ask as it may be logged: bounded in size.
v1::DisclosureAsk LoggableAsk(const v1::DisclosureAsk& ask) {
  v1::DisclosureAsk out;
  for (int i = 0; i < ask.fields_size() && i < kMaxCategories; ++i) out.add_fields(ask.fields(i));
  for (int i = 0; i < ask.categories_size() && i < kMaxCategories; ++i) {
    out.add_categories(TruncateUtf8(ask.categories(i), kMaxCategoryChars));
  }
  // A reason that seems to hold an identifier is refused (CheckAsk) and
  // never logged.
  if (const auto kind = IdentifierShapeIn(ask.reason())) {
    out.set_reason(StrCat("(withheld: it seemed to hold ", *kind, ")"));
  } else {
    out.set_reason(TruncateUtf8(ask.reason(), kMaxAskReasonChars));
  }
  return out;
}

void CheckAsk(bool has_ask, const v1::DisclosureAsk& ask, std::vector<v1::FieldProblem>& problems) {
  if (!has_ask) {
    problems.push_back(Problem("ask", "missing", "the fields, categories and reason of the disclosure"));
    return;
  }
  if (ask.fields().empty()) {
    problems.push_back(Problem("ask.fields", "no field", "1 or more signal fields, e.g. contact_name"));
  }
  std::set<int> fields;
  for (int i = 0; i < ask.fields_size() && problems.size() < kMaxProblems; ++i) {
    const v1::SignalField f = ask.fields(i);
    if (!v1::SignalField_IsValid(f) || f == v1::SIGNAL_FIELD_UNSPECIFIED) {
      problems.push_back(Problem(StrCat("ask.fields[", i, "]"), "not a signal field", "a SignalField value"));
    } else if (!fields.insert(f).second) {
      problems.push_back(Problem(StrCat("ask.fields[", i, "]"), "repeats an earlier field", "each field once"));
    }
  }
  if (ask.categories_size() > kMaxCategories) {
    problems.push_back(Problem("ask.categories", StrCat(ask.categories_size(), " categories"),
                               StrCat("at most ", kMaxCategories)));
  }
  for (int i = 0; i < ask.categories_size() && i < kMaxCategories && problems.size() < kMaxProblems; ++i) {
    const size_t chars = Utf8Chars(ask.categories(i));
    if (chars == 0 || chars > kMaxCategoryChars) {
      problems.push_back(Problem(StrCat("ask.categories[", i, "]"), chars == 0 ? "empty" : StrCat(chars, " characters"),
                                 StrCat("1 to ", kMaxCategoryChars, " characters")));
    }
  }
  const size_t reason = Utf8Chars(ask.reason());
  if (reason == 0 || reason > kMaxAskReasonChars) {
    problems.push_back(Problem("ask.reason", reason == 0 ? "empty" : StrCat(reason, " characters"),
                               StrCat("1 to ", kMaxAskReasonChars, " characters, without identifiers")));
  } else if (const auto kind = IdentifierShapeIn(ask.reason())) {
    problems.push_back(Problem("ask.reason", StrCat("seems to hold ", *kind),
                               "a reason without identifiers (it is logged at the gateway)"));
  }
}

v1::Actor ActorOf(const v1::Requester& r) {
  v1::Actor a;
  a.set_user_id(r.user_id());
  a.set_role(r.role());
  return a;
}

// Hits at one partner as stored (parallel lists): the tags of the elements
// in [first, last), without repeats, in element order.
std::vector<std::string> HitTagsIn(const v1::OrgTags& hits, size_t first, size_t last) {
  std::vector<std::string> out;
  for (int k = 0; k < hits.hit_element_indices_size() && k < hits.tags_size(); ++k) {
    const size_t e = hits.hit_element_indices(k);
    if (e < first || e >= last) continue;
    if (std::find(out.begin(), out.end(), hits.tags(k)) == out.end()) out.push_back(hits.tags(k));
  }
  return out;
}

}  // namespace

struct GatewayService::Decision {
  v1::DisclosureState state = v1::DISCLOSURE_STATE_UNSPECIFIED;
  // The node's signed decision; null for an expiry or UNAVAILABLE.
  const v1::SealedDisclosure* sealed = nullptr;
  v1::DenialReason reason = v1::DENIAL_REASON_UNSPECIFIED;
  std::string detail;
  // Queue a DisclosureNotice for the requester.
  bool notify = false;
  absl::Time now;
  std::shared_ptr<const Policy> policy;
};

absl::Status GatewayService::CheckSealed(const StoredDisclosure& d, const v1::SealedDisclosure& sealed,
                                         absl::Time now, const Directory& directory) const {
  auto bad = [](std::string message) { return absl::InvalidArgumentError(std::move(message)); };
  if (!sealed.has_statement()) return bad("sealed.statement: missing");
  const v1::DisclosureStatement& st = sealed.statement();
  const v1::DisclosureStatus& status = d.status;
  if (st.exchange_id() != status.exchange_id()) return bad("sealed.statement.exchange_id: not the disclosure's exchange");
  if (st.disclosure_id() != status.disclosure_id()) return bad("sealed.statement.disclosure_id: not this disclosure");
  if (st.responder_org_id() != status.responder_org_id()) {
    return bad("sealed.statement.responder_org_id: not the organisation asked to disclose");
  }
  if (st.requester_org_id() != d.requester.org_id()) {
    return bad("sealed.statement.requester_org_id: not the organisation that asked");
  }
  if (st.purpose_id() != status.purpose_id()) return bad("sealed.statement.purpose_id: not the exchange's purpose");
  auto order_digest = canonical::Digest(canonical::kDisclosureOrderContext, d.order);
  if (!order_digest.ok()) return order_digest.status();
  if (st.order_digest() != DigestString(*order_digest)) {
    return bad("sealed.statement.order_digest: does not match the order the gateway sent");
  }
  const v1::DisclosureDecision decision = st.decision();
  if (!Approved(decision) && !Denied(decision) && decision != v1::DISCLOSURE_DECISION_EXPIRED) {
    return bad("sealed.statement.decision: not a decision");
  }
  if (!st.has_decided_at()) return bad("sealed.statement.decided_at: missing");
  if (Utf8Chars(st.reason()) > kMaxAskReasonChars) {
    return bad(StrCat("sealed.statement.reason: more than ", kMaxAskReasonChars, " characters"));
  }
  if (Approved(decision)) {
    if (sealed.sealed_box().empty()) return bad("sealed.sealed_box: missing for an approval");
    if (sealed.sealed_box().size() > kMaxSealedBoxBytes) {
      return bad(StrCat("sealed.sealed_box: ", sealed.sealed_box().size(), " bytes; at most 8 MiB"));
    }
    if (sealed.sealed_box().size() < crypto::kSealOverhead) {
      return bad(StrCat("sealed.sealed_box: ", sealed.sealed_box().size(), " bytes, shorter than any sealed box"));
    }
    const crypto::Blake2b256Digest hash = crypto::Blake2b256Hash(crypto::AsBytes(sealed.sealed_box()));
    if (st.payload_hash() != DigestString(hash)) {
      return bad("sealed.statement.payload_hash: is not the BLAKE2b-256 of the sealed box");
    }
    const auto& asked = d.order.ask().fields();
    for (int i = 0; i < st.fields_disclosed_size(); ++i) {
      if (std::find(asked.begin(), asked.end(), st.fields_disclosed(i)) == asked.end()) {
        return bad(StrCat("sealed.statement.fields_disclosed[", i, "]: ", SignalFieldName(st.fields_disclosed(i)),
                          " was not asked for"));
      }
    }
    const auto& categories = d.order.ask().categories();
    for (int i = 0; i < st.categories_disclosed_size() && !categories.empty(); ++i) {
      if (std::find(categories.begin(), categories.end(), st.categories_disclosed(i)) == categories.end()) {
        return bad(StrCat("sealed.statement.categories_disclosed[", i, "]: a category that was not asked for"));
      }
    }
  } else {
    if (!sealed.sealed_box().empty()) return bad("sealed.sealed_box: present for a decision that is not an approval");
    if (!st.payload_hash().empty() || !st.fields_disclosed().empty() || !st.categories_disclosed().empty() ||
        st.signal_count() != 0) {
      return bad("sealed.statement: fields, categories, signal count or payload hash set for a decision that is "
                 "not an approval");
    }
  }
  const absl::Status signed_ok = directory.VerifyNodeSignature(
      status.responder_org_id(), canonical::kDisclosureContext, st, sealed.node_signature(), now);
  if (!signed_ok.ok()) return bad(StrCat("sealed.node_signature: ", signed_ok.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::pair<StoredDisclosure, ExchangeLog::Appended>> GatewayService::RecordDecision(
    StoredDisclosure d, const Decision& c) {
  if (c.notify && outbox_ == nullptr) return absl::UnavailableError("the notification outbox is not available");
  const StoredDisclosure previous = d;
  v1::DisclosureStatus& status = d.status;
  status.set_state(c.state);
  status.set_reason(c.reason);
  status.set_detail(TruncateUtf8(c.detail, kMaxLogDetailChars));
  if (c.sealed != nullptr) {
    *status.mutable_sealed() = *c.sealed;
    *status.mutable_decided_at() = c.sealed->statement().decided_at();
    if (!c.sealed->sealed_box().empty()) d.box_handed_out_at = c.now;
  } else {
    SetTime(status.mutable_decided_at(), c.now);
  }

  v1::LogRecord record = NewLogRecord(v1::RECORD_KIND_DISCLOSURE_DECIDED, c.now, c.policy.get(),
                                      status.purpose_id(), d.requester.org_id(), ActorOf(d.requester));
  record.set_exchange_id(status.exchange_id());
  record.set_case_id(status.case_id());
  record.add_answering_org_ids(status.responder_org_id());
  record.set_outcome(OutcomeOf(c.state));
  if (c.reason != v1::DENIAL_REASON_UNSPECIFIED) record.add_denial_reasons(c.reason);
  record.set_detail(status.detail());
  v1::DisclosureRecord& r = *record.mutable_disclosure();
  r.set_disclosure_id(status.disclosure_id());
  r.set_responder_org_id(status.responder_org_id());
  *r.mutable_subject_indices() = status.subject_indices();
  *r.mutable_ask() = status.ask();
  r.set_state(c.state);
  *r.mutable_decide_by() = status.decide_by();
  if (c.sealed != nullptr) {  // the statement and signature; never the box
    *r.mutable_statement() = c.sealed->statement();
    *r.mutable_node_signature() = c.sealed->node_signature();
  }

  std::optional<NotificationOutbox::Reservation> reservation;
  v1::Notification notice;
  if (c.notify) {
    reservation.emplace(outbox_->Reserve({d.requester.org_id()}));
    *notice.mutable_disclosure()->mutable_status() = status;
  }
  auto entry = parts_.log->Append(record, [&](uint64_t sequence, store::WriteBatch& batch) {
    d.decided_sequence = sequence;
    disclosures_->AddPut(d, &previous, batch);
    if (reservation.has_value()) {
      outbox_->AddQueued(*reservation, d.requester.org_id(), notice, sequence, status.exchange_id(), batch);
    }
  });
  if (!entry.ok()) {
    LogLine(StrCat("disclosure ", Hex(status.disclosure_id()), ": the decision could not be logged: ",
                   entry.status().message()));
    return absl::UnavailableError("the exchange log could not be written; the decision was not recorded; retry");
  }
  if (reservation.has_value()) outbox_->Commit(*reservation);
  Appended();
  LogLine(StrCat("disclosure ", Hex(status.disclosure_id()), " from ", status.responder_org_id(), " to ",
                 d.requester.org_id(), ": ", v1::DisclosureState_Name(c.state),
                 c.reason == v1::DENIAL_REASON_UNSPECIFIED ? "" : StrCat(" ", v1::DenialReason_Name(c.reason))));
  return std::make_pair(std::move(d), *entry);
}

absl::StatusOr<StoredDisclosure> GatewayService::Expire(StoredDisclosure d, absl::Time now) {
  Decision c;
  c.state = v1::DISCLOSURE_STATE_EXPIRED;
  c.reason = v1::DENIAL_REASON_APPROVAL_EXPIRED;
  c.detail = "nobody decided before decide_by";
  c.notify = true;
  c.now = now;
  c.policy = parts_.current_policy();
  auto done = RecordDecision(std::move(d), c);
  if (!done.ok()) return done.status();
  return std::move(done->first);
}

absl::StatusOr<size_t> GatewayService::ExpireDisclosures() {
  if (disclosures_ == nullptr || outbox_ == nullptr) return absl::UnavailableError("disclosures are not available");
  const absl::Time now = Now();
  auto due = disclosures_->DuePending(now, kMaxSweepBatch);
  if (!due.ok()) return due.status();
  size_t expired = 0;
  for (const std::string& id : *due) {
    std::unique_lock lock = disclosures_->Lock(id);
    auto found = disclosures_->Get(id);
    if (!found.ok()) return found.status();
    if (!found->has_value() || (*found)->status.state() != v1::DISCLOSURE_STATE_PENDING_APPROVAL ||
        now <= TimeOf((*found)->status.decide_by())) {
      continue;
    }
    auto done = Expire(**std::move(found), now);
    if (!done.ok()) return done.status();
    ++expired;
  }
  auto dropped = disclosures_->DropExpiredBoxes(now);
  if (!dropped.ok()) return dropped.status();
  return expired;
}

void GatewayService::Sweep() {
  std::unique_lock lock(sweep_mu_);
  while (!sweep_stopping_) {
    sweep_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.sweep_interval), [&] { return sweep_stopping_; });
    if (sweep_stopping_) break;
    lock.unlock();
    auto swept = ExpireDisclosures();
    if (!swept.ok()) LogLine(StrCat("disclosure sweep: ", swept.status().message()));
    lock.lock();
  }
}

absl::StatusOr<uint64_t> GatewayService::PushNotifications(const std::string& org,
                                                           const v1::DeliverNotificationsRequest& request) {
  const std::shared_ptr<const Directory> directory = parts_.current_directory();
  const DirectoryOrg* node = directory->FindActive(org);
  if (node == nullptr) return absl::UnavailableError("not an active organisation in the directory");
  std::shared_ptr<v1::Node::Stub> stub = NodeStub(*node);
  if (stub == nullptr) {
    return absl::UnavailableError(node->endpoint.empty() ? "no endpoint in the directory" : "no channel to its endpoint");
  }
  grpc::ClientContext context;
  rpc::SetDeadline(context, absl::ToChronoMilliseconds(options_.partner_deadline));
  v1::DeliverNotificationsResponse response;
  const grpc::Status status = stub->DeliverNotifications(&context, request, &response);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return response.acknowledged_through();
}

absl::StatusOr<v1::RequestDisclosureResponse> GatewayService::RequestDisclosureFor(
    std::string_view caller_org, const v1::RequestDisclosureRequest& req, absl::Time caller_deadline,
    std::shared_ptr<const Directory> directory) {
  if (directory == nullptr) directory = parts_.current_directory();
  const absl::Time now = Now();
  const std::shared_ptr<const Policy> policy = parts_.current_policy();
  const std::string org(caller_org);
  if (disclosures_ == nullptr || outbox_ == nullptr) {
    return absl::UnavailableError("disclosures are not available (the notification outbox could not be opened)");
  }

  // The record every refusal logs: the request as asked, as far as it can
  // be logged.
  Refusal refusal;
  refusal.method = "RequestDisclosure";
  refusal.recipient = org;
  const bool responder_ok = rpc::IsValidOrgId(req.responder_org_id());
  auto base_record = [&](const std::string& purpose_id) {
    v1::LogRecord r = NewLogRecord(v1::RECORD_KIND_DISCLOSURE_REQUESTED, now, policy.get(), purpose_id, org,
                                   LoggableActor(req.actor()));
    if (req.exchange_id().size() == kIdSize) r.set_exchange_id(req.exchange_id());
    if (responder_ok) r.add_answering_org_ids(req.responder_org_id());
    v1::DisclosureRecord& d = *r.mutable_disclosure();
    if (responder_ok) d.set_responder_org_id(req.responder_org_id());
    for (int i = 0; i < req.subject_indices_size() && i < kMaxLoggedIndices; ++i) {
      d.add_subject_indices(req.subject_indices(i));
    }
    *d.mutable_ask() = LoggableAsk(req.ask());
    return r;
  };
  refusal.record = base_record("");

  // 1. Shape.
  std::vector<v1::FieldProblem>& problems = refusal.problems;
  if (req.request_id().size() != kIdSize) {
    problems.push_back(Problem("request_id", StrCat(req.request_id().size(), " bytes"), "exactly 16 random bytes"));
  }
  CheckActor(req.has_actor(), req.actor(), problems);
  if (req.exchange_id().size() != kIdSize) {
    problems.push_back(Problem("exchange_id", StrCat(req.exchange_id().size(), " bytes"), "exactly 16 bytes"));
  }
  if (!responder_ok) {
    problems.push_back(Problem("responder_org_id", req.responder_org_id().empty() ? "empty" : "not an organisation id",
                               "the partner asked to disclose"));
  }
  if (req.subject_indices().empty()) {
    problems.push_back(Problem("subject_indices", "no subject", "1 or more subject indexes of the exchange"));
  }
  {
    std::set<uint32_t> seen;
    for (int i = 0; i < req.subject_indices_size() && problems.size() < kMaxProblems; ++i) {
      if (!seen.insert(req.subject_indices(i)).second) {
        problems.push_back(Problem(StrCat("subject_indices[", i, "]"), "repeats an earlier subject", "each subject once"));
      }
    }
  }
  CheckAsk(req.has_ask(), req.ask(), problems);
  if (!problems.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_MALFORMED_REQUEST, ""));
  }

  // Idempotency: one request at a time per request id, then the stored one.
  auto in_flight = disclosures_->Begin(org, req.request_id());
  if (!in_flight.ok()) {
    v1::ErrorDetail detail;
    SetDuration(detail.mutable_retry_after(), absl::Seconds(1));
    return rpc::WithErrorDetail(in_flight.status(), detail);
  }
  const canonical::DigestBytes request_digest = Fingerprint(req);
  auto previous = disclosures_->FindRequest(org, req.request_id(), request_digest);
  if (!previous.ok()) {
    if (previous.status().code() == absl::StatusCode::kAlreadyExists) {
      return Refuse(refusal.With(absl::StatusCode::kAlreadyExists, v1::DENIAL_REASON_MALFORMED_REQUEST,
                                 std::string(previous.status().message())));
    }
    return previous.status();
  }
  if (previous->has_value()) {
    const std::string id = (*previous)->status.disclosure_id();
    std::unique_lock lock = disclosures_->Lock(id);
    auto again = disclosures_->Get(id);
    if (!again.ok()) return again.status();
    if (!again->has_value()) return absl::DataLossError("disclosures: a stored disclosure went missing");
    StoredDisclosure d = **std::move(again);
    if (d.status.state() == v1::DISCLOSURE_STATE_PENDING_APPROVAL && now > TimeOf(d.status.decide_by())) {
      auto expired = Expire(std::move(d), now);
      if (!expired.ok()) return expired.status();
      d = *std::move(expired);
    }
    auto handed = disclosures_->MarkHandedOut(std::move(d), now);
    if (!handed.ok()) return handed.status();
    v1::RequestDisclosureResponse response;
    *response.mutable_status() = handed->status;
    for (uint64_t sequence : {handed->requested_sequence, handed->decided_sequence}) {
      if (sequence == 0) continue;
      auto receipt = ReissueReceipt(sequence, org, handed->status.exchange_id());
      if (!receipt.ok()) return receipt.status();
      *response.add_receipts() = *std::move(receipt);
    }
    return response;
  }

  // 2. The exchange.
  auto found = parts_.exchanges->Get(req.exchange_id());
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->requester.org_id() != org) {
    // Another organisation's exchange is reported as if it did not exist.
    return Refuse(refusal.With(absl::StatusCode::kNotFound, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
                               "exchange_id: no such exchange for the calling organisation"));
  }
  const StoredExchange& exchange = **found;
  const std::string& purpose_id = exchange.shape.purpose_id();
  refusal.record = base_record(purpose_id);
  refusal.record.set_case_id(exchange.shape.case_id());
  const uint32_t subject_count = static_cast<uint32_t>(exchange.shape.subjects_size());
  for (int i = 0; i < req.subject_indices_size() && problems.size() < kMaxProblems; ++i) {
    if (req.subject_indices(i) >= subject_count) {
      problems.push_back(Problem(StrCat("subject_indices[", i, "]"), StrCat("subject ", req.subject_indices(i)),
                                 StrCat("0 to ", subject_count - 1, " (the exchange has ", subject_count,
                                        subject_count == 1 ? " subject)" : " subjects)")));
    }
  }
  if (!problems.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_MALFORMED_REQUEST, ""));
  }
  auto resolved = parts_.exchanges->GetResolved(req.exchange_id());
  if (!resolved.ok()) return resolved.status();
  if (!resolved->has_value()) {
    return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
                               "exchange_id: the exchange is not resolved; disclosure follows a resolved hit"));
  }
  if (policy == nullptr) return absl::UnavailableError("no policy is in force");
  const Purpose* purpose = policy->Find(purpose_id);
  if (purpose == nullptr) {
    return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_PURPOSE_UNKNOWN,
                               "the exchange's purpose is no longer in the policy in force"));
  }
  // When it was resolved and what hit where (from the log entry for a
  // resolution stored before the hits were kept).
  absl::Time resolved_at = (*resolved)->resolved_at.value_or(absl::InfinitePast());
  std::vector<v1::OrgTags> hit_tags = (*resolved)->hit_tags;
  if (!(*resolved)->has_hits) {
    auto entries = parts_.log->Read((*resolved)->resolved_sequence, 1);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) return absl::DataLossError("exchange log: the resolution's entry is missing");
    const v1::LogRecord& r = (*entries)[0].record();
    resolved_at = TimeOf(r.recorded_at());
    for (const v1::OrgTags& t : r.tags()) {
      v1::OrgTags& h = hit_tags.emplace_back();
      h.set_org_id(t.org_id());
      h.set_purpose_id(t.purpose_id());
      for (uint32_t e : t.hit_element_indices()) {
        if (e >= static_cast<uint32_t>(t.tags_size())) continue;
        h.add_hit_element_indices(e);
        h.add_tags(t.tags(static_cast<int>(e)));
      }
    }
  }
  if (now > resolved_at + purpose->disclosure_window) {
    return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
                               StrCat("exchange_id: outside the purpose's disclosure window (",
                                      absl::FormatDuration(purpose->disclosure_window),
                                      " after the exchange was resolved)")));
  }
  if (!exchange.shape.case_id().empty()) {
    if (parts_.cases == nullptr) return absl::UnavailableError("cases are not available");
    auto the_case = parts_.cases->Get(exchange.shape.case_id(), now);
    if (!the_case.ok() && the_case.status().code() != absl::StatusCode::kNotFound) return the_case.status();
    if (!the_case.ok() || EffectiveState(*the_case, now) != v1::CASE_STATE_OPEN) {
      return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_CASE_NOT_OPEN,
                                 the_case.ok() && EffectiveState(*the_case, now) == v1::CASE_STATE_EXPIRED
                                     ? "the exchange's case has passed its end date"
                                     : "the exchange's case is no longer open"));
    }
  }
  const std::vector<size_t> offsets = ElementOffsets(exchange.shape);
  const auto responder_hits = std::find_if(hit_tags.begin(), hit_tags.end(), [&](const v1::OrgTags& t) {
    return t.org_id() == req.responder_org_id();
  });
  std::vector<v1::DisclosureTarget> targets;
  for (int i = 0; i < req.subject_indices_size(); ++i) {
    const uint32_t s = req.subject_indices(i);
    std::vector<std::string> tags;
    if (responder_hits != hit_tags.end()) tags = HitTagsIn(*responder_hits, offsets[s], offsets[s + 1]);
    if (tags.empty()) {
      if (problems.size() < kMaxProblems) {
        problems.push_back(Problem(StrCat("subject_indices[", i, "]"), "not a hit at this partner in this exchange",
                                   "subjects that were a hit at the responder"));
      }
      continue;
    }
    v1::DisclosureTarget& t = targets.emplace_back();
    t.set_subject_index(s);
    for (std::string& tag : tags) t.add_tags(std::move(tag));
  }
  if (!problems.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_NOT_A_HIT, ""));
  }

  // 3. The purpose's disclosure rule, and the role.
  std::vector<v1::SignalField> fields;
  for (int f : req.ask().fields()) fields.push_back(static_cast<v1::SignalField>(f));
  const std::vector<std::string> categories(req.ask().categories().begin(), req.ask().categories().end());
  const DisclosureDecision allowed = purpose->MayDisclose(req.responder_org_id(), org, fields, categories);
  if (!allowed.allowed()) {
    return Refuse(refusal.With(allowed.reason == v1::DENIAL_REASON_MALFORMED_REQUEST
                                   ? absl::StatusCode::kInvalidArgument
                                   : absl::StatusCode::kPermissionDenied,
                               allowed.reason, allowed.message));
  }
  const AskDecision may_ask = policy->MayAsk(purpose_id, org, req.actor().role(), absl::ToCivilDay(now, options_.zone));
  if (!may_ask.allowed()) return Refuse(refusal.With(CodeFor(may_ask.reason), may_ask.reason, may_ask.message));
  const DirectoryOrg* me = directory->FindActive(org);
  const DirectoryKey* box_key = nullptr;
  if (me != nullptr) {
    for (const DirectoryKey& k : me->box_keys) {
      if (k.ValidAt(now)) box_key = &k;  // the latest valid one (a rotation lists the new key last)
    }
  }
  if (box_key == nullptr) {
    return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_DISCLOSURE_NOT_ALLOWED,
                               "the requesting organisation has no box key in the directory to seal a "
                               "disclosure to"));
  }

  // The order and the disclosure as stored.
  StoredDisclosure d;
  const std::string disclosure_id = RandomId();
  d.requester.set_org_id(org);
  d.requester.set_user_id(req.actor().user_id());
  d.requester.set_role(req.actor().role());
  d.request_id = req.request_id();
  d.request_digest = request_digest;
  const absl::Time decide_by = WholeMillis(now + purpose->approval_timeout);
  v1::DisclosureOrder& order = d.order;
  order.set_disclosure_id(disclosure_id);
  *order.mutable_requester() = d.requester;
  order.mutable_lawful_basis()->set_reference(purpose->lawful_basis.reference);
  order.mutable_lawful_basis()->set_text(purpose->lawful_basis.text);
  for (v1::DisclosureTarget& t : targets) *order.add_targets() = std::move(t);
  *order.mutable_ask() = req.ask();
  if (req.ask().categories().empty()) {
    // "Every category the policy allows": the rule's, when it names them.
    for (const std::string& c : allowed.rule->categories) order.mutable_ask()->add_categories(c);
  }
  order.set_requester_box_key(std::string(box_key->key.begin(), box_key->key.end()));
  SetTime(order.mutable_decide_by(), decide_by);
  v1::DisclosureStatus& status = d.status;
  status.set_disclosure_id(disclosure_id);
  status.set_exchange_id(req.exchange_id());
  status.set_responder_org_id(req.responder_org_id());
  status.set_purpose_id(purpose_id);
  status.set_case_id(exchange.shape.case_id());
  *status.mutable_subject_indices() = req.subject_indices();
  *status.mutable_ask() = req.ask();
  status.set_state(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  SetTime(status.mutable_requested_at(), now);
  SetTime(status.mutable_decide_by(), decide_by);

  // 4. DISCLOSURE_REQUESTED, durably, with the stored disclosure.
  v1::LogRecord requested = refusal.record;
  requested.set_outcome(v1::OUTCOME_GRANTED);
  requested.mutable_disclosure()->set_disclosure_id(disclosure_id);
  *requested.mutable_disclosure()->mutable_ask() = req.ask();
  SetTime(requested.mutable_disclosure()->mutable_decide_by(), decide_by);
  requested.set_detail(StrCat("accepted: ", order.targets_size(), order.targets_size() == 1 ? " subject, " : " subjects, ",
                              req.ask().fields_size(), req.ask().fields_size() == 1 ? " field" : " fields",
                              " asked of ", req.responder_org_id()));
  auto requested_entry = parts_.log->Append(requested, [&](uint64_t sequence, store::WriteBatch& batch) {
    d.requested_sequence = sequence;
    disclosures_->AddPut(d, nullptr, batch);
  });
  if (!requested_entry.ok()) {
    LogLine(StrCat("RequestDisclosure from ", org, ": not performed, the log could not be written: ",
                   requested_entry.status().message()));
    return absl::UnavailableError(
        "the exchange log could not be written; nothing was forwarded; retry with the same request_id");
  }
  Appended();

  // 5. Node.Disclose.
  auto order_digest = canonical::Digest(canonical::kDisclosureOrderContext, order);
  if (!order_digest.ok()) return order_digest.status();
  v1::AuthorisationPayload payload;
  payload.set_operation(v1::AUTHORISED_OPERATION_DISCLOSE);
  payload.set_exchange_id(req.exchange_id());
  payload.set_requester_org_id(org);
  payload.set_responder_org_id(req.responder_org_id());
  payload.set_purpose_id(purpose_id);
  payload.set_case_id(exchange.shape.case_id());
  payload.set_policy_version(policy->version());
  payload.set_subject_count(static_cast<uint32_t>(order.targets_size()));
  payload.set_request_digest(DigestString(*order_digest));
  payload.set_disclosure_id(disclosure_id);
  auto authorisation = parts_.authoriser->Issue(std::move(payload));
  if (!authorisation.ok()) return authorisation.status();
  v1::DiscloseRequest disclose;
  *disclose.mutable_authorisation() = *std::move(authorisation);
  *disclose.mutable_order() = order;
  auto node_receipt = parts_.receipts->Issue(*requested_entry, req.responder_org_id(), req.exchange_id());
  if (!node_receipt.ok()) return node_receipt.status();
  *disclose.mutable_receipt() = *std::move(node_receipt);
  const DirectoryOrg* responder = directory->FindActive(req.responder_org_id());
  std::shared_ptr<v1::Node::Stub> stub = responder != nullptr ? NodeStub(*responder) : nullptr;
  v1::DiscloseResponse answer;
  absl::Status call = absl::OkStatus();
  const absl::Duration partner_deadline = PartnerDeadline(caller_deadline, 0);
  if (stub == nullptr) {
    call = absl::UnavailableError(responder == nullptr       ? "not an active organisation in the directory"
                                  : responder->endpoint.empty() ? "no endpoint in the directory"
                                                                : "no channel to its endpoint");
  } else {
    grpc::ClientContext context;
    rpc::SetDeadline(context, absl::ToChronoMilliseconds(partner_deadline));
    call = rpc::FromGrpcStatus(stub->Disclose(&context, disclose, &answer));
  }

  // 6. The answer, checked, and DISCLOSURE_DECIDED.
  Decision c;
  c.now = Now();
  c.policy = policy;
  bool pending = false;
  if (!call.ok()) {
    c.state = v1::DISCLOSURE_STATE_UNAVAILABLE;
    const absl::StatusCode code = call.code();
    if (code == absl::StatusCode::kDeadlineExceeded) {
      c.detail = StrCat("the partner did not answer within ", FormatMs(partner_deadline));
    } else if (code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kPermissionDenied ||
               code == absl::StatusCode::kFailedPrecondition || code == absl::StatusCode::kAlreadyExists ||
               code == absl::StatusCode::kUnauthenticated) {
      c.reason = NodeReason(call);
      c.detail = StrCat("the partner refused the call (", absl::StatusCodeToString(code), "): ", call.message());
    } else {
      c.detail = StrCat("the partner could not be reached (", absl::StatusCodeToString(code), "): ", call.message());
    }
  } else if (answer.state() == v1::DISCLOSURE_STATE_PENDING_APPROVAL && !answer.has_sealed()) {
    pending = true;
  } else if ((answer.state() == v1::DISCLOSURE_STATE_DELIVERED || answer.state() == v1::DISCLOSURE_STATE_DENIED) &&
             answer.has_sealed()) {
    absl::Status checked = CheckSealed(d, answer.sealed(), c.now, *directory);
    const v1::DisclosureStatement& st = answer.sealed().statement();
    if (checked.ok() && StateOf(st.decision()) != answer.state()) {
      checked = absl::InvalidArgumentError("state: does not match the statement's decision");
    }
    if (checked.ok()) {
      c.state = answer.state();
      c.sealed = &answer.sealed();
      c.reason = ReasonOf(st.decision());
      c.detail = answer.state() == v1::DISCLOSURE_STATE_DELIVERED
                     ? StrCat("delivered: ", st.fields_disclosed_size(), " fields of ", st.signal_count(),
                              st.signal_count() == 1 ? " signal" : " signals")
                     : StrCat("denied", st.reason().empty() ? "" : StrCat(": ", st.reason()));
    } else {
      c.state = v1::DISCLOSURE_STATE_UNAVAILABLE;
      c.reason = v1::DENIAL_REASON_INVALID_PROOF;
      c.detail = StrCat("invalid answer from the partner: ", checked.message());
    }
  } else {
    c.state = v1::DISCLOSURE_STATE_UNAVAILABLE;
    c.reason = v1::DENIAL_REASON_INVALID_PROOF;
    c.detail = StrCat("invalid answer from the partner: state ", v1::DisclosureState_Name(answer.state()),
                      answer.has_sealed() ? " with" : " without", " a signed statement");
  }

  v1::RequestDisclosureResponse response;
  auto receipt = parts_.receipts->Issue(*requested_entry, org, req.exchange_id());
  if (!receipt.ok()) return receipt.status();
  *response.add_receipts() = *std::move(receipt);
  std::unique_lock lock = disclosures_->Lock(disclosure_id);
  auto current = disclosures_->Get(disclosure_id);
  if (!current.ok()) return current.status();
  if (!current->has_value()) return absl::DataLossError("disclosures: a stored disclosure went missing");
  if (!pending && (*current)->status.state() == v1::DISCLOSURE_STATE_PENDING_APPROVAL) {
    auto done = RecordDecision(**std::move(current), c);
    if (!done.ok()) return done.status();
    auto decided = parts_.receipts->Issue(done->second, org, req.exchange_id());
    if (!decided.ok()) return decided.status();
    *response.add_receipts() = *std::move(decided);
    *response.mutable_status() = done->first.status;
    return response;
  }
  // Pending at the node, or decided meanwhile (CompleteDisclosure came first).
  if (pending) {
    LogLine(StrCat("disclosure ", Hex(disclosure_id), " from ", req.responder_org_id(), " to ", org,
                   ": pending approval until ", absl::FormatTime(absl::RFC3339_sec, decide_by, absl::UTCTimeZone())));
  }
  StoredDisclosure now_stored = **std::move(current);
  if (now_stored.decided_sequence != 0) {
    auto decided = ReissueReceipt(now_stored.decided_sequence, org, req.exchange_id());
    if (!decided.ok()) return decided.status();
    *response.add_receipts() = *std::move(decided);
  }
  auto handed = disclosures_->MarkHandedOut(std::move(now_stored), c.now);
  if (!handed.ok()) return handed.status();
  *response.mutable_status() = handed->status;
  return response;
}

absl::StatusOr<v1::GetDisclosureResponse> GatewayService::GetDisclosureFor(std::string_view caller_org,
                                                                          const v1::GetDisclosureRequest& req) {
  if (disclosures_ == nullptr || outbox_ == nullptr) return absl::UnavailableError("disclosures are not available");
  const absl::Status not_found =
      absl::NotFoundError("disclosure_id: no such disclosure asked by the calling organisation");
  if (req.disclosure_id().size() != kIdSize) return not_found;
  std::unique_lock lock = disclosures_->Lock(req.disclosure_id());
  auto found = disclosures_->Get(req.disclosure_id());
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->requester.org_id() != caller_org) return not_found;
  StoredDisclosure d = **std::move(found);
  const absl::Time now = Now();
  if (d.status.state() == v1::DISCLOSURE_STATE_PENDING_APPROVAL && now > TimeOf(d.status.decide_by())) {
    auto expired = Expire(std::move(d), now);
    if (!expired.ok()) return expired.status();
    d = *std::move(expired);
  }
  auto handed = disclosures_->MarkHandedOut(std::move(d), now);
  if (!handed.ok()) return handed.status();
  v1::GetDisclosureResponse response;
  *response.mutable_status() = handed->status;
  return response;
}

absl::StatusOr<v1::CompleteDisclosureResponse> GatewayService::CompleteDisclosureFor(
    std::string_view caller_org, const v1::CompleteDisclosureRequest& req,
    std::shared_ptr<const Directory> directory) {
  if (directory == nullptr) directory = parts_.current_directory();
  const absl::Time now = Now();
  const std::shared_ptr<const Policy> policy = parts_.current_policy();
  const std::string org(caller_org);
  if (disclosures_ == nullptr || outbox_ == nullptr) return absl::UnavailableError("disclosures are not available");

  Refusal refusal;
  refusal.method = "CompleteDisclosure";
  refusal.recipient = org;
  refusal.record = NewLogRecord(v1::RECORD_KIND_DISCLOSURE_DECIDED, now, policy.get(), "", org, v1::Actor());
  std::vector<v1::FieldProblem>& problems = refusal.problems;
  if (req.disclosure_id().size() != kIdSize) {
    problems.push_back(Problem("disclosure_id", StrCat(req.disclosure_id().size(), " bytes"), "exactly 16 bytes"));
  }
  if (!req.has_sealed()) {
    problems.push_back(Problem("sealed", "missing", "the node's signed decision"));
  } else if (!req.sealed().has_statement()) {
    problems.push_back(Problem("sealed.statement", "missing", "the node's signed statement"));
  }
  if (!problems.empty()) {
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_MALFORMED_REQUEST, ""));
  }
  std::unique_lock lock = disclosures_->Lock(req.disclosure_id());
  auto found = disclosures_->Get(req.disclosure_id());
  if (!found.ok()) return found.status();
  if (!found->has_value() || (*found)->status.responder_org_id() != org) {
    return Refuse(refusal.With(absl::StatusCode::kNotFound, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
                               "disclosure_id: no such disclosure addressed to the calling organisation"));
  }
  StoredDisclosure d = **std::move(found);
  const v1::SealedDisclosure& sealed = req.sealed();
  {
    v1::LogRecord r = NewLogRecord(v1::RECORD_KIND_DISCLOSURE_DECIDED, now, policy.get(), d.status.purpose_id(), org,
                                   v1::Actor());
    r.set_exchange_id(d.status.exchange_id());
    r.set_case_id(d.status.case_id());
    r.add_answering_org_ids(org);
    v1::DisclosureRecord& dr = *r.mutable_disclosure();
    dr.set_disclosure_id(d.status.disclosure_id());
    dr.set_responder_org_id(org);
    *dr.mutable_subject_indices() = d.status.subject_indices();
    *dr.mutable_ask() = d.status.ask();
    dr.set_state(d.status.state());
    *dr.mutable_decide_by() = d.status.decide_by();
    refusal.record = std::move(r);
  }

  // A retry of the decision already recorded gets its receipt again.
  if (Decided(d.status.state())) {
    if (d.status.has_sealed() &&
        DeterministicBytes(d.status.sealed().statement()) == DeterministicBytes(sealed.statement()) &&
        DeterministicBytes(d.status.sealed().node_signature()) == DeterministicBytes(sealed.node_signature())) {
      auto receipt = ReissueReceipt(d.decided_sequence, org, d.status.exchange_id());
      if (!receipt.ok()) return receipt.status();
      v1::CompleteDisclosureResponse response;
      *response.add_receipts() = *std::move(receipt);
      return response;
    }
    if (d.status.state() == v1::DISCLOSURE_STATE_EXPIRED && !d.status.has_sealed()) {
      return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_APPROVAL_EXPIRED,
                                 "disclosure_id: decided after decide_by; the gateway has recorded it EXPIRED"));
    }
    return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_MALFORMED_REQUEST,
                               StrCat("disclosure_id: already decided differently (",
                                      v1::DisclosureState_Name(d.status.state()), ")")));
  }
  if (absl::Status checked = CheckSealed(d, sealed, now, *directory); !checked.ok()) {
    *refusal.record.mutable_disclosure()->mutable_statement() = sealed.statement();
    *refusal.record.mutable_disclosure()->mutable_node_signature() = sealed.node_signature();
    return Refuse(refusal.With(absl::StatusCode::kInvalidArgument, v1::DENIAL_REASON_INVALID_PROOF,
                               std::string(checked.message())));
  }
  const absl::Time decide_by = TimeOf(d.status.decide_by());
  if (now > decide_by || TimeOf(sealed.statement().decided_at()) > decide_by) {
    if (d.status.state() == v1::DISCLOSURE_STATE_PENDING_APPROVAL) {
      auto expired = Expire(std::move(d), now);
      if (!expired.ok()) return expired.status();
      refusal.record.mutable_disclosure()->set_state(v1::DISCLOSURE_STATE_EXPIRED);
    }
    return Refuse(refusal.With(absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_APPROVAL_EXPIRED,
                               "disclosure_id: decided after decide_by; the gateway has recorded it EXPIRED"));
  }
  Decision c;
  c.state = StateOf(sealed.statement().decision());
  c.sealed = &sealed;
  c.reason = ReasonOf(sealed.statement().decision());
  const v1::DisclosureStatement& st = sealed.statement();
  c.detail = c.state == v1::DISCLOSURE_STATE_DELIVERED
                 ? StrCat("delivered: ", st.fields_disclosed_size(), " fields of ", st.signal_count(),
                          st.signal_count() == 1 ? " signal" : " signals")
                 : StrCat(c.state == v1::DISCLOSURE_STATE_DENIED ? "denied" : "expired at the partner",
                          st.reason().empty() ? "" : StrCat(": ", st.reason()));
  c.notify = true;
  c.now = now;
  c.policy = policy;
  auto done = RecordDecision(std::move(d), c);
  if (!done.ok()) return done.status();
  auto receipt = parts_.receipts->Issue(done->second, org, done->first.status.exchange_id());
  if (!receipt.ok()) return receipt.status();
  v1::CompleteDisclosureResponse response;
  *response.add_receipts() = *std::move(receipt);
  return response;
}

absl::StatusOr<v1::FetchNotificationsResponse> GatewayService::FetchNotificationsFor(
    std::string_view caller_org, const v1::FetchNotificationsRequest& req) {
  if (outbox_ == nullptr) return absl::UnavailableError("notifications are not available");
  return outbox_->Fetch(std::string(caller_org), req.after_sequence(), req.max_count());
}

// ------------------------------------------------------------------ Reads

absl::StatusOr<v1::GetDirectoryResponse> GatewayService::GetDirectoryFor(
    std::string_view, const v1::GetDirectoryRequest& req, std::shared_ptr<const Directory> directory) const {
  if (directory == nullptr) directory = parts_.current_directory();
  v1::GetDirectoryResponse response;
  const std::set<std::string> only(req.org_ids().begin(), req.org_ids().end());
  for (const DirectoryOrg& o : directory->organisations()) {
    if (!only.empty() && only.count(o.org_id) == 0) continue;
    if (!o.active && !req.include_inactive()) continue;
    *response.add_organisations() = directory->ToProto(o);
  }
  v1::GatewayIdentity& gateway = *response.mutable_gateway();
  v1::PublicKey& key = *gateway.add_signing_keys();
  const crypto::Bytes raw = parts_.receipts->verify_key().ToBytes();
  key.set_key(std::string(raw.begin(), raw.end()));
  const canonical::KeyIdBytes id = canonical::KeyId(parts_.receipts->verify_key());
  key.set_key_id(std::string(id.begin(), id.end()));
  gateway.set_certificate_identity(OrgUri(options_.gateway_org_id));
  response.set_directory_version(directory->version());
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
  // A stream outlives reloads: its organisation must still be active.
  if (parts_.current_directory()->FindActive(org) == nullptr) {
    return absl::UnauthenticatedError("certificate names no active organisation");
  }
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

namespace {

absl::Time CallerDeadline(const grpc::ServerContext& context) {
  const auto deadline = context.deadline();
  return deadline == std::chrono::system_clock::time_point::max() ? absl::InfiniteFuture()
                                                                  : absl::FromChrono(deadline);
}

}  // namespace

absl::StatusOr<std::string> GatewayService::IdentifyLogged(const grpc::ServerContext& context,
                                                           std::string_view method, v1::LogRecord refusal,
                                                           const Directory& directory) {
  auto org = IdentifyCaller(directory, context, *parts_.log, std::move(refusal));
  if (!org.ok()) {
    Appended();
    LogLine(StrCat("refused ", method, ": UNAUTHENTICATED: ", org.status().message(), " (presented ",
                   PresentedIdentity(context), ")"));
  }
  return org;
}

grpc::Status GatewayService::GetDirectory(grpc::ServerContext* context,
                                          const v1::GetDirectoryRequest* request,
                                          v1::GetDirectoryResponse* response) {
  const std::shared_ptr<const Directory> directory = parts_.current_directory();
  auto org = IdentifyCaller(*directory, *context, *parts_.log, v1::LogRecord());
  if (!org.ok()) return Finish("GetDirectory", org.status());
  auto result = GetDirectoryFor(*org, *request, directory);
  if (result.ok()) *response = *std::move(result);
  return Finish("GetDirectory", result.status());
}

grpc::Status GatewayService::ListPurposes(grpc::ServerContext* context,
                                          const v1::ListPurposesRequest* request,
                                          v1::ListPurposesResponse* response) {
  auto org = IdentifyCaller(*parts_.current_directory(), *context, *parts_.log, v1::LogRecord());
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
  const std::shared_ptr<const Directory> directory = parts_.current_directory();
  auto org = IdentifyLogged(*context, "OpenExchange", std::move(refusal), *directory);
  if (!org.ok()) return rpc::ToGrpcStatus(org.status());
  const absl::Time caller_deadline = CallerDeadline(*context);
  auto result = OpenExchangeFor(*org, *request, caller_deadline, directory);
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
  const std::shared_ptr<const Directory> directory = parts_.current_directory();
  auto org = IdentifyLogged(*context, "ResolveMatches", std::move(refusal), *directory);
  if (!org.ok()) return rpc::ToGrpcStatus(org.status());
  auto result = ResolveMatchesFor(*org, *request, directory);
  if (result.ok()) *response = *std::move(result);
  return Finish("ResolveMatches", result.status());
}

grpc::Status GatewayService::RequestDisclosure(grpc::ServerContext* context,
                                               const v1::RequestDisclosureRequest* request,
                                               v1::RequestDisclosureResponse* response) {
  v1::LogRecord refusal = NewLogRecord(v1::RECORD_KIND_DISCLOSURE_REQUESTED, Now(),
                                       parts_.current_policy().get(), "", "",
                                       LoggableActor(request->actor()));
  if (request->exchange_id().size() == kIdSize) refusal.set_exchange_id(request->exchange_id());
  const std::shared_ptr<const Directory> directory = parts_.current_directory();
  auto org = IdentifyLogged(*context, "RequestDisclosure", std::move(refusal), *directory);
  if (!org.ok()) return rpc::ToGrpcStatus(org.status());
  const absl::Time caller_deadline = CallerDeadline(*context);
  auto result = RequestDisclosureFor(*org, *request, caller_deadline, directory);
  if (result.ok()) *response = *std::move(result);
  return Finish("RequestDisclosure", result.status());
}

grpc::Status GatewayService::GetDisclosure(grpc::ServerContext* context,
                                           const v1::GetDisclosureRequest* request,
                                           v1::GetDisclosureResponse* response) {
  auto org = IdentifyCaller(*parts_.current_directory(), *context, *parts_.log, v1::LogRecord());
  if (!org.ok()) return Finish("GetDisclosure", org.status());
  auto result = GetDisclosureFor(*org, *request);
  if (result.ok()) *response = *std::move(result);
  return Finish("GetDisclosure", result.status());
}

grpc::Status GatewayService::CompleteDisclosure(grpc::ServerContext* context,
                                                const v1::CompleteDisclosureRequest* request,
                                                v1::CompleteDisclosureResponse* response) {
  v1::LogRecord refusal = NewLogRecord(v1::RECORD_KIND_DISCLOSURE_DECIDED, Now(),
                                       parts_.current_policy().get(), "", "", v1::Actor());
  const std::shared_ptr<const Directory> directory = parts_.current_directory();
  auto org = IdentifyLogged(*context, "CompleteDisclosure", std::move(refusal), *directory);
  if (!org.ok()) return rpc::ToGrpcStatus(org.status());
  auto result = CompleteDisclosureFor(*org, *request, directory);
  if (result.ok()) *response = *std::move(result);
  return Finish("CompleteDisclosure", result.status());
}

grpc::Status GatewayService::FetchNotifications(grpc::ServerContext* context,
                                                const v1::FetchNotificationsRequest* request,
                                                v1::FetchNotificationsResponse* response) {
  auto org = IdentifyCaller(*parts_.current_directory(), *context, *parts_.log, v1::LogRecord());
  if (!org.ok()) return Finish("FetchNotifications", org.status());
  auto result = FetchNotificationsFor(*org, *request);
  if (result.ok()) *response = *std::move(result);
  return Finish("FetchNotifications", result.status());
}

grpc::Status GatewayService::GetIndexState(grpc::ServerContext* context, const v1::GetIndexStateRequest*,
                                           v1::GetIndexStateResponse* response) {
  auto org = IdentifyCaller(*parts_.current_directory(), *context, *parts_.log, v1::LogRecord());
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
  auto org = parts_.current_directory()->CallerOrg(*context);
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
