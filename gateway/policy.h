// The sharing agreement ("convenant") the gateway enforces: purposes with
// their lawful basis, who may ask, who may answer, what may be disclosed,
// and the limits that stop enumeration.
//
// The policy comes from a JSON file (comments allowed) whose format
// docs/policy.md describes field by field; tests/data/policy/example.json
// is a complete example. The field names are those of PolicyInfo and
// Purpose in proto/schakel/v1/policy.proto, and so are the types here:
// ToProto() maps one to the other.
//
// Loading: ParsePolicy / LoadPolicy check the whole file and refuse it with
// EVERY problem named, one "<json path>: <problem>" per line, e.g.
//   purposes[1].lawful_basis.reference: missing
// Nothing of a refused file is used.
//
// Version: a policy is identified by `version()`, the version string the
// file declares, "+", and the first 8 hex digits of `digest()`: BLAKE2b-256
// over the canonical text (the parsed JSON without comments or layout, keys
// sorted; docs/policy.md). Any change of meaning changes the digest; a
// change of comments or whitespace does not. Every log record names the
// version in force.
//
// Queries (Policy::MayAsk, Purpose::AnsweringOrgs, Purpose::MayDisclose)
// are pure functions of the policy and their arguments: no I/O, no clock
// (the caller passes today's date, a civil day in Europe/Amsterdam).
// Refusal messages never contain an identifier of a person, an organisation
// or a purpose; the reason enum is the DenialReason the exchange log uses.
//
// Ownership and thread safety: a Policy is immutable once loaded; all its
// methods are const and may be called from any number of threads at once.
// The gateway holds the policy in force as a std::shared_ptr<const Policy>
// and a reload swaps that pointer; an exchange keeps the shared_ptr it
// started with, so pointers and references into a Policy (Find(), the
// Purpose members) stay valid for as long as that shared_ptr is held.
#ifndef SCHAKEL_GATEWAY_POLICY_H_
#define SCHAKEL_GATEWAY_POLICY_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "crypto/hash.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/policy.pb.h"

namespace schakel::gateway {

// Hard limits of the format (docs/policy.md, "Limits", says why).
//
// At most this many subjects in one exchange: one exchange is one batch
// with one proof at every partner, and issue 6's load tests size the
// gateway, the nodes and the per-partner deadlines for 10,000.
inline constexpr uint32_t kMaxSubjectsCeiling = 10'000;
// At most this many keys per subject (policy.proto).
inline constexpr uint32_t kMaxKeysPerSubjectCeiling = 16;
// max_keys_per_subject when the file does not say: BSN, up to three
// name_dob keys for a double surname, and an address, plus one spare.
inline constexpr uint32_t kDefaultMaxKeysPerSubject = 6;
// At most this many subjects per requesting organisation, purpose and day:
// enumerating the ~91 million valid BSNs then takes at least 910 days for
// one organisation and purpose.
inline constexpr uint32_t kDailySubjectQuotaCeiling = 100'000;
// At most this many exchanges per requesting organisation, purpose and day.
inline constexpr uint32_t kDailyExchangeQuotaCeiling = 100'000;
// Largest policy text accepted.
inline constexpr size_t kMaxPolicyBytes = 1 << 20;
// A refused file's message names at most this many problems (and says how
// many more there were).
inline constexpr size_t kMaxProblemsReported = 100;

// One problem of a refused policy file.
struct PolicyProblem {
  // JSON path of the value, e.g. "purposes[1].lawful_basis.reference";
  // empty for a problem of the text itself (syntax, encoding, size).
  std::string path;
  // What is wrong, e.g. "missing", "unknown field (did you mean ...?)".
  std::string problem;

  // "<path>: <problem>", or only the problem when path is empty.
  std::string ToString() const;
};

// A party to the convenant. Every organisation id the policy names must be
// one of these. (Keys, endpoints and certificates are the directory's.)
struct Party {
  std::string org_id;
  // The organisation's name as the convenant writes it.
  std::string name;
};

// The lawful basis ("grondslag") exchanges under a purpose rest on.
struct LawfulBasis {
  // Short legal reference, e.g. "Jeugdwet art. 7.1.4.1"; 1 to 200 chars.
  std::string reference;
  // The text of the basis as the policy quotes it; may be empty.
  std::string text;
};

// An organisation that may ask under a purpose, and in which roles.
struct RequesterGrant {
  std::string org_id;
  std::vector<schakel::v1::Role> roles;  // never empty
};

// What one answering organisation may disclose to which requesters.
struct DisclosureRule {
  std::string responder_org_id;
  std::vector<std::string> requester_org_ids;    // never empty
  std::vector<schakel::v1::SignalField> fields;  // never empty
  // Signal categories it may disclose; empty means every category that is
  // matchable under the purpose.
  std::vector<std::string> categories;
};

// Answer of Policy::MayAsk.
struct AskDecision {
  // DENIAL_REASON_UNSPECIFIED when allowed; else one of PURPOSE_UNKNOWN,
  // PURPOSE_NOT_IN_FORCE, ORGANISATION_NOT_ALLOWED, ROLE_NOT_ALLOWED.
  schakel::v1::DenialReason reason = schakel::v1::DENIAL_REASON_UNSPECIFIED;
  // Why, for people and the log; empty when allowed. No identifiers.
  std::string message;

  bool allowed() const { return reason == schakel::v1::DENIAL_REASON_UNSPECIFIED; }
};

// Answer of Purpose::AnsweringOrgs.
struct PartnerSelection {
  // Organisations to forward to: every one named that may answer, in the
  // order named (the purpose's order when none was named); no repeats.
  std::vector<std::string> permitted;
  // Organisations named that may not answer under the purpose (including
  // the requester itself): PARTNER_STATUS_REFUSED_BY_POLICY; no repeats.
  std::vector<std::string> refused;
};

// Answer of Purpose::MayDisclose.
struct DisclosureDecision {
  // DENIAL_REASON_UNSPECIFIED when allowed; else DISCLOSURE_NOT_ALLOWED (no
  // rule from that responder to that requester), FIELD_NOT_ALLOWED (a field
  // or category the rule does not grant) or MALFORMED_REQUEST (no field, or
  // SIGNAL_FIELD_UNSPECIFIED).
  schakel::v1::DenialReason reason = schakel::v1::DENIAL_REASON_UNSPECIFIED;
  // Why, for people and the log; empty when allowed. No identifiers.
  std::string message;
  // For FIELD_NOT_ALLOWED: the first field asked for that is not granted,
  // or else the first category that is not granted.
  std::optional<schakel::v1::SignalField> refused_field;
  std::optional<std::string> refused_category;
  // When allowed: the rule that allows it. Its `categories` bound what the
  // node may disclose when the request names no category.
  const DisclosureRule* rule = nullptr;

  bool allowed() const { return reason == schakel::v1::DENIAL_REASON_UNSPECIFIED; }
};

// One purpose of the policy. Read-only once loaded (it lives in a Policy).
struct Purpose {
  std::string purpose_id;
  std::string title;
  std::string description;
  LawfulBasis lawful_basis;
  // In force from valid_from (inclusive) to valid_until (exclusive; none
  // means no end), as civil days in Europe/Amsterdam.
  absl::CivilDay valid_from;
  std::optional<absl::CivilDay> valid_until;
  std::vector<RequesterGrant> may_ask;             // never empty
  std::vector<std::string> may_answer_org_ids;     // never empty
  std::vector<std::string> case_director_org_ids;  // never empty if case_required
  bool case_required = false;
  std::vector<schakel::v1::MatchKeyType> key_types;  // never empty
  uint32_t max_subjects_per_exchange = 0;            // 1 .. kMaxSubjectsCeiling
  uint32_t max_keys_per_subject = 0;                 // 1 .. kMaxKeysPerSubjectCeiling
  // 0 means no daily limit on the number of exchanges (the subject quota
  // still applies).
  uint32_t daily_exchange_quota = 0;
  uint32_t daily_subject_quota = 0;  // 1 .. kDailySubjectQuotaCeiling
  bool notify_on_hit = false;
  std::vector<DisclosureRule> disclosure_rules;  // empty: no disclosure
  absl::Duration approval_timeout;
  absl::Duration disclosure_window;

  // Whether the purpose is in force on `day`.
  bool InForce(absl::CivilDay day) const;
  // The grant of `org_id`, or nullptr when it may not ask.
  const RequesterGrant* GrantFor(std::string_view org_id) const;
  bool MayAnswer(std::string_view org_id) const;
  bool MayDirectCases(std::string_view org_id) const;
  bool AllowsKeyType(schakel::v1::MatchKeyType type) const;
  // Whether `org_id` asks, answers or directs cases under this purpose.
  bool TakesPart(std::string_view org_id) const;

  // The partners an exchange by `requester_org_id` goes to. `requested`
  // are the target organisations the request names; empty means every
  // organisation that may answer except the requester.
  PartnerSelection AnsweringOrgs(std::string_view requester_org_id,
                                 std::span<const std::string> requested) const;

  // Whether `from_org_id` may disclose `fields` (and, when any are named,
  // signals of `categories`) to `to_org_id` under this purpose. Checks the
  // fields in order, then the categories, and names the first refused one.
  DisclosureDecision MayDisclose(std::string_view from_org_id, std::string_view to_org_id,
                                 std::span<const schakel::v1::SignalField> fields,
                                 std::span<const std::string> categories = {}) const;
};

// A loaded, checked policy. Immutable; see the top of this file.
class Policy {
 public:
  // The version string the file declares, e.g. "2025.3".
  const std::string& declared_version() const { return declared_version_; }
  // The version every log record names: "<declared>+<8 hex of digest>",
  // e.g. "2025.3+4f1c9a0b".
  const std::string& version() const { return version_; }
  // BLAKE2b-256 of canonical_text().
  const crypto::Blake2b256Digest& digest() const { return digest_; }
  // The canonical form the digest covers (docs/policy.md, "Version").
  const std::string& canonical_text() const { return canonical_text_; }
  // The file's text exactly as loaded, comments included (GetPolicy,
  // exports).
  const std::string& text() const { return text_; }
  // Where it came from (a path, or a name given to ParsePolicy).
  const std::string& source_name() const { return source_name_; }
  // The convenant's title; may be empty.
  const std::string& title() const { return title_; }

  const std::vector<Party>& parties() const { return parties_; }
  const std::vector<std::string>& supervisor_org_ids() const { return supervisor_org_ids_; }
  const std::vector<std::string>& operator_org_ids() const { return operator_org_ids_; }
  // In the file's order.
  const std::vector<Purpose>& purposes() const { return purposes_; }

  // The purpose with this id, or nullptr.
  const Purpose* Find(std::string_view purpose_id) const;
  bool IsParty(std::string_view org_id) const;
  bool IsSupervisor(std::string_view org_id) const;
  bool IsOperator(std::string_view org_id) const;

  // Whether `org_id` acting in `role` may ask under `purpose_id` on `today`.
  // Checked in this order: the purpose exists (PURPOSE_UNKNOWN), it is in
  // force (PURPOSE_NOT_IN_FORCE), the organisation may ask
  // (ORGANISATION_NOT_ALLOWED), the role may ask for that organisation
  // (ROLE_NOT_ALLOWED). Case, quota and limits are the caller's to check.
  AskDecision MayAsk(std::string_view purpose_id, std::string_view org_id, schakel::v1::Role role,
                     absl::CivilDay today) const;

 private:
  friend absl::StatusOr<Policy> ParsePolicy(std::string_view, std::string_view,
                                            std::vector<PolicyProblem>*);
  Policy() = default;

  std::string declared_version_;
  std::string version_;
  crypto::Blake2b256Digest digest_{};
  std::string canonical_text_;
  std::string text_;
  std::string source_name_;
  std::string title_;
  std::vector<Party> parties_;
  std::vector<std::string> supervisor_org_ids_;
  std::vector<std::string> operator_org_ids_;
  std::vector<Purpose> purposes_;
  std::map<std::string, size_t, std::less<>> purpose_index_;  // id -> position
};

// Parses and checks a policy text. `source_name` names it in messages
// (usually the path).
// Errors: INVALID_ARGUMENT when the text has any problem: larger than
// kMaxPolicyBytes, not UTF-8, JSON syntax (with line and column), a
// repeated key, an unknown field, a missing required field, a wrong type,
// a value out of range, an unknown organisation, role, key type or field,
// a repeated id, an empty list that must not be empty, an inconsistent
// combination. The message is "<source>: policy refused, N problem(s):"
// followed by one "<path>: <problem>" per line (at most
// kMaxProblemsReported). When `problems` is given it receives every
// problem found (also on success: then empty).
absl::StatusOr<Policy> ParsePolicy(std::string_view text, std::string_view source_name,
                                   std::vector<PolicyProblem>* problems = nullptr);

// Reads the file at `path` and parses it as ParsePolicy does.
// Errors: NOT_FOUND (no such file), PERMISSION_DENIED (not readable), other
// system errors by errno, FAILED_PRECONDITION (not a regular file), and
// those of ParsePolicy.
absl::StatusOr<Policy> LoadPolicy(const std::filesystem::path& path,
                                  std::vector<PolicyProblem>* problems = nullptr);

// The policy as the API shows it (policy.proto). Dates become the start of
// that day in `zone` (Europe/Amsterdam in the gateway). loaded_at is left
// unset for the caller.
schakel::v1::PolicyInfo ToProto(const Policy& policy, absl::TimeZone zone);

// Names used in the file (and in messages): "analyst", "bsn",
// "contact_phone", ... Unknown or unspecified values give "unspecified".
std::string_view RoleName(schakel::v1::Role role);
std::string_view KeyTypeName(schakel::v1::MatchKeyType type);
std::string_view SignalFieldName(schakel::v1::SignalField field);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_POLICY_H_
