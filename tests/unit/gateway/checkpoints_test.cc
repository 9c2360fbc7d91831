#include "gateway/checkpoints.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/authoriser.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "tests/unit/gateway/case_audit_test_support.h"

namespace schakel::gateway {
namespace {

using testing::EditEntry;
using testing::ExchangeRecord;
using ::testing::HasSubstr;
using testing::TestStart;

class CheckpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = ExchangeLog::Open(&store_).value();
    checkpoints_ = Open(CheckpointOptions{0, absl::ZeroDuration()});
  }
  std::unique_ptr<CheckpointStore> Open(CheckpointOptions options) {
    auto cs = CheckpointStore::Open(&store_, log_.get(), crypto::SigningKey::FromSeed(seed_),
                                    options, [this] { return now_; });
    EXPECT_TRUE(cs.ok()) << cs.status();
    return cs.ok() ? *std::move(cs) : nullptr;
  }
  void Append(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(log_->Append(ExchangeRecord("riec-zwb", now_)).ok());
      now_ += absl::Seconds(1);
    }
  }
  ExchangeLog::VerifyOptions WithKey() const {
    ExchangeLog::VerifyOptions options;
    options.checkpoint_keys.push_back(checkpoints_->verify_key());
    return options;
  }

  std::array<uint8_t, 32> seed_{7};
  absl::Time now_ = TestStart();
  store::MemoryStore store_;
  std::unique_ptr<ExchangeLog> log_;
  std::unique_ptr<CheckpointStore> checkpoints_;
};

TEST_F(CheckpointsTest, SignsTheHeadAndChainsCheckpoints) {
  EXPECT_EQ(checkpoints_->CheckpointNow().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(checkpoints_->Latest(), std::nullopt);

  Append(3);
  auto first = checkpoints_->CheckpointNow().value();
  EXPECT_EQ(first.payload().sequence(), 3u);
  const auto head = log_->head_hash();
  EXPECT_EQ(first.payload().head_hash(), std::string(head.begin(), head.end()));
  EXPECT_EQ(first.payload().previous_checkpoint_sequence(), 0u);
  EXPECT_EQ(absl::FromUnixMillis(ToMillis(first.payload().created_at())), now_);
  EXPECT_TRUE(canonical::Verify(checkpoints_->verify_key(), canonical::kCheckpointContext,
                                first.payload(), first.signature())
                  .ok());
  // Nothing appended since: the same checkpoint, nothing new written.
  EXPECT_EQ(checkpoints_->CheckpointNow().value().SerializeAsString(), first.SerializeAsString());

  Append(2);
  auto second = checkpoints_->CheckpointNow().value();
  EXPECT_EQ(second.payload().sequence(), 5u);
  EXPECT_EQ(second.payload().previous_checkpoint_sequence(), 3u);

  auto all = checkpoints_->List(1, 0).value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].payload().sequence(), 3u);
  EXPECT_EQ(all[1].payload().sequence(), 5u);
  EXPECT_EQ(checkpoints_->List(4, 0).value().size(), 1u);
  EXPECT_EQ(checkpoints_->List(1, 4).value().size(), 1u);
  EXPECT_TRUE(checkpoints_->List(6, 0).value().empty());

  // The segment kept with the second checkpoint: entries 4 and 5.
  EXPECT_EQ(store_.Get(CheckpointSegmentKey(5)).value()->size(), 2u * 32);

  // Reopened, the store knows its latest checkpoint.
  auto reopened = Open(CheckpointOptions{0, absl::ZeroDuration()});
  EXPECT_EQ(reopened->Latest()->payload().sequence(), 5u);

  auto report = log_->Verify(WithKey()).value();
  EXPECT_EQ(report.first_bad_sequence, std::nullopt) << report.problem;
  EXPECT_EQ(report.entries_checked, 5u);
  EXPECT_EQ(report.checkpoints_checked, 2u);
  EXPECT_EQ(report.latest_checkpoint->payload().sequence(), 5u);
  EXPECT_EQ(report.head.sequence(), 5u);
}

TEST_F(CheckpointsTest, MaybeCheckpointFollowsTheEntryAndTimeIntervals) {
  auto by_entries = Open(CheckpointOptions{4, absl::ZeroDuration()});
  Append(3);
  ASSERT_TRUE(by_entries->MaybeCheckpoint().ok());
  EXPECT_EQ(by_entries->Latest(), std::nullopt);
  Append(1);
  ASSERT_TRUE(by_entries->MaybeCheckpoint().ok());
  EXPECT_EQ(by_entries->Latest()->payload().sequence(), 4u);

  auto by_time = Open(CheckpointOptions{0, absl::Minutes(10)});
  Append(1);  // entry 5, one second later
  ASSERT_TRUE(by_time->MaybeCheckpoint().ok());
  EXPECT_EQ(by_time->Latest()->payload().sequence(), 4u);  // not yet
  now_ += absl::Minutes(10);
  ASSERT_TRUE(by_time->MaybeCheckpoint().ok());
  EXPECT_EQ(by_time->Latest()->payload().sequence(), 5u);
  // Time passes but nothing was appended: no new checkpoint.
  now_ += absl::Hours(1);
  ASSERT_TRUE(by_time->MaybeCheckpoint().ok());
  EXPECT_EQ(checkpoints_->List(1, 0).value().size(), 2u);
}

TEST_F(CheckpointsTest, RefusesToSignAChainEditedSinceTheLastCheckpoint) {
  Append(3);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());
  Append(3);
  EditEntry(
      store_, 5, [](v1::LogRecord& r) { r.set_purpose_id("edited"); }, /*rehash=*/false);
  auto refused = checkpoints_->CheckpointNow();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(), HasSubstr("entry 5"));
  EXPECT_EQ(checkpoints_->Latest()->payload().sequence(), 3u);
  EXPECT_FALSE(store_.Get(CheckpointKey(6)).value().has_value());

  // Re-hashed from entry 5 on: the stored chain no longer ends where the
  // log appended.
  EditEntry(
      store_, 5, [](v1::LogRecord& r) { r.set_purpose_id("edited"); }, /*rehash=*/true);
  refused = checkpoints_->CheckpointNow();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(), HasSubstr("another hash"));
}

TEST_F(CheckpointsTest, AFailedWriteSignsNothingAndAnotherStoreIsRefused) {
  store::FaultyStore faulty(&store_);
  auto log = ExchangeLog::Open(&faulty).value();
  ASSERT_TRUE(log->Append(ExchangeRecord("riec-zwb", now_)).ok());
  auto cs =
      CheckpointStore::Open(&faulty, log.get(), crypto::SigningKey::FromSeed(seed_), {}, [this] {
        return now_;
      }).value();
  faulty.FailNextWrites(1);
  EXPECT_EQ(cs->CheckpointNow().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(cs->Latest(), std::nullopt);
  EXPECT_TRUE(cs->CheckpointNow().ok());

  store::MemoryStore other;
  auto wrong = CheckpointStore::Open(&other, log.get(), crypto::SigningKey::FromSeed(seed_), {},
                                     [this] { return now_; });
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
}

// The point of checkpoints: an entry edited and every later hash recomputed
// passes the chain check, but not the checkpoint after it, and the record
// hashes kept with that checkpoint name the entry.
TEST_F(CheckpointsTest, VerifyNamesAnEntryEditedAndReHashedBeforeACheckpoint) {
  Append(4);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());  // at 4
  Append(4);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());  // at 8
  Append(2);

  EditEntry(
      store_, 6, [](v1::LogRecord& r) { r.set_purpose_id("edited"); }, /*rehash=*/true);
  // The chain alone is consistent again (the process's head aside).
  ExchangeLog::VerifyOptions no_keys;
  no_keys.to_sequence = 10;
  auto chain_only = log_->Verify(no_keys).value();
  EXPECT_EQ(chain_only.first_bad_sequence, std::nullopt);

  auto report = log_->Verify(WithKey()).value();
  ASSERT_EQ(report.first_bad_sequence, 6u) << report.problem;
  EXPECT_EQ(report.problem_kind, v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH);
  EXPECT_THAT(report.problem, HasSubstr("entry 6 was changed after checkpoint at entry 8"));
  EXPECT_EQ(report.entries_checked, 7u);  // 1..7 verified before the checkpoint at 8
  EXPECT_EQ(report.checkpoints_checked, 1u);

  // If the kept record hashes are changed too, the checkpoint still shows
  // the rewrite, naming the range it covers.
  store_.Tamper(CheckpointSegmentKey(8), std::string(4 * 32, 'x'));
  report = log_->Verify(WithKey()).value();
  EXPECT_EQ(report.first_bad_sequence, 8u);
  EXPECT_EQ(report.problem_kind, v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH);
  EXPECT_THAT(report.problem, HasSubstr("entries 5 to 8"));
}

TEST_F(CheckpointsTest, VerifyNamesEditsWithoutReHashingAndEditsOfTheFirstSegment) {
  Append(5);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());
  EditEntry(
      store_, 2, [](v1::LogRecord& r) { r.set_detail("edited"); }, /*rehash=*/false);
  auto report = log_->Verify(WithKey()).value();
  EXPECT_EQ(report.first_bad_sequence, 2u);
  EXPECT_EQ(report.problem_kind, v1::CHAIN_PROBLEM_RECORD_HASH_MISMATCH);

  EditEntry(
      store_, 2, [](v1::LogRecord& r) { r.set_detail("edited"); }, /*rehash=*/true);
  report = log_->Verify(WithKey()).value();
  EXPECT_EQ(report.first_bad_sequence, 2u);
  EXPECT_EQ(report.problem_kind, v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH);
}

TEST_F(CheckpointsTest, VerifyFindsForgedMissingAndOutrunCheckpoints) {
  Append(3);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());
  Append(3);
  auto second = checkpoints_->CheckpointNow().value();

  // A checkpoint signed with another key.
  v1::Checkpoint forged = second;
  const crypto::SigningKey other = crypto::SigningKey::Generate();
  *forged.mutable_signature() =
      canonical::Sign(other, canonical::kCheckpointContext, forged.payload()).value();
  store_.Tamper(CheckpointKey(6), forged.SerializeAsString());
  auto report = log_->Verify(WithKey()).value();
  EXPECT_EQ(report.first_bad_sequence, 6u);
  EXPECT_EQ(report.problem_kind, v1::CHAIN_PROBLEM_CHECKPOINT_SIGNATURE_INVALID);
  store_.Tamper(CheckpointKey(6), second.SerializeAsString());

  // The earlier checkpoint deleted: the later one names it.
  store::WriteBatch del;
  del.Delete(CheckpointKey(3));
  ASSERT_TRUE(store_.Write(del, store::Durability::kSynced).ok());
  report = log_->Verify(WithKey()).value();
  EXPECT_EQ(report.first_bad_sequence, 3u);
  EXPECT_THAT(report.problem, HasSubstr("checkpoint at entry 3 is missing"));

  // Entries cut off after a checkpoint signed them, seen by a fresh process
  // (which no longer knows how far the log went).
  store::MemoryStore store;
  auto log = ExchangeLog::Open(&store).value();
  auto cs =
      CheckpointStore::Open(&store, log.get(), crypto::SigningKey::FromSeed(seed_), {}, [this] {
        return now_;
      }).value();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(log->Append(ExchangeRecord("riec-zwb", now_)).ok());
  ASSERT_TRUE(cs->CheckpointNow().ok());
  store::WriteBatch cut;
  cut.Delete(LogEntryKey(4));
  cut.Delete(LogEntryKey(3));
  ASSERT_TRUE(store.Write(cut, store::Durability::kSynced).ok());
  auto reopened = ExchangeLog::Open(&store).value();
  ExchangeLog::VerifyOptions options;
  options.checkpoint_keys.push_back(cs->verify_key());
  report = reopened->Verify(options).value();
  EXPECT_EQ(report.first_bad_sequence, 3u);
  EXPECT_EQ(report.problem_kind, v1::CHAIN_PROBLEM_SEQUENCE_GAP);
  EXPECT_THAT(report.problem, HasSubstr("covered by the checkpoint at entry 4"));
}

TEST_F(CheckpointsTest, VerifyOverARangeReportsProgressAndStops) {
  Append(25);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());
  ExchangeLog::VerifyOptions options = WithKey();
  options.from_sequence = 11;
  options.to_sequence = 25;
  options.progress_every = 5;
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  options.progress = [&](uint64_t checked, uint64_t total) {
    calls.emplace_back(checked, total);
    return true;
  };
  auto report = log_->Verify(options).value();
  EXPECT_EQ(report.first_bad_sequence, std::nullopt);
  EXPECT_EQ(report.entries_checked, 15u);
  EXPECT_EQ(report.checkpoints_checked, 1u);
  EXPECT_EQ(calls, (std::vector<std::pair<uint64_t, uint64_t>>{{5, 15}, {10, 15}, {15, 15}}));

  options.to_sequence = 12;
  report = log_->Verify(options).value();
  EXPECT_EQ(report.entries_checked, 2u);
  EXPECT_EQ(report.checkpoints_checked, 0u);

  options.to_sequence = 0;
  options.progress = [](uint64_t, uint64_t) { return false; };
  EXPECT_EQ(log_->Verify(options).status().code(), absl::StatusCode::kCancelled);

  options.from_sequence = 9;
  options.to_sequence = 8;
  EXPECT_EQ(log_->Verify(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CheckpointsTest, AppendWithWritesBothOrNeither) {
  store::FaultyStore faulty(&store_);
  auto log = ExchangeLog::Open(&faulty).value();
  auto with = [](uint64_t sequence, store::WriteBatch& batch) {
    batch.Put("test/with", StrCat("entry ", sequence));
  };
  auto appended = log->Append(ExchangeRecord("riec-zwb", now_), with).value();
  EXPECT_EQ(store_.Get("test/with").value(), StrCat("entry ", appended.sequence));

  faulty.FailNextWrites(1);
  store::WriteBatch clear;
  clear.Delete("test/with");
  ASSERT_TRUE(store_.Write(clear, store::Durability::kSynced).ok());
  EXPECT_FALSE(log->Append(ExchangeRecord("riec-zwb", now_), with).ok());
  EXPECT_FALSE(store_.Get("test/with").value().has_value());
  EXPECT_FALSE(store_.Get(LogEntryKey(2)).value().has_value());
}

}  // namespace
}  // namespace schakel::gateway
