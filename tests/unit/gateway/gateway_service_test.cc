// schakel.v1.Gateway in-process over mutual TLS (gateway/gateway_service.h),
// with real OPRF evaluation at fake partner nodes: a match hits at the right
// partners and key types, families are summarised, every refusal kind is
// logged with its reason and a receipt, a partner down or slow gives a
// partial result, retries are idempotent, the resolve rules hold, index
// publication is sequenced and superseded, nothing is forwarded when the
// log cannot be written; disclosures are checked, forwarded, verified and
// logged (never their plaintext or box), pending ones complete or expire,
// and hits are notified where the purpose says so, durably.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "crypto/sealed_box.h"
#include "gateway/authoriser.h"
#include "gateway/receipts.h"
#include "tests/unit/gateway/gateway_test_env.h"

namespace schakel::gateway::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const TestSubject kPersonA{{{v1::MATCH_KEY_TYPE_BSN, Bsn("111222333")},
                            {v1::MATCH_KEY_TYPE_NAME_DOB, NameDob("jansen|p|1980-01-01")}}};
const TestSubject kPersonB{{{v1::MATCH_KEY_TYPE_BSN, Bsn("123456782")}}};
const TestSubject kPersonABsn{{{v1::MATCH_KEY_TYPE_BSN, Bsn("111222333")}}};

class GatewayServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { env_.SetUp(); }

  // Politie knows A by BSN, the gemeente knows A by name and date of birth.
  void PublishKnowledgeOfA() {
    ASSERT_TRUE(env_.Publish(kPolitie, {env_.Batch(1, kPolitie, kRiecPurpose, {Bsn("111222333")})}).ok());
    ASSERT_TRUE(
        env_.Publish(kGemeente, {env_.Batch(1, kGemeente, kRiecPurpose, {NameDob("jansen|p|1980-01-01")})}).ok());
  }

  const v1::PartnerEvaluation& EvaluationOf(const v1::OpenExchangeResponse& r, const std::string& org) {
    const auto it = std::find_if(r.evaluations().begin(), r.evaluations().end(),
                                 [&](const v1::PartnerEvaluation& e) { return e.outcome().org_id() == org; });
    EXPECT_NE(it, r.evaluations().end()) << org;
    return *it;
  }

  // Checks a refusal: code, reason, a receipt for the caller whose entry
  // records the refusal with its reason and the policy in force.
  v1::LogEntry ExpectRefused(const grpc::Status& status, grpc::StatusCode code, v1::DenialReason reason,
                             v1::RecordKind kind = v1::RECORD_KIND_EXCHANGE_REQUESTED) {
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    const v1::ErrorDetail detail = DetailOf(status);
    EXPECT_EQ(detail.reason(), reason) << status.error_message();
    EXPECT_TRUE(detail.has_receipt()) << status.error_message();
    EXPECT_EQ(detail.receipt().payload().recipient_org_id(), kRiec);
    const v1::LogEntry entry = env_.EntryOf(detail.receipt());
    EXPECT_EQ(entry.record().kind(), kind);
    EXPECT_EQ(entry.record().outcome(), v1::OUTCOME_REFUSED);
    EXPECT_THAT(entry.record().denial_reasons(), ElementsAre(reason));
    EXPECT_EQ(entry.record().policy_version(), env_.server().policy()->version());
    EXPECT_EQ(entry.record().requester().org_id(), kRiec);
    EXPECT_EQ(entry.record().detail(), status.error_message());
    return entry;
  }

  GatewayTestEnv env_;
};

TEST_F(GatewayServiceTest, MatchHitsAtTheRightPartnersAndKeyTypes) {
  PublishKnowledgeOfA();
  GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, {kPersonA, kPersonB});
  v1::OpenExchangeResponse opened;
  ASSERT_TRUE(env_.Open(kRiec, b.request, &opened).ok());
  EXPECT_EQ(opened.exchange_id().size(), 16u);
  EXPECT_EQ(opened.policy_version(), env_.server().policy()->version());
  EXPECT_EQ(opened.lawful_basis().reference(), "Wpg art. 20");
  EXPECT_EQ(opened.quota_usage().subjects_used(), 2u);
  EXPECT_EQ(opened.quota_usage().exchanges_used(), 1u);

  // Every targeted partner, in directory order; the woningcorporatie is down.
  ASSERT_THAT(opened.evaluations(), SizeIs(3));
  EXPECT_EQ(opened.evaluations(0).outcome().org_id(), kGemeente);
  EXPECT_EQ(opened.evaluations(1).outcome().org_id(), kPolitie);
  EXPECT_EQ(opened.evaluations(2).outcome().org_id(), kWoning);
  EXPECT_EQ(EvaluationOf(opened, kPolitie).outcome().status(), v1::PARTNER_STATUS_OK);
  EXPECT_EQ(EvaluationOf(opened, kGemeente).outcome().status(), v1::PARTNER_STATUS_OK);
  EXPECT_EQ(EvaluationOf(opened, kWoning).outcome().status(), v1::PARTNER_STATUS_UNAVAILABLE);
  EXPECT_EQ(EvaluationOf(opened, kPolitie).evaluated_elements_size(), 3);

  // The node got the blinded elements, its own authorisation and receipt.
  const v1::EvaluateRequest sent = env_.node(kPolitie).last_request();
  EXPECT_EQ(sent.blinded_elements_size(), 3);
  EXPECT_EQ(sent.authorisation().payload().responder_org_id(), kPolitie);
  EXPECT_EQ(sent.authorisation().payload().requester_org_id(), kRiec);
  EXPECT_EQ(sent.authorisation().payload().subject_count(), 2u);
  EXPECT_EQ(sent.authorisation().payload().element_count(), 3u);
  EXPECT_TRUE(canonical::Verify(env_.gateway_key(), canonical::kAuthorisationContext,
                                sent.authorisation().payload(), sent.authorisation().signature()).ok());
  EXPECT_EQ(sent.receipt().payload().recipient_org_id(), kPolitie);
  EXPECT_TRUE(VerifyReceipt(sent.receipt(), env_.gateway_key()).ok());

  // Both receipts name entries that record the exchange as it happened.
  ASSERT_THAT(opened.receipts(), SizeIs(2));
  const v1::LogEntry requested = env_.EntryOf(opened.receipts(0));
  EXPECT_EQ(requested.record().kind(), v1::RECORD_KIND_EXCHANGE_REQUESTED);
  EXPECT_EQ(requested.record().outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(requested.record().lawful_basis().text(), "Verstrekking aan samenwerkingsverbanden.");
  EXPECT_EQ(requested.record().requester().user_id(), "analist.1");
  EXPECT_EQ(requested.record().counts().subjects(), 2u);
  EXPECT_THAT(requested.record().answering_org_ids(), ElementsAre(kGemeente, kPolitie, kWoning));
  const v1::LogEntry evaluated = env_.EntryOf(opened.receipts(1));
  EXPECT_EQ(evaluated.record().kind(), v1::RECORD_KIND_EXCHANGE_EVALUATED);
  EXPECT_EQ(evaluated.record().outcome(), v1::OUTCOME_PARTIAL);
  EXPECT_EQ(evaluated.record().counts().partners_answered(), 2u);
  EXPECT_EQ(evaluated.record().counts().partners_failed(), 1u);
  EXPECT_EQ(evaluated.record().policy_version(), env_.server().policy()->version());

  // The requester verifies, unblinds and resolves.
  v1::ResolveMatchesResponse resolved;
  const v1::ResolveMatchesRequest resolve = env_.ResolveRequest(b, opened);
  ASSERT_TRUE(env_.Resolve(kRiec, resolve, &resolved).ok());
  const v1::MatchResult& result = resolved.result();
  ASSERT_THAT(result.subjects(), SizeIs(2));
  const v1::SubjectMatch& a = result.subjects(0);
  ASSERT_THAT(a.partners(), SizeIs(2));  // the partners that answered, in directory order
  EXPECT_EQ(a.partners(0).org_id(), kGemeente);
  EXPECT_TRUE(a.partners(0).hit());
  ASSERT_THAT(a.partners(0).key_types(), SizeIs(2));
  EXPECT_EQ(a.partners(0).key_types(0).key_type(), v1::MATCH_KEY_TYPE_BSN);
  EXPECT_FALSE(a.partners(0).key_types(0).hit());
  EXPECT_EQ(a.partners(0).key_types(1).key_type(), v1::MATCH_KEY_TYPE_NAME_DOB);
  EXPECT_TRUE(a.partners(0).key_types(1).hit());
  EXPECT_EQ(a.partners(1).org_id(), kPolitie);
  EXPECT_TRUE(a.partners(1).key_types(0).hit());
  EXPECT_FALSE(a.partners(1).key_types(1).hit());
  EXPECT_EQ(a.partners(1).domain(), v1::DOMAIN_SAFETY);
  const v1::SubjectMatch& not_known = result.subjects(1);
  EXPECT_FALSE(not_known.partners(0).hit());
  EXPECT_FALSE(not_known.partners(1).hit());
  EXPECT_EQ(result.counts().subjects(), 2u);
  EXPECT_EQ(result.counts().elements(), 3u);
  EXPECT_EQ(result.counts().subjects_hit(), 1u);
  EXPECT_EQ(result.counts().subject_partner_hits(), 2u);
  EXPECT_EQ(result.counts().partners_answered(), 2u);
  EXPECT_EQ(result.counts().partners_failed(), 1u);
  EXPECT_THAT(result.families(), IsEmpty());
  ASSERT_THAT(result.partners(), SizeIs(3));
  EXPECT_EQ(result.partners(1).subjects_hit(), 1u);

  ASSERT_THAT(resolved.receipts(), SizeIs(1));
  const v1::LogEntry entry = env_.EntryOf(resolved.receipts(0));
  EXPECT_EQ(entry.record().kind(), v1::RECORD_KIND_EXCHANGE_RESOLVED);
  EXPECT_EQ(entry.record().exchange_id(), opened.exchange_id());
  ASSERT_THAT(entry.record().tags(), SizeIs(2));
  EXPECT_EQ(entry.record().tags(0).org_id(), kGemeente);
  EXPECT_THAT(entry.record().tags(0).hit_element_indices(), ElementsAre(1u));
  EXPECT_THAT(entry.record().tags(1).hit_element_indices(), ElementsAre(0u));
  EXPECT_EQ(entry.record().tags(1).tags_size(), 3);
}

TEST_F(GatewayServiceTest, FamilyMatchIsSummarisedPerFamily) {
  ASSERT_TRUE(env_.Publish(kPolitie, {env_.Batch(1, kPolitie, kRiecPurpose, {Bsn("100000001")})}).ok());
  ASSERT_TRUE(env_.Publish(kGemeente, {env_.Batch(1, kGemeente, kRiecPurpose,
                                                 {Bsn("100000002"), Bsn("100000001")})}).ok());
  const std::vector<TestSubject> family = {
      {{{v1::MATCH_KEY_TYPE_BSN, Bsn("100000001")}}, 1, v1::RELATION_UNSPECIFIED},
      {{{v1::MATCH_KEY_TYPE_BSN, Bsn("100000002")}}, 1, v1::RELATION_CHILD},
      {{{v1::MATCH_KEY_TYPE_BSN, Bsn("100000003")}}, 1, v1::RELATION_CHILD},
      {{{v1::MATCH_KEY_TYPE_BSN, Bsn("100000004")}}, 2, v1::RELATION_UNSPECIFIED}};
  GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, family);
  b.request.add_target_org_ids(kPolitie);
  b.request.add_target_org_ids(kGemeente);
  v1::OpenExchangeResponse opened;
  ASSERT_TRUE(env_.Open(kRiec, b.request, &opened).ok());
  ASSERT_THAT(opened.evaluations(), SizeIs(2));  // only the partners named
  v1::ResolveMatchesResponse resolved;
  ASSERT_TRUE(env_.Resolve(kRiec, env_.ResolveRequest(b, opened), &resolved).ok());
  const v1::MatchResult& r = resolved.result();
  ASSERT_THAT(r.families(), SizeIs(2));
  const v1::FamilySummary& f1 = r.families(0);
  EXPECT_EQ(f1.family(), 1u);
  EXPECT_EQ(f1.member_count(), 3u);
  EXPECT_EQ(f1.members_with_hit(), 2u);
  ASSERT_THAT(f1.domains(), SizeIs(2));  // in Domain order: safety, social
  EXPECT_EQ(f1.domains(0).domain(), v1::DOMAIN_SAFETY);
  EXPECT_THAT(f1.domains(0).org_ids(), ElementsAre(kPolitie));
  EXPECT_THAT(f1.domains(0).subject_indices(), ElementsAre(0u));
  EXPECT_EQ(f1.domains(1).domain(), v1::DOMAIN_SOCIAL);
  EXPECT_THAT(f1.domains(1).subject_indices(), ElementsAre(0u, 1u));
  const v1::FamilySummary& f2 = r.families(1);
  EXPECT_EQ(f2.member_count(), 1u);
  EXPECT_EQ(f2.members_with_hit(), 0u);
  EXPECT_THAT(f2.domains(), IsEmpty());
  EXPECT_EQ(r.subjects(1).relation(), v1::RELATION_CHILD);
  EXPECT_EQ(r.subjects(1).family(), 1u);
}

TEST_F(GatewayServiceTest, EveryRefusalIsLoggedWithItsReason) {
  auto blind = [](const std::string& purpose, std::vector<TestSubject> subjects = {kPersonB}) {
    return GatewayTestEnv::Blind(purpose, subjects).request;
  };
  v1::OpenExchangeResponse unused;

  v1::LogEntry e = ExpectRefused(env_.Open(kRiec, blind("onbekend-doel"), &unused), grpc::StatusCode::NOT_FOUND,
                                 v1::DENIAL_REASON_PURPOSE_UNKNOWN);
  EXPECT_EQ(e.record().purpose_id(), "onbekend-doel");  // as asked
  EXPECT_FALSE(e.record().has_lawful_basis());

  e = ExpectRefused(env_.Open(kRiec, blind(kOldPurpose), &unused), grpc::StatusCode::FAILED_PRECONDITION,
                    v1::DENIAL_REASON_PURPOSE_NOT_IN_FORCE);
  EXPECT_EQ(e.record().lawful_basis().reference(), "Oud");

  ExpectRefused(env_.Open(kRiec, blind(kYouthPurpose), &unused), grpc::StatusCode::PERMISSION_DENIED,
                v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);

  v1::OpenExchangeRequest professional = GatewayTestEnv::Blind(kRiecPurpose, {kPersonB}, v1::ROLE_PROFESSIONAL).request;
  e = ExpectRefused(env_.Open(kRiec, professional, &unused), grpc::StatusCode::PERMISSION_DENIED,
                    v1::DENIAL_REASON_ROLE_NOT_ALLOWED);
  EXPECT_EQ(e.record().requester().role(), v1::ROLE_PROFESSIONAL);

  // Cases.
  const grpc::Status no_case = env_.Open(kRiec, blind(kCasePurpose), &unused);
  ExpectRefused(no_case, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_CASE_REQUIRED);
  EXPECT_EQ(DetailOf(no_case).problems(0).field(), "case_id");
  v1::OpenExchangeRequest unknown_case = blind(kCasePurpose);
  unknown_case.set_case_id("2025-9999");
  e = ExpectRefused(env_.Open(kRiec, unknown_case, &unused), grpc::StatusCode::NOT_FOUND,
                    v1::DENIAL_REASON_CASE_NOT_FOUND);
  EXPECT_EQ(e.record().case_id(), "2025-9999");

  auto open_case = [&](const std::string& purpose, const std::vector<std::string>& partners) {
    v1::Case draft;
    draft.set_purpose_id(purpose);
    draft.set_title("Casus");
    draft.set_goal("Doel");
    draft.add_selection_grounds("Grond");
    draft.set_director_org_id(kRiec);
    draft.set_director_user_id("regisseur");
    for (const std::string& p : partners) draft.add_partner_org_ids(p);
    SetMillis(draft.mutable_ends_at(), absl::ToUnixMillis(absl::Now() + absl::Hours(24 * 30)));
    CaseStore& cases = env_.server().cases();
    std::string request_id(16, '\0');
    crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(request_id.data()), 16));
    auto opened = cases.OpenCase(draft, request_id, std::string(32, 'f'), absl::Now(), cases.DirectCommit());
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened->case_info.case_id();
  };
  const std::string other_purpose_case = open_case(kRiecPurpose, {});
  v1::OpenExchangeRequest mismatch = blind(kCasePurpose);
  mismatch.set_case_id(other_purpose_case);
  ExpectRefused(env_.Open(kRiec, mismatch, &unused), grpc::StatusCode::FAILED_PRECONDITION,
                v1::DENIAL_REASON_CASE_PURPOSE_MISMATCH);
  const std::string closed = open_case(kCasePurpose, {});
  ASSERT_TRUE(env_.server().cases().Close(closed, "afgerond", absl::Now(), env_.server().cases().DirectCommit()).ok());
  v1::OpenExchangeRequest closed_case = blind(kCasePurpose);
  closed_case.set_case_id(closed);
  ExpectRefused(env_.Open(kRiec, closed_case, &unused), grpc::StatusCode::FAILED_PRECONDITION,
                v1::DENIAL_REASON_CASE_NOT_OPEN);

  // An open case restricted to the gemeente: the police is not asked, and
  // naming only the police leaves no one.
  const std::string gemeente_only = open_case(kCasePurpose, {kGemeente});
  v1::OpenExchangeRequest in_case = blind(kCasePurpose);
  in_case.set_case_id(gemeente_only);
  v1::OpenExchangeResponse opened;
  ASSERT_TRUE(env_.Open(kRiec, in_case, &opened).ok());
  ASSERT_THAT(opened.evaluations(), SizeIs(1));
  EXPECT_EQ(opened.evaluations(0).outcome().org_id(), kGemeente);
  v1::OpenExchangeRequest police_only = blind(kCasePurpose);
  police_only.set_case_id(gemeente_only);
  police_only.add_target_org_ids(kPolitie);
  ExpectRefused(env_.Open(kRiec, police_only, &unused), grpc::StatusCode::PERMISSION_DENIED,
                v1::DENIAL_REASON_NO_PERMITTED_PARTNER);
  v1::OpenExchangeRequest itself = blind(kRiecPurpose);
  itself.add_target_org_ids(kRiec);
  ExpectRefused(env_.Open(kRiec, itself, &unused), grpc::StatusCode::PERMISSION_DENIED,
                v1::DENIAL_REASON_NO_PERMITTED_PARTNER);

  // Limits.
  const grpc::Status too_many =
      env_.Open(kRiec, blind(kRiecPurpose, {kPersonB, kPersonB, kPersonB, kPersonB, kPersonB}), &unused);
  e = ExpectRefused(too_many, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_TOO_MANY_SUBJECTS);
  EXPECT_EQ(e.record().counts().subjects(), 5u);
  EXPECT_THAT(too_many.error_message(), HasSubstr("at most 4 for this purpose"));
  TestSubject many_keys{{{v1::MATCH_KEY_TYPE_BSN, Bsn("1")}, {v1::MATCH_KEY_TYPE_BSN, Bsn("2")},
                         {v1::MATCH_KEY_TYPE_BSN, Bsn("3")}, {v1::MATCH_KEY_TYPE_BSN, Bsn("4")}}};
  ExpectRefused(env_.Open(kRiec, blind(kRiecPurpose, {many_keys}), &unused), grpc::StatusCode::INVALID_ARGUMENT,
                v1::DENIAL_REASON_TOO_MANY_SUBJECTS);

  // Malformed: every bad field named, nothing echoed.
  v1::OpenExchangeRequest bad = blind(kCasePurpose, {kPersonB, kPersonB, kPersonA});
  bad.set_case_id(gemeente_only);
  bad.mutable_subjects(0)->mutable_keys(0)->set_blinded_element(std::string(31, 'x'));
  bad.mutable_subjects(1)->mutable_keys(0)->set_blinded_element(std::string(32, '\0'));
  bad.mutable_subjects(1)->set_family(9);
  const grpc::Status malformed = env_.Open(kRiec, bad, &unused);
  ExpectRefused(malformed, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_MALFORMED_REQUEST);
  const v1::ErrorDetail detail = DetailOf(malformed);
  std::vector<std::string> fields;
  for (const v1::FieldProblem& p : detail.problems()) fields.push_back(p.field() + ": " + p.problem());
  EXPECT_THAT(fields, ElementsAre("subjects[0].keys[0].blinded_element: a ristretto255 element is 32 bytes, got 31",
                                  "subjects[1].family: family number 9",
                                  "subjects[1].keys[0].blinded_element: the identity element is not allowed",
                                  "subjects[2].keys[1].key_type: name_dob is not allowed under this purpose"));

  v1::OpenExchangeRequest shapeless;
  shapeless.set_request_id("x");
  shapeless.set_purpose_id("Not A Purpose");
  shapeless.add_target_org_ids("Bad Org");
  const grpc::Status empty = env_.Open(kRiec, shapeless, &unused);
  e = ExpectRefused(empty, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_MALFORMED_REQUEST);
  EXPECT_THAT(DetailOf(empty).problems(), SizeIs(5));  // request_id, actor, purpose_id, target, subjects
  EXPECT_TRUE(e.record().purpose_id().empty());         // not a purpose id: not logged
  EXPECT_THAT(e.record().answering_org_ids(), IsEmpty());

  // One line on the process log per refusal, naming code and reason only.
  const std::vector<std::string> lines = env_.lines();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("refused OpenExchange from riec-zwb: NOT_FOUND DENIAL_REASON_PURPOSE_UNKNOWN") != std::string::npos;
  }));
  // No node was asked for any refused request (only for the one in the case).
  EXPECT_EQ(env_.node(kPolitie).calls(), 0);
  EXPECT_EQ(env_.node(kGemeente).calls(), 1);
}

TEST_F(GatewayServiceTest, QuotaRefusalSaysWhenItResets) {
  v1::OpenExchangeResponse opened;
  for (int i = 0; i < 3; ++i) {  // 3 x 4 subjects = the daily quota of 12
    ASSERT_TRUE(env_.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPersonB, kPersonB, kPersonB, kPersonB}).request,
                          &opened).ok());
  }
  EXPECT_EQ(opened.quota_usage().subjects_used(), 12u);
  const grpc::Status refused = env_.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPersonB}).request, &opened);
  ExpectRefused(refused, grpc::StatusCode::RESOURCE_EXHAUSTED, v1::DENIAL_REASON_QUOTA_EXCEEDED);
  const v1::ErrorDetail detail = DetailOf(refused);
  EXPECT_GT(detail.retry_after().seconds(), 0);
  EXPECT_LE(detail.retry_after().seconds(), 25 * 3600);
  // Refused exchanges do not count; the next day starts afresh.
  EXPECT_EQ(env_.server().quota().Current(kRiec, kRiecPurpose, env_.clock().Now()).subjects_used, 12u);
  env_.clock().Advance(absl::Hours(24));
  EXPECT_TRUE(env_.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPersonB}).request, &opened).ok());
}

TEST_F(GatewayServiceTest, UnknownOrganisationIsLoggedWithTheIdentityItPresented) {
  const size_t before = env_.AllEntries().size();
  v1::OpenExchangeResponse unused;
  const grpc::Status status = env_.Open(kStranger, GatewayTestEnv::Blind(kRiecPurpose, {kPersonB}).request, &unused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "certificate names no active organisation");
  EXPECT_EQ(DetailOf(status).reason(), v1::DENIAL_REASON_UNKNOWN_ORGANISATION);
  const std::vector<v1::LogEntry> entries = env_.AllEntries();
  ASSERT_EQ(entries.size(), before + 1);
  const v1::LogRecord& r = entries.back().record();
  EXPECT_EQ(r.kind(), v1::RECORD_KIND_EXCHANGE_REQUESTED);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_REFUSED);
  EXPECT_THAT(r.denial_reasons(), ElementsAre(v1::DENIAL_REASON_UNKNOWN_ORGANISATION));
  EXPECT_TRUE(r.requester().org_id().empty());
  EXPECT_THAT(r.peer_identity(), HasSubstr("schakel://org/stranger"));
  EXPECT_EQ(r.purpose_id(), kRiecPurpose);

  // Reads are refused too, without a log entry.
  v1::GetDirectoryResponse directory;
  EXPECT_EQ(env_.As(kStranger).GetDirectory(Ctx().get(), v1::GetDirectoryRequest(), &directory).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(env_.AllEntries().size(), before + 1);
  const grpc::Status publish = env_.Publish(kStranger, {env_.Batch(1, kPolitie, kRiecPurpose, {Bsn("1")})});
  EXPECT_EQ(publish.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(env_.server().tags().AppliedThrough(kStranger), 0u);
}

TEST_F(GatewayServiceTest, ConcurrentExchangesAreAllLoggedAndTheChainVerifies) {
  constexpr int kExchanges = 8;
  std::vector<GatewayTestEnv::Blinded> requests;
  for (int i = 0; i < kExchanges; ++i) requests.push_back(GatewayTestEnv::Blind(kRiecPurpose, {kPersonB}));
  std::vector<grpc::Status> statuses(kExchanges);
  std::vector<v1::OpenExchangeResponse> responses(kExchanges);
  std::vector<std::thread> threads;
  for (int i = 0; i < kExchanges; ++i) {
    threads.emplace_back([&, i] { statuses[i] = env_.Open(kRiec, requests[i].request, &responses[i]); });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> ids;
  for (int i = 0; i < kExchanges; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    ids.insert(responses[i].exchange_id());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kExchanges));
  EXPECT_EQ(env_.node(kPolitie).calls(), kExchanges);
  EXPECT_EQ(env_.server().quota().Current(kRiec, kRiecPurpose, env_.clock().Now()).subjects_used,
            static_cast<uint32_t>(kExchanges));
  auto report = env_.server().log().Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->first_bad_sequence.has_value()) << report->problem;
  EXPECT_EQ(report->entries_checked, env_.server().log().head_sequence());
}

TEST_F(GatewayServiceTest, RefusingAndSlowAndBrokenPartnersDoNotFailTheExchange) {
  env_.node(kPolitie).set_mode(FakeNode::Mode::kRefuse);
  env_.node(kGemeente).set_mode(FakeNode::Mode::kBadSignature);
  v1::OpenExchangeResponse opened;
  ASSERT_TRUE(env_.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPersonA}).request, &opened).ok());
  const v1::PartnerOutcome& police = EvaluationOf(opened, kPolitie).outcome();
  EXPECT_EQ(police.status(), v1::PARTNER_STATUS_REFUSED_BY_NODE);
  EXPECT_EQ(police.reason(), v1::DENIAL_REASON_NODE_POLICY);
  EXPECT_THAT(police.detail(), HasSubstr("purpose not answered"));
  EXPECT_TRUE(EvaluationOf(opened, kPolitie).has_authorisation());
  EXPECT_THAT(EvaluationOf(opened, kPolitie).evaluated_elements(), IsEmpty());
  const v1::PartnerOutcome& gemeente = EvaluationOf(opened, kGemeente).outcome();
  EXPECT_EQ(gemeente.status(), v1::PARTNER_STATUS_INVALID_RESPONSE);
  EXPECT_THAT(gemeente.detail(), HasSubstr("signature"));
  const v1::LogEntry evaluated = env_.EntryOf(opened.receipts(1));
  EXPECT_EQ(evaluated.record().outcome(), v1::OUTCOME_FAILED);  // no partner answered
  EXPECT_THAT(evaluated.record().partners(), SizeIs(3));

  // A partner that hangs times out after the per-partner deadline (3000 ms,
  // and 1 ms for each of the 2 elements); the others still answer.
  env_.node(kPolitie).set_mode(FakeNode::Mode::kHang);
  env_.node(kGemeente).set_mode(FakeNode::Mode::kWrongCount);
  ASSERT_TRUE(env_.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPersonA}).request, &opened).ok());
  EXPECT_EQ(EvaluationOf(opened, kPolitie).outcome().status(), v1::PARTNER_STATUS_TIMED_OUT);
  EXPECT_THAT(EvaluationOf(opened, kPolitie).outcome().detail(), HasSubstr("deadline of 3002 ms passed"));
  EXPECT_EQ(EvaluationOf(opened, kGemeente).outcome().status(), v1::PARTNER_STATUS_INVALID_RESPONSE);
  EXPECT_THAT(EvaluationOf(opened, kGemeente).outcome().detail(), HasSubstr("1 evaluated elements for 2 blinded"));

  // The per-partner deadline stays below what the caller has left.
  env_.node(kGemeente).set_mode(FakeNode::Mode::kAnswer);
  const absl::Time start = absl::Now();
  ASSERT_TRUE(env_.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPersonA}).request, &opened,
                        std::chrono::milliseconds(2000)).ok());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(2000));
  EXPECT_EQ(EvaluationOf(opened, kPolitie).outcome().status(), v1::PARTNER_STATUS_TIMED_OUT);
  EXPECT_EQ(EvaluationOf(opened, kGemeente).outcome().status(), v1::PARTNER_STATUS_OK);
  EXPECT_EQ(env_.EntryOf(opened.receipts(1)).record().outcome(), v1::OUTCOME_PARTIAL);
  env_.node(kPolitie).set_mode(FakeNode::Mode::kAnswer);
}

// Found by the gateway fuzzer: a partner's error message that is not UTF-8
// went into the outcome's detail, a protobuf string, and the
// EXCHANGE_EVALUATED entry and the stored exchange no longer parsed.
TEST_F(GatewayServiceTest, APartnersMessageThatIsNotUtf8LeavesTheLogReadable) {
  env_.node(kPolitie).set_mode(FakeNode::Mode::kRefuseNotUtf8);
  const GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, {kPersonA});
  v1::OpenExchangeResponse opened, again;
  ASSERT_TRUE(env_.Open(kRiec, b.request, &opened).ok());
  const v1::PartnerOutcome& police = EvaluationOf(opened, kPolitie).outcome();
  EXPECT_EQ(police.status(), v1::PARTNER_STATUS_REFUSED_BY_NODE);
  EXPECT_THAT(police.detail(), HasSubstr("node says \uFFFD( no \uFFFD"));
  const v1::LogEntry evaluated = env_.EntryOf(opened.receipts(1));
  EXPECT_EQ(evaluated.record().kind(), v1::RECORD_KIND_EXCHANGE_EVALUATED);
  const auto entries = env_.server().log().Read(1, 0);  // every entry parses
  ASSERT_TRUE(entries.ok()) << entries.status();
  // The stored exchange parses too: a retry gets it back.
  ASSERT_TRUE(env_.Open(kRiec, b.request, &again).ok());
  EXPECT_EQ(again.exchange_id(), opened.exchange_id());
  env_.node(kPolitie).set_mode(FakeNode::Mode::kAnswer);
}

TEST_F(GatewayServiceTest, RetryWithTheSameRequestIdReturnsTheStoredResponse) {
  const GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, {kPersonA});
  v1::OpenExchangeResponse first, again;
  ASSERT_TRUE(env_.Open(kRiec, b.request, &first).ok());
  const size_t entries = env_.AllEntries().size();
  ASSERT_TRUE(env_.Open(kRiec, b.request, &again).ok());
  EXPECT_EQ(again.exchange_id(), first.exchange_id());
  EXPECT_EQ(again.evaluations(1).evaluated_elements(0), first.evaluations(1).evaluated_elements(0));
  ASSERT_THAT(again.receipts(), SizeIs(2));
  EXPECT_EQ(again.receipts(1).payload().sequence(), first.receipts(1).payload().sequence());
  EXPECT_TRUE(VerifyReceipt(again.receipts(1), env_.gateway_key()).ok());
  EXPECT_EQ(env_.node(kPolitie).calls(), 1);  // nothing evaluated again
  EXPECT_EQ(env_.AllEntries().size(), entries);  // nor logged
  EXPECT_EQ(env_.server().quota().Current(kRiec, kRiecPurpose, env_.clock().Now()).exchanges_used, 1u);

  // The same id with another request is refused (and logged).
  v1::OpenExchangeRequest changed = b.request;
  changed.add_target_org_ids(kPolitie);
  const grpc::Status reused = env_.Open(kRiec, changed, &again);
  ExpectRefused(reused, grpc::StatusCode::ALREADY_EXISTS, v1::DENIAL_REASON_MALFORMED_REQUEST);
  EXPECT_THAT(reused.error_message(), HasSubstr("request_id"));
}

TEST_F(GatewayServiceTest, ResolveRules) {
  PublishKnowledgeOfA();
  const GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, {kPersonA});
  v1::OpenExchangeResponse opened;
  ASSERT_TRUE(env_.Open(kRiec, b.request, &opened).ok());
  const v1::ResolveMatchesRequest good = env_.ResolveRequest(b, opened);
  v1::ResolveMatchesResponse resolved;

  // Only the organisation that opened it; another one is told "not found".
  v1::ResolveMatchesRequest as_other = good;
  grpc::Status status = env_.Resolve(kGemeente, as_other, &resolved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(DetailOf(status).reason(), v1::DENIAL_REASON_EXCHANGE_NOT_OPEN);
  v1::ResolveMatchesRequest unknown = good;
  unknown.set_exchange_id(std::string(16, 'u'));
  ExpectRefused(env_.Resolve(kRiec, unknown, &resolved), grpc::StatusCode::NOT_FOUND,
                v1::DENIAL_REASON_EXCHANGE_NOT_OPEN, v1::RECORD_KIND_EXCHANGE_RESOLVED);

  // Exactly one tag per evaluated element, for every partner that answered.
  v1::ResolveMatchesRequest short_tags = good;
  short_tags.mutable_partners(0)->mutable_tags()->RemoveLast();
  status = env_.Resolve(kRiec, short_tags, &resolved);
  ExpectRefused(status, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_TAG_COUNT_MISMATCH,
                v1::RECORD_KIND_EXCHANGE_RESOLVED);
  EXPECT_THAT(status.error_message(), HasSubstr("partners[0].tags: 1 tags (exactly 2, one per evaluated element)"));
  v1::ResolveMatchesRequest missing = good;
  missing.mutable_partners()->RemoveLast();
  status = env_.Resolve(kRiec, missing, &resolved);
  ExpectRefused(status, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_MALFORMED_REQUEST,
                v1::RECORD_KIND_EXCHANGE_RESOLVED);
  EXPECT_THAT(status.error_message(), HasSubstr("which answered OK"));
  v1::ResolveMatchesRequest down = good;
  down.add_partners()->set_org_id(kWoning);
  EXPECT_EQ(env_.Resolve(kRiec, down, &resolved).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ResolveMatchesRequest odd_tag = good;
  odd_tag.mutable_partners(1)->set_tags(0, "short");
  EXPECT_THAT(env_.Resolve(kRiec, odd_tag, &resolved).error_message(), HasSubstr("partners[1].tags[0]: 5 bytes"));

  // Resolved once; the same tags again give the same result, others are refused.
  ASSERT_TRUE(env_.Resolve(kRiec, good, &resolved).ok());
  v1::ResolveMatchesResponse again;
  const size_t entries = env_.AllEntries().size();
  ASSERT_TRUE(env_.Resolve(kRiec, good, &again).ok());
  EXPECT_EQ(again.result().SerializeAsString(), resolved.result().SerializeAsString());
  EXPECT_EQ(again.receipts(0).payload().sequence(), resolved.receipts(0).payload().sequence());
  EXPECT_EQ(env_.AllEntries().size(), entries);
  v1::ResolveMatchesRequest other_tags = good;
  other_tags.mutable_partners(0)->set_tags(0, std::string(16, 't'));
  ExpectRefused(env_.Resolve(kRiec, other_tags, &again), grpc::StatusCode::FAILED_PRECONDITION,
                v1::DENIAL_REASON_EXCHANGE_NOT_OPEN, v1::RECORD_KIND_EXCHANGE_RESOLVED);
}

TEST_F(GatewayServiceTest, ResolveAfterResolveByIsRefusedAndRejectedProofsAreRecorded) {
  PublishKnowledgeOfA();
  const GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, {kPersonA});
  v1::OpenExchangeResponse late, rejected;
  ASSERT_TRUE(env_.Open(kRiec, b.request, &late).ok());
  const GatewayTestEnv::Blinded b2 = GatewayTestEnv::Blind(kRiecPurpose, {kPersonA});
  ASSERT_TRUE(env_.Open(kRiec, b2.request, &rejected).ok());

  // The requester rejected the police's proof: no tags, its status changes.
  v1::ResolveMatchesRequest request = env_.ResolveRequest(b2, rejected);
  for (v1::PartnerTags& p : *request.mutable_partners()) {
    if (p.org_id() == kPolitie) {
      p.set_check(v1::EVALUATION_CHECK_PROOF_INVALID);
      p.clear_tags();
    }
  }
  v1::ResolveMatchesResponse resolved;
  ASSERT_TRUE(env_.Resolve(kRiec, request, &resolved).ok());
  EXPECT_EQ(resolved.result().partners(1).status(), v1::PARTNER_STATUS_INVALID_RESPONSE);
  EXPECT_EQ(resolved.result().partners(1).reason(), v1::DENIAL_REASON_INVALID_PROOF);
  ASSERT_THAT(resolved.result().subjects(0).partners(), SizeIs(1));  // only the verified one
  EXPECT_EQ(resolved.result().subjects(0).partners(0).org_id(), kGemeente);
  const v1::LogEntry entry = env_.EntryOf(resolved.receipts(0));
  EXPECT_THAT(entry.record().denial_reasons(), ElementsAre(v1::DENIAL_REASON_INVALID_PROOF));
  EXPECT_EQ(entry.record().outcome(), v1::OUTCOME_PARTIAL);

  env_.clock().Advance(absl::Minutes(6));
  ExpectRefused(env_.Resolve(kRiec, env_.ResolveRequest(b, late), &resolved), grpc::StatusCode::FAILED_PRECONDITION,
                v1::DENIAL_REASON_EXCHANGE_NOT_OPEN, v1::RECORD_KIND_EXCHANGE_RESOLVED);
}

TEST_F(GatewayServiceTest, IndexPublicationIsSequencedAndANewerStreamSupersedesTheOlder) {
  std::vector<v1::IndexAck> acks;
  ASSERT_TRUE(env_.Publish(kPolitie,
                           {env_.Batch(1, kPolitie, kRiecPurpose, {Bsn("1"), Bsn("2")}),
                            env_.Batch(2, kPolitie, kRiecPurpose, {Bsn("3")}),
                            env_.Batch(2, kPolitie, kRiecPurpose, {Bsn("4")})},  // a repeat: no effect
                           &acks).ok());
  ASSERT_THAT(acks, SizeIs(3));
  EXPECT_EQ(acks[2].applied_through(), 2u);
  EXPECT_EQ(env_.server().tags().Size(kPolitie, kRiecPurpose), 3u);

  // A gap ends the stream, naming the expected sequence.
  const grpc::Status gap = env_.Publish(kPolitie, {env_.Batch(5, kPolitie, kRiecPurpose, {Bsn("5")})});
  EXPECT_EQ(gap.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(gap.error_message(), HasSubstr("3"));

  // Tags for a purpose the organisation may not answer are dropped and named.
  acks.clear();
  v1::IndexBatch mixed = env_.Batch(3, kPolitie, kRiecPurpose, {Bsn("6")});
  *mixed.add_changes() = env_.Batch(3, kPolitie, kOldPurpose, {Bsn("6")}).changes(0);
  mixed.mutable_changes(1)->set_purpose_id("niet-beantwoord");
  ASSERT_TRUE(env_.Publish(kPolitie, {mixed}, &acks).ok());
  EXPECT_THAT(acks[0].ignored_purpose_ids(), ElementsAre("niet-beantwoord"));

  // A clear is logged before it is applied.
  v1::IndexBatch clear;
  clear.set_sequence(4);
  clear.add_changes()->set_purpose_id(kRiecPurpose);
  clear.mutable_changes(0)->set_clear(true);
  ASSERT_TRUE(env_.Publish(kPolitie, {clear}).ok());
  EXPECT_EQ(env_.server().tags().Size(kPolitie, kRiecPurpose), 0u);
  const v1::LogRecord cleared = env_.AllEntries().back().record();
  EXPECT_EQ(cleared.kind(), v1::RECORD_KIND_INDEX_CLEARED);
  EXPECT_EQ(cleared.requester().org_id(), kPolitie);
  EXPECT_EQ(cleared.purpose_id(), kRiecPurpose);
  EXPECT_THAT(cleared.detail(), HasSubstr("4 tags"));

  v1::GetIndexStateResponse state;
  ASSERT_TRUE(env_.As(kPolitie).GetIndexState(Ctx().get(), v1::GetIndexStateRequest(), &state).ok());
  EXPECT_EQ(state.applied_through(), 4u);
  EXPECT_EQ(state.max_changes_per_batch(), 65536u);
  ASSERT_THAT(state.purposes(), SizeIs(4));  // every purpose the police may answer, policy order
  EXPECT_EQ(state.purposes(0).purpose_id(), kRiecPurpose);

  // Two streams of one organisation: the older ends with ABORTED.
  grpc::ClientContext old_context;
  old_context.set_wait_for_ready(true);
  auto old_stream = env_.As(kPolitie).PublishIndex(&old_context);
  ASSERT_TRUE(old_stream->Write(env_.Batch(5, kPolitie, kRiecPurpose, {Bsn("7")})));
  v1::IndexAck ack;
  ASSERT_TRUE(old_stream->Read(&ack));
  EXPECT_EQ(ack.applied_through(), 5u);
  acks.clear();
  ASSERT_TRUE(env_.Publish(kPolitie, {env_.Batch(6, kPolitie, kRiecPurpose, {Bsn("8")})}, &acks).ok());
  EXPECT_EQ(acks[0].applied_through(), 6u);
  EXPECT_FALSE(old_stream->Read(&ack));
  const grpc::Status superseded = old_stream->Finish();
  EXPECT_EQ(superseded.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(superseded.error_message(), HasSubstr("superseded"));
}

TEST_F(GatewayServiceTest, DirectoryAndPurposesForTheCaller) {
  v1::GetDirectoryResponse directory;
  ASSERT_TRUE(env_.As(kRiec).GetDirectory(Ctx().get(), v1::GetDirectoryRequest(), &directory).ok());
  ASSERT_THAT(directory.organisations(), SizeIs(4));
  EXPECT_EQ(directory.organisations(0).org_id(), kGemeente);
  EXPECT_EQ(directory.directory_version(), 4u);  // four registrations at first start
  ASSERT_THAT(directory.gateway().signing_keys(), SizeIs(1));
  const crypto::Bytes key = env_.gateway_key().ToBytes();
  EXPECT_EQ(directory.gateway().signing_keys(0).key(), std::string(key.begin(), key.end()));
  EXPECT_EQ(directory.gateway().certificate_identity(), "schakel://org/gateway");

  v1::GetDirectoryRequest only;
  only.add_org_ids(kPolitie);
  ASSERT_TRUE(env_.As(kRiec).GetDirectory(Ctx().get(), only, &directory).ok());
  ASSERT_THAT(directory.organisations(), SizeIs(1));
  EXPECT_EQ(directory.organisations(0).oprf_keys_size(), 1);

  v1::ListPurposesResponse purposes;
  ASSERT_TRUE(env_.As(kRiec).ListPurposes(Ctx().get(), v1::ListPurposesRequest(), &purposes).ok());
  EXPECT_EQ(purposes.policy_version(), env_.server().policy()->version());
  ASSERT_THAT(purposes.purposes(), SizeIs(2));  // in force and taking part; not the youth index
  EXPECT_EQ(purposes.purposes(0).purpose().purpose_id(), kRiecPurpose);
  EXPECT_THAT(purposes.purposes(0).roles_that_may_ask(), ElementsAre(v1::ROLE_ANALYST));
  EXPECT_FALSE(purposes.purposes(0).may_answer());
  EXPECT_TRUE(purposes.purposes(1).may_open_cases());
  EXPECT_TRUE(purposes.purposes(0).has_quota_usage());

  v1::ListPurposesRequest all;
  all.set_include_not_in_force(true);
  ASSERT_TRUE(env_.As(kRiec).ListPurposes(Ctx().get(), all, &purposes).ok());
  EXPECT_THAT(purposes.purposes(), SizeIs(3));

  ASSERT_TRUE(env_.As(kPolitie).ListPurposes(Ctx().get(), v1::ListPurposesRequest(), &purposes).ok());
  ASSERT_THAT(purposes.purposes(), SizeIs(3));
  EXPECT_TRUE(purposes.purposes(0).may_answer());
  EXPECT_THAT(purposes.purposes(0).roles_that_may_ask(), IsEmpty());
  EXPECT_FALSE(purposes.purposes(0).has_quota_usage());
}

// ------------------------------------------------------------ Disclosure

class DisclosureTest : public GatewayServiceTest {
 protected:
  // Politie knows A by BSN; riec matches A and B and resolves.
  void OpenAndResolve(const std::vector<TestSubject>& subjects = {kPersonA, kPersonB}) {
    PublishKnowledgeOfA();
    GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, subjects);
    ASSERT_TRUE(env_.Open(kRiec, b.request, &opened_).ok());
    v1::ResolveMatchesResponse resolved;
    ASSERT_TRUE(env_.Resolve(kRiec, env_.ResolveRequest(b, opened_), &resolved).ok());
  }

  v1::RequestDisclosureRequest Ask(std::vector<uint32_t> subjects = {0},
                                   std::vector<v1::SignalField> fields = {v1::SIGNAL_FIELD_CONTACT_NAME,
                                                                          v1::SIGNAL_FIELD_FREE_TEXT}) {
    v1::RequestDisclosureRequest r;
    r.mutable_actor()->set_user_id("analist.1");
    r.mutable_actor()->set_role(v1::ROLE_ANALYST);
    std::string id(16, '\0');
    crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(id.data()), id.size()));
    r.set_request_id(id);
    r.set_exchange_id(opened_.exchange_id());
    r.set_responder_org_id(kPolitie);
    for (uint32_t s : subjects) r.add_subject_indices(s);
    for (v1::SignalField f : fields) r.mutable_ask()->add_fields(f);
    r.mutable_ask()->set_reason("Casus ondermijning, contact gewenst.");
    return r;
  }

  grpc::Status Request(const v1::RequestDisclosureRequest& r, v1::RequestDisclosureResponse* response,
                       const std::string& org = kRiec) {
    return env_.As(org).RequestDisclosure(Ctx().get(), r, response);
  }

  grpc::Status Complete(const std::string& disclosure_id, const v1::SealedDisclosure& sealed,
                        v1::CompleteDisclosureResponse* response) {
    v1::CompleteDisclosureRequest r;
    r.set_disclosure_id(disclosure_id);
    *r.mutable_sealed() = sealed;
    return env_.As(kPolitie).CompleteDisclosure(Ctx().get(), r, response);
  }

  v1::DisclosureStatus Get(const std::string& id, grpc::Status* status = nullptr, const std::string& org = kRiec) {
    v1::GetDisclosureRequest r;
    r.mutable_actor()->set_user_id("analist.1");
    r.mutable_actor()->set_role(v1::ROLE_ANALYST);
    r.set_disclosure_id(id);
    v1::GetDisclosureResponse response;
    const grpc::Status s = env_.As(org).GetDisclosure(Ctx().get(), r, &response);
    if (status != nullptr) *status = s;
    return response.status();
  }

  v1::FetchNotificationsResponse Fetch(const std::string& org, uint64_t after = 0, grpc::Status* status = nullptr) {
    v1::FetchNotificationsRequest r;
    r.set_after_sequence(after);
    v1::FetchNotificationsResponse response;
    const grpc::Status s = env_.As(org).FetchNotifications(Ctx().get(), r, &response);
    if (status != nullptr) *status = s;
    else EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  std::string Opened(const std::string& box) {
    auto plaintext = crypto::Open(env_.riec_box(), crypto::AsBytes(box));
    EXPECT_TRUE(plaintext.ok()) << plaintext.status();
    if (!plaintext.ok()) return "";
    return std::string(reinterpret_cast<const char*>(plaintext->data()), plaintext->size());
  }

  std::string HitTagOfA() const {
    const crypto::Tag t = const_cast<GatewayTestEnv&>(env_).node(kPolitie).TagFor(kRiecPurpose, Bsn("111222333"));
    return std::string(t.begin(), t.end());
  }

  v1::OpenExchangeResponse opened_;
};

TEST_F(DisclosureTest, DeliveredByMandateWithTagsFromTheResolvedExchange) {
  OpenAndResolve();
  const v1::RequestDisclosureRequest ask = Ask();
  v1::RequestDisclosureResponse response;
  ASSERT_TRUE(Request(ask, &response).ok());
  const v1::DisclosureStatus& status = response.status();
  EXPECT_EQ(status.state(), v1::DISCLOSURE_STATE_DELIVERED);
  EXPECT_EQ(status.disclosure_id().size(), 16u);
  EXPECT_EQ(status.exchange_id(), opened_.exchange_id());
  EXPECT_EQ(status.purpose_id(), kRiecPurpose);
  EXPECT_THAT(status.subject_indices(), ElementsAre(0u));
  ASSERT_TRUE(status.has_sealed());
  EXPECT_THAT(Opened(status.sealed().sealed_box()), HasSubstr("PLAINTEXT-MARKER-5f1e"));

  // The node got the order with the tag that hit, from the resolved exchange,
  // and a DISCLOSE authorisation bound to it.
  const v1::DiscloseRequest sent = env_.node(kPolitie).last_disclose();
  ASSERT_THAT(sent.order().targets(), SizeIs(1));
  EXPECT_EQ(sent.order().targets(0).subject_index(), 0u);
  EXPECT_THAT(sent.order().targets(0).tags(), ElementsAre(HitTagOfA()));
  EXPECT_EQ(sent.order().requester().org_id(), kRiec);
  EXPECT_EQ(sent.order().lawful_basis().reference(), "Wpg art. 20");
  EXPECT_THAT(sent.order().ask().categories(), ElementsAre("ondermijning", "bibob"));  // the rule's
  const crypto::Bytes box_key = env_.riec_box().public_key().ToBytes();
  EXPECT_EQ(sent.order().requester_box_key(), std::string(box_key.begin(), box_key.end()));
  const v1::AuthorisationPayload& auth = sent.authorisation().payload();
  EXPECT_EQ(auth.operation(), v1::AUTHORISED_OPERATION_DISCLOSE);
  EXPECT_EQ(auth.disclosure_id(), status.disclosure_id());
  EXPECT_EQ(auth.subject_count(), 1u);
  EXPECT_EQ(auth.request_digest(),
            FakeNode::DigestString(canonical::Digest(canonical::kDisclosureOrderContext, sent.order()).value()));
  EXPECT_TRUE(canonical::Verify(env_.gateway_key(), canonical::kAuthorisationContext, auth,
                                sent.authorisation().signature()).ok());
  EXPECT_EQ(sent.receipt().payload().recipient_org_id(), kPolitie);

  // Both entries: the request, and the decision with statement, hash and
  // signature but never the box.
  ASSERT_THAT(response.receipts(), SizeIs(2));
  const v1::LogEntry requested = env_.EntryOf(response.receipts(0));
  EXPECT_EQ(requested.record().kind(), v1::RECORD_KIND_DISCLOSURE_REQUESTED);
  EXPECT_EQ(requested.record().outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(requested.record().disclosure().disclosure_id(), status.disclosure_id());
  EXPECT_THAT(requested.record().answering_org_ids(), ElementsAre(kPolitie));
  const v1::LogEntry decided = env_.EntryOf(response.receipts(1));
  EXPECT_EQ(decided.record().kind(), v1::RECORD_KIND_DISCLOSURE_DECIDED);
  EXPECT_EQ(decided.record().outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(decided.record().disclosure().state(), v1::DISCLOSURE_STATE_DELIVERED);
  EXPECT_EQ(decided.record().disclosure().statement().payload_hash(), status.sealed().statement().payload_hash());
  EXPECT_EQ(decided.record().disclosure().statement().rule(), "mandaat-riec");
  EXPECT_EQ(decided.record().disclosure().node_signature().signature().size(), 64u);
  EXPECT_EQ(decided.SerializeAsString().find(status.sealed().sealed_box()), std::string::npos);

  // A retry returns the same disclosure, without asking the node again; the
  // same request id with another ask is refused.
  v1::RequestDisclosureResponse again;
  ASSERT_TRUE(Request(ask, &again).ok());
  EXPECT_EQ(again.status().disclosure_id(), status.disclosure_id());
  EXPECT_EQ(again.status().sealed().sealed_box(), status.sealed().sealed_box());
  EXPECT_EQ(env_.node(kPolitie).disclose_calls(), 1);
  v1::RequestDisclosureRequest changed = ask;
  changed.mutable_ask()->set_reason("Iets anders.");
  ExpectRefused(Request(changed, &again), grpc::StatusCode::ALREADY_EXISTS, v1::DENIAL_REASON_MALFORMED_REQUEST,
                v1::RECORD_KIND_DISCLOSURE_REQUESTED);

  // GetDisclosure: the requester only.
  EXPECT_EQ(Get(status.disclosure_id()).state(), v1::DISCLOSURE_STATE_DELIVERED);
  grpc::Status other;
  Get(status.disclosure_id(), &other, kGemeente);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(DisclosureTest, PendingThenApprovedNotifiesTheRequester) {
  OpenAndResolve();
  env_.node(kPolitie).set_disclose_mode(FakeNode::DiscloseMode::kPending);
  v1::RequestDisclosureResponse response;
  ASSERT_TRUE(Request(Ask(), &response).ok());
  const std::string id = response.status().disclosure_id();
  EXPECT_EQ(response.status().state(), v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  EXPECT_FALSE(response.status().has_sealed());
  EXPECT_EQ(ToMillis(response.status().decide_by()) - ToMillis(response.status().requested_at()), 3'600'000);
  EXPECT_THAT(response.receipts(), SizeIs(1));  // not decided yet
  EXPECT_EQ(Get(id).state(), v1::DISCLOSURE_STATE_PENDING_APPROVAL);

  const v1::SealedDisclosure approval = env_.node(kPolitie).Decide(
      env_.node(kPolitie).last_disclose(), v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER, "PLAINTEXT-MARKER-5f1e");
  v1::CompleteDisclosureResponse completed;
  ASSERT_TRUE(Complete(id, approval, &completed).ok());
  ASSERT_THAT(completed.receipts(), SizeIs(1));
  EXPECT_EQ(completed.receipts(0).payload().recipient_org_id(), kPolitie);
  const v1::LogEntry decided = env_.EntryOf(completed.receipts(0));
  EXPECT_EQ(decided.record().kind(), v1::RECORD_KIND_DISCLOSURE_DECIDED);
  EXPECT_EQ(decided.record().disclosure().statement().decided_by_user_id(), "approver.1");
  EXPECT_EQ(decided.record().requester().org_id(), kRiec);

  // The requester gets a notice with the sealed box, and GetDisclosure has it.
  const v1::FetchNotificationsResponse notes = Fetch(kRiec);
  ASSERT_THAT(notes.notifications(), SizeIs(1));
  const v1::Notification& n = notes.notifications(0);
  EXPECT_EQ(n.sequence(), 1u);
  ASSERT_TRUE(n.has_disclosure());
  EXPECT_EQ(n.disclosure().status().state(), v1::DISCLOSURE_STATE_DELIVERED);
  EXPECT_THAT(Opened(n.disclosure().status().sealed().sealed_box()), HasSubstr("PLAINTEXT-MARKER-5f1e"));
  EXPECT_EQ(n.receipt().payload().sequence(), completed.receipts(0).payload().sequence());
  EXPECT_EQ(n.receipt().payload().recipient_org_id(), kRiec);
  EXPECT_EQ(Get(id).state(), v1::DISCLOSURE_STATE_DELIVERED);

  // A retry gets the same receipt; another decision is refused.
  v1::CompleteDisclosureResponse again;
  ASSERT_TRUE(Complete(id, approval, &again).ok());
  EXPECT_EQ(again.receipts(0).payload().sequence(), completed.receipts(0).payload().sequence());
  const v1::SealedDisclosure denial =
      env_.node(kPolitie).Decide(env_.node(kPolitie).last_disclose(), v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER, "");
  const grpc::Status differently = Complete(id, denial, &again);
  EXPECT_EQ(differently.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(differently.error_message(), HasSubstr("already decided differently"));
}

TEST_F(DisclosureTest, DeniedByTheNodeIsLoggedWithTheSignedStatement) {
  OpenAndResolve();
  env_.node(kPolitie).set_disclose_mode(FakeNode::DiscloseMode::kDeny);
  v1::RequestDisclosureResponse response;
  ASSERT_TRUE(Request(Ask(), &response).ok());
  EXPECT_EQ(response.status().state(), v1::DISCLOSURE_STATE_DENIED);
  EXPECT_EQ(response.status().reason(), v1::DENIAL_REASON_NODE_POLICY);
  EXPECT_TRUE(response.status().sealed().sealed_box().empty());
  EXPECT_EQ(response.status().sealed().statement().decision(), v1::DISCLOSURE_DECISION_DENIED_BY_POLICY);
  ASSERT_THAT(response.receipts(), SizeIs(2));
  const v1::LogEntry decided = env_.EntryOf(response.receipts(1));
  EXPECT_EQ(decided.record().outcome(), v1::OUTCOME_DENIED);
  EXPECT_THAT(decided.record().denial_reasons(), ElementsAre(v1::DENIAL_REASON_NODE_POLICY));
  EXPECT_EQ(decided.record().disclosure().statement().rule(), "geen-verstrekking");
}

TEST_F(DisclosureTest, PendingPastDecideByExpiresAndTheRequesterIsTold) {
  OpenAndResolve();
  env_.node(kPolitie).set_disclose_mode(FakeNode::DiscloseMode::kPending);
  v1::RequestDisclosureResponse response;
  ASSERT_TRUE(Request(Ask(), &response).ok());
  const std::string id = response.status().disclosure_id();
  const v1::DiscloseRequest sent = env_.node(kPolitie).last_disclose();
  auto none = env_.server().service().ExpireDisclosures();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
  env_.clock().Advance(absl::Hours(1) + absl::Seconds(1));
  auto expired = env_.server().service().ExpireDisclosures();
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1u);
  const v1::DisclosureStatus status = Get(id);
  EXPECT_EQ(status.state(), v1::DISCLOSURE_STATE_EXPIRED);
  EXPECT_EQ(status.reason(), v1::DENIAL_REASON_APPROVAL_EXPIRED);
  const v1::FetchNotificationsResponse notes = Fetch(kRiec);
  ASSERT_THAT(notes.notifications(), SizeIs(1));
  EXPECT_EQ(notes.notifications(0).disclosure().status().state(), v1::DISCLOSURE_STATE_EXPIRED);
  const v1::LogEntry entry = env_.EntryOf(notes.notifications(0).receipt());
  EXPECT_EQ(entry.record().kind(), v1::RECORD_KIND_DISCLOSURE_DECIDED);
  EXPECT_EQ(entry.record().outcome(), v1::OUTCOME_EXPIRED);
  EXPECT_THAT(entry.record().denial_reasons(), ElementsAre(v1::DENIAL_REASON_APPROVAL_EXPIRED));

  // An approval that comes too late is refused.
  v1::CompleteDisclosureResponse completed;
  const grpc::Status late = Complete(
      id, env_.node(kPolitie).Decide(sent, v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER, "x"), &completed);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DetailOf(late).reason(), v1::DENIAL_REASON_APPROVAL_EXPIRED);
  EXPECT_EQ(Get(id).state(), v1::DISCLOSURE_STATE_EXPIRED);
}

TEST_F(DisclosureTest, EveryRefusalIsLoggedAndNothingIsForwarded) {
  OpenAndResolve();
  v1::RequestDisclosureResponse response;
  auto refused = [&](v1::RequestDisclosureRequest r, grpc::StatusCode code, v1::DenialReason reason,
                     const std::string& message_part) {
    const grpc::Status status = Request(r, &response);
    const v1::LogEntry entry = ExpectRefused(status, code, reason, v1::RECORD_KIND_DISCLOSURE_REQUESTED);
    EXPECT_THAT(status.error_message(), HasSubstr(message_part));
    return entry;
  };
  v1::RequestDisclosureRequest r = Ask();
  r.mutable_ask()->clear_fields();
  refused(r, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_MALFORMED_REQUEST, "ask.fields");
  r = Ask();
  r.mutable_ask()->set_reason("");
  refused(r, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_MALFORMED_REQUEST, "ask.reason");
  // A reason that seems to hold an identifier: refused, and the reason is
  // not in the log.
  r = Ask();
  r.mutable_ask()->set_reason("betreft bsn 123456782");
  const v1::LogEntry withheld =
      refused(r, grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_MALFORMED_REQUEST, "ask.reason");
  EXPECT_THAT(withheld.record().disclosure().ask().reason(), Not(HasSubstr("123456782")));
  EXPECT_THAT(withheld.record().disclosure().ask().reason(), HasSubstr("withheld"));
  refused(Ask({}), grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_MALFORMED_REQUEST, "subject_indices");
  refused(Ask({7}), grpc::StatusCode::INVALID_ARGUMENT, v1::DENIAL_REASON_MALFORMED_REQUEST, "subject_indices[0]");
  r = Ask();
  r.set_exchange_id(std::string(16, 'z'));
  refused(r, grpc::StatusCode::NOT_FOUND, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN, "exchange_id");
  const v1::LogEntry not_a_hit =
      refused(Ask({0, 1}), grpc::StatusCode::FAILED_PRECONDITION, v1::DENIAL_REASON_NOT_A_HIT, "subject_indices[1]");
  EXPECT_EQ(not_a_hit.record().purpose_id(), kRiecPurpose);
  EXPECT_THAT(not_a_hit.record().disclosure().subject_indices(), ElementsAre(0u, 1u));
  r = Ask();
  r.set_responder_org_id(kGemeente);  // a hit there (name_dob), but no rule from the gemeente
  refused(r, grpc::StatusCode::PERMISSION_DENIED, v1::DENIAL_REASON_DISCLOSURE_NOT_ALLOWED, "no disclosure");
  refused(Ask({0}, {v1::SIGNAL_FIELD_CONTACT_EMAIL}), grpc::StatusCode::PERMISSION_DENIED,
          v1::DENIAL_REASON_FIELD_NOT_ALLOWED, "contact_email");
  r = Ask();
  r.mutable_ask()->add_categories("jeugd");
  refused(r, grpc::StatusCode::PERMISSION_DENIED, v1::DENIAL_REASON_FIELD_NOT_ALLOWED, "category");
  r = Ask();
  r.mutable_actor()->set_role(v1::ROLE_DIRECTOR);
  refused(r, grpc::StatusCode::PERMISSION_DENIED, v1::DENIAL_REASON_ROLE_NOT_ALLOWED, "");
  env_.clock().Advance(absl::Hours(49));
  refused(Ask(), grpc::StatusCode::FAILED_PRECONDITION, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN, "disclosure window");
  EXPECT_EQ(env_.node(kPolitie).disclose_calls(), 0);
  EXPECT_EQ(env_.node(kGemeente).disclose_calls(), 0);
}

TEST_F(DisclosureTest, AnUnresolvedExchangeIsNotOpenForDisclosure) {
  PublishKnowledgeOfA();
  GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, {kPersonA});
  ASSERT_TRUE(env_.Open(kRiec, b.request, &opened_).ok());
  v1::RequestDisclosureResponse response;
  const grpc::Status status = Request(Ask(), &response);
  ExpectRefused(status, grpc::StatusCode::FAILED_PRECONDITION, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
                v1::RECORD_KIND_DISCLOSURE_REQUESTED);
  EXPECT_THAT(status.error_message(), HasSubstr("not resolved"));
}

TEST_F(DisclosureTest, InvalidAnswersAndUnreachablePartnersAreRecordedUnavailable) {
  OpenAndResolve();
  env_.node(kPolitie).set_disclose_mode(FakeNode::DiscloseMode::kBadHash);
  v1::RequestDisclosureResponse response;
  ASSERT_TRUE(Request(Ask(), &response).ok());
  EXPECT_EQ(response.status().state(), v1::DISCLOSURE_STATE_UNAVAILABLE);
  EXPECT_EQ(response.status().reason(), v1::DENIAL_REASON_INVALID_PROOF);
  EXPECT_THAT(response.status().detail(), HasSubstr("payload_hash"));
  EXPECT_FALSE(response.status().has_sealed());  // an unverified box is never relayed
  ASSERT_THAT(response.receipts(), SizeIs(2));
  EXPECT_EQ(env_.EntryOf(response.receipts(1)).record().outcome(), v1::OUTCOME_FAILED);

  env_.node(kPolitie).Stop();
  ASSERT_TRUE(Request(Ask(), &response).ok());
  EXPECT_EQ(response.status().state(), v1::DISCLOSURE_STATE_UNAVAILABLE);
  EXPECT_THAT(response.status().detail(), HasSubstr("could not be reached"));
}

TEST_F(DisclosureTest, TamperedCompletionsAreRefused) {
  OpenAndResolve();
  env_.node(kPolitie).set_disclose_mode(FakeNode::DiscloseMode::kPending);
  v1::RequestDisclosureResponse response;
  ASSERT_TRUE(Request(Ask(), &response).ok());
  const std::string id = response.status().disclosure_id();
  const FakeNode& node = env_.node(kPolitie);
  const v1::DiscloseRequest sent = node.last_disclose();
  const v1::SealedDisclosure good = node.Decide(sent, v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER, "m");
  v1::CompleteDisclosureResponse completed;
  auto expect_invalid = [&](v1::SealedDisclosure sealed, bool resign, const std::string& part) {
    if (resign) *sealed.mutable_node_signature() = node.Sign(sealed.statement());
    const grpc::Status status = Complete(id, sealed, &completed);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << part;
    EXPECT_EQ(DetailOf(status).reason(), v1::DENIAL_REASON_INVALID_PROOF) << part;
    EXPECT_THAT(status.error_message(), HasSubstr(part));
    EXPECT_TRUE(DetailOf(status).has_receipt());  // logged
  };
  v1::SealedDisclosure s = good;
  s.mutable_statement()->set_payload_hash(std::string(32, 'h'));
  expect_invalid(s, true, "payload_hash");
  s = good;
  s.set_sealed_box(s.sealed_box() + "x");
  expect_invalid(s, false, "payload_hash");
  s = good;
  s.mutable_statement()->add_fields_disclosed(v1::SIGNAL_FIELD_CONTACT_PHONE);
  expect_invalid(s, true, "fields_disclosed");
  s = good;
  s.mutable_statement()->set_order_digest(std::string(32, 'o'));
  expect_invalid(s, true, "order_digest");
  s = good;
  s.mutable_statement()->set_signal_count(5);  // changed after signing
  expect_invalid(s, false, "signature");
  s = good;
  s.clear_sealed_box();
  expect_invalid(s, true, "sealed_box");

  const grpc::Status unknown = Complete(std::string(16, 'u'), good, &completed);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::CompleteDisclosureRequest from_other;
  from_other.set_disclosure_id(id);
  *from_other.mutable_sealed() = good;
  EXPECT_EQ(env_.As(kGemeente).CompleteDisclosure(Ctx().get(), from_other, &completed).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get(id).state(), v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  ASSERT_TRUE(Complete(id, good, &completed).ok());
  EXPECT_EQ(Get(id).state(), v1::DISCLOSURE_STATE_DELIVERED);
}

TEST_F(DisclosureTest, ThePlaintextNeverReachesTheGatewaysStoreOrLog) {
  const std::string marker = "PLAINTEXT-MARKER-5f1e";
  OpenAndResolve();
  v1::RequestDisclosureResponse delivered;
  ASSERT_TRUE(Request(Ask(), &delivered).ok());
  ASSERT_EQ(delivered.status().state(), v1::DISCLOSURE_STATE_DELIVERED);
  env_.node(kPolitie).set_disclose_mode(FakeNode::DiscloseMode::kPending);
  v1::RequestDisclosureResponse pending;
  ASSERT_TRUE(Request(Ask(), &pending).ok());
  v1::CompleteDisclosureResponse completed;
  ASSERT_TRUE(Complete(pending.status().disclosure_id(),
                       env_.node(kPolitie).Decide(env_.node(kPolitie).last_disclose(),
                                                  v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER, marker),
                       &completed).ok());
  auto everything = env_.server().store().Scan("", std::string(4, '\xff'));
  ASSERT_TRUE(everything.ok());
  size_t with_box = 0;
  for (const auto& [key, value] : *everything) {
    EXPECT_EQ(key.find(marker), std::string::npos) << key;
    EXPECT_EQ(value.find(marker), std::string::npos) << key;
    if (key.starts_with("log/e/")) {
      EXPECT_EQ(value.find(delivered.status().sealed().sealed_box()), std::string::npos);
    } else if (value.find(delivered.status().sealed().sealed_box()) != std::string::npos) {
      ++with_box;  // the disclosure keeps the (sealed) box for the requester
    }
  }
  EXPECT_GE(with_box, 1u);
  for (const std::string& line : env_.lines()) EXPECT_EQ(line.find(marker), std::string::npos) << line;

  // After the retention the gateway drops the boxes; the statement stays.
  env_.clock().Advance(absl::Hours(25));
  ASSERT_TRUE(env_.server().service().ExpireDisclosures().ok());
  const v1::DisclosureStatus later = Get(delivered.status().disclosure_id());
  EXPECT_EQ(later.state(), v1::DISCLOSURE_STATE_DELIVERED);
  EXPECT_TRUE(later.sealed().sealed_box().empty());
  EXPECT_EQ(later.sealed().statement().payload_hash(), delivered.status().sealed().statement().payload_hash());
}

// ---------------------------------------------------------- Notifications

TEST_F(DisclosureTest, HitsAreNotifiedOnlyUnderPurposesThatSaySo) {
  // The youth index notifies (the gemeente asks, the politie answers); the
  // RIEC purpose does not.
  ASSERT_TRUE(env_.Publish(kPolitie, {env_.Batch(1, kPolitie, kYouthPurpose, {Bsn("111222333")}),
                                      env_.Batch(2, kPolitie, kRiecPurpose, {Bsn("111222333")})}).ok());
  GatewayTestEnv::Blinded riec = GatewayTestEnv::Blind(kRiecPurpose, {kPersonB, kPersonA});
  ASSERT_TRUE(env_.Open(kRiec, riec.request, &opened_).ok());
  v1::ResolveMatchesResponse resolved;
  ASSERT_TRUE(env_.Resolve(kRiec, env_.ResolveRequest(riec, opened_), &resolved).ok());
  EXPECT_THAT(env_.EntryOf(resolved.receipts(0)).record().notified_org_ids(), IsEmpty());

  GatewayTestEnv::Blinded youth = GatewayTestEnv::Blind(kYouthPurpose, {kPersonB, kPersonABsn}, v1::ROLE_PROFESSIONAL);
  youth.request.mutable_actor()->set_user_id("jeugd.1");
  v1::OpenExchangeResponse opened;
  ASSERT_TRUE(env_.Open(kGemeente, youth.request, &opened).ok());
  ASSERT_TRUE(env_.Resolve(kGemeente, env_.ResolveRequest(youth, opened), &resolved).ok());
  EXPECT_THAT(env_.EntryOf(resolved.receipts(0)).record().notified_org_ids(), ElementsAre(kPolitie));

  // Pushed to the politie's node.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (env_.node(kPolitie).notifications().empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::vector<v1::Notification> pushed = env_.node(kPolitie).notifications();
  ASSERT_THAT(pushed, SizeIs(1));
  const v1::MatchNotice& notice = pushed[0].match();
  EXPECT_EQ(notice.exchange_id(), opened.exchange_id());
  EXPECT_EQ(notice.purpose_id(), kYouthPurpose);
  EXPECT_EQ(notice.lawful_basis().reference(), "Jeugdwet art. 7.1.4.1");
  EXPECT_EQ(notice.requester().org_id(), kGemeente);
  EXPECT_EQ(notice.requester().user_id(), "jeugd.1");
  const crypto::Tag tag = env_.node(kPolitie).TagFor(kYouthPurpose, Bsn("111222333"));
  EXPECT_THAT(notice.tags(), ElementsAre(std::string(tag.begin(), tag.end())));
  EXPECT_THAT(notice.key_types(), ElementsAre(v1::MATCH_KEY_TYPE_BSN));
  EXPECT_EQ(pushed[0].receipt().payload().sequence(), resolved.receipts(0).payload().sequence());
  // Acknowledged by the node: nothing left to fetch.
  while (env_.server().service().notifications()->AcknowledgedThrough(kPolitie) < 1 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(Fetch(kPolitie).notifications(), IsEmpty());
  EXPECT_EQ(Fetch(kPolitie).last_sequence(), 1u);
  EXPECT_THAT(Fetch(kGemeente).notifications(), IsEmpty());
}

TEST_F(DisclosureTest, AnOfflinePartnerKeepsItsQueueAcrossARestartAndFetchAcknowledges) {
  env_.node(kPolitie).set_accept_notifications(false);
  ASSERT_TRUE(env_.Publish(kPolitie, {env_.Batch(1, kPolitie, kYouthPurpose, {Bsn("111222333"), Bsn("123456782")})}).ok());
  for (int i = 0; i < 3; ++i) {
    GatewayTestEnv::Blinded youth =
        GatewayTestEnv::Blind(kYouthPurpose, {i == 1 ? kPersonB : kPersonABsn}, v1::ROLE_PROFESSIONAL);
    v1::OpenExchangeResponse opened;
    ASSERT_TRUE(env_.Open(kGemeente, youth.request, &opened).ok());
    v1::ResolveMatchesResponse resolved;
    ASSERT_TRUE(env_.Resolve(kGemeente, env_.ResolveRequest(youth, opened), &resolved).ok());
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (env_.node(kPolitie).deliver_calls() == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(env_.node(kPolitie).deliver_calls(), 1);
  EXPECT_EQ(env_.server().service().notifications()->QueueDepth(), 3u);

  env_.Stop();
  env_.Start();
  v1::FetchNotificationsResponse all = Fetch(kPolitie);
  ASSERT_THAT(all.notifications(), SizeIs(3));
  EXPECT_EQ(all.last_sequence(), 3u);
  EXPECT_EQ(all.notifications(0).sequence(), 1u);
  EXPECT_EQ(all.notifications(2).sequence(), 3u);
  EXPECT_TRUE(VerifyReceipt(all.notifications(1).receipt(), env_.gateway_key()).ok());

  // after_sequence acknowledges; beyond the last is refused.
  v1::FetchNotificationsResponse rest = Fetch(kPolitie, 2);
  ASSERT_THAT(rest.notifications(), SizeIs(1));
  EXPECT_EQ(rest.notifications(0).sequence(), 3u);
  EXPECT_EQ(env_.server().service().notifications()->AcknowledgedThrough(kPolitie), 2u);
  grpc::Status beyond;
  Fetch(kPolitie, 4, &beyond);
  EXPECT_EQ(beyond.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(Fetch(kPolitie, 3).notifications(), IsEmpty());
  EXPECT_EQ(env_.server().service().notifications()->QueueDepth(), 0u);
}

class GatewayFailClosedTest : public ::testing::Test {
 protected:
  void SetUp() override { env_.SetUp(); }
  GatewayTestEnv env_{GatewayTestEnv::Settings{.faulty_store = true}};
};

TEST_F(GatewayFailClosedTest, NothingIsForwardedWhenTheLogCannotBeWritten) {
  ASSERT_NE(env_.faulty(), nullptr);
  env_.faulty()->FailAllWrites();
  v1::OpenExchangeResponse opened;
  const grpc::Status status = env_.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPersonA}).request, &opened);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("nothing was forwarded"));
  EXPECT_EQ(env_.node(kPolitie).calls(), 0);
  EXPECT_EQ(env_.node(kGemeente).calls(), 0);
  EXPECT_EQ(env_.server().quota().Current(kRiec, kRiecPurpose, env_.clock().Now()).exchanges_used, 0u);
  EXPECT_FALSE(env_.server().log().healthy());

  // The log stays closed, also for refusals, until the gateway restarts.
  env_.faulty()->ClearFaults();
  const grpc::Status refusal = env_.Open(kRiec, GatewayTestEnv::Blind("onbekend-doel", {kPersonA}).request, &opened);
  EXPECT_EQ(refusal.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(DetailOf(refusal).has_receipt());

  env_.Stop();
  env_.Start();
  ASSERT_TRUE(env_.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPersonA}).request, &opened).ok());
  EXPECT_EQ(env_.node(kPolitie).calls(), 1);
}

TEST_F(GatewayFailClosedTest, OutcomeThatCannotBeLoggedIsWithheld) {
  // Let EXCHANGE_REQUESTED through, then fail the EXCHANGE_EVALUATED write.
  GatewayTestEnv::Blinded b = GatewayTestEnv::Blind(kRiecPurpose, {kPersonA});
  b.request.add_target_org_ids(kPolitie);
  env_.node(kPolitie).set_mode(FakeNode::Mode::kHang);
  std::thread fail_soon([&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (env_.node(kPolitie).calls() == 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    env_.faulty()->FailAllWrites();
  });
  v1::OpenExchangeResponse opened;
  const grpc::Status status = env_.Open(kRiec, b.request, &opened);
  fail_soon.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("withheld"));
  EXPECT_EQ(env_.node(kPolitie).calls(), 1);
  env_.node(kPolitie).set_mode(FakeNode::Mode::kAnswer);
}

}  // namespace
}  // namespace schakel::gateway::testing
