#include "nodes/local_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace schakel::nodes {
namespace {

using ::testing::HasSubstr;

v1::LocalLogRecord Record(v1::LocalEventKind kind, std::string user, std::string purpose = "") {
  v1::LocalLogRecord r;
  r.set_kind(kind);
  r.set_user_id(std::move(user));
  r.set_role(v1::ROLE_ANALYST);
  r.set_purpose_id(std::move(purpose));
  return r;
}

class LocalLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<LocalLog> Open(store::KvStore* kv) {
    auto log = LocalLog::Open(kv, [this] { return now_ms_; });
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  int64_t now_ms_ = 1'740'000'000'000;
  store::MemoryStore memory_;
};

TEST_F(LocalLogTest, AppendsAChainThatVerifiesAndSurvivesReopening) {
  auto log = Open(&memory_);
  EXPECT_EQ(*log->Append(Record(v1::LOCAL_EVENT_KIND_SIGNAL_ADDED, "alice")), 1u);
  now_ms_ += 5;
  EXPECT_EQ(*log->Append(Record(v1::LOCAL_EVENT_KIND_SIGNAL_DELETED, "bob")), 2u);

  auto entries = log->Read(1, 0);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].previous_hash(), std::string(32, '\0'));
  EXPECT_EQ((*entries)[1].previous_hash(), (*entries)[0].entry_hash());
  EXPECT_EQ((*entries)[0].record().recorded_at().seconds(), 1'740'000'000);
  EXPECT_EQ((*entries)[1].record().recorded_at().nanos(), 5'000'000);
  auto record_hash = canonical::Digest(canonical::kNodeLogRecordContext, (*entries)[1].record());
  ASSERT_TRUE(record_hash.ok());
  EXPECT_EQ((*entries)[1].record_hash(), std::string(record_hash->begin(), record_hash->end()));

  // A new LocalLog over the same store continues the chain.
  auto reopened = Open(&memory_);
  EXPECT_EQ(reopened->head_sequence(), 2u);
  EXPECT_EQ(*reopened->Append(Record(v1::LOCAL_EVENT_KIND_LOGIN_FAILED, "")), 3u);
  auto report = reopened->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->entries_checked, 3u);
  EXPECT_FALSE(report->first_bad_sequence.has_value()) << report->problem;
}

TEST_F(LocalLogTest, VerifyNamesTheFirstEditedEntry) {
  auto log = Open(&memory_);
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(log->Append(Record(v1::LOCAL_EVENT_KIND_MATCH_RUN, "a")).ok());
  // Edit entry 2's record directly in the store.
  auto entries = log->Read(2, 1);
  ASSERT_TRUE(entries.ok());
  v1::LocalLogEntry edited = (*entries)[0];
  edited.mutable_record()->set_user_id("mallory");
  store::WriteBatch batch;
  batch.Put(std::string(kLocalLogPrefix) + store::EncodeKeyU64(2), edited.SerializeAsString());
  ASSERT_TRUE(memory_.Write(batch, store::Durability::kSynced).ok());
  auto report = log->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->first_bad_sequence, 2u);
  EXPECT_THAT(report->problem, HasSubstr("record_hash"));
}

TEST_F(LocalLogTest, AppendWithWritesTheChangeAndItsRecordTogetherOrNeither) {
  store::FaultyStore faulty(&memory_);
  auto log = Open(&faulty);
  store::WriteBatch change;
  change.Put("x/1", "value");
  faulty.FailNextWrites(1);
  auto failed = log->AppendWith(Record(v1::LOCAL_EVENT_KIND_USER_CHANGED, "admin"), change);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(memory_.Get("x/1")->has_value());
  EXPECT_EQ(log->head_sequence(), 0u);

  auto written = log->AppendWith(Record(v1::LOCAL_EVENT_KIND_USER_CHANGED, "admin"), change);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, 1u);  // no gap after the failure
  EXPECT_EQ(**memory_.Get("x/1"), "value");
  EXPECT_FALSE(log->Verify()->first_bad_sequence.has_value());
}

TEST_F(LocalLogTest, ScanFiltersAndStreamsInBatches) {
  auto log = Open(&memory_);
  for (int i = 0; i < 25; ++i) {
    now_ms_ += 1000;
    ASSERT_TRUE(log->Append(Record(i % 2 == 0 ? v1::LOCAL_EVENT_KIND_SIGNAL_ADDED
                                              : v1::LOCAL_EVENT_KIND_MATCH_RUN,
                                   i % 5 == 0 ? "alice" : "bob", i % 3 == 0 ? "zvh" : "riec"))
                    .ok());
  }
  const auto collect = [&](const LocalLogFilter& filter, size_t batch_size) {
    std::vector<uint64_t> sequences;
    size_t batches = 0;
    EXPECT_TRUE(log->Scan(filter, batch_size,
                          [&](std::vector<v1::LocalLogEntry>& entries) {
                            ++batches;
                            EXPECT_LE(entries.size(), batch_size);
                            for (const auto& e : entries) sequences.push_back(e.sequence());
                            return true;
                          })
                    .ok());
    return std::make_pair(sequences, batches);
  };
  LocalLogFilter all;
  auto [every, batches] = collect(all, 10);
  EXPECT_EQ(every.size(), 25u);
  EXPECT_EQ(batches, 3u);

  LocalLogFilter alice;
  alice.user_id = "alice";
  EXPECT_EQ(collect(alice, 100).first, (std::vector<uint64_t>{1, 6, 11, 16, 21}));

  LocalLogFilter kinds;
  kinds.kinds = {v1::LOCAL_EVENT_KIND_MATCH_RUN};
  kinds.purpose_id = "zvh";
  kinds.from_sequence = 5;
  kinds.limit = 2;
  EXPECT_EQ(collect(kinds, 100).first, (std::vector<uint64_t>{10, 16}));

  LocalLogFilter range;  // entry n was recorded at base + n seconds
  range.from_ms = 1'740'000'000'000 + 3'000;
  range.to_ms = 1'740'000'000'000 + 6'000;
  EXPECT_EQ(collect(range, 100).first, (std::vector<uint64_t>{3, 4, 5}));
}

TEST_F(LocalLogTest, RefusesWhatCannotBeEncodedOrIsTooLong) {
  auto log = Open(&memory_);
  v1::LocalLogRecord r = Record(v1::LOCAL_EVENT_KIND_MATCH_RUN, "a");
  r.mutable_recorded_at()->set_nanos(1);  // not a whole millisecond
  EXPECT_EQ(log->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = Record(v1::LOCAL_EVENT_KIND_MATCH_RUN, "a");
  r.set_detail(std::string(2001, 'x'));
  EXPECT_EQ(log->Append(r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->head_sequence(), 0u);
}

}  // namespace
}  // namespace schakel::nodes
