#include "nodes/evaluator.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/random.h"
#include "proto/canonical.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace schakel::nodes {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1763900000000;
constexpr char kPurpose[] = "riec-ondermijning";

struct World {
  crypto::SigningKey gateway = crypto::SigningKey::Generate();
  crypto::SigningKey node_signing = crypto::SigningKey::Generate();
  oprf::PrivateKey node_oprf = oprf::PrivateKey::Generate();
  crypto::Element node_pk = node_oprf.public_key();
  crypto::VerifyKey node_verify = node_signing.verify_key();
  store::MemoryStore nonces;
  store::FaultyStore nonce_store{&nonces};  // FailNextWrites: a failing disk
  AuthorisationCheck check{{gateway.verify_key()}, {.own_org_id = "politie"}, &nonce_store, [] { return kNow; }};
  std::unique_ptr<Evaluator> evaluator;
  explicit World(uint32_t quota = 10000, uint32_t element_quota = 60000,
                 std::map<std::string, uint32_t> purpose_element_quotas = {}) {
    Evaluator::Options options{.own_org_id = "politie",
                               .daily_subject_quota = quota,
                               .daily_element_quota = element_quota,
                               .purpose_element_quotas = std::move(purpose_element_quotas),
                               .max_keys_per_subject = 16,
                               .refused_requesters = {{kPurpose, {"belastingdienst"}}},
                               .threads = 2};
    evaluator = Evaluator::Create(oprf::PrivateKey::FromBytes(node_oprf.scalar().bytes()).value(),
                                  crypto::SigningKey::FromSeed(node_signing.seed()), {kPurpose}, &check,
                                  options)
                    .value();
  }

  // The gateway's part: authorise exactly these elements for this node.
  v1::EvaluateRequest Request(const std::vector<crypto::Bytes>& elements, uint32_t subjects,
                              const std::string& requester = "riec") {
    v1::EvaluateRequest r;
    for (const auto& e : elements) r.add_blinded_elements(std::string(e.begin(), e.end()));
    v1::ElementBatch batch;
    *batch.mutable_elements() = r.blinded_elements();
    const auto digest = canonical::Digest(canonical::kElementBatchContext, batch).value();
    auto* p = r.mutable_authorisation()->mutable_payload();
    p->set_operation(v1::AUTHORISED_OPERATION_EVALUATE);
    p->set_exchange_id(std::string(16, 'x'));
    p->set_requester_org_id(requester);
    p->set_responder_org_id("politie");
    p->set_purpose_id(kPurpose);
    p->set_subject_count(subjects);
    p->set_element_count(static_cast<uint32_t>(elements.size()));
    p->set_request_digest(std::string(digest.begin(), digest.end()));
    p->mutable_issued_at()->set_seconds(kNow / 1000);
    p->mutable_expires_at()->set_seconds(kNow / 1000 + 30);
    std::string nonce(16, '\0');
    crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(nonce.data()), 16));
    p->set_nonce(nonce);
    *r.mutable_authorisation()->mutable_signature() =
        canonical::Sign(gateway, canonical::kAuthorisationContext, *p).value();
    return r;
  }
};

std::vector<crypto::Bytes> Inputs() {
  std::vector<crypto::Bytes> in;
  for (std::string_view s : {"schakel:v1:bsn:111222333", "schakel:v1:name_dob:vries|j|1990-02-01",
                             "schakel:v1:address:3011AB|12"}) {
    in.emplace_back(s.begin(), s.end());
  }
  return in;
}

TEST(EvaluatorTest, AnswersAnAuthorisedBatchThatTheRequesterCanVerify) {
  World w;
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  auto pending = requester.Blind(views).value();
  const v1::EvaluateRequest request = w.Request(pending.BlindedEncodings(), 1);
  auto response = w.evaluator->Evaluate(request, kNow);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->evaluated_elements_size(), 3);

  // The node's signature covers exactly this answer to exactly this authorisation.
  v1::EvaluationStatement statement;
  const auto auth_digest =
      canonical::Digest(canonical::kAuthorisationContext, request.authorisation().payload()).value();
  statement.set_authorisation_digest(std::string(auth_digest.begin(), auth_digest.end()));
  statement.set_responder_org_id("politie");
  *statement.mutable_evaluated_elements() = response->evaluated_elements();
  statement.set_proof(response->proof());
  EXPECT_TRUE(canonical::Verify(w.node_verify, canonical::kEvaluationContext, statement, response->signature()).ok());
  statement.set_responder_org_id("gemeente");
  EXPECT_FALSE(canonical::Verify(w.node_verify, canonical::kEvaluationContext, statement, response->signature()).ok());

  // The requester checks the proof against the node's published key and gets the node's tags.
  std::vector<crypto::ByteView> evaluated;
  for (const auto& e : response->evaluated_elements()) evaluated.push_back(crypto::AsBytes(e));
  auto tags = requester.Finalize(pending, w.node_pk, evaluated, crypto::AsBytes(response->proof()));
  ASSERT_TRUE(tags.ok()) << tags.status();
  oprf::PoprfServer node_server(oprf::PrivateKey::FromBytes(w.node_oprf.scalar().bytes()).value());
  auto key = crypto::PurposeKey::Create(node_server, kPurpose).value();
  for (size_t i = 0; i < inputs.size(); ++i) EXPECT_EQ((*tags)[i], key.TagFor(inputs[i]).value());
}

TEST(EvaluatorTest, RefusesElementsSwappedAfterAuthorisation) {
  World w;
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  auto blinded = requester.Blind(views).value().BlindedEncodings();
  auto request = w.Request(blinded, 1);
  std::swap(*request.mutable_blinded_elements(0), *request.mutable_blinded_elements(1));
  auto s = w.evaluator->Evaluate(request, kNow);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("request digest"));
}

TEST(EvaluatorTest, RefusesABadElementEvenWhenAuthorised) {
  World w;
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  auto blinded = requester.Blind(views).value().BlindedEncodings();
  blinded[2] = crypto::Bytes(32, 0);  // the identity
  auto s = w.evaluator->Evaluate(w.Request(blinded, 1), kNow);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("blinded_elements[2]: the identity element"));
}

TEST(EvaluatorTest, RefusesACountThatDiffersFromTheAuthorisation) {
  World w;
  auto request = w.Request({crypto::Bytes(32, 1)}, 1);
  request.add_blinded_elements(std::string(32, '\2'));
  auto s = w.evaluator->Evaluate(request, kNow);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("2 elements, but the authorisation is for 1"));
}

TEST(EvaluatorTest, AnswersNothingUnlessTheNonceIsDurable) {
  World w;
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  const v1::EvaluateRequest request = w.Request(requester.Blind(views).value().BlindedEncodings(), 1);
  w.nonce_store.FailNextWrites(1);
  auto failed = w.evaluator->Evaluate(request, kNow);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("nonce could not be stored"));
  EXPECT_TRUE(w.nonces.Scan("nonce/", store::PrefixEnd("nonce/"), 0).value().empty());
  // The failed write did not use the authorisation up; stored once it is answered.
  EXPECT_TRUE(w.evaluator->Evaluate(request, kNow).ok());
  EXPECT_EQ(w.nonces.Scan("nonce/", store::PrefixEnd("nonce/"), 0).value().size(), 1u);
  EXPECT_EQ(w.evaluator->Evaluate(request, kNow).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(EvaluatorTest, TheNonceIsStoredInTheSameWriteAsTheCallersRecord) {
  World w;
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  const v1::EvaluateRequest request = w.Request(requester.Blind(views).value().BlindedEncodings(), 1);
  const auto stored = [&](std::string_view prefix) {
    return w.nonces.Scan(prefix, store::PrefixEnd(prefix), 0).value().size();
  };
  int writes = 0;
  bool fail = true;
  const Evaluator::Write record = [&](store::WriteBatch batch) {
    ++writes;
    if (fail) return absl::UnavailableError("disk full");
    batch.Put("record/1", "answered");  // what the node service adds: its log entry
    return w.nonces.Write(batch, store::Durability::kSynced);
  };
  auto refused = w.evaluator->Evaluate(request, kNow, record);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("nothing was answered (disk full)"));
  EXPECT_EQ(stored("nonce/") + stored("record/"), 0u);
  fail = false;
  ASSERT_TRUE(w.evaluator->Evaluate(request, kNow, record).ok());
  EXPECT_EQ(writes, 2);  // one write per answer, nonce and record together
  EXPECT_EQ(stored("nonce/"), 1u);
  EXPECT_EQ(stored("record/"), 1u);
  EXPECT_EQ(w.evaluator->Evaluate(request, kNow, record).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(writes, 2);
}

TEST(EvaluatorTest, EnforcesItsOwnDailyQuota) {
  World w(/*quota=*/10);
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  EXPECT_TRUE(w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 6), kNow).ok());
  auto over = w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 6), kNow);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("6 used, 6 asked"));
  // A new UTC day starts a new count.
  EXPECT_TRUE(w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 6),
                                    kNow + 86400000).ok());
}

TEST(EvaluatorTest, AGatewayCannotDodgeTheQuotaByUnderstatingSubjects) {
  World w(/*quota=*/10000, /*element_quota=*/5);
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  // subject_count 0 with elements: refused.
  auto zero = w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 0), kNow);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(zero.status().message()), HasSubstr("3 elements for 0 subjects"));
  // The element quota counts what arrived: 3 + 3 > 5.
  EXPECT_TRUE(w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 1), kNow).ok());
  auto over = w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 1), kNow);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("5 elements"));
}

TEST(EvaluatorTest, TheLocalPolicysLowerElementQuotaForAPurposeApplies) {
  World w(/*quota=*/10000, /*element_quota=*/60000, {{kPurpose, 5}});
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  EXPECT_TRUE(w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 1), kNow).ok());
  auto over = w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 1), kNow);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(over.status().message()),
              HasSubstr("the local policy's daily quota of 5 elements"));
  // Another requester has its own count.
  EXPECT_TRUE(w.evaluator->Evaluate(w.Request(requester.Blind(views).value().BlindedEncodings(), 1, "gemeente"), kNow).ok());
}

TEST(EvaluatorTest, RefusesARequesterItsLocalPolicyRefuses) {
  World w;
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  auto s = w.evaluator->Evaluate(
      w.Request(requester.Blind(views).value().BlindedEncodings(), 1, "belastingdienst"), kNow);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("does not answer that requester"));
}

}  // namespace
}  // namespace schakel::nodes
