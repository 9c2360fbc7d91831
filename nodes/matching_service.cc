#include "nodes/matching_service.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_split.h"
#include "common/free_text.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "crypto/match_keys.h"
#include "crypto/pseudonym.h"
#include "crypto/random.h"
#include "nodes/subject_keys.h"
#include "proto/canonical.h"
#include "rpc/deadline.h"
#include "rpc/identity.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr size_t kMaxLabelChars = 200;
constexpr size_t kMaxFamilyIdChars = 64;
constexpr size_t kMaxCaseIdChars = 64;
// policy.proto: max_subjects_per_exchange is at most 10,000.
constexpr uint32_t kMaxSubjects = 10'000;
// Problems named one by one in an error; the rest are counted. An error
// travels in gRPC trailers, which peers refuse beyond a few kilobytes.
constexpr size_t kMaxProblemsShown = 25;
constexpr size_t kMaxDetailChars = 2000;
constexpr std::array<v1::Role, 1> kDefaultAskRoles = {v1::ROLE_ANALYST};

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

std::string AsString(crypto::ByteView bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

bool ValidCaseId(std::string_view id) {
  if (id.empty() || id.size() > kMaxCaseIdChars) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string TypeName(v1::MatchKeyType type) {
  switch (type) {
    case v1::MATCH_KEY_TYPE_BSN:
      return "bsn";
    case v1::MATCH_KEY_TYPE_NAME_DOB:
      return "name_dob";
    case v1::MATCH_KEY_TYPE_ADDRESS:
      return "address";
    default:
      return StrCat("key type ", static_cast<int>(type));
  }
}

std::string TypeList(const std::set<v1::MatchKeyType>& types) {
  std::string out;
  for (v1::MatchKeyType t : types) out += StrCat(out.empty() ? "" : ", ", TypeName(t));
  return out;
}

// Every problem of a request, named by field path.
class Problems {
 public:
  void Add(std::string field, std::string problem, std::string allowed = {}) {
    v1::FieldProblem p;
    p.set_field(std::move(field));
    p.set_problem(std::move(problem));
    p.set_allowed(std::move(allowed));
    problems_.push_back(std::move(p));
  }
  void TooMany() { too_many_ = true; }
  bool empty() const { return problems_.empty(); }

  absl::Status ToStatus() const {
    std::string message;
    v1::ErrorDetail detail;
    detail.set_reason(too_many_ ? v1::DENIAL_REASON_TOO_MANY_SUBJECTS
                                : v1::DENIAL_REASON_MALFORMED_REQUEST);
    for (size_t i = 0; i < problems_.size() && i < kMaxProblemsShown; ++i) {
      message += StrCat(i == 0 ? "" : "; ", problems_[i].field(), ": ", problems_[i].problem());
      *detail.add_problems() = problems_[i];
    }
    if (problems_.size() > kMaxProblemsShown) {
      message += StrCat("; and ", problems_.size() - kMaxProblemsShown,
                        " more problems (fix these and retry to see the rest)");
    }
    return rpc::WithErrorDetail(absl::InvalidArgumentError(message), detail);
  }

 private:
  std::vector<v1::FieldProblem> problems_;
  bool too_many_ = false;
};

}  // namespace

absl::StatusOr<PreparedMatch> PrepareMatch(const v1::MatchRequest& request,
                                           const v1::PurposeView* purpose,
                                           std::chrono::year_month_day today) {
  Problems problems;
  if (request.purpose_id().empty()) {
    problems.Add("purpose_id", "missing", "a purpose id, e.g. riec.ondermijning");
  } else if (auto s = crypto::ValidatePurposeId(request.purpose_id()); !s.ok()) {
    std::string message = Str(s.message());
    if (message.starts_with("purpose: ")) message = message.substr(9);
    problems.Add("purpose_id", message);
  }
  if (!request.case_id().empty() && !ValidCaseId(request.case_id())) {
    problems.Add("case_id", "not a case id", "1 to 64 characters of A-Z, a-z, 0-9 and '-'");
  }
  std::set<std::string> partners;
  for (int j = 0; j < request.partner_org_ids_size(); ++j) {
    const std::string& org = request.partner_org_ids(j);
    if (!rpc::IsValidOrgId(org)) {
      problems.Add(StrCat("partner_org_ids[", j, "]"), "not an organisation id",
                   "2 to 63 characters of a-z, 0-9 and '-', starting with a letter");
    } else if (!partners.insert(org).second) {
      problems.Add(StrCat("partner_org_ids[", j, "]"), "names the same partner twice");
    }
  }

  const v1::Purpose* policy = purpose != nullptr ? &purpose->purpose() : nullptr;
  const std::string purpose_name = request.purpose_id();
  uint32_t max_subjects = kMaxSubjects;
  if (policy != nullptr && policy->max_subjects_per_exchange() > 0) {
    max_subjects = std::min(max_subjects, policy->max_subjects_per_exchange());
  }
  const uint32_t max_keys =
      policy != nullptr && policy->max_keys_per_subject() > 0 ? policy->max_keys_per_subject() : 0;
  std::set<v1::MatchKeyType> allowed;
  if (policy != nullptr) {
    for (int t : policy->key_types()) allowed.insert(static_cast<v1::MatchKeyType>(t));
  }

  const int subject_count = request.subjects_size();
  if (subject_count == 0) {
    problems.Add("subjects", "no subject", StrCat("1 to ", max_subjects, " subjects"));
  } else if (static_cast<uint32_t>(subject_count) > max_subjects) {
    problems.TooMany();
    problems.Add("subjects", StrCat(subject_count, " subjects"),
                 StrCat("at most ", max_subjects, " subjects",
                        policy != nullptr ? StrCat(" for purpose ", purpose_name) : std::string()));
  }

  PreparedMatch prepared;
  std::map<std::string, uint32_t> family_numbers;
  size_t elements = 0;
  for (int i = 0; i < subject_count; ++i) {
    const v1::MatchSubject& in = request.subjects(i);
    const v1::Subject& subject = in.subject();
    const std::string path = StrCat("subjects[", i, "]");
    const std::string subject_path = StrCat(path, ".subject");
    if (Utf8Chars(in.label()) > kMaxLabelChars) {
      problems.Add(StrCat(path, ".label"), "longer than 200 characters", "at most 200 characters");
    }
    if (Utf8Chars(subject.family_id()) > kMaxFamilyIdChars) {
      problems.Add(StrCat(subject_path, ".family_id"), "longer than 64 characters",
                   "at most 64 characters");
    }
    if (!v1::Relation_IsValid(subject.relation())) {
      problems.Add(StrCat(subject_path, ".relation"), "not a relation");
    } else if (subject.relation() != v1::RELATION_UNSPECIFIED && subject.family_id().empty()) {
      problems.Add(StrCat(subject_path, ".relation"), "given without a family_id",
                   "a relation only within a family");
    }
    std::set<v1::MatchKeyType> wanted;
    for (int j = 0; j < in.key_types_size(); ++j) {
      const auto type = static_cast<v1::MatchKeyType>(in.key_types(j));
      if (!v1::MatchKeyType_IsValid(type) || type == v1::MATCH_KEY_TYPE_UNSPECIFIED) {
        problems.Add(StrCat(path, ".key_types[", j, "]"), "not a key type",
                     "bsn, name_dob or address");
      } else if (!allowed.empty() && allowed.count(type) == 0) {
        problems.Add(StrCat(path, ".key_types[", j, "]"),
                     StrCat(TypeName(type), " is not matched under purpose ", purpose_name),
                     TypeList(allowed));
      } else {
        wanted.insert(type);
      }
    }
    auto keys = crypto::DeriveMatchKeys(SubjectIdentifiersOf(subject), today);
    if (!keys.ok()) {
      for (SubjectFieldProblem& p : SubjectKeyProblems(keys.status().message())) {
        problems.Add(SubjectFieldPath(subject_path, p), std::move(p.problem));
      }
      continue;
    }
    std::vector<const crypto::MatchKey*> kept;
    for (const crypto::MatchKey& key : *keys) {
      const v1::MatchKeyType type = MatchKeyTypeToProto(key.type);
      if (!wanted.empty() && wanted.count(type) == 0) continue;
      if (!allowed.empty() && allowed.count(type) == 0) continue;
      kept.push_back(&key);
    }
    if (kept.empty()) {
      if (!wanted.empty()) {
        problems.Add(subject_path, "yields no key of the types asked for", TypeList(wanted));
      } else if (in.key_types_size() == 0) {
        problems.Add(subject_path, StrCat("yields no key of a type purpose ", purpose_name, " matches"),
                     TypeList(allowed));
      }
      continue;
    }
    if (max_keys > 0 && kept.size() > max_keys) {
      problems.TooMany();
      problems.Add(subject_path, StrCat("yields ", kept.size(), " keys"),
                   StrCat("at most ", max_keys, " keys per subject for purpose ", purpose_name,
                          "; narrow key_types"));
      continue;
    }
    elements += kept.size();
    if (!problems.empty()) continue;  // nothing more to build once something is wrong

    v1::BlindedSubject& blinded = prepared.subjects.emplace_back();
    v1::LocalSubject& local = prepared.local_subjects.emplace_back();
    local.set_subject_index(static_cast<uint32_t>(i));
    local.set_label(in.label());
    local.set_family_id(subject.family_id());
    local.set_relation(subject.relation());
    if (!subject.family_id().empty()) {
      auto [it, added] = family_numbers.emplace(subject.family_id(),
                                                static_cast<uint32_t>(family_numbers.size() + 1));
      if (added) {
        v1::LocalFamily& family = prepared.families.emplace_back();
        family.set_family(it->second);
        family.set_family_id(subject.family_id());
      }
      blinded.set_family(it->second);
      blinded.set_relation(subject.relation());
    }
    std::map<v1::MatchKeyType, uint32_t> per_type;
    for (const crypto::MatchKey* key : kept) {
      blinded.add_keys()->set_key_type(MatchKeyTypeToProto(key->type));
      ++per_type[MatchKeyTypeToProto(key->type)];
      const std::string input = key->OprfInput();
      crypto::SecretBuffer buffer(input.size());
      std::copy(input.begin(), input.end(), buffer.data());
      prepared.inputs.push_back(std::move(buffer));
    }
    for (const auto& [type, count] : per_type) {
      v1::KeyTypeCount* c = local.add_keys();
      c->set_key_type(type);
      c->set_count(count);
    }
  }
  if (elements > crypto::oprf::kMaxBatch) {
    problems.TooMany();
    problems.Add("subjects", StrCat(elements, " keys in all"),
                 StrCat("at most ", crypto::oprf::kMaxBatch, " keys per exchange"));
  }
  if (!problems.empty()) return problems.ToStatus();
  return prepared;
}

MatchingService::MatchingService(GatewayClient* gateway, LocalAuthenticator* authenticator,
                                 LocalLog* log, Options options)
    : gateway_(gateway), authenticator_(authenticator), log_(log), options_(std::move(options)) {}

grpc::Status MatchingService::GetFederation(grpc::ServerContext* context,
                                            const v1::GetFederationRequest*,
                                            v1::GetFederationResponse* response) {
  auto caller = authenticator_->Authenticate(*context, {});
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto purposes = gateway_->ListPurposes(/*prefer_cache=*/false);
  if (!purposes.ok()) return rpc::ToGrpcStatus(purposes.status());
  auto directory = gateway_->Directory();
  if (!directory.ok()) return rpc::ToGrpcStatus(directory.status());
  response->set_policy_version(purposes->policy_version());
  *response->mutable_purposes() = purposes->purposes();
  for (const v1::Organisation& org : (*directory)->organisations()) {
    if (org.active()) *response->add_organisations() = org;
  }
  return grpc::Status::OK;
}

grpc::Status MatchingService::Match(grpc::ServerContext* context, const v1::MatchRequest* request,
                                    v1::MatchResponse* response) {
  // The purpose decides which roles may ask; the gateway has the last word.
  std::vector<v1::Role> roles(kDefaultAskRoles.begin(), kDefaultAskRoles.end());
  if (auto purpose = gateway_->CachedPurpose(request->purpose_id());
      purpose.has_value() && purpose->roles_that_may_ask_size() > 0) {
    roles.clear();
    for (int r : purpose->roles_that_may_ask()) roles.push_back(static_cast<v1::Role>(r));
  }
  auto caller = authenticator_->Authenticate(*context, roles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto result = RunMatch(*caller, *request);
  if (!result.ok()) return rpc::ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

namespace {

// What the requester concluded about one partner's evaluation.
struct PartnerCheck {
  const v1::PartnerEvaluation* evaluation = nullptr;
  v1::EvaluationCheck check = v1::EVALUATION_CHECK_UNSPECIFIED;
  std::string problem;  // why not VERIFIED; no identifiers
  std::vector<crypto::Tag> tags;
  // Each element's tag, unblinded alongside the proof's check (it does not
  // depend on the partner's key); kept only if the proof verifies.
  std::vector<absl::StatusOr<crypto::Tag>> unverified_tags;
  // From the directory, looked up before the parallel part.
  std::optional<crypto::VerifyKey> signing_key;
  std::vector<crypto::Element> oprf_keys;
};

// Everything of a partner's answer except the DLEQ proof, which Finalize
// verifies. Returns OK or sets check/problem.
void CheckStatement(PartnerCheck& c, const std::string& exchange_id, const std::string& purpose_id,
                    size_t element_count, const canonical::DigestBytes& batch_digest) {
  const v1::PartnerEvaluation& e = *c.evaluation;
  const std::string& org = e.outcome().org_id();
  if (static_cast<size_t>(e.evaluated_elements_size()) != element_count) {
    c.check = v1::EVALUATION_CHECK_ELEMENT_INVALID;
    c.problem = StrCat(e.evaluated_elements_size(), " evaluated elements for ", element_count,
                       " blinded elements");
    return;
  }
  const v1::AuthorisationPayload& payload = e.authorisation().payload();
  std::string mismatch;
  if (!e.has_authorisation()) {
    mismatch = "no authorisation";
  } else if (payload.operation() != v1::AUTHORISED_OPERATION_EVALUATE) {
    mismatch = "the authorisation is not for an evaluation";
  } else if (payload.exchange_id() != exchange_id) {
    mismatch = "the authorisation is for another exchange";
  } else if (payload.responder_org_id() != org) {
    mismatch = "the authorisation is addressed to another organisation";
  } else if (payload.purpose_id() != purpose_id) {
    mismatch = "the authorisation is for another purpose";
  } else if (payload.element_count() != element_count ||
             payload.request_digest() != AsString(batch_digest)) {
    mismatch = "the authorisation is not for the elements this node sent";
  }
  if (!mismatch.empty()) {
    c.check = v1::EVALUATION_CHECK_SIGNATURE_INVALID;
    c.problem = mismatch;
    return;
  }
  if (!c.signing_key.has_value()) {
    c.check = v1::EVALUATION_CHECK_SIGNATURE_INVALID;
    if (c.problem.empty()) c.problem = "the node's signing key is not in the directory";
    return;
  }
  auto authorisation_digest = canonical::Digest(canonical::kAuthorisationContext, payload);
  if (!authorisation_digest.ok()) {
    c.check = v1::EVALUATION_CHECK_SIGNATURE_INVALID;
    c.problem = StrCat("the authorisation cannot be encoded: ", authorisation_digest.status().message());
    return;
  }
  v1::EvaluationStatement statement;
  statement.set_authorisation_digest(AsString(*authorisation_digest));
  statement.set_responder_org_id(org);
  *statement.mutable_evaluated_elements() = e.evaluated_elements();
  statement.set_proof(e.proof());
  if (auto s = canonical::Verify(*c.signing_key, canonical::kEvaluationContext, statement,
                                 e.node_signature());
      !s.ok()) {
    c.check = v1::EVALUATION_CHECK_SIGNATURE_INVALID;
    c.problem = StrCat("node signature: ", s.message());
  }
}

// A partner's proof against the keys the directory lists for it (two during
// a key rotation; a bad element fails under every key, so it ends the
// search). Sets check and problem.
void VerifyProof(PartnerCheck& c, const crypto::MatchRequester& requester,
                 const crypto::PendingMatch& pending) {
  const v1::PartnerEvaluation& e = *c.evaluation;
  std::vector<crypto::ByteView> evaluated;
  evaluated.reserve(static_cast<size_t>(e.evaluated_elements_size()));
  for (const std::string& z : e.evaluated_elements()) evaluated.push_back(crypto::AsBytes(z));
  absl::Status last = absl::FailedPreconditionError("no OPRF key in the directory");
  for (const crypto::Element& key : c.oprf_keys) {
    last = requester.VerifyAnswer(pending, key, evaluated, crypto::AsBytes(e.proof()));
    if (last.ok()) {
      c.check = v1::EVALUATION_CHECK_VERIFIED;
      return;
    }
    if (Str(last.message()).find("evaluated_elements[") != std::string::npos) break;
  }
  c.check = Str(last.message()).find("evaluated_elements[") != std::string::npos
                ? v1::EVALUATION_CHECK_ELEMENT_INVALID
                : v1::EVALUATION_CHECK_PROOF_INVALID;
  c.problem = Str(last.message());
}

// The result when no partner answered OK: nothing to resolve, every subject
// "unknown" (no partner entries), as the gateway would show it.
v1::MatchResult UnresolvedResult(const v1::OpenExchangeResponse& opened,
                                 const v1::OpenExchangeRequest& open, size_t elements) {
  v1::MatchResult result;
  result.set_exchange_id(opened.exchange_id());
  std::map<uint32_t, uint32_t> members;
  for (const v1::PartnerEvaluation& e : opened.evaluations()) *result.add_partners() = e.outcome();
  for (int i = 0; i < open.subjects_size(); ++i) {
    v1::SubjectMatch* s = result.add_subjects();
    s->set_subject_index(static_cast<uint32_t>(i));
    s->set_family(open.subjects(i).family());
    s->set_relation(open.subjects(i).relation());
    if (open.subjects(i).family() != 0) ++members[open.subjects(i).family()];
  }
  for (const auto& [family, count] : members) {
    v1::FamilySummary* f = result.add_families();
    f->set_family(family);
    f->set_member_count(count);
  }
  v1::MatchCounts* counts = result.mutable_counts();
  counts->set_subjects(static_cast<uint32_t>(open.subjects_size()));
  counts->set_elements(static_cast<uint32_t>(elements));
  counts->set_partners_failed(static_cast<uint32_t>(opened.evaluations_size()));
  return result;
}

std::string PartnerStatusName(v1::PartnerStatus status) {
  std::string name = v1::PartnerStatus_Name(status);
  if (name.starts_with("PARTNER_STATUS_")) name = name.substr(15);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return name;
}

}  // namespace

namespace {

constexpr size_t kMaxReasonChars = 2000;
constexpr size_t kMaxCategoryChars = 64;

std::string Hex(std::string_view id) { return crypto::ToHex(crypto::AsBytes(id)); }

absl::Status NoDisclosures() {
  return absl::FailedPreconditionError(
      "disclosure is not set up in this node (it has no gateway endpoint or no store for "
      "disclosures)");
}

absl::Status IdProblem(std::string_view field, std::string_view id) {
  v1::ErrorDetail detail;
  detail.set_reason(v1::DENIAL_REASON_MALFORMED_REQUEST);
  v1::FieldProblem* p = detail.add_problems();
  p->set_field(std::string(field));
  p->set_problem(StrCat(id.size(), " bytes"));
  p->set_allowed("exactly 16 bytes");
  return rpc::WithErrorDetail(
      absl::InvalidArgumentError(StrCat(field, ": ", id.size(), " bytes; exactly 16")), detail);
}

}  // namespace

absl::StatusOr<v1::AskDisclosureResponse> MatchingService::RunAskDisclosure(
    const LocalCaller& caller, const v1::AskDisclosureRequest& request) {
  OutgoingDisclosures* disclosures = options_.disclosures;
  if (disclosures == nullptr) return NoDisclosures();
  if (absl::Status s = disclosures->CheckBoxKey(); !s.ok()) return s;
  if (request.exchange_id().size() != 16) return IdProblem("exchange_id", request.exchange_id());
  auto exchange = disclosures->FindExchange(request.exchange_id());
  if (!exchange.ok()) return exchange.status();
  if (!exchange->has_value()) {
    return absl::NotFoundError(StrCat("exchange ", Hex(request.exchange_id()),
                                      " was not run by this node (or before it kept its "
                                      "exchanges): disclosure can only be asked about its own "
                                      "matches"));
  }
  const v1::MatchResponse& ran = **exchange;

  Problems problems;
  if (!rpc::IsValidOrgId(request.responder_org_id())) {
    problems.Add("responder_org_id", request.responder_org_id().empty() ? "missing" : "not an organisation id",
                 "the partner to ask, e.g. politie");
  }
  const auto subject_count = static_cast<uint32_t>(ran.subjects_size());
  if (request.subject_indices_size() == 0) {
    problems.Add("subject_indices", "no subject", "subject indexes from the match result");
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < request.subject_indices_size(); ++i) {
    const uint32_t index = request.subject_indices(i);
    const std::string path = StrCat("subject_indices[", i, "]");
    if (index >= subject_count) {
      problems.Add(path, StrCat("unknown subject index ", index),
                   StrCat("0 to ", subject_count == 0 ? 0 : subject_count - 1, " (the exchange has ",
                          subject_count, " subjects)"));
    } else if (!seen.insert(index).second) {
      problems.Add(path, StrCat("subject index ", index, " named twice"));
    }
  }
  const v1::DisclosureAsk& ask = request.ask();
  if (ask.fields_size() == 0) {
    problems.Add("ask.fields", "no field", "the fields to disclose, e.g. contact_name");
  }
  std::set<int> fields;
  for (int i = 0; i < ask.fields_size(); ++i) {
    const int f = ask.fields(i);
    if (!v1::SignalField_IsValid(f) || f == v1::SIGNAL_FIELD_UNSPECIFIED) {
      problems.Add(StrCat("ask.fields[", i, "]"), "not a signal field");
    } else if (!fields.insert(f).second) {
      problems.Add(StrCat("ask.fields[", i, "]"), "named twice");
    }
  }
  for (int i = 0; i < ask.categories_size(); ++i) {
    if (ask.categories(i).empty() || Utf8Chars(ask.categories(i)) > kMaxCategoryChars) {
      problems.Add(StrCat("ask.categories[", i, "]"), "not a category", "1 to 64 characters");
    }
  }
  if (ask.reason().empty()) {
    problems.Add("ask.reason", "missing", "why the information is needed, 1 to 2,000 characters");
  } else if (!Utf8Valid(ask.reason()) || Utf8Chars(ask.reason()) > kMaxReasonChars) {
    problems.Add("ask.reason", "longer than 2,000 characters or not UTF-8",
                 "1 to 2,000 characters");
  } else if (const auto kind = IdentifierShapeIn(ask.reason())) {
    problems.Add("ask.reason", StrCat("seems to hold ", *kind),
                 "a reason without identifiers or names: it goes to the gateway's log");
  }
  if (!problems.empty()) return problems.ToStatus();

  v1::RequestDisclosureRequest ask_gateway;
  ask_gateway.mutable_actor()->set_user_id(caller.user_id);
  ask_gateway.mutable_actor()->set_role(caller.role);
  std::string request_id(16, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(request_id.data()), 16));
  ask_gateway.set_request_id(request_id);
  ask_gateway.set_exchange_id(request.exchange_id());
  ask_gateway.set_responder_org_id(request.responder_org_id());
  *ask_gateway.mutable_subject_indices() = request.subject_indices();
  *ask_gateway.mutable_ask() = ask;
  v1::RequestDisclosureResponse answer;
  if (absl::Status s = CallGateway("RequestDisclosure", gateway_->options().exchange_timeout,
                                   [&](grpc::ClientContext& context) {
                                     return gateway_->gateway().RequestDisclosure(
                                         &context, ask_gateway, &answer);
                                   });
      !s.ok()) {
    // The refusal stands whether or not its record could be written.
    (void)disclosures->RecordAskRefused(caller, ran, request, s);
    return s;
  }
  auto stored = disclosures->RecordAsked(caller, ran, request, answer);
  if (!stored.ok()) return stored.status();
  v1::AskDisclosureResponse response;
  *response.mutable_disclosure() = *std::move(stored);
  *response.mutable_receipts() = answer.receipts();
  return response;
}

grpc::Status MatchingService::AskDisclosure(grpc::ServerContext* context,
                                            const v1::AskDisclosureRequest* request,
                                            v1::AskDisclosureResponse* response) {
  // The exchange's purpose decides which roles may ask; the gateway has the
  // last word.
  std::vector<v1::Role> roles(kDefaultAskRoles.begin(), kDefaultAskRoles.end());
  if (options_.disclosures != nullptr) {
    auto exchange = options_.disclosures->FindExchange(request->exchange_id());
    if (exchange.ok() && exchange->has_value()) {
      if (auto purpose = gateway_->CachedPurpose((*exchange)->purpose_id());
          purpose.has_value() && purpose->roles_that_may_ask_size() > 0) {
        roles.clear();
        for (int r : purpose->roles_that_may_ask()) roles.push_back(static_cast<v1::Role>(r));
      }
    }
  }
  auto caller = authenticator_->Authenticate(*context, roles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto result = RunAskDisclosure(*caller, *request);
  if (!result.ok()) return rpc::ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status MatchingService::ShowDisclosure(grpc::ServerContext* context,
                                             const v1::ShowDisclosureRequest* request,
                                             v1::ShowDisclosureResponse* response) {
  auto caller = authenticator_->Authenticate(*context, {});
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  OutgoingDisclosures* disclosures = options_.disclosures;
  if (disclosures == nullptr) return rpc::ToGrpcStatus(NoDisclosures());
  const std::string& id = request->disclosure_id();
  if (id.size() != 16) return rpc::ToGrpcStatus(IdProblem("disclosure_id", id));
  auto found = disclosures->Find(id);
  if (!found.ok()) return rpc::ToGrpcStatus(found.status());
  if (!found->has_value()) {
    return rpc::ToGrpcStatus(
        absl::NotFoundError(StrCat("disclosure ", Hex(id), " was not asked by this node")));
  }
  const bool own = (*found)->requested_by_user_id() == caller->user_id;
  if (!own && caller->role != v1::ROLE_AUDITOR) {
    return rpc::ToGrpcStatus(absl::PermissionDeniedError(
        StrCat("disclosure ", Hex(id),
               " was asked by another user; only that user, or a user acting as auditor, may "
               "see it")));
  }
  v1::OutgoingDisclosure stored = **std::move(found);
  const v1::DisclosureState state = stored.status().state();
  if (state == v1::DISCLOSURE_STATE_PENDING_APPROVAL || state == v1::DISCLOSURE_STATE_UNSPECIFIED) {
    // News from the gateway; while it cannot be reached the stored state
    // is shown.
    v1::GetDisclosureRequest ask;
    ask.mutable_actor()->set_user_id(caller->user_id);
    ask.mutable_actor()->set_role(caller->role);
    ask.set_disclosure_id(id);
    v1::GetDisclosureResponse news;
    grpc::ClientContext client;
    rpc::SetDeadline(client, gateway_->options().call_timeout);
    if (GatewayClient::FromGateway(gateway_->gateway().GetDisclosure(&client, ask, &news),
                                   "GetDisclosure")
            .ok()) {
      auto applied = disclosures->ApplyStatus(news.status(), &*caller);
      if (!applied.ok()) {
        return rpc::ToGrpcStatus(absl::UnavailableError(
            StrCat("the disclosure's outcome could not be recorded in the local log, so it is "
                   "not shown: ",
                   applied.status().message())));
      }
      if (*applied) {
        auto again = disclosures->Find(id);
        if (!again.ok()) return rpc::ToGrpcStatus(again.status());
        if (again->has_value()) stored = **std::move(again);
      }
    }
  }
  if (!own && stored.status().state() == v1::DISCLOSURE_STATE_DELIVERED) {
    // Another user's disclosed content is seen by an auditor: recorded first.
    v1::LocalLogRecord record;
    record.set_kind(v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
    record.set_user_id(caller->user_id);
    record.set_role(caller->role);
    record.set_purpose_id(stored.status().purpose_id());
    record.set_case_id(stored.status().case_id());
    record.set_exchange_id(stored.status().exchange_id());
    record.set_disclosure_id(id);
    record.set_counterpart_org_id(stored.status().responder_org_id());
    record.set_outcome(v1::OUTCOME_GRANTED);
    record.set_detail(StrCat("ShowDisclosure of a disclosure asked by user ",
                             stored.requested_by_user_id()));
    if (absl::Status s = Record(std::move(record)); !s.ok()) {
      return rpc::ToGrpcStatus(absl::UnavailableError(
          StrCat("the node cannot record the view in its log: ", s.message())));
    }
  }
  *response->mutable_disclosure() = disclosures->View(std::move(stored));
  return grpc::Status::OK;
}

grpc::Status MatchingService::ListDisclosures(grpc::ServerContext* context,
                                              const v1::ListDisclosuresRequest* request,
                                              v1::ListDisclosuresResponse* response) {
  auto caller = authenticator_->Authenticate(*context, {});
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  if (options_.disclosures == nullptr) return rpc::ToGrpcStatus(NoDisclosures());
  auto listed = options_.disclosures->List(*request, caller->user_id,
                                           /*all=*/caller->role == v1::ROLE_AUDITOR);
  if (!listed.ok()) return rpc::ToGrpcStatus(listed.status());
  *response = *std::move(listed);
  return grpc::Status::OK;
}

absl::Status MatchingService::Record(v1::LocalLogRecord record, store::WriteBatch batch) {
  if (record.detail().size() > kMaxDetailChars) {
    std::string detail = record.detail().substr(0, kMaxDetailChars - 3);
    while (!detail.empty() && (static_cast<uint8_t>(detail.back()) & 0xC0) == 0x80) detail.pop_back();
    if (!detail.empty() && (static_cast<uint8_t>(detail.back()) & 0x80) != 0) detail.pop_back();
    record.set_detail(detail + "...");
  }
  auto appended = batch.empty() ? log_->Append(std::move(record))
                                : log_->AppendWith(std::move(record), std::move(batch));
  return appended.status();
}

absl::Status MatchingService::CallGateway(
    std::string_view rpc_name, std::chrono::milliseconds timeout,
    const std::function<grpc::Status(grpc::ClientContext&)>& fn) const {
  std::chrono::milliseconds wait = options_.retry_wait;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    rpc::SetDeadline(context, timeout);
    absl::Status s = GatewayClient::FromGateway(fn(context), rpc_name);
    if (!absl::IsUnavailable(s) || attempt >= options_.attempts) return s;
    std::this_thread::sleep_for(wait);
    wait *= 2;
  }
}

absl::StatusOr<v1::MatchResponse> MatchingService::RunMatch(const LocalCaller& caller,
                                                            const v1::MatchRequest& request) {
  const std::optional<v1::PurposeView> purpose = gateway_->CachedPurpose(request.purpose_id());
  auto prepared = PrepareMatch(request, purpose.has_value() ? &*purpose : nullptr, UtcDay(Now()));
  if (!prepared.ok()) return prepared.status();

  // 3. Blind once.
  auto requester = crypto::MatchRequester::Create(request.purpose_id());
  if (!requester.ok()) return requester.status();
  std::vector<crypto::ByteView> inputs;
  inputs.reserve(prepared->inputs.size());
  for (const crypto::SecretBuffer& in : prepared->inputs) inputs.push_back(in.bytes());
  auto pending = requester->Blind(inputs);
  if (!pending.ok()) return pending.status();
  const std::vector<crypto::Bytes> blinded = pending->BlindedEncodings();
  const size_t element_count = blinded.size();

  // 4. Open the exchange.
  v1::OpenExchangeRequest open;
  open.mutable_actor()->set_user_id(caller.user_id);
  open.mutable_actor()->set_role(caller.role);
  std::string request_id(16, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(request_id.data()), 16));
  open.set_request_id(request_id);
  open.set_purpose_id(request.purpose_id());
  open.set_case_id(request.case_id());
  *open.mutable_target_org_ids() = request.partner_org_ids();
  v1::ElementBatch batch;
  {
    size_t e = 0;
    for (v1::BlindedSubject& subject : prepared->subjects) {
      for (v1::BlindedKey& key : *subject.mutable_keys()) {
        key.set_blinded_element(AsString(blinded[e]));
        batch.add_elements(AsString(blinded[e]));
        ++e;
      }
      *open.add_subjects() = std::move(subject);
    }
  }

  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_MATCH_RUN);
  record.set_user_id(caller.user_id);
  record.set_role(caller.role);
  record.set_purpose_id(request.purpose_id());
  record.set_case_id(request.case_id());
  record.set_subject_count(static_cast<uint64_t>(open.subjects_size()));
  record.set_element_count(element_count);
  // A refusal is recorded as fully as a match; its own error is returned
  // whether or not the record could be written (nothing was learnt).
  auto refused = [&](const absl::Status& error, std::string_view step) {
    v1::LocalLogRecord r = record;
    r.set_outcome(absl::IsUnavailable(error) || absl::IsDeadlineExceeded(error) ||
                          absl::IsInternal(error) || absl::IsUnknown(error)
                      ? v1::OUTCOME_FAILED
                      : v1::OUTCOME_REFUSED);
    if (auto detail = rpc::ErrorDetailOf(error); detail.has_value()) {
      if (detail->reason() != v1::DENIAL_REASON_UNSPECIFIED) r.add_denial_reasons(detail->reason());
      if (detail->has_receipt()) *r.add_receipts() = detail->receipt();
    }
    r.set_detail(StrCat(step, ": ", absl::StatusCodeToString(error.code()), ": ", error.message()));
    (void)Record(std::move(r));
    return error;
  };

  v1::OpenExchangeResponse opened;
  if (absl::Status s = CallGateway("OpenExchange", gateway_->options().exchange_timeout,
                            [&](grpc::ClientContext& context) {
                              return gateway_->gateway().OpenExchange(&context, open, &opened);
                            });
      !s.ok()) {
    return refused(s, "OpenExchange");
  }
  record.set_exchange_id(opened.exchange_id());
  record.set_policy_version(opened.policy_version());
  *record.mutable_receipts() = opened.receipts();

  // 5. Check every partner that answered OK; the directory first (it may
  // call the gateway), then the expensive part on several threads.
  auto batch_digest = canonical::Digest(canonical::kElementBatchContext, batch);
  if (!batch_digest.ok()) return batch_digest.status();
  std::vector<PartnerCheck> checks;
  for (const v1::PartnerEvaluation& e : opened.evaluations()) {
    if (e.outcome().status() != v1::PARTNER_STATUS_OK) continue;
    PartnerCheck& c = checks.emplace_back();
    c.evaluation = &e;
    const std::string& org_id = e.outcome().org_id();
    auto key = gateway_->NodeSigningKey(org_id, crypto::AsBytes(e.node_signature().key_id()));
    if (key.ok()) {
      c.signing_key = *key;
    } else {
      c.problem = StrCat("node signature: ", key.status().message());
    }
    if (auto org = gateway_->FindOrganisation(org_id); org.ok()) {
      const absl::Time now = Now();
      std::vector<crypto::Element> later;  // keys not valid now: tried last
      for (const v1::PublicKey& k : org->oprf_keys()) {
        auto element = crypto::Element::FromBytes(crypto::AsBytes(k.key()), "oprf_keys");
        if (!element.ok()) continue;
        const bool valid_now =
            !k.has_valid_until() || absl::FromUnixSeconds(k.valid_until().seconds()) > now;
        (valid_now ? c.oprf_keys : later).push_back(*element);
      }
      c.oprf_keys.insert(c.oprf_keys.end(), later.begin(), later.end());
    }
  }
  // Split finer than per partner, so that three answers on two threads
  // take one and a half rounds rather than two: each partner's statement
  // and proof is one task, each element's unblinding another.
  {
    const size_t statements = checks.size();
    for (PartnerCheck& c : checks) {
      if (static_cast<size_t>(c.evaluation->evaluated_elements_size()) == element_count) {
        c.unverified_tags.assign(element_count, absl::UnknownError("not unblinded"));
      }
    }
    const size_t tasks = statements + statements * element_count;
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t task = next++; task < tasks; task = next++) {
        if (task < statements) {
          PartnerCheck& c = checks[task];
          CheckStatement(c, opened.exchange_id(), request.purpose_id(), element_count, *batch_digest);
          if (c.check == v1::EVALUATION_CHECK_UNSPECIFIED) VerifyProof(c, *requester, *pending);
          continue;
        }
        PartnerCheck& c = checks[(task - statements) / element_count];
        const size_t element = (task - statements) % element_count;
        if (c.unverified_tags.empty()) continue;  // the wrong count: CheckStatement refuses it
        c.unverified_tags[element] = requester->UnverifiedTag(
            *pending, element, crypto::AsBytes(c.evaluation->evaluated_elements(static_cast<int>(element))));
      }
    };
    const size_t threads = std::min(tasks, static_cast<size_t>(std::max(1, options_.threads)));
    std::vector<std::thread> workers;
    for (size_t t = 1; t < threads; ++t) workers.emplace_back(work);
    work();
    for (std::thread& w : workers) w.join();
    for (PartnerCheck& c : checks) {
      if (c.check != v1::EVALUATION_CHECK_VERIFIED) continue;
      c.tags.reserve(element_count);
      for (absl::StatusOr<crypto::Tag>& tag : c.unverified_tags) {
        if (!tag.ok()) {  // cannot happen after a verified proof: every element was valid
          c.check = v1::EVALUATION_CHECK_ELEMENT_INVALID;
          c.problem = Str(tag.status().message());
          c.tags.clear();
          break;
        }
        c.tags.push_back(*tag);
      }
      c.unverified_tags.clear();
    }
  }

  // 6. Resolve.
  v1::MatchResult result;
  std::vector<v1::Receipt> receipts(opened.receipts().begin(), opened.receipts().end());
  if (!checks.empty()) {
    v1::ResolveMatchesRequest resolve;
    *resolve.mutable_actor() = open.actor();
    resolve.set_exchange_id(opened.exchange_id());
    for (const PartnerCheck& c : checks) {
      v1::PartnerTags* tags = resolve.add_partners();
      tags->set_org_id(c.evaluation->outcome().org_id());
      tags->set_check(c.check);
      for (const crypto::Tag& tag : c.tags) tags->add_tags(AsString(tag));
    }
    v1::ResolveMatchesResponse resolved;
    if (absl::Status s = CallGateway("ResolveMatches", gateway_->options().call_timeout,
                              [&](grpc::ClientContext& context) {
                                return gateway_->gateway().ResolveMatches(&context, resolve,
                                                                          &resolved);
                              });
        !s.ok()) {
      return refused(s, "ResolveMatches");
    }
    result = std::move(*resolved.mutable_result());
    receipts.insert(receipts.end(), resolved.receipts().begin(), resolved.receipts().end());
  } else {
    result = UnresolvedResult(opened, open, element_count);
  }
  // Partners this node rejected show as INVALID_RESPONSE whatever the
  // gateway made of them.
  std::map<std::string, const PartnerCheck*> rejected;
  for (const PartnerCheck& c : checks) {
    if (c.check != v1::EVALUATION_CHECK_VERIFIED) rejected[c.evaluation->outcome().org_id()] = &c;
  }
  for (v1::PartnerOutcome& outcome : *result.mutable_partners()) {
    auto it = rejected.find(outcome.org_id());
    if (it == rejected.end()) continue;
    outcome.set_status(v1::PARTNER_STATUS_INVALID_RESPONSE);
    outcome.set_reason(v1::DENIAL_REASON_INVALID_PROOF);
    outcome.set_detail(StrCat("rejected by the requesting node: ", it->second->problem));
  }

  // 7. Record, then answer.
  uint32_t failed = 0;
  std::string partner_notes;
  for (const v1::PartnerOutcome& outcome : result.partners()) {
    if (outcome.status() == v1::PARTNER_STATUS_OK) continue;
    ++failed;
    partner_notes += StrCat("; ", outcome.org_id(), " ", PartnerStatusName(outcome.status()),
                            outcome.detail().empty() ? "" : StrCat(" (", outcome.detail(), ")"));
  }
  const uint32_t answered = static_cast<uint32_t>(result.partners_size()) - failed;
  record.set_outcome(failed == 0 ? v1::OUTCOME_GRANTED
                                 : (answered > 0 ? v1::OUTCOME_PARTIAL : v1::OUTCOME_FAILED));
  if (!rejected.empty()) record.add_denial_reasons(v1::DENIAL_REASON_INVALID_PROOF);
  record.set_hit_count(result.counts().subject_partner_hits());
  record.clear_receipts();
  for (const v1::Receipt& r : receipts) *record.add_receipts() = r;
  record.set_detail(StrCat(open.subjects_size(), " subjects, ", element_count, " elements, ",
                           prepared->families.size(), " families; ", answered, " of ",
                           result.partners_size(), " partners answered and verified, ",
                           result.counts().subjects_hit(), " subjects hit",
                           partner_notes));
  v1::MatchResponse response;
  response.set_exchange_id(opened.exchange_id());
  response.set_purpose_id(request.purpose_id());
  response.set_case_id(request.case_id());
  response.set_policy_version(opened.policy_version());
  *response.mutable_lawful_basis() = opened.lawful_basis();
  *response.mutable_result() = std::move(result);
  for (v1::LocalSubject& s : prepared->local_subjects) *response.add_subjects() = std::move(s);
  for (v1::LocalFamily& f : prepared->families) *response.add_families() = std::move(f);
  // Remembered with its record, so that disclosure can be asked later.
  store::WriteBatch remembered;
  if (options_.disclosures != nullptr) {
    auto exchange_batch = options_.disclosures->ExchangeBatch(response);
    if (!exchange_batch.ok()) return exchange_batch.status();
    remembered = *std::move(exchange_batch);
  }
  if (absl::Status s = Record(record, std::move(remembered)); !s.ok()) {
    return absl::UnavailableError(
        StrCat("the match ran (exchange ", crypto::ToHex(crypto::AsBytes(opened.exchange_id())),
               ") but the local log could not record it, so the result is withheld: ",
               s.message()));
  }
  for (v1::Receipt& r : receipts) *response.add_receipts() = std::move(r);
  return response;
}

}  // namespace schakel::nodes
