#include "nodes/disclosure_responder.h"

#include <grpcpp/client_context.h>
#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <set>
#include <utility>

#include "common/free_text.h"
#include "common/strings.h"
#include "crypto/hash.h"
#include "crypto/sealed_box.h"
#include "proto/canonical.h"
#include "proto/names.h"
#include "rpc/deadline.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr size_t kIdSize = 16;
constexpr size_t kMaxReason = 2000;

int64_t Millis(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

void SetMillis(int64_t ms, google::protobuf::Timestamp* t) {
  t->set_seconds(ms / 1000);
  t->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
}

std::string AsString(crypto::ByteView b) { return std::string(b.begin(), b.end()); }

absl::Status WithReason(absl::Status status, v1::DenialReason reason) {
  v1::ErrorDetail detail;
  detail.set_reason(reason);
  return rpc::WithErrorDetail(std::move(status), detail);
}

absl::Status Malformed(std::string message) {
  return WithReason(absl::InvalidArgumentError(std::move(message)),
                    v1::DENIAL_REASON_MALFORMED_REQUEST);
}

// "contact_phone" for SIGNAL_FIELD_CONTACT_PHONE (the policy's spelling).
std::string FieldName(v1::SignalField field) {
  return std::string(names::NameOf(names::kSignalFields, field));
}

std::string FieldList(const google::protobuf::RepeatedField<int>& fields) {
  std::string out;
  for (int f : fields) out += StrCat(out.empty() ? "" : ", ", FieldName(static_cast<v1::SignalField>(f)));
  return out.empty() ? "none" : out;
}

bool Contains(const google::protobuf::RepeatedField<int>& fields, v1::SignalField field) {
  return std::find(fields.begin(), fields.end(), static_cast<int>(field)) != fields.end();
}

// An approver's reason goes to the requester and into the gateway's log.
absl::Status CheckDecisionReason(std::string_view reason) {
  if (reason.size() > kMaxReason) {
    return absl::InvalidArgumentError("reason: longer than 2000 characters");
  }
  if (const auto kind = IdentifierShapeIn(reason)) {
    return absl::InvalidArgumentError(
        StrCat("reason: seems to hold ", *kind,
               "; write it without identifiers or names: it goes to the requester and the "
               "gateway's log"));
  }
  return absl::OkStatus();
}

v1::ApprovalState StateOf(v1::DisclosureDecision decision) {
  switch (decision) {
    case v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE:
    case v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER:
      return v1::APPROVAL_STATE_APPROVED;
    case v1::DISCLOSURE_DECISION_DENIED_BY_POLICY:
    case v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER:
      return v1::APPROVAL_STATE_DENIED;
    case v1::DISCLOSURE_DECISION_EXPIRED:
      return v1::APPROVAL_STATE_EXPIRED;
    default:
      return v1::APPROVAL_STATE_UNSPECIFIED;
  }
}

v1::Outcome OutcomeOf(v1::ApprovalState state) {
  switch (state) {
    case v1::APPROVAL_STATE_PENDING:
      return v1::OUTCOME_PENDING;
    case v1::APPROVAL_STATE_APPROVED:
      return v1::OUTCOME_GRANTED;
    case v1::APPROVAL_STATE_DENIED:
      return v1::OUTCOME_DENIED;
    case v1::APPROVAL_STATE_EXPIRED:
      return v1::OUTCOME_EXPIRED;
    default:
      return v1::OUTCOME_UNSPECIFIED;
  }
}

v1::DenialReason ReasonOf(v1::DisclosureDecision decision) {
  switch (decision) {
    case v1::DISCLOSURE_DECISION_DENIED_BY_POLICY:
      return v1::DENIAL_REASON_NODE_POLICY;
    case v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER:
      return v1::DENIAL_REASON_APPROVER_DENIED;
    case v1::DISCLOSURE_DECISION_EXPIRED:
      return v1::DENIAL_REASON_APPROVAL_EXPIRED;
    default:
      return v1::DENIAL_REASON_UNSPECIFIED;
  }
}

std::string_view StateName(v1::ApprovalState state) {
  switch (state) {
    case v1::APPROVAL_STATE_PENDING:
      return "pending";
    case v1::APPROVAL_STATE_APPROVED:
      return "approved";
    case v1::APPROVAL_STATE_DENIED:
      return "denied";
    case v1::APPROVAL_STATE_EXPIRED:
      return "expired";
    default:
      return "unknown";
  }
}

// What Node.Disclose answers for a stored order (idempotent retries).
v1::DiscloseResponse ResponseFor(const ApprovalRecord& record) {
  v1::DiscloseResponse response;
  switch (record.approval.state()) {
    case v1::APPROVAL_STATE_PENDING:
      response.set_state(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
      return response;
    case v1::APPROVAL_STATE_APPROVED:
      response.set_state(v1::DISCLOSURE_STATE_DELIVERED);
      break;
    case v1::APPROVAL_STATE_EXPIRED:
      response.set_state(v1::DISCLOSURE_STATE_EXPIRED);
      break;
    default:
      response.set_state(v1::DISCLOSURE_STATE_DENIED);
      break;
  }
  if (record.sealed.has_value()) *response.mutable_sealed() = *record.sealed;
  return response;
}

// The shape of a DiscloseRequest (node.proto): every problem named.
absl::Status CheckShape(const v1::DiscloseRequest& request) {
  std::vector<std::string> problems;
  if (!request.has_authorisation()) problems.push_back("authorisation: missing");
  if (!request.has_order()) {
    problems.push_back("order: missing");
  } else {
    const v1::DisclosureOrder& order = request.order();
    if (order.disclosure_id().size() != kIdSize) {
      problems.push_back(StrCat("order.disclosure_id: ", order.disclosure_id().size(),
                                " bytes; exactly 16 are required"));
    }
    if (order.targets().empty()) problems.push_back("order.targets: no target");
    for (int i = 0; i < order.targets_size(); ++i) {
      const v1::DisclosureTarget& target = order.targets(i);
      if (target.tags().empty()) problems.push_back(StrCat("order.targets[", i, "].tags: no tag"));
      for (int j = 0; j < target.tags_size(); ++j) {
        if (target.tags(j).size() != crypto::kTagSize) {
          problems.push_back(StrCat("order.targets[", i, "].tags[", j, "]: ",
                                    target.tags(j).size(), " bytes; exactly 16 are required"));
        }
      }
    }
    if (order.ask().fields().empty()) problems.push_back("order.ask.fields: no field");
    for (int i = 0; i < order.ask().fields_size(); ++i) {
      if (order.ask().fields(i) == v1::SIGNAL_FIELD_UNSPECIFIED) {
        problems.push_back(StrCat("order.ask.fields[", i, "]: unspecified"));
      }
    }
    if (order.requester_box_key().size() != crypto::kBoxPublicKeySize) {
      problems.push_back(StrCat("order.requester_box_key: ", order.requester_box_key().size(),
                                " bytes; exactly 32 are required"));
    } else if (!crypto::BoxPublicKey::FromBytes(crypto::AsBytes(order.requester_box_key())).ok()) {
      problems.push_back("order.requester_box_key: not a usable X25519 public key");
    }
    if (order.requester().org_id().empty()) problems.push_back("order.requester.org_id: missing");
    if (!order.has_decide_by()) problems.push_back("order.decide_by: missing");
  }
  if (problems.empty()) return absl::OkStatus();
  std::string message;
  for (const std::string& p : problems) message += StrCat(message.empty() ? "" : "; ", p);
  return Malformed(message);
}

// The reason a failed authorisation check gets (authorisation_check.h).
v1::DenialReason ReasonOfCheck(const absl::Status& status, bool purpose_refused) {
  switch (status.code()) {
    case absl::StatusCode::kFailedPrecondition:
      return v1::DENIAL_REASON_AUTHORISATION_EXPIRED;
    case absl::StatusCode::kAlreadyExists:
      return v1::DENIAL_REASON_AUTHORISATION_REPLAYED;
    case absl::StatusCode::kPermissionDenied:
      return purpose_refused ? v1::DENIAL_REASON_NODE_POLICY
                             : v1::DENIAL_REASON_AUTHORISATION_INVALID;
    default:
      return v1::DENIAL_REASON_UNSPECIFIED;
  }
}

bool Permanent(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

void Note(std::string_view line) { std::cerr << "schakel-node: disclosures: " << line << std::endl; }

}  // namespace

struct DisclosureResponder::Decision {
  v1::DisclosureDecision decision = v1::DISCLOSURE_DECISION_UNSPECIFIED;
  std::vector<v1::SignalField> fields;  // approvals: what goes out
  std::set<std::string> signal_ids;     // approvals: only these (empty: all)
  std::string rule;
  std::string reason;
  std::string user_id;
  int64_t decided_at_ms = 0;
};

struct DisclosureResponder::Built {
  v1::SealedDisclosure sealed;
  std::vector<std::string> signal_ids;  // disclosed
};

DisclosureResponder::DisclosureResponder(ApprovalStore* approvals, SignalStore* signals,
                                         PolicyFn policy, AuthorisationCheck* check,
                                         GatewayClient* gateway, crypto::SigningKey signing_key,
                                         LocalLog* log, std::function<int64_t()> now_ms,
                                         Options options)
    : approvals_(approvals), signals_(signals), policy_(std::move(policy)), check_(check),
      gateway_(gateway), signing_key_(std::move(signing_key)), log_(log),
      now_ms_(std::move(now_ms)), options_(std::move(options)) {}

DisclosureResponder::~DisclosureResponder() { Stop(); }

absl::StatusOr<v1::DiscloseResponse> DisclosureResponder::Disclose(
    const v1::DiscloseRequest& request) {
  absl::StatusOr<v1::DiscloseResponse> answer = Answer(request);
  if (answer.ok() || log_ == nullptr || absl::IsUnavailable(answer.status())) return answer;
  // A refused order is logged as fully as a decided one (without anything
  // the order carries beyond ids and counts).
  ApprovalRecord refused;
  refused.request = request;
  refused.approval.set_disclosure_id(request.order().disclosure_id().substr(0, kIdSize));
  v1::LocalLogRecord record = RecordFor(refused, v1::LOCAL_EVENT_KIND_DISCLOSURE_REQUEST_RECEIVED);
  record.set_outcome(v1::OUTCOME_REFUSED);
  if (auto detail = rpc::ErrorDetailOf(answer.status());
      detail && detail->reason() != v1::DENIAL_REASON_UNSPECIFIED) {
    record.add_denial_reasons(detail->reason());
  }
  record.set_detail(std::string(answer.status().message().substr(0, kMaxReason)));
  if (auto logged = log_->Append(std::move(record)); !logged.ok()) {
    Note(StrCat("a refused order could not be logged: ", logged.status().message()));
  }
  return answer;
}

absl::StatusOr<v1::DiscloseResponse> DisclosureResponder::Answer(
    const v1::DiscloseRequest& request) {
  if (absl::Status shape = CheckShape(request); !shape.ok()) return shape;
  const v1::DisclosureOrder& order = request.order();
  auto digest = canonical::Digest(canonical::kDisclosureOrderContext, order);
  if (!digest.ok()) return Malformed(StrCat("order: ", digest.status().message()));
  if (request.authorisation().payload().disclosure_id() != order.disclosure_id()) {
    return WithReason(absl::PermissionDeniedError(
                          "authorisation: issued for another disclosure id than the order's"),
                      v1::DENIAL_REASON_AUTHORISATION_INVALID);
  }
  const std::shared_ptr<const LocalPolicy> policy = policy_();
  bool purpose_refused = false;
  const auto answered = [&](const std::string& purpose) {
    const bool ok = policy->FindPurpose(purpose) != nullptr;
    if (!ok) purpose_refused = true;
    return ok;
  };
  absl::Status checked =
      check_->Check(request.authorisation(), v1::AUTHORISED_OPERATION_DISCLOSE, *digest, answered);
  if (!checked.ok() && !absl::IsAlreadyExists(checked)) {
    return WithReason(checked, ReasonOfCheck(checked, purpose_refused));
  }
  std::lock_guard lock(decide_mu_);
  auto existing = approvals_->Get(order.disclosure_id());
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    auto stored = canonical::Digest(canonical::kDisclosureOrderContext,
                                    (*existing)->request.order());
    if (stored.ok() && *stored == *digest) return ResponseFor(**existing);  // a retry
    return WithReason(absl::AlreadyExistsError(
                          "order.disclosure_id: already used for another disclosure order"),
                      v1::DENIAL_REASON_AUTHORISATION_REPLAYED);
  }
  if (!checked.ok()) return WithReason(checked, v1::DENIAL_REASON_AUTHORISATION_REPLAYED);
  return DiscloseChecked(request, *digest);
}

absl::Status DisclosureResponder::CheckBoxKey(const std::string& requester_org_id,
                                              const std::string& box_key) {
  if (gateway_ == nullptr) {
    return absl::UnavailableError(
        "this node has no gateway.endpoint, so it has no directory to check the requester's key");
  }
  auto directory = gateway_->Directory();
  if (!directory.ok()) {
    return absl::UnavailableError(StrCat("the requester's key cannot be checked: ",
                                         directory.status().message()));
  }
  const int64_t now = now_ms_();
  for (const v1::Organisation& org : (*directory)->organisations()) {
    if (org.org_id() != requester_org_id || !org.active()) continue;
    for (const v1::PublicKey& key : org.box_keys()) {
      const bool started = !key.has_valid_from() || Millis(key.valid_from()) <= now;
      const bool ended = key.has_valid_until() && Millis(key.valid_until()) <= now;
      if (started && !ended && key.key() == box_key) return absl::OkStatus();
    }
  }
  return WithReason(absl::PermissionDeniedError(StrCat(
                        "order.requester_box_key: not a valid box key of organisation ",
                        requester_org_id, " in this node's copy of the directory")),
                    v1::DENIAL_REASON_AUTHORISATION_INVALID);
}

absl::StatusOr<std::vector<std::vector<v1::Signal>>> DisclosureResponder::Disclosable(
    const ApprovalRecord& record) const {
  const std::string& purpose = record.request.authorisation().payload().purpose_id();
  const auto& allowed = record.allowance.categories();
  std::vector<std::vector<v1::Signal>> out;
  for (const v1::DisclosureTarget& target : record.request.order().targets()) {
    std::set<std::string> ids;
    for (const std::string& bytes : target.tags()) {
      crypto::Tag tag{};
      std::copy(bytes.begin(), bytes.end(), tag.begin());
      auto found = signals_->SignalsWithTag(purpose, tag);
      if (!found.ok()) return found.status();
      ids.insert(found->begin(), found->end());
    }
    std::vector<v1::Signal>& signals = out.emplace_back();
    for (const std::string& id : ids) {
      auto signal = signals_->Get(id);
      if (absl::IsNotFound(signal.status())) continue;  // gone since the match
      if (!signal.ok()) return signal.status();
      if (std::find(allowed.begin(), allowed.end(), signal->category()) == allowed.end()) continue;
      signals.push_back(*std::move(signal));
    }
  }
  return out;
}

absl::StatusOr<DisclosureResponder::Built> DisclosureResponder::Build(
    const ApprovalRecord& record, const Decision& decision) const {
  const v1::DisclosureOrder& order = record.request.order();
  const v1::AuthorisationPayload& auth = record.request.authorisation().payload();
  auto order_digest = canonical::Digest(canonical::kDisclosureOrderContext, order);
  if (!order_digest.ok()) return order_digest.status();
  Built built;
  v1::DisclosureStatement& statement = *built.sealed.mutable_statement();
  statement.set_exchange_id(auth.exchange_id());
  statement.set_disclosure_id(order.disclosure_id());
  statement.set_responder_org_id(options_.own_org_id);
  statement.set_requester_org_id(auth.requester_org_id());
  statement.set_purpose_id(auth.purpose_id());
  statement.set_order_digest(AsString(*order_digest));
  statement.set_decision(decision.decision);
  statement.set_decided_by_user_id(decision.user_id);
  statement.set_rule(decision.rule);
  statement.set_reason(decision.reason.substr(0, kMaxReason));
  SetMillis(decision.decided_at_ms, statement.mutable_decided_at());

  if (StateOf(decision.decision) == v1::APPROVAL_STATE_APPROVED) {
    auto recipient = crypto::BoxPublicKey::FromBytes(crypto::AsBytes(order.requester_box_key()));
    if (!recipient.ok()) return recipient.status();
    auto disclosable = Disclosable(record);
    if (!disclosable.ok()) return disclosable.status();
    std::vector<v1::SignalField> fields = decision.fields;
    std::sort(fields.begin(), fields.end());
    const auto has = [&fields](v1::SignalField f) {
      return std::binary_search(fields.begin(), fields.end(), f);
    };
    v1::DisclosedContent content;
    content.set_exchange_id(auth.exchange_id());
    content.set_disclosure_id(order.disclosure_id());
    content.set_responder_org_id(options_.own_org_id);
    std::set<std::string> categories;
    for (size_t t = 0; t < disclosable->size(); ++t) {
      for (const v1::Signal& signal : (*disclosable)[t]) {
        if (!decision.signal_ids.empty() && !decision.signal_ids.contains(signal.signal_id())) {
          continue;
        }
        // Field by field from the signal: the subject (identifiers) never.
        v1::DisclosedSignal* out = content.add_signals();
        out->set_subject_index(order.targets(static_cast<int>(t)).subject_index());
        for (v1::SignalField f : fields) out->add_fields(f);
        if (has(v1::SIGNAL_FIELD_CATEGORY)) out->set_category(signal.category());
        if (has(v1::SIGNAL_FIELD_DOMAIN)) out->set_domain(signal.domain());
        if (has(v1::SIGNAL_FIELD_REGISTERED_AT)) {
          *out->mutable_registered_at() = signal.registered_at();
        }
        if (has(v1::SIGNAL_FIELD_EXPIRES_AT)) *out->mutable_expires_at() = signal.expires_at();
        if (has(v1::SIGNAL_FIELD_CONTACT_NAME)) {
          out->mutable_contact()->set_name(signal.contact().name());
        }
        if (has(v1::SIGNAL_FIELD_CONTACT_PHONE)) {
          out->mutable_contact()->set_phone(signal.contact().phone());
        }
        if (has(v1::SIGNAL_FIELD_CONTACT_EMAIL)) {
          out->mutable_contact()->set_email(signal.contact().email());
        }
        if (has(v1::SIGNAL_FIELD_FREE_TEXT)) out->set_free_text(signal.free_text());
        categories.insert(signal.category());
        built.signal_ids.push_back(signal.signal_id());
      }
    }
    for (v1::SignalField f : fields) statement.add_fields_disclosed(f);
    for (const std::string& c : categories) statement.add_categories_disclosed(c);
    statement.set_signal_count(static_cast<uint32_t>(content.signals_size()));
    std::string plaintext = content.SerializeAsString();
    const crypto::Bytes box = crypto::Seal(*recipient, crypto::AsBytes(plaintext));
    sodium_memzero(plaintext.data(), plaintext.size());
    const crypto::Blake2b256Digest hash = crypto::Blake2b256Hash(box);
    statement.set_payload_hash(AsString(hash));
    built.sealed.set_sealed_box(AsString(box));
  }
  auto signature = canonical::Sign(signing_key_, canonical::kDisclosureContext, statement);
  if (!signature.ok()) return signature.status();
  *built.sealed.mutable_node_signature() = *std::move(signature);
  return built;
}

v1::LocalLogRecord DisclosureResponder::RecordFor(const ApprovalRecord& record,
                                                  v1::LocalEventKind kind) const {
  const v1::AuthorisationPayload& auth = record.request.authorisation().payload();
  v1::LocalLogRecord out;
  out.set_kind(kind);
  out.set_purpose_id(auth.purpose_id());
  out.set_case_id(auth.case_id());
  out.set_exchange_id(auth.exchange_id());
  out.set_disclosure_id(record.approval.disclosure_id());
  out.set_counterpart_org_id(auth.requester_org_id());
  out.set_subject_count(static_cast<uint64_t>(record.request.order().targets_size()));
  out.set_policy_version(auth.policy_version());
  if (const std::shared_ptr<const LocalPolicy> policy = policy_()) {
    out.set_local_policy_version(policy->version());
  }
  out.set_outcome(OutcomeOf(record.approval.state()));
  if (v1::DenialReason r = ReasonOf(record.approval.decision());
      r != v1::DENIAL_REASON_UNSPECIFIED) {
    out.add_denial_reasons(r);
  }
  return out;
}

absl::StatusOr<v1::DiscloseResponse> DisclosureResponder::DiscloseChecked(
    const v1::DiscloseRequest& request, const canonical::DigestBytes& /*digest*/) {
  const v1::DisclosureOrder& order = request.order();
  const v1::AuthorisationPayload& auth = request.authorisation().payload();
  const int64_t now = now_ms_();
  if (Millis(order.decide_by()) <= now) {
    return WithReason(absl::FailedPreconditionError("order.decide_by: already passed"),
                      v1::DENIAL_REASON_APPROVAL_EXPIRED);
  }
  if (auth.requester_org_id() != order.requester().org_id()) {
    return WithReason(absl::PermissionDeniedError(
                          "order.requester.org_id: differs from the authorisation's requester"),
                      v1::DENIAL_REASON_AUTHORISATION_INVALID);
  }
  if (absl::Status key = CheckBoxKey(auth.requester_org_id(), order.requester_box_key());
      !key.ok()) {
    return key;
  }

  const std::shared_ptr<const LocalPolicy> policy = policy_();
  const AnsweredPurposePolicy* purpose = policy->FindPurpose(auth.purpose_id());
  const bool refused =
      purpose == nullptr ||
      std::find(purpose->refused_requester_org_ids.begin(), purpose->refused_requester_org_ids.end(),
                auth.requester_org_id()) != purpose->refused_requester_org_ids.end();
  const DisclosureRulePolicy* rule =
      refused ? nullptr : policy->FindDisclosureRule(auth.purpose_id(), auth.requester_org_id());

  ApprovalRecord record;
  record.request = request;
  v1::Approval& approval = record.approval;
  approval.set_disclosure_id(order.disclosure_id());
  approval.set_exchange_id(auth.exchange_id());
  *approval.mutable_requester() = order.requester();
  approval.set_purpose_id(auth.purpose_id());
  *approval.mutable_lawful_basis() = order.lawful_basis();
  approval.set_case_id(auth.case_id());
  *approval.mutable_ask() = order.ask();
  SetMillis(now, approval.mutable_received_at());
  *approval.mutable_decide_by() = order.decide_by();

  // What the rule lets go out: asked AND allowed.
  std::vector<v1::SignalField> fields;
  if (rule != nullptr) {
    record.allowance.set_rule(rule->rule);
    record.allowance.set_purpose_id(rule->purpose_id);
    for (const std::string& o : rule->requester_org_ids) record.allowance.add_requester_org_ids(o);
    record.allowance.set_mandate(rule->mandate);
    for (v1::SignalField f : rule->fields) {
      if (Contains(order.ask().fields(), f)) fields.push_back(f);
    }
    std::sort(fields.begin(), fields.end());
    for (v1::SignalField f : fields) {
      record.allowance.add_fields(f);
      approval.add_fields_allowed(f);
    }
    const auto& asked = order.ask().categories();
    for (const std::string& c : policy->DisclosableCategories(*rule)) {
      if (asked.empty() || std::find(asked.begin(), asked.end(), c) != asked.end()) {
        record.allowance.add_categories(c);
      }
    }
  }

  Decision decision;
  decision.decided_at_ms = now;
  if (refused) {
    decision.decision = v1::DISCLOSURE_DECISION_DENIED_BY_POLICY;
    decision.reason = "this organisation does not answer the requester under this purpose";
  } else if (rule == nullptr) {
    decision.decision = v1::DISCLOSURE_DECISION_DENIED_BY_POLICY;
    decision.reason = "no disclosure rule of this organisation covers this purpose and requester";
  } else if (fields.empty()) {
    decision.decision = v1::DISCLOSURE_DECISION_DENIED_BY_POLICY;
    decision.rule = rule->rule;
    decision.reason = "none of the fields asked may be disclosed under this organisation's rule";
  } else if (rule->mandate) {
    decision.decision = v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE;
    decision.rule = rule->rule;
    decision.fields = fields;
  }

  auto disclosable = Disclosable(record);
  if (!disclosable.ok()) return disclosable.status();
  v1::LocalLogRecord received = RecordFor(record, v1::LOCAL_EVENT_KIND_DISCLOSURE_REQUEST_RECEIVED);
  for (const auto& target : *disclosable) {
    for (const v1::Signal& s : target) received.add_signal_ids(s.signal_id());
  }
  if (request.has_receipt()) *received.add_receipts() = request.receipt();
  received.set_detail(StrCat("fields asked: ", FieldList(order.ask().fields()), "; ",
                             order.ask().categories_size(), " categories asked (0: all); ",
                             rule == nullptr ? std::string("no rule applies")
                                             : StrCat("rule ", rule->rule,
                                                      rule->mandate ? " (mandate)" : " (approver)"))
                          .substr(0, kMaxReason));

  if (decision.decision == v1::DISCLOSURE_DECISION_UNSPECIFIED) {
    approval.set_state(v1::APPROVAL_STATE_PENDING);
    received.set_outcome(v1::OUTCOME_PENDING);
    if (absl::Status s = approvals_->Put(record, nullptr, std::move(received)); !s.ok()) {
      return absl::UnavailableError(
          StrCat("the order could not be queued; nothing was decided: ", s.message()));
    }
    v1::DiscloseResponse response;
    response.set_state(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
    return response;
  }

  auto built = Build(record, decision);
  if (!built.ok()) return built.status();
  approval.set_state(StateOf(decision.decision));
  approval.set_decision(decision.decision);
  SetMillis(now, approval.mutable_decided_at());
  approval.set_decision_reason(decision.reason);
  approval.set_delivered_to_gateway(true);  // it goes back in this answer
  record.sealed = built->sealed;
  received.set_outcome(OutcomeOf(approval.state()));
  if (log_ != nullptr) {
    if (auto logged = log_->Append(std::move(received)); !logged.ok()) {
      return absl::UnavailableError(
          StrCat("the node could not record the order in its log; nothing was disclosed: ",
                 logged.status().message()));
    }
  }
  v1::LocalLogRecord decided = RecordFor(record, v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
  for (const std::string& id : built->signal_ids) decided.add_signal_ids(id);
  decided.set_detail(StrCat(decision.rule.empty() ? std::string("no rule")
                                                  : StrCat("rule ", decision.rule),
                            ": ", v1::DisclosureDecision_Name(decision.decision),
                            "; fields disclosed: ",
                            FieldList(built->sealed.statement().fields_disclosed()), "; ",
                            built->sealed.statement().signal_count(), " signals"));
  if (absl::Status s = approvals_->Put(record, nullptr, std::move(decided)); !s.ok()) {
    return absl::UnavailableError(
        StrCat("the decision could not be recorded; nothing was disclosed: ", s.message()));
  }
  return ResponseFor(record);
}

absl::StatusOr<v1::Approval> DisclosureResponder::WithSignals(const ApprovalRecord& record) const {
  v1::Approval approval = record.approval;
  auto disclosable = Disclosable(record);
  if (!disclosable.ok()) return disclosable.status();
  std::set<std::string> seen;
  for (auto& target : *disclosable) {
    for (v1::Signal& s : target) {
      if (seen.insert(s.signal_id()).second) *approval.add_signals() = std::move(s);
    }
  }
  return approval;
}

absl::StatusOr<v1::ListApprovalsResponse> DisclosureResponder::List(
    const v1::ListApprovalsRequest& request) const {
  std::vector<v1::ApprovalState> states;
  for (int s : request.states()) states.push_back(static_cast<v1::ApprovalState>(s));
  auto page = approvals_->List(states, request.page_size(), request.page_token());
  if (!page.ok()) return page.status();
  v1::ListApprovalsResponse response;
  for (v1::Approval& a : page->approvals) *response.add_approvals() = std::move(a);
  response.set_next_page_token(page->next_page_token);
  return response;
}

absl::StatusOr<v1::Approval> DisclosureResponder::Get(std::string_view disclosure_id) const {
  if (disclosure_id.size() != kIdSize) {
    return absl::InvalidArgumentError(
        StrCat("disclosure_id: ", disclosure_id.size(), " bytes; exactly 16 are required"));
  }
  auto record = approvals_->Get(disclosure_id);
  if (!record.ok()) return record.status();
  if (!record->has_value()) {
    return absl::NotFoundError("no disclosure request with this disclosure_id");
  }
  return WithSignals(**record);
}

absl::StatusOr<ApprovalRecord> DisclosureResponder::DecideLater(const ApprovalRecord& record,
                                                                const Decision& decision,
                                                                const ApproverActor& actor) {
  auto built = Build(record, decision);
  if (!built.ok()) return built.status();
  ApprovalRecord updated = record;
  v1::Approval& approval = updated.approval;
  approval.set_state(StateOf(decision.decision));
  approval.set_decision(decision.decision);
  SetMillis(decision.decided_at_ms, approval.mutable_decided_at());
  approval.set_decided_by_user_id(decision.user_id);
  approval.set_decision_reason(decision.reason);
  approval.set_delivered_to_gateway(false);
  updated.sealed = built->sealed;
  updated.in_outbox = true;
  v1::LocalLogRecord decided = RecordFor(updated, v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
  decided.set_user_id(actor.user_id);
  decided.set_role(actor.role);
  for (const std::string& id : built->signal_ids) decided.add_signal_ids(id);
  decided.set_detail(StrCat(v1::DisclosureDecision_Name(decision.decision), "; fields disclosed: ",
                            FieldList(built->sealed.statement().fields_disclosed()), "; ",
                            built->sealed.statement().signal_count(),
                            " signals; waiting for delivery to the gateway"));
  if (absl::Status s = approvals_->Put(updated, &record, std::move(decided)); !s.ok()) {
    return absl::UnavailableError(
        StrCat("the decision could not be recorded; nothing was decided: ", s.message()));
  }
  return updated;
}

absl::Status DisclosureResponder::ExpireLocked(const ApprovalRecord& record) {
  Decision decision;
  decision.decision = v1::DISCLOSURE_DECISION_EXPIRED;
  decision.reason = "nobody decided before decide_by";
  decision.decided_at_ms = now_ms_();
  auto expired = DecideLater(record, decision, ApproverActor{});
  return expired.ok() ? absl::OkStatus() : expired.status();
}

absl::StatusOr<ApprovalRecord> DisclosureResponder::PendingLocked(std::string_view disclosure_id) {
  if (disclosure_id.size() != kIdSize) {
    return absl::InvalidArgumentError(
        StrCat("disclosure_id: ", disclosure_id.size(), " bytes; exactly 16 are required"));
  }
  auto stored = approvals_->Get(disclosure_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::NotFoundError("no disclosure request with this disclosure_id");
  ApprovalRecord& record = **stored;
  if (record.approval.state() != v1::APPROVAL_STATE_PENDING) {
    return absl::FailedPreconditionError(
        StrCat("the request is not pending: it was ", StateName(record.approval.state())));
  }
  if (Millis(record.approval.decide_by()) <= now_ms_()) {
    if (absl::Status s = ExpireLocked(record); !s.ok()) return s;
    Wake();
    return absl::FailedPreconditionError(
        "the request is not pending: decide_by has passed, it expired");
  }
  return std::move(record);
}

absl::StatusOr<v1::Approval> DisclosureResponder::Approve(const v1::ApproveRequest& request,
                                                          const ApproverActor& actor) {
  if (absl::Status bad = CheckDecisionReason(request.reason()); !bad.ok()) return bad;
  std::lock_guard lock(decide_mu_);
  auto stored = PendingLocked(request.disclosure_id());
  if (!stored.ok()) return stored.status();
  const ApprovalRecord& record = *stored;
  Decision decision;
  decision.decision = v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER;
  for (int i = 0; i < request.fields_size(); ++i) {
    const auto f = static_cast<v1::SignalField>(request.fields(i));
    if (!Contains(record.allowance.fields(), f)) {
      return absl::InvalidArgumentError(
          StrCat("fields[", i, "]: ", FieldName(f), " is not among the fields allowed for this "
                 "request (", FieldList(record.allowance.fields()), ")"));
    }
    if (std::find(decision.fields.begin(), decision.fields.end(), f) == decision.fields.end()) {
      decision.fields.push_back(f);
    }
  }
  if (decision.fields.empty()) {
    for (int f : record.allowance.fields()) decision.fields.push_back(static_cast<v1::SignalField>(f));
  }
  if (decision.fields.empty()) {
    return absl::FailedPreconditionError("the local policy lets no field of this request go out");
  }
  if (request.signal_ids_size() > 0) {
    auto disclosable = Disclosable(record);
    if (!disclosable.ok()) return disclosable.status();
    std::set<std::string> known;
    for (const auto& target : *disclosable) {
      for (const v1::Signal& s : target) known.insert(s.signal_id());
    }
    for (int i = 0; i < request.signal_ids_size(); ++i) {
      if (!known.contains(request.signal_ids(i))) {
        return absl::InvalidArgumentError(
            StrCat("signal_ids[", i, "]: not a signal this request concerns"));
      }
      decision.signal_ids.insert(request.signal_ids(i));
    }
  }
  decision.reason = request.reason();
  decision.user_id = actor.user_id;
  decision.decided_at_ms = now_ms_();
  auto updated = DecideLater(record, decision, actor);
  if (!updated.ok()) return updated.status();
  Wake();
  return WithSignals(*updated);
}

absl::StatusOr<v1::Approval> DisclosureResponder::Deny(const v1::DenyRequest& request,
                                                       const ApproverActor& actor) {
  if (request.reason().empty()) {
    return absl::InvalidArgumentError("reason: empty; say why (the requester sees it)");
  }
  if (absl::Status bad = CheckDecisionReason(request.reason()); !bad.ok()) return bad;
  std::lock_guard lock(decide_mu_);
  auto stored = PendingLocked(request.disclosure_id());
  if (!stored.ok()) return stored.status();
  const ApprovalRecord& record = *stored;
  Decision decision;
  decision.decision = v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER;
  decision.reason = request.reason();
  decision.user_id = actor.user_id;
  decision.decided_at_ms = now_ms_();
  auto updated = DecideLater(record, decision, actor);
  if (!updated.ok()) return updated.status();
  Wake();
  return WithSignals(*updated);
}

absl::StatusOr<size_t> DisclosureResponder::ExpireDue() {
  auto due = approvals_->PendingDue(now_ms_());
  if (!due.ok()) return due.status();
  size_t expired = 0;
  for (const std::string& id : *due) {
    std::lock_guard lock(decide_mu_);
    auto stored = approvals_->Get(id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value() || (*stored)->approval.state() != v1::APPROVAL_STATE_PENDING) continue;
    if (absl::Status s = ExpireLocked(**stored); !s.ok()) return s;
    ++expired;
  }
  return expired;
}

absl::StatusOr<size_t> DisclosureResponder::FlushOutbox() {
  if (gateway_ == nullptr) return 0;
  std::lock_guard flush(flush_mu_);
  auto ids = approvals_->Outbox();
  if (!ids.ok()) return ids.status();
  size_t delivered = 0;
  for (const std::string& id : *ids) {
    auto stored = approvals_->Get(id);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value() || !(*stored)->in_outbox || !(*stored)->sealed.has_value()) continue;
    const ApprovalRecord& record = **stored;
    v1::CompleteDisclosureRequest call;
    call.set_disclosure_id(id);
    *call.mutable_sealed() = *record.sealed;
    v1::CompleteDisclosureResponse answer;
    grpc::ClientContext context;
    rpc::SetDeadline(context, gateway_->options().call_timeout);
    const absl::Status sent = GatewayClient::FromGateway(
        gateway_->gateway().CompleteDisclosure(&context, call, &answer), "CompleteDisclosure");
    if (!sent.ok() && !Permanent(sent)) {
      // Unreachable or failing now: everything waits for the next round.
      Note(StrCat("a decision could not be delivered yet (", sent.message(), "); retrying later"));
      break;
    }
    ApprovalRecord updated = record;
    updated.in_outbox = false;
    v1::LocalLogRecord logged = RecordFor(updated, v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
    if (sent.ok()) {
      updated.approval.set_delivered_to_gateway(true);
      for (const v1::Receipt& r : answer.receipts()) *logged.add_receipts() = r;
      logged.set_detail("the decision was delivered to the gateway");
    } else {
      logged.set_outcome(v1::OUTCOME_FAILED);
      logged.set_detail(StrCat("the gateway refused the decision for good: ",
                               absl::StatusCodeToString(sent.code()), ": ", sent.message())
                            .substr(0, kMaxReason));
      Note(StrCat("the gateway refused a decision: ", sent.message()));
    }
    std::lock_guard lock(decide_mu_);
    if (absl::Status s = approvals_->Put(updated, &record, std::move(logged)); !s.ok()) return s;
    if (sent.ok()) ++delivered;
  }
  return delivered;
}

void DisclosureResponder::Wake() {
  std::lock_guard lock(run_mu_);
  wake_ = true;
  run_cv_.notify_all();
}

void DisclosureResponder::Start() {
  std::lock_guard lock(run_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void DisclosureResponder::Stop() {
  {
    std::lock_guard lock(run_mu_);
    stop_ = true;
    run_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void DisclosureResponder::Run() {
  while (true) {
    if (auto expired = ExpireDue(); !expired.ok()) {
      Note(StrCat("expiring pending requests failed: ", expired.status().message()));
    }
    if (auto flushed = FlushOutbox(); !flushed.ok()) {
      Note(StrCat("delivering decisions failed: ", flushed.status().message()));
    }
    std::unique_lock lock(run_mu_);
    run_cv_.wait_for(lock, options_.retry, [this] { return stop_ || wake_; });
    if (stop_) return;
    wake_ = false;
  }
}

}  // namespace schakel::nodes
