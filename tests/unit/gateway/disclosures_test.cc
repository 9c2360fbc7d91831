// gateway/disclosures.h: stored disclosures round-trip, request ids are
// idempotent per organisation, pending ones are found for expiry by their
// decide_by, handed-out boxes are dropped after the retention (the
// statement stays), and damaged state is DATA_LOSS.
#include "gateway/disclosures.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/authoriser.h"
#include "store/memory_store.h"

namespace schakel::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1'750'000'000);

StoredDisclosure Example(char id, absl::Time decide_by) {
  StoredDisclosure d;
  d.status.set_disclosure_id(std::string(16, id));
  d.status.set_exchange_id(std::string(16, 'e'));
  d.status.set_responder_org_id("politie-zwb");
  d.status.set_purpose_id("riec-ondermijning");
  d.status.add_subject_indices(0);
  d.status.mutable_ask()->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
  d.status.set_state(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  SetMillis(d.status.mutable_decide_by(), absl::ToUnixMillis(decide_by));
  d.requester.set_org_id("riec-zwb");
  d.requester.set_user_id("analist.1");
  d.order.set_disclosure_id(d.status.disclosure_id());
  d.request_id = std::string(16, static_cast<char>(id + 1));
  d.request_digest.fill(static_cast<uint8_t>(id));
  d.requested_sequence = 3;
  return d;
}

void Put(store::MemoryStore& kv, DisclosureStore& store, const StoredDisclosure& d,
         const StoredDisclosure* previous) {
  store::WriteBatch batch;
  store.AddPut(d, previous, batch);
  ASSERT_TRUE(kv.Write(batch, store::Durability::kSynced).ok());
}

TEST(DisclosuresTest, RoundTripsAndRequestIdsAreIdempotent) {
  store::MemoryStore kv;
  auto store = DisclosureStore::Open(&kv, {});
  const StoredDisclosure d = Example('a', kT0);
  Put(kv, *store, d, nullptr);
  auto got = store->Get(d.status.disclosure_id());
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->status.responder_org_id(), "politie-zwb");
  EXPECT_EQ((*got)->requester.user_id(), "analist.1");
  EXPECT_EQ((*got)->request_id, d.request_id);
  EXPECT_EQ((*got)->requested_sequence, 3u);
  EXPECT_FALSE((*got)->box_handed_out_at.has_value());
  EXPECT_FALSE(store->Get(std::string(16, 'z'))->has_value());

  auto again = store->FindRequest("riec-zwb", d.request_id, d.request_digest);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->status.disclosure_id(), d.status.disclosure_id());
  canonical::DigestBytes other{};
  EXPECT_EQ(store->FindRequest("riec-zwb", d.request_id, other).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(store->FindRequest("gemeente-tilburg", d.request_id, d.request_digest)->has_value());

  auto first = store->Begin("riec-zwb", d.request_id);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(store->Begin("riec-zwb", d.request_id).status().code(), absl::StatusCode::kUnavailable);
}

TEST(DisclosuresTest, PendingOnesAreDueAfterDecideByUntilDecided) {
  store::MemoryStore kv;
  auto store = DisclosureStore::Open(&kv, {});
  const StoredDisclosure early = Example('a', kT0);
  const StoredDisclosure late = Example('b', kT0 + absl::Hours(1));
  Put(kv, *store, early, nullptr);
  Put(kv, *store, late, nullptr);
  EXPECT_THAT(*store->DuePending(kT0, 10), IsEmpty());
  EXPECT_THAT(*store->DuePending(kT0 + absl::Milliseconds(1), 10), ElementsAre(early.status.disclosure_id()));
  EXPECT_THAT(*store->DuePending(kT0 + absl::Hours(2), 10),
              ElementsAre(early.status.disclosure_id(), late.status.disclosure_id()));
  EXPECT_THAT(*store->DuePending(kT0 + absl::Hours(2), 1), ElementsAre(early.status.disclosure_id()));
  StoredDisclosure decided = early;
  decided.status.set_state(v1::DISCLOSURE_STATE_DENIED);
  decided.decided_sequence = 9;
  Put(kv, *store, decided, &early);
  EXPECT_THAT(*store->DuePending(kT0 + absl::Hours(2), 10), ElementsAre(late.status.disclosure_id()));
  EXPECT_EQ((*store->Get(early.status.disclosure_id()))->decided_sequence, 9u);
}

TEST(DisclosuresTest, AHandedOutBoxIsDroppedAfterTheRetention) {
  store::MemoryStore kv;
  auto store = DisclosureStore::Open(&kv, DisclosureStore::Options{.box_retention = absl::Hours(24)});
  StoredDisclosure d = Example('a', kT0);
  d.status.set_state(v1::DISCLOSURE_STATE_DELIVERED);
  d.status.mutable_sealed()->set_sealed_box("ciphertext-only");
  d.status.mutable_sealed()->mutable_statement()->set_payload_hash(std::string(32, 'h'));
  Put(kv, *store, d, nullptr);
  EXPECT_EQ(*store->DropExpiredBoxes(kT0 + absl::Hours(100)), 0u);  // never handed out: kept
  auto handed = store->MarkHandedOut(d, kT0);
  ASSERT_TRUE(handed.ok());
  EXPECT_EQ(handed->box_handed_out_at, kT0);
  auto twice = store->MarkHandedOut(*handed, kT0 + absl::Hours(5));  // the first time counts
  EXPECT_EQ(twice->box_handed_out_at, kT0);
  EXPECT_EQ(*store->DropExpiredBoxes(kT0 + absl::Hours(23)), 0u);
  EXPECT_EQ((*store->Get(d.status.disclosure_id()))->status.sealed().sealed_box(), "ciphertext-only");
  EXPECT_EQ(*store->DropExpiredBoxes(kT0 + absl::Hours(25)), 1u);
  auto after = store->Get(d.status.disclosure_id());
  EXPECT_TRUE((*after)->status.sealed().sealed_box().empty());
  EXPECT_TRUE((*after)->box_dropped);
  EXPECT_EQ((*after)->status.sealed().statement().payload_hash(), std::string(32, 'h'));
  EXPECT_EQ(*store->DropExpiredBoxes(kT0 + absl::Hours(50)), 0u);
}

TEST(DisclosuresTest, DamagedStateIsDataLoss) {
  store::MemoryStore kv;
  auto store = DisclosureStore::Open(&kv, {});
  kv.Tamper("ds/d/" + std::string(16, 'a'), "garbage");
  EXPECT_EQ(store->Get(std::string(16, 'a')).status().code(), absl::StatusCode::kDataLoss);
  kv.Tamper(std::string("ds/r/riec-zwb") + '\0' + "r", "short");
  EXPECT_EQ(store->FindRequest("riec-zwb", "r", {}).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace schakel::gateway
