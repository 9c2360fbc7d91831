// gateway/exchange_state.h: stored exchanges and resolutions round-trip,
// request ids are idempotent per organisation, concurrent retries are held
// off, and damaged state is DATA_LOSS.
#include "gateway/exchange_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/memory_store.h"

namespace schakel::gateway {
namespace {

using ::testing::HasSubstr;

StoredExchange Example() {
  StoredExchange e;
  e.exchange_id = std::string(16, 'e');
  e.requester.set_org_id("riec-zwb");
  e.requester.set_user_id("analist.1");
  e.requester.set_role(v1::ROLE_ANALYST);
  e.shape.set_request_id(std::string(16, 'r'));
  e.shape.set_purpose_id("riec-ondermijning");
  v1::BlindedSubject* s = e.shape.add_subjects();
  s->set_family(1);
  s->add_keys()->set_key_type(v1::MATCH_KEY_TYPE_BSN);
  e.response.set_exchange_id(e.exchange_id);
  e.response.set_policy_version("2025.3+00000000");
  e.response.add_evaluations()->mutable_outcome()->set_org_id("politie-zwb");
  e.requested_sequence = 7;
  e.evaluated_sequence = 9;
  return e;
}

TEST(ExchangeStateTest, StoredExchangeRoundTrips) {
  store::MemoryStore kv;
  auto exchanges = ExchangeStore::Open(&kv);
  const StoredExchange e = Example();
  const canonical::DigestBytes digest = Fingerprint(e.shape);
  store::WriteBatch batch;
  exchanges->AddOpened(e, digest, batch);
  ASSERT_TRUE(kv.Write(batch, store::Durability::kSynced).ok());

  auto got = exchanges->Get(e.exchange_id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->requester.org_id(), "riec-zwb");
  EXPECT_EQ((*got)->shape.subjects(0).keys(0).key_type(), v1::MATCH_KEY_TYPE_BSN);
  EXPECT_EQ((*got)->response.evaluations(0).outcome().org_id(), "politie-zwb");
  EXPECT_EQ((*got)->requested_sequence, 7u);
  EXPECT_EQ((*got)->evaluated_sequence, 9u);
  EXPECT_FALSE(exchanges->Get(std::string(16, 'z'))->has_value());
  EXPECT_FALSE(exchanges->GetResolved(e.exchange_id)->has_value());
}

TEST(ExchangeStateTest, RequestIdsAreIdempotentPerOrganisation) {
  store::MemoryStore kv;
  auto exchanges = ExchangeStore::Open(&kv);
  const StoredExchange e = Example();
  const canonical::DigestBytes digest = Fingerprint(e.shape);
  store::WriteBatch batch;
  exchanges->AddOpened(e, digest, batch);
  ASSERT_TRUE(kv.Write(batch, store::Durability::kSynced).ok());

  auto same = exchanges->FindRequest("riec-zwb", e.shape.request_id(), digest);
  ASSERT_TRUE(same.ok() && same->has_value());
  EXPECT_EQ((*same)->exchange_id, e.exchange_id);

  v1::OpenExchangeRequest other = e.shape;
  other.set_case_id("2025-0001");
  auto different = exchanges->FindRequest("riec-zwb", e.shape.request_id(), Fingerprint(other));
  EXPECT_EQ(different.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(different.status().message(), HasSubstr("request_id"));

  // The same request id of another organisation is another request.
  auto elsewhere = exchanges->FindRequest("politie-zwb", e.shape.request_id(), digest);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(elsewhere->has_value());
}

TEST(ExchangeStateTest, OneRequestIdInFlightAtATime) {
  store::MemoryStore kv;
  auto exchanges = ExchangeStore::Open(&kv);
  {
    auto first = exchanges->Begin("riec-zwb", "r1");
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(exchanges->Begin("riec-zwb", "r1").status().code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(exchanges->Begin("riec-zwb", "r2").ok());
    EXPECT_TRUE(exchanges->Begin("politie-zwb", "r1").ok());
  }
  EXPECT_TRUE(exchanges->Begin("riec-zwb", "r1").ok());
}

TEST(ExchangeStateTest, ResolutionRoundTrips) {
  store::MemoryStore kv;
  auto exchanges = ExchangeStore::Open(&kv);
  ResolvedExchange r;
  r.tags_digest.fill(3);
  r.response.mutable_result()->mutable_counts()->set_subjects_hit(2);
  r.resolved_sequence = 11;
  store::WriteBatch batch;
  exchanges->AddResolved(std::string(16, 'e'), r, batch);
  ASSERT_TRUE(kv.Write(batch, store::Durability::kSynced).ok());
  auto got = exchanges->GetResolved(std::string(16, 'e'));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->tags_digest, r.tags_digest);
  EXPECT_EQ((*got)->response.result().counts().subjects_hit(), 2u);
  EXPECT_EQ((*got)->resolved_sequence, 11u);
}

TEST(ExchangeStateTest, DamagedStateIsDataLoss) {
  store::MemoryStore kv;
  auto exchanges = ExchangeStore::Open(&kv);
  kv.Tamper("xo/" + std::string(16, 'e'), "garbage");
  kv.Tamper("xd/" + std::string(16, 'e'), "garbage");
  EXPECT_EQ(exchanges->Get(std::string(16, 'e')).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(exchanges->GetResolved(std::string(16, 'e')).status().code(), absl::StatusCode::kDataLoss);
  kv.Tamper(std::string("xr/riec-zwb") + '\0' + "r", "short");
  EXPECT_EQ(exchanges->FindRequest("riec-zwb", "r", {}).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ExchangeStateTest, FingerprintIgnoresNothingButLayout) {
  v1::OpenExchangeRequest a;
  a.set_purpose_id("p");
  a.add_target_org_ids("x");
  v1::OpenExchangeRequest b = a;
  EXPECT_EQ(Fingerprint(a), Fingerprint(b));
  b.add_target_org_ids("y");
  EXPECT_NE(Fingerprint(a), Fingerprint(b));
}

}  // namespace
}  // namespace schakel::gateway
