#include "tests/support/test_support.h"
#include "gateway/tag_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

namespace schakel::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Tag(int i) {
  std::string t(16, '\0');
  t[0] = static_cast<char>(i);
  t[15] = static_cast<char>(i * 7);
  return t;
}
TagBytes TagB(int i) { return ToTag(Tag(i), "t").value(); }

v1::IndexBatch Batch(uint64_t seq, const std::string& purpose, std::vector<int> add,
                     std::vector<int> remove = {}, bool clear = false) {
  v1::IndexBatch b;
  b.set_sequence(seq);
  auto* c = b.add_changes();
  c->set_purpose_id(purpose);
  c->set_clear(clear);
  for (int i : add) c->add_added(Tag(i));
  for (int i : remove) c->add_removed(Tag(i));
  return b;
}

const auto kAnyPurpose = [](const std::string&) { return true; };

TEST(TagIndexTest, AppliesAddsAndRemovesAndLooksUp) {
  store::MemoryStore store;
  auto index = TagIndex::Open(&store, {}).value();
  ASSERT_TRUE(index->Apply("politie", Batch(1, "riec", {1, 2, 3}), kAnyPurpose).ok());
  ASSERT_TRUE(index->Apply("politie", Batch(2, "riec", {4}, {2}), kAnyPurpose).ok());
  EXPECT_EQ(index->AppliedThrough("politie"), 2u);
  EXPECT_EQ(index->Size("politie", "riec"), 3u);
  const std::vector<TagBytes> query{TagB(1), TagB(2), TagB(4), TagB(9)};
  EXPECT_THAT(index->Lookup("politie", "riec", query), ElementsAre(true, false, true, false));
  // Sets are per organisation and per purpose.
  EXPECT_FALSE(index->Contains("gemeente", "riec", TagB(1)));
  EXPECT_FALSE(index->Contains("politie", "zvh", TagB(1)));
}

TEST(TagIndexTest, RepeatedBatchIsAcknowledgedWithoutEffectAndGapsAreRefused) {
  store::MemoryStore store;
  auto index = TagIndex::Open(&store, {}).value();
  ASSERT_TRUE(index->Apply("zorg", Batch(1, "vi", {1}), kAnyPurpose).ok());
  auto repeat = index->Apply("zorg", Batch(1, "vi", {5}), kAnyPurpose).value();
  EXPECT_FALSE(repeat.had_effect);
  EXPECT_EQ(repeat.applied_through, 1u);
  EXPECT_FALSE(index->Contains("zorg", "vi", TagB(5)));
  auto gap = index->Apply("zorg", Batch(3, "vi", {6}), kAnyPurpose);
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(gap.status().message()), HasSubstr("expected 2"));
}

TEST(TagIndexTest, BadBatchesAreRefusedWithTheirPlaceNamed) {
  store::MemoryStore store;
  auto index = TagIndex::Open(&store, {}).value();
  auto zero = index->Apply("o", Batch(0, "p", {1}), kAnyPurpose);
  EXPECT_THAT(std::string(zero.status().message()), HasSubstr("sequence: must be at least 1"));
  v1::IndexBatch short_tag = Batch(1, "p", {1, 2});
  short_tag.mutable_changes(0)->set_added(1, "short");
  auto s = index->Apply("o", short_tag, kAnyPurpose);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("changes[0].added[1]: a tag is 16 bytes, got 5"));
  auto empty = index->Apply("o", Batch(1, "", {1}), kAnyPurpose);
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("changes[0].purpose_id: must not be empty"));
  std::vector<int> many(65537);
  auto big = index->Apply("o", Batch(1, "p", many), kAnyPurpose);
  EXPECT_THAT(std::string(big.status().message()), HasSubstr("65537 tag changes"));
  EXPECT_EQ(index->AppliedThrough("o"), 0u);  // none of them advanced the sequence
}

TEST(TagIndexTest, PurposesTheOrganisationMayNotAnswerAreDroppedAndNamed) {
  store::MemoryStore store;
  auto index = TagIndex::Open(&store, {}).value();
  v1::IndexBatch b = Batch(1, "riec", {1});
  auto* other = b.add_changes();
  other->set_purpose_id("verwijsindex");
  other->add_added(Tag(2));
  auto applied = index->Apply("zorg", b, [](const std::string& p) { return p != "riec"; }).value();
  EXPECT_THAT(applied.ignored_purpose_ids, ElementsAre("riec"));
  EXPECT_FALSE(index->Contains("zorg", "riec", TagB(1)));
  EXPECT_TRUE(index->Contains("zorg", "verwijsindex", TagB(2)));
}

TEST(TagIndexTest, WithdrawalsApplyEvenWhileThePurposeIsNotAllowed) {
  store::MemoryStore store;
  auto index = TagIndex::Open(&store, {}).value();
  ASSERT_TRUE(index->Apply("zorg", Batch(1, "vi", {1, 2}), kAnyPurpose).ok());
  // The policy no longer lets zorg answer "vi" (say during a reload) while a
  // signal is deleted: the removal must still apply.
  const auto none = [](const std::string&) { return false; };
  auto applied = index->Apply("zorg", Batch(2, "vi", {3}, {1}), none).value();
  EXPECT_THAT(applied.ignored_purpose_ids, ElementsAre("vi"));  // the addition was dropped
  // Allowed again: the withdrawn tag does not hit, the dropped one is absent.
  EXPECT_FALSE(index->Contains("zorg", "vi", TagB(1)));
  EXPECT_TRUE(index->Contains("zorg", "vi", TagB(2)));
  EXPECT_FALSE(index->Contains("zorg", "vi", TagB(3)));
  auto reopened = TagIndex::Open(&store, {}).value();
  EXPECT_FALSE(reopened->Contains("zorg", "vi", TagB(1)));
}

TEST(TagIndexTest, LimitCountsRepeatedPurposesInOneBatch) {
  store::MemoryStore store;
  auto index = TagIndex::Open(&store, {.max_tags_per_set = 3}).value();
  v1::IndexBatch b = Batch(1, "p", {1, 2});
  auto* again = b.add_changes();
  again->set_purpose_id("p");
  again->add_added(Tag(3));
  again->add_added(Tag(4));
  EXPECT_EQ(index->Apply("o", b, kAnyPurpose).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(TagIndexTest, ClearEmptiesTheSetAndLimitIsEnforced) {
  store::MemoryStore store;
  auto index = TagIndex::Open(&store, {.max_tags_per_set = 3}).value();
  ASSERT_TRUE(index->Apply("o", Batch(1, "p", {1, 2, 3}), kAnyPurpose).ok());
  auto over = index->Apply("o", Batch(2, "p", {4}), kAnyPurpose);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(index->AppliedThrough("o"), 1u);
  ASSERT_TRUE(index->Apply("o", Batch(2, "p", {7, 8}, {}, /*clear=*/true), kAnyPurpose).ok());
  EXPECT_EQ(index->Size("o", "p"), 2u);
  EXPECT_FALSE(index->Contains("o", "p", TagB(1)));
  // And in the store, after a reopen.
  auto reopened = TagIndex::Open(&store, {}).value();
  EXPECT_EQ(reopened->Size("o", "p"), 2u);
  EXPECT_TRUE(reopened->Contains("o", "p", TagB(8)));
}

TEST(TagIndexTest, FailedWriteAppliesNothingAndTheNodeCanRetry) {
  store::MemoryStore base;
  store::FaultyStore store(&base);
  auto index = TagIndex::Open(&store, {}).value();
  store.FailNextWrites(1);
  auto failed = index->Apply("o", Batch(1, "p", {1}), kAnyPurpose);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(index->AppliedThrough("o"), 0u);
  EXPECT_FALSE(index->Contains("o", "p", TagB(1)));
  ASSERT_TRUE(index->Apply("o", Batch(1, "p", {1}), kAnyPurpose).ok());
  EXPECT_TRUE(index->Contains("o", "p", TagB(1)));
}

TEST(TagIndexTest, NodeResumingAfterAGatewayRestartLosesAndDuplicatesNothing) {
  const ::schakel::testing::TempDir temp("schakel-tags");
  const std::string& dir = temp.path();
  {
    auto db = store::RocksDbStore::Open(dir + "/db").value();
    auto index = TagIndex::Open(db.get(), {}).value();
    for (int seq = 1; seq <= 5; ++seq) {
      ASSERT_TRUE(index->Apply("politie", Batch(seq, "riec", {seq}), kAnyPurpose).ok());
    }
  }  // the gateway stops
  auto db = store::RocksDbStore::Open(dir + "/db").value();
  auto index = TagIndex::Open(db.get(), {}).value();
  ASSERT_EQ(index->AppliedThrough("politie"), 5u);
  // The node did not see the acks of 4 and 5 and re-sends from 4.
  for (int seq = 4; seq <= 7; ++seq) {
    auto r = index->Apply("politie", Batch(seq, "riec", {seq}, seq == 7 ? std::vector<int>{1} : std::vector<int>{}),
                          kAnyPurpose);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->had_effect, seq > 5);
  }
  EXPECT_EQ(index->AppliedThrough("politie"), 7u);
  EXPECT_EQ(index->Size("politie", "riec"), 6u);  // 1..7 minus 1
  db.reset();
}

}  // namespace
}  // namespace schakel::gateway
