#include "nodes/outgoing_disclosures.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "proto/canonical.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::string_view kExchangePrefix = "odis/x/";
constexpr std::string_view kDisclosurePrefix = "odis/d/";
constexpr std::string_view kTimePrefix = "odis/t/";
constexpr size_t kIdSize = 16;
constexpr size_t kTimeKeySuffixSize = 8 + kIdSize;
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;
constexpr size_t kScanChunk = 256;

std::string Key(std::string_view prefix, std::string_view id) { return StrCat(prefix, id); }

int64_t Millis(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1'000'000;
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t ms = absl::ToUnixMillis(t);
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
}

// Newest first: the index key sorts by inverted time.
std::string TimeKey(int64_t ms, std::string_view disclosure_id) {
  return StrCat(kTimePrefix, store::EncodeKeyU64(~static_cast<uint64_t>(std::max<int64_t>(ms, 0))),
                disclosure_id);
}

std::string FieldName(int field) {
  std::string name = v1::SignalField_Name(static_cast<v1::SignalField>(field));
  if (name.starts_with("SIGNAL_FIELD_")) name = name.substr(13);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name.empty() ? StrCat("field ", field) : name;
}

std::string StateName(v1::DisclosureState state) {
  std::string name = v1::DisclosureState_Name(state);
  if (name.starts_with("DISCLOSURE_STATE_")) name = name.substr(17);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name.empty() ? StrCat("state ", static_cast<int>(state)) : name;
}

bool Decided(v1::DisclosureState state) {
  return state != v1::DISCLOSURE_STATE_UNSPECIFIED &&
         state != v1::DISCLOSURE_STATE_PENDING_APPROVAL;
}

v1::Outcome OutcomeOf(const v1::OutgoingDisclosure& d) {
  switch (d.status().state()) {
    case v1::DISCLOSURE_STATE_PENDING_APPROVAL:
      return v1::OUTCOME_PENDING;
    case v1::DISCLOSURE_STATE_DELIVERED:
      return d.verification_problem().empty() ? v1::OUTCOME_GRANTED : v1::OUTCOME_FAILED;
    case v1::DISCLOSURE_STATE_DENIED:
      return v1::OUTCOME_DENIED;
    case v1::DISCLOSURE_STATE_REFUSED:
      return v1::OUTCOME_REFUSED;
    case v1::DISCLOSURE_STATE_EXPIRED:
      return v1::OUTCOME_EXPIRED;
    default:
      return v1::OUTCOME_FAILED;
  }
}

// Whether a disclosed signal carries `field` (non-empty).
bool Carries(const v1::DisclosedSignal& s, v1::SignalField field) {
  switch (field) {
    case v1::SIGNAL_FIELD_CATEGORY:
      return !s.category().empty();
    case v1::SIGNAL_FIELD_DOMAIN:
      return s.domain() != v1::DOMAIN_UNSPECIFIED;
    case v1::SIGNAL_FIELD_REGISTERED_AT:
      return s.has_registered_at();
    case v1::SIGNAL_FIELD_EXPIRES_AT:
      return s.has_expires_at();
    case v1::SIGNAL_FIELD_CONTACT_NAME:
      return !s.contact().name().empty() || !s.contact().unit().empty();
    case v1::SIGNAL_FIELD_CONTACT_PHONE:
      return !s.contact().phone().empty();
    case v1::SIGNAL_FIELD_CONTACT_EMAIL:
      return !s.contact().email().empty();
    case v1::SIGNAL_FIELD_FREE_TEXT:
      return !s.free_text().empty();
    default:
      return false;
  }
}

constexpr v1::SignalField kAllFields[] = {
    v1::SIGNAL_FIELD_CATEGORY,      v1::SIGNAL_FIELD_DOMAIN,       v1::SIGNAL_FIELD_REGISTERED_AT,
    v1::SIGNAL_FIELD_EXPIRES_AT,    v1::SIGNAL_FIELD_CONTACT_NAME, v1::SIGNAL_FIELD_CONTACT_PHONE,
    v1::SIGNAL_FIELD_CONTACT_EMAIL, v1::SIGNAL_FIELD_FREE_TEXT};

// Step 5 of the header: the plaintext against the signed statement.
std::string ContentProblem(const v1::DisclosedContent& content,
                           const v1::DisclosureStatement& statement,
                           const v1::DisclosureStatus& status) {
  if (content.exchange_id() != statement.exchange_id() ||
      content.disclosure_id() != statement.disclosure_id() ||
      content.responder_org_id() != statement.responder_org_id()) {
    return "the content names another exchange, disclosure or organisation than the signed "
           "statement";
  }
  if (static_cast<uint32_t>(content.signals_size()) != statement.signal_count()) {
    return StrCat("the content holds ", content.signals_size(),
                  " signals; the signed statement says ", statement.signal_count());
  }
  const std::set<int> disclosed(statement.fields_disclosed().begin(),
                                statement.fields_disclosed().end());
  const std::set<std::string> categories(statement.categories_disclosed().begin(),
                                         statement.categories_disclosed().end());
  const std::set<uint32_t> subjects(status.subject_indices().begin(),
                                    status.subject_indices().end());
  for (int i = 0; i < content.signals_size(); ++i) {
    const v1::DisclosedSignal& s = content.signals(i);
    const std::string path = StrCat("signals[", i, "]");
    if (!subjects.empty() && subjects.count(s.subject_index()) == 0) {
      return StrCat(path, ": about subject index ", s.subject_index(),
                    ", which was not asked about");
    }
    std::set<int> listed;
    for (int f : s.fields()) {
      if (disclosed.count(f) == 0) {
        return StrCat(path, ".fields: ", FieldName(f),
                      " is not among the fields the statement discloses");
      }
      listed.insert(f);
    }
    for (v1::SignalField f : kAllFields) {
      if (listed.count(f) == 0 && Carries(s, f)) {
        return StrCat(path, ": carries ", FieldName(f), ", which is not disclosed");
      }
    }
    if (!s.category().empty() && !categories.empty() && categories.count(s.category()) == 0) {
      return StrCat(path, ".category: not among the categories the statement discloses");
    }
  }
  return {};
}

}  // namespace

OutgoingDisclosures::OutgoingDisclosures(store::KvStore* kv, LocalLog* log, GatewayClient* gateway,
                                         Options options)
    : kv_(kv), log_(log), gateway_(gateway), options_(std::move(options)) {}

absl::Status OutgoingDisclosures::CheckBoxKey() const {
  if (options_.box_key == nullptr) {
    return absl::FailedPreconditionError(
        "this node has no box key: set box_key_file in the node configuration to an X25519 key "
        "file ('schakel keys generate --kind x25519') whose public key the gateway's directory "
        "lists for this organisation; without it no disclosed payload can be opened");
  }
  // A payload sealed to a key the directory lists but this node does not
  // hold could never be opened: refuse before anything is asked. (When the
  // directory cannot be read or lists no key, the gateway decides.)
  auto own = gateway_->FindOrganisation(options_.own_org_id);
  if (!own.ok() || own->box_keys().empty()) return absl::OkStatus();
  const crypto::Bytes mine = options_.box_key->public_key().ToBytes();
  for (const v1::PublicKey& k : own->box_keys()) {
    if (k.key() == std::string_view(reinterpret_cast<const char*>(mine.data()), mine.size())) {
      return absl::OkStatus();
    }
  }
  return absl::FailedPreconditionError(
      StrCat("the key in box_key_file (public key ", crypto::ToHex(mine),
             ") is not among the box keys the gateway's directory lists for ", options_.own_org_id,
             ": payloads would be sealed to a key this node does not hold; register this public "
             "key or configure the matching key file"));
}

absl::StatusOr<store::WriteBatch> OutgoingDisclosures::ExchangeBatch(
    const v1::MatchResponse& response) const {
  if (response.exchange_id().size() != kIdSize) {
    return absl::InvalidArgumentError("exchange_id: not 16 bytes");
  }
  v1::MatchResponse kept = response;
  kept.clear_receipts();
  store::WriteBatch batch;
  batch.Put(Key(kExchangePrefix, response.exchange_id()), kept.SerializeAsString());
  return batch;
}

absl::StatusOr<std::optional<v1::MatchResponse>> OutgoingDisclosures::FindExchange(
    std::string_view exchange_id) const {
  if (exchange_id.size() != kIdSize) return std::optional<v1::MatchResponse>();
  auto value = kv_->Get(Key(kExchangePrefix, exchange_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<v1::MatchResponse>();
  v1::MatchResponse response;
  if (!response.ParseFromString(**value)) {
    return absl::DataLossError("a stored exchange of this node does not parse");
  }
  return std::optional<v1::MatchResponse>(std::move(response));
}

absl::StatusOr<std::optional<v1::OutgoingDisclosure>> OutgoingDisclosures::Find(
    std::string_view disclosure_id) const {
  if (disclosure_id.size() != kIdSize) return std::optional<v1::OutgoingDisclosure>();
  auto value = kv_->Get(Key(kDisclosurePrefix, disclosure_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<v1::OutgoingDisclosure>();
  v1::OutgoingDisclosure stored;
  if (!stored.ParseFromString(**value)) {
    return absl::DataLossError("a stored disclosure of this node does not parse");
  }
  return std::optional<v1::OutgoingDisclosure>(std::move(stored));
}

v1::LocalLogRecord OutgoingDisclosures::BaseRecord(v1::LocalEventKind kind,
                                                   const v1::DisclosureStatus& status,
                                                   const LocalCaller* caller) const {
  v1::LocalLogRecord record;
  record.set_kind(kind);
  if (caller != nullptr) {
    record.set_user_id(caller->user_id);
    record.set_role(caller->role);
  }
  record.set_purpose_id(status.purpose_id());
  record.set_case_id(status.case_id());
  record.set_exchange_id(status.exchange_id());
  record.set_disclosure_id(status.disclosure_id());
  record.set_counterpart_org_id(status.responder_org_id());
  record.set_subject_count(static_cast<uint64_t>(status.subject_indices_size()));
  return record;
}

v1::LocalLogRecord OutgoingDisclosures::ReceivedRecord(const v1::OutgoingDisclosure& stored,
                                                       const LocalCaller* caller) const {
  const v1::DisclosureStatus& status = stored.status();
  v1::LocalLogRecord record = BaseRecord(v1::LOCAL_EVENT_KIND_DISCLOSURE_RECEIVED, status, caller);
  record.set_outcome(OutcomeOf(stored));
  if (status.reason() != v1::DENIAL_REASON_UNSPECIFIED) record.add_denial_reasons(status.reason());
  std::string detail = StateName(status.state());
  if (status.state() == v1::DISCLOSURE_STATE_DELIVERED) {
    const v1::DisclosureStatement& st = status.sealed().statement();
    std::string fields;
    for (int f : st.fields_disclosed()) fields += StrCat(fields.empty() ? "" : ", ", FieldName(f));
    detail +=
        StrCat(": ", st.signal_count(), " signal(s), fields ", fields.empty() ? "none" : fields);
    if (!stored.verification_problem().empty()) {
      detail += StrCat("; NOT SHOWN: ", stored.verification_problem());
    }
  } else if (status.has_sealed()) {
    detail +=
        StrCat(" (", v1::DisclosureDecision_Name(status.sealed().statement().decision()), ")");
    if (!stored.verification_problem().empty()) {
      detail += StrCat("; statement not verified: ", stored.verification_problem());
    }
  }
  record.set_detail(detail.substr(0, 2000));
  return record;
}

DisclosureCheck OutgoingDisclosures::Check(const v1::DisclosureStatus& status) const {
  DisclosureCheck out;
  const bool delivered = status.state() == v1::DISCLOSURE_STATE_DELIVERED;
  if (!delivered && status.state() != v1::DISCLOSURE_STATE_DENIED) return out;
  if (!status.has_sealed() || !status.sealed().has_statement()) {
    if (delivered) out.problem = "no signed statement was delivered";
    return out;  // a denial by the gateway's policy carries no statement
  }
  const v1::SealedDisclosure& sealed = status.sealed();
  const v1::DisclosureStatement& st = sealed.statement();
  // 1. What the statement is about.
  if (st.disclosure_id() != status.disclosure_id() || st.exchange_id() != status.exchange_id() ||
      st.responder_org_id() != status.responder_org_id() ||
      (!status.purpose_id().empty() && st.purpose_id() != status.purpose_id())) {
    out.problem =
        "the signed statement is about another disclosure, exchange, organisation or purpose";
    return out;
  }
  if (st.requester_org_id() != options_.own_org_id) {
    out.problem = "the signed statement names another requesting organisation";
    return out;
  }
  const bool approved = st.decision() == v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE ||
                        st.decision() == v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER;
  if (approved != delivered) {
    out.problem = StrCat("the signed decision (", v1::DisclosureDecision_Name(st.decision()),
                         ") does not match the state ", StateName(status.state()));
    return out;
  }
  // 2. Who signed it.
  auto key = gateway_->NodeSigningKey(st.responder_org_id(),
                                      crypto::AsBytes(sealed.node_signature().key_id()));
  if (!key.ok()) {
    out.problem = StrCat("node signature does not verify: ", key.status().message());
    return out;
  }
  if (absl::Status s =
          canonical::Verify(*key, canonical::kDisclosureContext, st, sealed.node_signature());
      !s.ok()) {
    out.problem = StrCat("node signature does not verify: ", s.message());
    return out;
  }
  if (!delivered) return out;
  // 3. The box is the one signed for.
  const crypto::Blake2b256Digest hash =
      crypto::Blake2b256Hash(crypto::AsBytes(sealed.sealed_box()));
  if (st.payload_hash() !=
      std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size())) {
    out.problem = "payload hash mismatch: the sealed box is not the one the node signed";
    return out;
  }
  const std::set<int> asked(status.ask().fields().begin(), status.ask().fields().end());
  for (int f : st.fields_disclosed()) {
    if (!asked.empty() && asked.count(f) == 0) {
      out.problem =
          StrCat("the signed statement discloses ", FieldName(f), ", which was not asked for");
      return out;
    }
  }
  // 4. Open it.
  if (options_.box_key == nullptr) {
    out.problem = "cannot be opened: box_key_file is not set in the node configuration";
    return out;
  }
  auto plaintext = crypto::Open(*options_.box_key, crypto::AsBytes(sealed.sealed_box()));
  if (!plaintext.ok()) {
    out.problem = StrCat("sealed box does not open: ", plaintext.status().message());
    return out;
  }
  // 5. What is inside.
  v1::DisclosedContent content;
  if (!content.ParseFromArray(plaintext->data(), static_cast<int>(plaintext->size()))) {
    out.problem = "the opened payload is not a DisclosedContent";
    return out;
  }
  if (std::string problem = ContentProblem(content, st, status); !problem.empty()) {
    out.problem = std::move(problem);
    return out;
  }
  out.content = std::move(content);
  return out;
}

v1::OutgoingDisclosure OutgoingDisclosures::View(v1::OutgoingDisclosure stored) const {
  stored.clear_content();
  if (stored.status().state() != v1::DISCLOSURE_STATE_DELIVERED ||
      !stored.verification_problem().empty()) {
    return stored;
  }
  DisclosureCheck check = Check(stored.status());
  if (check.content.has_value()) {
    *stored.mutable_content() = *std::move(check.content);
  } else {
    stored.set_verification_problem(check.problem);
  }
  return stored;
}

absl::StatusOr<v1::OutgoingDisclosure> OutgoingDisclosures::RecordAsked(
    const LocalCaller& caller, const v1::MatchResponse& exchange,
    const v1::AskDisclosureRequest& request, const v1::RequestDisclosureResponse& answer) {
  v1::DisclosureStatus status = answer.status();
  if (status.disclosure_id().size() != kIdSize) {
    return absl::InvalidArgumentError(
        "the gateway's answer to RequestDisclosure has no 16-byte disclosure id");
  }
  // What the gateway left out, from what this node asked.
  if (status.exchange_id().empty()) status.set_exchange_id(request.exchange_id());
  if (status.responder_org_id().empty()) status.set_responder_org_id(request.responder_org_id());
  if (status.purpose_id().empty()) status.set_purpose_id(exchange.purpose_id());
  if (status.case_id().empty()) status.set_case_id(exchange.case_id());
  if (status.subject_indices().empty())
    *status.mutable_subject_indices() = request.subject_indices();
  if (!status.has_ask()) *status.mutable_ask() = request.ask();
  if (!status.has_requested_at()) SetTime(Now(), status.mutable_requested_at());

  v1::OutgoingDisclosure stored;
  *stored.mutable_status() = status;
  for (uint32_t index : status.subject_indices()) {
    for (const v1::LocalSubject& s : exchange.subjects()) {
      if (s.subject_index() == index) {
        stored.add_subject_labels(s.label());
        break;
      }
    }
  }
  stored.set_requested_by_user_id(caller.user_id);
  DisclosureCheck check = Check(status);
  stored.set_verification_problem(check.problem);

  std::lock_guard lock(mu_);
  auto existing = Find(status.disclosure_id());
  if (!existing.ok()) return existing.status();
  store::WriteBatch batch;
  if (!existing->has_value()) {  // a retry answered with the same disclosure keeps its place
    batch.Put(TimeKey(Millis(status.requested_at()), status.disclosure_id()), "");
  } else {
    stored.set_requested_by_user_id((*existing)->requested_by_user_id());
  }
  batch.Put(Key(kDisclosurePrefix, status.disclosure_id()), stored.SerializeAsString());

  v1::LocalLogRecord asked = BaseRecord(v1::LOCAL_EVENT_KIND_DISCLOSURE_ASKED, status, &caller);
  asked.set_outcome(Decided(status.state()) ? OutcomeOf(stored) : v1::OUTCOME_PENDING);
  for (const v1::Receipt& r : answer.receipts()) *asked.add_receipts() = r;
  std::string fields;
  for (int f : status.ask().fields()) fields += StrCat(fields.empty() ? "" : ", ", FieldName(f));
  asked.set_detail(StrCat("asked ", status.responder_org_id(), " for ", fields, " about ",
                          status.subject_indices_size(), " subject(s); ",
                          StateName(status.state())));
  if (auto logged = log_->AppendWith(std::move(asked), std::move(batch)); !logged.ok()) {
    return absl::UnavailableError(
        StrCat("the disclosure was asked (", crypto::ToHex(crypto::AsBytes(status.disclosure_id())),
               ") but the local log could not record it, so nothing is shown: ",
               logged.status().message()));
  }
  if (Decided(status.state())) {
    if (auto logged = log_->Append(ReceivedRecord(stored, &caller)); !logged.ok()) {
      return absl::UnavailableError(
          StrCat("the disclosure's outcome could not be recorded in the local log, so it is not "
                 "shown: ",
                 logged.status().message()));
    }
  }
  if (check.content.has_value()) *stored.mutable_content() = *std::move(check.content);
  return stored;
}

absl::Status OutgoingDisclosures::RecordAskRefused(const LocalCaller& caller,
                                                   const v1::MatchResponse& exchange,
                                                   const v1::AskDisclosureRequest& request,
                                                   const absl::Status& error) {
  v1::DisclosureStatus status;
  status.set_exchange_id(request.exchange_id());
  status.set_responder_org_id(request.responder_org_id());
  status.set_purpose_id(exchange.purpose_id());
  status.set_case_id(exchange.case_id());
  *status.mutable_subject_indices() = request.subject_indices();
  v1::LocalLogRecord record = BaseRecord(v1::LOCAL_EVENT_KIND_DISCLOSURE_ASKED, status, &caller);
  record.set_outcome(absl::IsUnavailable(error) || absl::IsDeadlineExceeded(error) ||
                             absl::IsInternal(error) || absl::IsUnknown(error)
                         ? v1::OUTCOME_FAILED
                         : v1::OUTCOME_REFUSED);
  if (auto detail = rpc::ErrorDetailOf(error); detail.has_value()) {
    if (detail->reason() != v1::DENIAL_REASON_UNSPECIFIED)
      record.add_denial_reasons(detail->reason());
    if (detail->has_receipt()) *record.add_receipts() = detail->receipt();
  }
  record.set_detail(
      StrCat("RequestDisclosure: ", absl::StatusCodeToString(error.code()), ": ", error.message())
          .substr(0, 2000));
  return log_->Append(std::move(record)).status();
}

absl::StatusOr<bool> OutgoingDisclosures::ApplyStatus(const v1::DisclosureStatus& status,
                                                      const LocalCaller* caller) {
  if (!Decided(status.state())) return false;
  std::lock_guard lock(mu_);
  auto found = Find(status.disclosure_id());
  if (!found.ok()) return found.status();
  if (!found->has_value()) return false;
  v1::OutgoingDisclosure stored = **std::move(found);
  const v1::DisclosureStatus& before = stored.status();
  if (Decided(before.state())) return false;
  if (status.exchange_id() != before.exchange_id() ||
      status.responder_org_id() != before.responder_org_id()) {
    return false;  // news about another exchange under this id: not ours to apply
  }
  v1::DisclosureStatus merged = status;
  // What this node asked stays as it asked it.
  *merged.mutable_subject_indices() = before.subject_indices();
  *merged.mutable_ask() = before.ask();
  merged.set_purpose_id(before.purpose_id());
  merged.set_case_id(before.case_id());
  if (before.has_requested_at()) *merged.mutable_requested_at() = before.requested_at();
  *stored.mutable_status() = std::move(merged);
  stored.set_verification_problem(Check(stored.status()).problem);
  store::WriteBatch batch;
  batch.Put(Key(kDisclosurePrefix, status.disclosure_id()), stored.SerializeAsString());
  auto logged = log_->AppendWith(ReceivedRecord(stored, caller), std::move(batch));
  if (!logged.ok()) return logged.status();
  return true;
}

absl::StatusOr<v1::ListDisclosuresResponse> OutgoingDisclosures::List(
    const v1::ListDisclosuresRequest& request, std::string_view user_id, bool all) const {
  if (request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(
        StrCat("page_size: ", request.page_size(), " is more than the most, ", kMaxPageSize));
  }
  const size_t page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  std::set<int> states;
  for (int i = 0; i < request.states_size(); ++i) {
    if (!v1::DisclosureState_IsValid(request.states(i)) ||
        request.states(i) == v1::DISCLOSURE_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(StrCat("states[", i, "]: not a disclosure state"));
    }
    states.insert(request.states(i));
  }
  if (!request.exchange_id().empty() && request.exchange_id().size() != kIdSize) {
    return absl::InvalidArgumentError(
        StrCat("exchange_id: ", request.exchange_id().size(), " bytes; exactly 16"));
  }
  std::string begin(kTimePrefix);
  if (!request.page_token().empty()) {
    auto suffix = crypto::FromHex(request.page_token(), "page_token");
    if (!suffix.ok() || suffix->size() != kTimeKeySuffixSize) {
      return absl::InvalidArgumentError("page_token: not a token from a previous response");
    }
    begin += std::string(suffix->begin(), suffix->end());
    begin.push_back('\0');  // just after the last one returned
  }
  const std::string end = store::PrefixEnd(kTimePrefix);

  v1::ListDisclosuresResponse response;
  std::string last_suffix;
  bool more = false;
  while (!more) {
    auto keys = kv_->Scan(begin, end, kScanChunk);
    if (!keys.ok()) return keys.status();
    for (const auto& [key, unused] : *keys) {
      if (key.size() != kTimePrefix.size() + kTimeKeySuffixSize) continue;
      auto stored = Find(std::string_view(key).substr(kTimePrefix.size() + 8));
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) continue;
      const v1::OutgoingDisclosure& d = **stored;
      if (!all && d.requested_by_user_id() != user_id) continue;
      if (!states.empty() && states.count(d.status().state()) == 0) continue;
      if (!request.exchange_id().empty() && d.status().exchange_id() != request.exchange_id()) {
        continue;
      }
      if (static_cast<size_t>(response.disclosures_size()) == page_size) {
        more = true;
        break;
      }
      v1::OutgoingDisclosure* out = response.add_disclosures();
      *out = d;
      out->clear_content();
      // The list stays small: the box is opened by ShowDisclosure.
      out->mutable_status()->mutable_sealed()->clear_sealed_box();
      if (!d.status().has_sealed()) out->mutable_status()->clear_sealed();
      last_suffix = key.substr(kTimePrefix.size());
    }
    if (keys->size() < kScanChunk) break;
    begin = keys->back().first;
    begin.push_back('\0');
  }
  if (more) response.set_next_page_token(crypto::ToHex(crypto::AsBytes(last_suffix)));
  return response;
}

}  // namespace schakel::nodes
