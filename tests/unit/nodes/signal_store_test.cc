#include "nodes/signal_store.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/hash.h"
#include "crypto/match_keys.h"
#include "crypto/oprf.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

constexpr char kPolicy[] = R"({
  "version": "test",
  "categories": [
    {"category": "huiselijk-geweld", "domain": "care"},
    {"category": "schulden", "domain": "social", "retention": "365d"},
    {"category": "overlast", "domain": "housing", "retention": "30d"},
    {"category": "intern", "domain": "care"}
  ],
  "purposes": [
    {"purpose_id": "zvh", "matchable_categories": ["huiselijk-geweld", "schulden"]},
    {"purpose_id": "riec", "matchable_categories": ["overlast"]}
  ],
  "max_persons_per_address": 3,
  "excluded_addresses": [{"postcode": "1011 AB", "house_number": 1}]
})";

const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2025, 3, 1, 12, 0, 0),
                                        absl::UTCTimeZone());

std::string Message(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}
std::string Bytes(const crypto::Tag& tag) {
  return std::string(reinterpret_cast<const char*>(tag.data()), tag.size());
}

v1::Signal MakeSignal(std::string id, std::string bsn, std::string category = "huiselijk-geweld") {
  v1::Signal s;
  s.set_signal_id(std::move(id));
  s.set_category(std::move(category));
  if (!bsn.empty()) s.mutable_subject()->set_bsn(std::move(bsn));
  s.set_free_text("zorgen over de thuissituatie");
  return s;
}

v1::Signal FullSignal(std::string id) {
  v1::Signal s = MakeSignal(std::move(id), "111222333");
  v1::Subject* subject = s.mutable_subject();
  subject->set_given_names("Jan Pieter");
  subject->set_surname("Vries");
  subject->set_surname_prefix("de");
  subject->set_birth_date("01-02-1990");
  subject->mutable_address()->set_postcode("1234 ab");
  subject->mutable_address()->set_house_number(12);
  return s;
}

class SignalStoreTest : public ::testing::Test {
 protected:
  SignalStoreTest() : server_(crypto::oprf::PrivateKey::Generate()) {
    auto policy = ParseLocalPolicy(kPolicy);
    EXPECT_TRUE(policy.ok()) << policy.status();
    policy_ = *policy;
    for (const char* purpose : {"zvh", "riec"}) {
      auto key = crypto::PurposeKey::Create(server_, purpose);
      EXPECT_TRUE(key.ok());
      test_keys_.emplace(purpose, *std::move(key));
    }
  }

  std::map<std::string, crypto::PurposeKey> Keys() {
    std::map<std::string, crypto::PurposeKey> keys;
    for (const char* purpose : {"zvh", "riec"}) {
      auto key = crypto::PurposeKey::Create(server_, purpose);
      EXPECT_TRUE(key.ok());
      keys.emplace(purpose, *std::move(key));
    }
    return keys;
  }

  std::unique_ptr<SignalStore> Open(store::KvStore* kv) {
    auto store = SignalStore::Create(kv, policy_, Keys(), secret_.Clone());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // The tag a test computes independently of the store.
  std::string Tag(std::string_view purpose, crypto::MatchKeyType type, std::string canonical) {
    const crypto::MatchKey key{type, std::move(canonical)};
    auto tag = test_keys_.at(std::string(purpose)).TagFor(crypto::AsBytes(key.OprfInput()));
    EXPECT_TRUE(tag.ok());
    return Bytes(*tag);
  }
  std::string BsnTag(std::string_view purpose, std::string bsn) {
    return Tag(purpose, crypto::MatchKeyType::kBsn, std::move(bsn));
  }

  std::vector<std::string> StoredTags(SignalStore& store, std::string_view id,
                                      std::string_view purpose) {
    auto tags = store.TagsOf(id);
    EXPECT_TRUE(tags.ok());
    std::vector<std::string> out;
    if (auto it = tags->find(std::string(purpose)); it != tags->end()) {
      for (const crypto::Tag& t : it->second) out.push_back(Bytes(t));
    }
    return out;
  }

  uint64_t Refs(SignalStore& store, std::string_view purpose, const std::string& tag) {
    crypto::Tag t{};
    std::copy(tag.begin(), tag.end(), t.begin());
    auto refs = store.TagReferences(purpose, t);
    EXPECT_TRUE(refs.ok());
    return *refs;
  }

  std::vector<v1::IndexBatch> Pending(SignalStore& store, uint64_t after = 0, size_t limit = 0) {
    auto batches = store.PendingBatches(after, limit);
    EXPECT_TRUE(batches.ok()) << batches.status();
    return batches.ok() ? *batches : std::vector<v1::IndexBatch>{};
  }

  static std::vector<std::string> Sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  }
  static std::vector<std::string> List(const google::protobuf::RepeatedPtrField<std::string>& r) {
    return std::vector<std::string>(r.begin(), r.end());
  }

  crypto::oprf::PoprfServer server_;
  NodeSecret secret_ = NodeSecret::Random();
  std::shared_ptr<const LocalPolicy> policy_;
  std::map<std::string, crypto::PurposeKey> test_keys_;
  store::MemoryStore memory_;
};

TEST_F(SignalStoreTest, AddStoresTagsAndQueuesExactlyThem) {
  auto store = Open(&memory_);
  auto added = store->Add(FullSignal("s1"), kNow, "alice");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->version(), 1u);
  EXPECT_EQ(added->owner_user_id(), "alice");
  EXPECT_EQ(added->domain(), v1::DOMAIN_CARE);
  EXPECT_EQ(added->subject().birth_date(), "1990-02-01");
  EXPECT_EQ(added->subject().address().postcode(), "1234AB");
  EXPECT_EQ(added->expires_at().seconds() - added->registered_at().seconds(), 730 * 86400);
  EXPECT_THAT(added->key_types(), ElementsAre(v1::MATCH_KEY_TYPE_BSN, v1::MATCH_KEY_TYPE_NAME_DOB,
                                              v1::MATCH_KEY_TYPE_ADDRESS));
  EXPECT_THAT(List(added->tagged_purpose_ids()), ElementsAre("zvh"));
  EXPECT_FALSE(added->address_excluded());

  const std::vector<std::string> expected = {
      BsnTag("zvh", "111222333"),
      Tag("zvh", crypto::MatchKeyType::kNameDob, "vries|j|1990-02-01"),
      Tag("zvh", crypto::MatchKeyType::kAddress, "1234AB|12")};
  EXPECT_EQ(StoredTags(*store, "s1", "zvh"), expected);
  EXPECT_THAT(StoredTags(*store, "s1", "riec"), IsEmpty());
  for (const std::string& tag : expected) EXPECT_EQ(Refs(*store, "zvh", tag), 1u);

  const auto batches = Pending(*store);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].sequence(), 1u);
  ASSERT_EQ(batches[0].changes_size(), 1);
  EXPECT_EQ(batches[0].changes(0).purpose_id(), "zvh");
  EXPECT_FALSE(batches[0].changes(0).clear());
  EXPECT_EQ(List(batches[0].changes(0).added()), Sorted(expected));
  EXPECT_THAT(List(batches[0].changes(0).removed()), IsEmpty());

  auto status = store->GetIndexStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->queued_through, 1u);
  EXPECT_EQ(status->acknowledged_through, 0u);
  EXPECT_EQ(status->tag_count.at("zvh"), 3u);
  EXPECT_EQ(status->tag_count.at("riec"), 0u);

  auto got = store->Get("s1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->free_text(), "zorgen over de thuissituatie");
  EXPECT_EQ(store->Add(FullSignal("s1"), kNow, "bob").status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(SignalStoreTest, TagIsPublishedOnFirstSignalAndWithdrawnOnLast) {
  auto store = Open(&memory_);
  ASSERT_TRUE(store->Add(MakeSignal("a", "123456782"), kNow, "u").ok());
  ASSERT_TRUE(store->Add(MakeSignal("b", "123456782", "schulden"), kNow, "u").ok());
  const std::string tag = BsnTag("zvh", "123456782");
  EXPECT_EQ(Refs(*store, "zvh", tag), 2u);
  auto batches = Pending(*store);
  ASSERT_EQ(batches.size(), 1u);  // the second signal adds nothing at the gateway
  EXPECT_THAT(List(batches[0].changes(0).added()), ElementsAre(tag));

  auto withdrawn = store->Delete("a", 0);
  ASSERT_TRUE(withdrawn.ok());
  EXPECT_EQ(*withdrawn, 0u);
  EXPECT_EQ(Refs(*store, "zvh", tag), 1u);
  EXPECT_EQ(Pending(*store).size(), 1u);  // no removal queued

  withdrawn = store->Delete("b", 0);
  ASSERT_TRUE(withdrawn.ok());
  EXPECT_EQ(*withdrawn, 1u);
  EXPECT_EQ(Refs(*store, "zvh", tag), 0u);
  batches = Pending(*store);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].sequence(), 2u);
  ASSERT_EQ(batches[1].changes_size(), 1);
  EXPECT_EQ(batches[1].changes(0).purpose_id(), "zvh");
  EXPECT_THAT(List(batches[1].changes(0).added()), IsEmpty());
  EXPECT_THAT(List(batches[1].changes(0).removed()), ElementsAre(tag));
  EXPECT_EQ(store->Get("b").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Delete("b", 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SignalStoreTest, CategoryIsTaggedOnlyWhereMatchable) {
  auto store = Open(&memory_);
  auto nuisance = store->Add(MakeSignal("n", "111222333", "overlast"), kNow, "u");
  ASSERT_TRUE(nuisance.ok());
  EXPECT_THAT(List(nuisance->tagged_purpose_ids()), ElementsAre("riec"));
  EXPECT_THAT(StoredTags(*store, "n", "zvh"), IsEmpty());
  EXPECT_THAT(StoredTags(*store, "n", "riec"), ElementsAre(BsnTag("riec", "111222333")));
  EXPECT_EQ(Refs(*store, "zvh", BsnTag("zvh", "111222333")), 0u);
  auto batches = Pending(*store);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].changes_size(), 1);
  EXPECT_EQ(batches[0].changes(0).purpose_id(), "riec");
  // The tags of one person differ per purpose.
  EXPECT_NE(BsnTag("riec", "111222333"), BsnTag("zvh", "111222333"));

  // A category no purpose makes matchable: stored, never tagged, nothing queued.
  auto internal = store->Add(MakeSignal("i", "123456782", "intern"), kNow, "u");
  ASSERT_TRUE(internal.ok());
  EXPECT_THAT(List(internal->tagged_purpose_ids()), IsEmpty());
  EXPECT_TRUE(store->TagsOf("i")->empty());
  EXPECT_EQ(Pending(*store).size(), 1u);
}

TEST_F(SignalStoreTest, ExcludedAddressYieldsNoAddressTag) {
  auto store = Open(&memory_);
  v1::Signal s = FullSignal("shelter");
  s.mutable_subject()->mutable_address()->set_postcode("1011AB");
  s.mutable_subject()->mutable_address()->set_house_number(1);
  auto added = store->Add(s, kNow, "u");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(added->address_excluded());
  EXPECT_THAT(added->key_types(),
              ElementsAre(v1::MATCH_KEY_TYPE_BSN, v1::MATCH_KEY_TYPE_NAME_DOB));
  EXPECT_EQ(StoredTags(*store, "shelter", "zvh"),
            (std::vector<std::string>{
                BsnTag("zvh", "111222333"),
                Tag("zvh", crypto::MatchKeyType::kNameDob, "vries|j|1990-02-01")}));
  EXPECT_EQ(Refs(*store, "zvh", Tag("zvh", crypto::MatchKeyType::kAddress, "1011AB|1")), 0u);
  EXPECT_EQ(Pending(*store)[0].changes(0).added_size(), 2);
}

TEST_F(SignalStoreTest, AddressWithTooManyPersonsBecomesInstitutional) {
  auto store = Open(&memory_);
  const std::vector<std::string> bsns = {"111222333", "123456782", "100000009", "100000010"};
  // "100000010": 9+0+...+2*1-0 = 11 passes; "100000009": 9-9 = 0 passes.
  const std::string address_tag = Tag("zvh", crypto::MatchKeyType::kAddress, "2000AA|5");
  for (size_t i = 0; i < bsns.size(); ++i) {
    v1::Signal s = MakeSignal("p" + std::to_string(i), bsns[i]);
    s.mutable_subject()->mutable_address()->set_postcode("2000AA");
    s.mutable_subject()->mutable_address()->set_house_number(5);
    auto added = store->Add(s, kNow, "u");
    ASSERT_TRUE(added.ok()) << added.status();
    EXPECT_EQ(added->address_excluded(), i == 3) << i;
  }
  // Three persons share the address tag; the fourth person makes the address
  // institutional (max 3): the tag is withdrawn from all, in the same batch.
  EXPECT_EQ(Refs(*store, "zvh", address_tag), 0u);
  auto batches = Pending(*store);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_THAT(List(batches[0].changes(0).added()),
              UnorderedElementsAreArray({BsnTag("zvh", bsns[0]), address_tag}));
  EXPECT_THAT(List(batches[3].changes(0).added()), ElementsAre(BsnTag("zvh", bsns[3])));
  EXPECT_THAT(List(batches[3].changes(0).removed()), ElementsAre(address_tag));
  EXPECT_EQ(StoredTags(*store, "p0", "zvh"), std::vector<std::string>{BsnTag("zvh", bsns[0])});
  EXPECT_TRUE(store->Get("p0")->address_excluded());

  // Back to three persons: the address tag returns.
  ASSERT_TRUE(store->Delete("p3", 0).ok());
  EXPECT_EQ(Refs(*store, "zvh", address_tag), 3u);
  batches = Pending(*store);
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_THAT(List(batches[4].changes(0).added()), ElementsAre(address_tag));
  EXPECT_THAT(List(batches[4].changes(0).removed()), ElementsAre(BsnTag("zvh", bsns[3])));
  EXPECT_FALSE(store->Get("p0")->address_excluded());
}

TEST_F(SignalStoreTest, UpdateSwapsTheNameDobTagInOneBatch) {
  auto store = Open(&memory_);
  ASSERT_TRUE(store->Add(FullSignal("s1"), kNow, "alice").ok());
  v1::Signal changed = FullSignal("s1");
  changed.mutable_subject()->set_birth_date("1990-02-11");
  auto updated = store->Update(changed, 1, kNow + absl::Hours(1));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->version(), 2u);
  EXPECT_EQ(updated->owner_user_id(), "alice");
  EXPECT_EQ(updated->subject().birth_date(), "1990-02-11");

  const std::string old_tag = Tag("zvh", crypto::MatchKeyType::kNameDob, "vries|j|1990-02-01");
  const std::string new_tag = Tag("zvh", crypto::MatchKeyType::kNameDob, "vries|j|1990-02-11");
  auto batches = Pending(*store);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].sequence(), 2u);
  ASSERT_EQ(batches[1].changes_size(), 1);
  EXPECT_THAT(List(batches[1].changes(0).added()), ElementsAre(new_tag));
  EXPECT_THAT(List(batches[1].changes(0).removed()), ElementsAre(old_tag));
  EXPECT_EQ(Refs(*store, "zvh", old_tag), 0u);
  EXPECT_EQ(Refs(*store, "zvh", new_tag), 1u);
  EXPECT_EQ(Refs(*store, "zvh", BsnTag("zvh", "111222333")), 1u);

  // A stale version is refused and changes nothing.
  changed.mutable_subject()->set_birth_date("1991-01-01");
  auto stale = store->Update(changed, 1, kNow);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store->Get("s1")->subject().birth_date(), "1990-02-11");
  EXPECT_EQ(Pending(*store).size(), 2u);
  EXPECT_EQ(store->Delete("s1", 1).status().code(), absl::StatusCode::kAborted);

  // Moving the signal to a category matchable under another purpose moves
  // its tags to that purpose, in one batch.
  v1::Signal moved = FullSignal("s1");
  moved.set_category("overlast");
  auto after_move = store->Update(moved, 2, kNow);
  ASSERT_TRUE(after_move.ok()) << after_move.status();
  batches = Pending(*store, 2);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].changes_size(), 2);
  EXPECT_EQ(batches[0].changes(0).purpose_id(), "riec");
  EXPECT_EQ(batches[0].changes(0).added_size(), 3);
  EXPECT_EQ(batches[0].changes(1).purpose_id(), "zvh");
  EXPECT_EQ(batches[0].changes(1).removed_size(), 3);
  EXPECT_EQ(after_move->expires_at().seconds() - after_move->registered_at().seconds(),
            30 * 86400);
}

TEST_F(SignalStoreTest, ExpireDueRemovesExactlyTheExpired) {
  auto store = Open(&memory_);
  const std::vector<std::pair<std::string, std::string>> signals = {
      {"early", "111222333"}, {"exact", "123456782"}, {"late", "100000009"}};
  for (size_t i = 0; i < signals.size(); ++i) {
    v1::Signal s = MakeSignal(signals[i].first, signals[i].second);
    s.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(kNow + absl::Hours(24 * (i + 1))));
    ASSERT_TRUE(store->Add(s, kNow, "u").ok());
  }
  auto none = store->ExpireDue(kNow);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
  auto expired = store->ExpireDue(kNow + absl::Hours(48));  // "exact" expires at this moment
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 2u);
  EXPECT_EQ(store->Get("early").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Get("exact").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->Get("late").ok());
  EXPECT_TRUE(store->TagsOf("early")->empty());
  auto batches = Pending(*store, 3);
  ASSERT_EQ(batches.size(), 1u);  // one chunk, one queue entry
  EXPECT_THAT(List(batches[0].changes(0).removed()),
              UnorderedElementsAreArray({BsnTag("zvh", "111222333"), BsnTag("zvh", "123456782")}));
  EXPECT_EQ(Refs(*store, "zvh", BsnTag("zvh", "100000009")), 1u);
  EXPECT_EQ(*store->ExpireDue(kNow + absl::Hours(48)), 0u);
}

TEST_F(SignalStoreTest, ExpiryAndDeletionDoNotNeedAParseableSubject) {
  auto store = Open(&memory_);
  v1::Signal s = FullSignal("old");
  s.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(kNow + absl::Hours(24)));
  ASSERT_TRUE(store->Add(s, kNow, "u").ok());
  ASSERT_TRUE(store->Add(FullSignal("broken"), kNow, "u").ok());
  // Stored subjects that today's rules refuse (e.g. written by an older
  // version): an invalid BSN, and no identifiers at all.
  for (const char* id : {"old", "broken"}) {
    v1::Signal stored = *store->Get(id);
    stored.mutable_subject()->set_bsn(std::string(id) == "old" ? "123456789" : "");
    if (std::string(id) == "broken") stored.clear_subject();
    store::WriteBatch batch;
    batch.Put(std::string("sig/s/") + id, stored.SerializeAsString());
    ASSERT_TRUE(memory_.Write(batch, store::Durability::kSynced).ok());
  }
  auto expired = store->ExpireDue(kNow + absl::Hours(25));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 1u);
  EXPECT_EQ(store->Get("old").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->Delete("broken", 0).ok());
  // Both signals' tags are withdrawn, from what was stored with them.
  EXPECT_EQ(Refs(*store, "zvh", BsnTag("zvh", "111222333")), 0u);
  EXPECT_EQ(Refs(*store, "zvh", Tag("zvh", crypto::MatchKeyType::kAddress, "1234AB|12")), 0u);
  EXPECT_EQ(store->GetIndexStatus()->tag_count.at("zvh"), 0u);
  auto rest = memory_.Scan("sig/", "sig0", 0);
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->empty()) << rest->front().first;

  // A record that does not even parse expires all the same.
  ASSERT_TRUE(store->Add(MakeSignal("garbled", "123456782"), kNow, "u").ok());
  store::WriteBatch garble;
  garble.Put("sig/s/garbled", "\xff\xff\xff");
  ASSERT_TRUE(memory_.Write(garble, store::Durability::kSynced).ok());
  EXPECT_EQ(*store->ExpireDue(kNow + absl::Hours(24 * 800)), 1u);
  EXPECT_EQ(Refs(*store, "zvh", BsnTag("zvh", "123456782")), 0u);
}

TEST_F(SignalStoreTest, OpeningAnOlderStoreMovesItsTagAndAddressRecordsIntoOne) {
  // Before 2026-11-24 a signal's tags were in sig/t/<id>/<purpose> and its
  // address group in sig/m/<id> (16-byte digest and a listed byte, "" without
  // an address, absent in stores older still). Build such a store by hand.
  std::map<std::string, std::map<std::string, std::vector<crypto::Tag>>> tags_before;
  {
    auto store = Open(&memory_);
    v1::Signal neighbour = FullSignal("c");
    neighbour.mutable_subject()->set_bsn("123456782");
    for (const v1::Signal& s : {FullSignal("a"), MakeSignal("b", "100000009"), neighbour}) {
      ASSERT_TRUE(store->Add(s, kNow, "u").ok());
    }
    store::WriteBatch legacy;
    for (const char* id : {"a", "b", "c"}) {
      tags_before[id] = *store->TagsOf(id);
      for (const auto& [purpose, tags] : tags_before[id]) {
        std::string bytes;
        for (const crypto::Tag& t : tags) bytes += Bytes(t);
        legacy.Put(StrCat("sig/t/", id, "/", purpose), bytes);
      }
      const std::string record = memory_.Get(StrCat("sig/k/", id))->value();
      if (std::string_view(id) == "b") legacy.Put("sig/m/b", "");
      if (std::string_view(id) == "c") legacy.Put("sig/m/c", record.substr(1, 16) + '\0');
      legacy.Delete(StrCat("sig/k/", id));
    }
    legacy.Put("sig/t/gone/zvh", std::string(16, 'x'));  // of no stored signal
    ASSERT_TRUE(memory_.Write(legacy, store::Durability::kSynced).ok());
  }
  const std::string address_tag = Tag("zvh", crypto::MatchKeyType::kAddress, "1234AB|12");
  ASSERT_EQ(Refs(*Open(&memory_), "zvh", address_tag), 2u);

  auto store = Open(&memory_);
  for (const char* prefix : {"sig/t/", "sig/m/"}) {
    EXPECT_TRUE(memory_.Scan(prefix, store::PrefixEnd(prefix), 0)->empty()) << prefix;
  }
  EXPECT_EQ(memory_.Scan("sig/k/", "sig/k0", 0)->size(), 3u);
  for (const char* id : {"a", "b", "c"}) EXPECT_EQ(*store->TagsOf(id), tags_before[id]) << id;
  // Withdrawal works from the moved records: "a" leaves its address group
  // from its subject (no sig/m/ record), "c" from the recorded digest.
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(store->Delete(id, 0).ok()) << id;
  EXPECT_EQ(Refs(*store, "zvh", address_tag), 0u);
  EXPECT_EQ(store->GetIndexStatus()->tag_count.at("zvh"), 0u);
  EXPECT_EQ(store->GetIndexStatus()->tag_count.at("riec"), 0u);
  auto rest = memory_.Scan("sig/", "sig0", 0);
  EXPECT_TRUE(rest->empty()) << rest->front().first;
}

TEST_F(SignalStoreTest, ADamagedTagRecordStopsTheChangeAndKeepsTheSignal) {
  auto store = Open(&memory_);
  ASSERT_TRUE(store->Add(FullSignal("a"), kNow, "u").ok());
  store::WriteBatch garble;
  garble.Put("sig/k/a", "\x01\x02");
  ASSERT_TRUE(memory_.Write(garble, store::Durability::kSynced).ok());
  auto deleted = store->Delete("a", 0);
  EXPECT_EQ(deleted.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(deleted.status().message(), HasSubstr("tag record does not parse"));
  EXPECT_TRUE(store->Get("a").ok());
  EXPECT_EQ(Refs(*store, "zvh", BsnTag("zvh", "111222333")), 1u);
}

TEST_F(SignalStoreTest, AddressAndPersonDigestsAreKeyedWithTheNodeSecret) {
  store::MemoryStore other_memory;
  auto store = Open(&memory_);
  ASSERT_TRUE(store->Add(FullSignal("s1"), kNow, "u").ok());
  auto other = SignalStore::Create(&other_memory, policy_, Keys(), NodeSecret::Random());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Add(FullSignal("s1"), kNow, "u").ok());
  auto mine = memory_.Scan("sig/a/", "sig/a0", 0);
  auto theirs = other_memory.Scan("sig/a/", "sig/a0", 0);
  ASSERT_EQ(mine->size(), 1u);
  ASSERT_EQ(theirs->size(), 1u);
  // Another secret, other digests; and neither is the unkeyed digest.
  EXPECT_NE(mine->front().first, theirs->front().first);
  EXPECT_NE(mine->front().second, theirs->front().second);
  const crypto::Blake2b256Digest unkeyed = crypto::Blake2b256Hash(crypto::AsBytes("1234AB|12"));
  EXPECT_THAT(mine->front().first,
              Not(HasSubstr(crypto::ToHex(crypto::ByteView(unkeyed.data(), 16)))));
}

TEST_F(SignalStoreTest, ChangesAreLoggedWithTheirSignalIdsInTheSameWrite) {
  store::FaultyStore faulty(&memory_);
  auto log = LocalLog::Open(&faulty);
  ASSERT_TRUE(log.ok());
  auto store = SignalStore::Create(&faulty, policy_, Keys(), secret_.Clone(), log->get());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Add(FullSignal("s1"), kNow, "alice", v1::ROLE_PROFESSIONAL).ok());
  v1::Signal changed = FullSignal("s1");
  changed.set_free_text("bijgewerkt");
  ASSERT_TRUE((*store)->Update(changed, 1, kNow, {"admin", v1::ROLE_ADMIN, "correctie"}).ok());
  faulty.FailNextWrites(1);
  EXPECT_FALSE((*store)->Delete("s1", 0, {"admin", v1::ROLE_ADMIN, "erasure"}).ok());
  EXPECT_TRUE((*store)->Get("s1").ok());
  ASSERT_TRUE((*store)->Delete("s1", 0, {"admin", v1::ROLE_ADMIN, "erasure"}).ok());

  auto entries = (*log)->Read(1, 0);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);  // nothing for the failed delete
  const auto& added = (*entries)[0].record();
  EXPECT_EQ(added.kind(), v1::LOCAL_EVENT_KIND_SIGNAL_ADDED);
  EXPECT_EQ(added.user_id(), "alice");
  EXPECT_EQ(added.role(), v1::ROLE_PROFESSIONAL);
  EXPECT_THAT(added.signal_ids(), ElementsAre("s1"));
  EXPECT_EQ(added.local_policy_version(), policy_->version());
  EXPECT_EQ((*entries)[1].record().kind(), v1::LOCAL_EVENT_KIND_SIGNAL_UPDATED);
  EXPECT_EQ((*entries)[1].record().detail(), "correctie");
  EXPECT_EQ((*entries)[2].record().kind(), v1::LOCAL_EVENT_KIND_SIGNAL_DELETED);
  EXPECT_EQ((*entries)[2].record().user_id(), "admin");
  // No identifier in any record.
  for (const auto& e : *entries) {
    EXPECT_THAT(e.SerializeAsString(), Not(HasSubstr("111222333")));
    EXPECT_THAT(e.SerializeAsString(), Not(HasSubstr("Vries")));
  }
}

TEST_F(SignalStoreTest, RepublishQueuesAClearAndEveryCurrentTag) {
  auto store = Open(&memory_);
  ASSERT_TRUE(store->Add(FullSignal("s1"), kNow, "u").ok());
  ASSERT_TRUE(store->Add(MakeSignal("s2", "123456782", "overlast"), kNow, "u").ok());
  ASSERT_TRUE(store->AcknowledgeUpTo(1).ok());
  auto queued = store->Republish(7, 2);
  ASSERT_TRUE(queued.ok()) << queued.status();
  // zvh: bsn, name_dob, address of s1; riec: bsn of s2 -> 4 tags, 2 per
  // batch, the clears riding in the first.
  EXPECT_EQ(*queued, 2u);
  auto batches = Pending(*store, 7);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].sequence(), 8u);
  size_t clears = 0, added = 0;
  for (const auto& b : batches) {
    size_t in_batch = 0;
    for (const auto& c : b.changes()) {
      clears += c.clear() ? 1 : 0;
      added += static_cast<size_t>(c.added_size());
      in_batch += static_cast<size_t>(c.added_size());
      EXPECT_TRUE(c.removed().empty());
    }
    EXPECT_LE(in_batch, 2u);
  }
  EXPECT_EQ(clears, 2u);
  EXPECT_EQ(added, 4u);
  EXPECT_EQ(store->GetIndexStatus()->acknowledged_through, 7u);
  EXPECT_EQ(store->GetIndexStatus()->queued_through, 9u);
}

TEST_F(SignalStoreTest, FailedWriteLeavesNothingHalfWritten) {
  store::FaultyStore faulty(&memory_);
  auto store = Open(&faulty);
  ASSERT_TRUE(store->Add(MakeSignal("kept", "123456782"), kNow, "u").ok());

  faulty.FailNextWrites(1);
  auto added = store->Add(FullSignal("lost"), kNow, "u");
  EXPECT_EQ(added.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store->Get("lost").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->TagsOf("lost")->empty());
  EXPECT_EQ(Refs(*store, "zvh", BsnTag("zvh", "111222333")), 0u);
  EXPECT_EQ(Pending(*store).size(), 1u);
  EXPECT_EQ(store->GetIndexStatus()->queued_through, 1u);
  EXPECT_EQ(store->GetIndexStatus()->tag_count.at("zvh"), 1u);

  faulty.FailNextWrites(1);
  EXPECT_EQ(store->Delete("kept", 0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store->Get("kept").ok());
  EXPECT_EQ(Refs(*store, "zvh", BsnTag("zvh", "123456782")), 1u);
  EXPECT_EQ(Pending(*store).size(), 1u);

  // After the fault the next change takes the next sequence: no gap.
  ASSERT_TRUE(store->Add(FullSignal("lost"), kNow, "u").ok());
  auto batches = Pending(*store);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].sequence(), 2u);
}

TEST_F(SignalStoreTest, InvalidSubjectIsRefusedWithoutItsValue) {
  auto store = Open(&memory_);
  v1::Signal bad = FullSignal("bad");
  bad.mutable_subject()->set_bsn("123456789");
  bad.mutable_subject()->set_birth_date("31-02-1990");
  auto added = store->Add(bad, kNow, "u");
  ASSERT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m = Message(added.status());
  EXPECT_THAT(m, HasSubstr("signal.subject.bsn: "));
  EXPECT_THAT(m, HasSubstr("elfproef"));
  EXPECT_THAT(m, HasSubstr("signal.subject.birth_date: "));
  EXPECT_THAT(m, Not(HasSubstr("123456789")));
  EXPECT_THAT(m, Not(HasSubstr("31-02-1990")));
  EXPECT_THAT(m, Not(HasSubstr("Vries")));
  EXPECT_EQ(store->Get("bad").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Pending(*store), IsEmpty());

  v1::Signal other = MakeSignal("bad id!", "");
  other.set_category("geheim");
  other.set_free_text(std::string(10'001, 'x'));
  added = store->Add(other, kNow, "u");
  ASSERT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m2 = Message(added.status());
  EXPECT_THAT(m2, HasSubstr("signal.signal_id: must be 1 to 64 characters"));
  EXPECT_THAT(m2, HasSubstr("signal.category: not a configured category; configured: "
                            "huiselijk-geweld, intern, overlast, schulden"));
  EXPECT_THAT(m2, HasSubstr("signal.free_text: longer than 10000 characters"));
  EXPECT_THAT(m2, HasSubstr("signal.subject: no identifiers"));
  EXPECT_THAT(m2, Not(HasSubstr("geheim")));
  EXPECT_THAT(m2, Not(HasSubstr("bad id!")));
  EXPECT_THAT(m2, Not(HasSubstr("xxxx")));

  v1::Signal expired = MakeSignal("old", "111222333");
  expired.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(kNow - absl::Hours(1)));
  expired.mutable_registered_at()->set_seconds(absl::ToUnixSeconds(kNow - absl::Hours(48)));
  EXPECT_THAT(Message(store->Add(expired, kNow, "u").status()),
              HasSubstr("signal.expires_at: already passed"));
}

TEST_F(SignalStoreTest, QueueIsGaplessAndResumable) {
  auto store = Open(&memory_);
  const std::vector<std::string> bsns = {"111222333", "123456782", "100000009", "100000010",
                                         "100000022"};
  for (size_t i = 0; i < bsns.size(); ++i) {
    ASSERT_TRUE(store->Add(MakeSignal("q" + std::to_string(i), bsns[i]), kNow, "u").ok()) << i;
  }
  auto all = Pending(*store);
  ASSERT_EQ(all.size(), 5u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].sequence(), i + 1);

  auto after_two = Pending(*store, 2);
  ASSERT_EQ(after_two.size(), 3u);
  EXPECT_EQ(after_two[0].sequence(), 3u);
  EXPECT_THAT(List(after_two[0].changes(0).added()), ElementsAre(BsnTag("zvh", bsns[2])));
  auto limited = Pending(*store, 2, 2);
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[1].sequence(), 4u);
  EXPECT_THAT(Pending(*store, 5), IsEmpty());
  EXPECT_EQ(store->PendingBatches(6, 0).status().code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(store->AcknowledgeUpTo(3).ok());
  ASSERT_TRUE(store->AcknowledgeUpTo(3).ok());  // idempotent
  ASSERT_TRUE(store->AcknowledgeUpTo(1).ok());  // older: no-op
  auto rest = Pending(*store, 3);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].sequence(), 4u);
  EXPECT_EQ(store->PendingBatches(1, 0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->AcknowledgeUpTo(6).code(), absl::StatusCode::kInvalidArgument);
  auto status = store->GetIndexStatus();
  EXPECT_EQ(status->queued_through, 5u);
  EXPECT_EQ(status->acknowledged_through, 3u);

  // A new SignalStore over the same data continues the sequence.
  store.reset();
  store = Open(&memory_);
  ASSERT_TRUE(store->Delete("q0", 0).ok());
  rest = Pending(*store, 3);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[2].sequence(), 6u);
  EXPECT_THAT(List(rest[2].changes(0).removed()), ElementsAre(BsnTag("zvh", bsns[0])));
  ASSERT_TRUE(store->AcknowledgeUpTo(6).ok());
  EXPECT_THAT(Pending(*store, 6), IsEmpty());
}

TEST_F(SignalStoreTest, ListPagesByIdAndByRegisteredAt) {
  auto store = Open(&memory_);
  const std::vector<std::string> ids = {"c", "a", "d", "b"};
  for (size_t i = 0; i < ids.size(); ++i) {
    v1::Signal s = MakeSignal(ids[i], "111222333");
    s.mutable_registered_at()->set_seconds(absl::ToUnixSeconds(kNow - absl::Hours(10 - i)));
    ASSERT_TRUE(store->Add(s, kNow, "u").ok());
  }
  auto ids_of = [](const SignalPage& page) {
    std::vector<std::string> out;
    for (const v1::Signal& s : page.signals) out.push_back(s.signal_id());
    return out;
  };
  ListOptions options;
  options.page_size = 3;
  auto page = store->List(options);
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(ids_of(*page), ElementsAre("a", "b", "c"));
  ASSERT_FALSE(page->next_page_token.empty());
  options.page_token = page->next_page_token;
  page = store->List(options);
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(ids_of(*page), ElementsAre("d"));
  EXPECT_TRUE(page->next_page_token.empty());

  options = ListOptions{.order = ListOptions::Order::kByRegisteredAt, .page_token = {},
                        .page_size = 2};
  page = store->List(options);
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(ids_of(*page), ElementsAre("c", "a"));
  options.page_token = page->next_page_token;
  page = store->List(options);
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(ids_of(*page), ElementsAre("d", "b"));
  EXPECT_TRUE(page->next_page_token.empty());

  options.page_token = "zz";
  EXPECT_EQ(store->List(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SignalStoreTest, AssignsSortableIds) {
  auto store = Open(&memory_);
  auto first = store->Add(MakeSignal("", "111222333"), kNow, "u");
  auto second = store->Add(MakeSignal("", "111222333"), kNow + absl::Milliseconds(1), "u");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->signal_id().size(), 26u);
  EXPECT_LT(first->signal_id(), second->signal_id());
  EXPECT_NE(first->signal_id(), second->signal_id());
}

TEST_F(SignalStoreTest, CreateNeedsAKeyForEveryAnsweredPurpose) {
  std::map<std::string, crypto::PurposeKey> keys;
  auto key = crypto::PurposeKey::Create(server_, "zvh");
  ASSERT_TRUE(key.ok());
  keys.emplace("zvh", *std::move(key));
  auto store = SignalStore::Create(&memory_, policy_, std::move(keys), secret_.Clone());
  ASSERT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(store.status()), HasSubstr("\"riec\""));
}

TEST_F(SignalStoreTest, RocksDbRoundTrip) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "schakel-nodes-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl + "/db";
  {
    auto rocks = store::RocksDbStore::Open(dir);
    ASSERT_TRUE(rocks.ok()) << rocks.status();
    auto store = Open(rocks->get());
    ASSERT_TRUE(store->Add(FullSignal("s1"), kNow, "alice").ok());
    ASSERT_TRUE(store->Add(MakeSignal("s2", "123456782"), kNow, "alice").ok());
    ASSERT_TRUE(store->AcknowledgeUpTo(1).ok());
  }
  {
    auto rocks = store::RocksDbStore::Open(dir);
    ASSERT_TRUE(rocks.ok()) << rocks.status();
    auto store = Open(rocks->get());
    auto s1 = store->Get("s1");
    ASSERT_TRUE(s1.ok());
    EXPECT_EQ(s1->subject().birth_date(), "1990-02-01");
    EXPECT_EQ(StoredTags(*store, "s1", "zvh").size(), 3u);
    auto pending = Pending(*store, 1);
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].sequence(), 2u);
    EXPECT_THAT(List(pending[0].changes(0).added()), ElementsAre(BsnTag("zvh", "123456782")));
    ASSERT_TRUE(store->Delete("s2", 0).ok());
    EXPECT_EQ(Pending(*store, 1).back().sequence(), 3u);
  }
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace schakel::nodes
