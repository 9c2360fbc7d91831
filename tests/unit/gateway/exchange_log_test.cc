#include "tests/support/test_support.h"
#include "gateway/exchange_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

namespace schakel::gateway {
namespace {

using ::testing::HasSubstr;

v1::LogRecord Record(const std::string& purpose, int64_t ms = 1763900000000) {
  v1::LogRecord r;
  r.set_purpose_id(purpose);
  r.set_policy_version("test-1");
  r.mutable_recorded_at()->set_seconds(ms / 1000);
  r.mutable_recorded_at()->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
  return r;
}

TEST(ExchangeLogTest, AppendsChainAndVerify) {
  store::MemoryStore store;
  auto log = ExchangeLog::Open(&store).value();
  EXPECT_EQ(log->head_sequence(), 0u);
  auto a = log->Append(Record("riec-ondermijning")).value();
  auto b = log->Append(Record("zvh-casusoverleg")).value();
  auto c = log->Append(Record("riec-ondermijning")).value();
  EXPECT_EQ(a.sequence, 1u);
  EXPECT_EQ(b.sequence, 2u);
  EXPECT_EQ(c.sequence, 3u);
  EXPECT_EQ(log->head_hash(), c.entry_hash);
  EXPECT_NE(a.entry_hash, c.entry_hash);  // same record, different position
  EXPECT_EQ(a.record_hash, c.record_hash);

  auto entries = log->Read(1, 0).value();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].record().purpose_id(), "zvh-casusoverleg");
  EXPECT_EQ(entries[2].previous_hash(), entries[1].entry_hash());
  EXPECT_EQ(entries[0].previous_hash(), std::string(32, '\0'));

  auto report = log->Verify().value();
  EXPECT_EQ(report.entries_checked, 3u);
  EXPECT_EQ(report.first_bad_sequence, std::nullopt);
}

TEST(ExchangeLogTest, ReopenRecoversTheHeadAndContinuesTheChain) {
  store::MemoryStore store;
  canonical::DigestBytes head;
  {
    auto log = ExchangeLog::Open(&store).value();
    log->Append(Record("a")).value();
    head = log->Append(Record("b")).value().entry_hash;
  }
  auto log = ExchangeLog::Open(&store).value();
  EXPECT_EQ(log->head_sequence(), 2u);
  EXPECT_EQ(log->head_hash(), head);
  EXPECT_EQ(log->Append(Record("c")).value().sequence, 3u);
  EXPECT_EQ(log->Verify().value().entries_checked, 3u);
}

TEST(ExchangeLogTest, VerifyNamesTheFirstEditedEntry) {
  store::MemoryStore store;
  auto log = ExchangeLog::Open(&store).value();
  for (int i = 0; i < 5; ++i) log->Append(Record("p" + std::to_string(i))).value();

  // Someone edits entry 3's purpose directly in the store.
  v1::LogEntry e;
  ASSERT_TRUE(e.ParseFromString(store.Get(LogEntryKey(3)).value().value()));
  e.mutable_record()->set_purpose_id("edited");
  store.Tamper(LogEntryKey(3), e.SerializeAsString());
  auto report = log->Verify().value();
  EXPECT_EQ(report.first_bad_sequence, 3u);
  EXPECT_EQ(report.entries_checked, 2u);
  EXPECT_THAT(report.problem, HasSubstr("record does not match its record_hash"));

  // An editor who also recomputes record_hash and entry_hash breaks the link.
  e.set_record_hash(std::string(32, '\1'));
  store.Tamper(LogEntryKey(3), e.SerializeAsString());
  EXPECT_EQ(log->Verify().value().first_bad_sequence, 3u);

  // A deleted entry is a gap.
  store::WriteBatch del;
  del.Delete(LogEntryKey(2));
  ASSERT_TRUE(store.Write(del, store::Durability::kSynced).ok());
  report = log->Verify().value();
  EXPECT_EQ(report.first_bad_sequence, 2u);
  EXPECT_THAT(report.problem, HasSubstr("missing"));
}

TEST(ExchangeLogTest, VerifyFindsTruncationStrayKeysAndUnknownFields) {
  store::MemoryStore store;
  auto log = ExchangeLog::Open(&store).value();
  for (int i = 0; i < 4; ++i) log->Append(Record("p")).value();
  // Truncation of the tail behind the log's back.
  store::WriteBatch cut;
  cut.Delete(LogEntryKey(4));
  ASSERT_TRUE(store.Write(cut, store::Durability::kSynced).ok());
  auto report = log->Verify().value();
  EXPECT_EQ(report.first_bad_sequence, 4u);
  EXPECT_THAT(report.problem, HasSubstr("ends at 3"));

  // A stray entry under sequence 0.
  store::MemoryStore store2;
  auto log2 = ExchangeLog::Open(&store2).value();
  log2->Append(Record("p")).value();
  store2.Tamper(LogEntryKey(0), store2.Get(LogEntryKey(1)).value().value());
  EXPECT_EQ(log2->Verify().value().first_bad_sequence, 1u);

  // Unknown fields added to a stored record (field 999, varint 1).
  store::MemoryStore store3;
  auto log3 = ExchangeLog::Open(&store3).value();
  log3->Append(Record("p")).value();
  v1::LogEntry e;
  ASSERT_TRUE(e.ParseFromString(store3.Get(LogEntryKey(1)).value().value()));
  std::string record = e.record().SerializeAsString() + std::string("\xb8\x3e\x01", 3);
  ASSERT_TRUE(e.mutable_record()->ParseFromString(record));
  store3.Tamper(LogEntryKey(1), e.SerializeAsString());
  report = log3->Verify().value();
  EXPECT_EQ(report.first_bad_sequence, 1u);
  EXPECT_THAT(report.problem, HasSubstr("fields the log does not know"));
}

// A store whose files are damaged from one key on: scans that reach it and
// reads of it fail with DATA_LOSS, as RocksDB does for a bad table block.
class DamagedStore : public store::MemoryStore {
 public:
  explicit DamagedStore(std::string from) : from_(std::move(from)) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    if (damaged_ && key >= from_ && key < store::PrefixEnd("log/e/")) return Damage();
    return MemoryStore::Get(key);
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view begin, std::string_view end, size_t limit) const override {
    auto rows = MemoryStore::Scan(begin, end, limit);
    if (damaged_ && rows.ok() && !rows->empty() && rows->back().first >= from_) return Damage();
    return rows;
  }
  void Damage(bool on) { damaged_ = on; }

 private:
  static absl::Status Damage() {
    return absl::DataLossError("store: read: Corruption: block checksum mismatch");
  }
  const std::string from_;
  bool damaged_ = false;
};

TEST(ExchangeLogTest, VerifyNamesTheFirstEntryTheStoreCannotRead) {
  DamagedStore store(LogEntryKey(7));
  auto log = ExchangeLog::Open(&store).value();
  for (int i = 0; i < 10; ++i) log->Append(Record("p")).value();
  store.Damage(true);
  auto report = log->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->first_bad_sequence, 7u);
  EXPECT_EQ(report->entries_checked, 6u);  // those before it were checked
  EXPECT_EQ(report->problem_kind, v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY);
  EXPECT_THAT(report->problem, HasSubstr("cannot be read"));
  EXPECT_THAT(report->problem, HasSubstr("checksum mismatch"));
  // A range that ends before the damage verifies.
  ExchangeLog::VerifyOptions before;
  before.to_sequence = 6;
  EXPECT_EQ(log->Verify(before).value().first_bad_sequence, std::nullopt);
}

TEST(ExchangeLogTest, ASecondWriterOnTheSameStoreIsRefused) {
  store::MemoryStore store;
  auto first = ExchangeLog::Open(&store).value();
  auto second = ExchangeLog::Open(&store).value();
  first->Append(Record("a")).value();
  auto clash = second->Append(Record("b"));  // would overwrite entry 1
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(clash.status().message()), HasSubstr("another writer"));
  EXPECT_EQ(first->Verify().value().entries_checked, 1u);
}

TEST(ExchangeLogTest, EditedLastEntryIsRefusedAtOpen) {
  store::MemoryStore store;
  {
    auto log = ExchangeLog::Open(&store).value();
    log->Append(Record("a")).value();
    log->Append(Record("b")).value();
  }
  v1::LogEntry e;
  ASSERT_TRUE(e.ParseFromString(store.Get(LogEntryKey(2)).value().value()));
  e.mutable_record()->set_purpose_id("edited");
  store.Tamper(LogEntryKey(2), e.SerializeAsString());
  auto reopened = ExchangeLog::Open(&store);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("entry 2"));
}

TEST(ExchangeLogTest, FailedWriteStopsTheLogAndAppendsNothing) {
  store::MemoryStore base;
  store::FaultyStore store(&base);
  auto log = ExchangeLog::Open(&store).value();
  log->Append(Record("a")).value();
  const auto head = log->head_hash();

  store.FailNextWrites(1);
  auto failed = log->Append(Record("b"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("not performed"));
  EXPECT_FALSE(log->healthy());
  EXPECT_EQ(log->head_sequence(), 1u);
  EXPECT_EQ(log->head_hash(), head);

  // The store works again, but the log stays closed until reopened.
  auto refused = log->Append(Record("c"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(base.Scan("log/", store::PrefixEnd("log/"), 0).value().size(), 1u);

  auto reopened = ExchangeLog::Open(&store).value();
  EXPECT_TRUE(reopened->healthy());
  EXPECT_EQ(reopened->Append(Record("d")).value().sequence, 2u);
  EXPECT_EQ(reopened->Verify().value().entries_checked, 2u);
}

TEST(ExchangeLogTest, UnencodableRecordIsRefusedWithoutHarm) {
  store::MemoryStore store;
  auto log = ExchangeLog::Open(&store).value();
  v1::LogRecord bad = Record("a");
  bad.mutable_recorded_at()->set_nanos(1);  // not a whole millisecond
  auto s = log->Append(bad);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(log->healthy());
  EXPECT_EQ(log->Append(Record("b")).value().sequence, 1u);
}

// A store whose synced writes take a while, like a disk's fsync.
class SlowStore : public store::MemoryStore {
 public:
  absl::Status Write(const store::WriteBatch& batch, store::Durability d) override {
    ++writes;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return MemoryStore::Write(batch, d);
  }
  std::atomic<int> writes{0};
};

TEST(ExchangeLogTest, ConcurrentAppendsAreGroupedGapFreeAndVerify) {
  SlowStore store;
  auto log = ExchangeLog::Open(&store).value();
  constexpr int kThreads = 64, kPerThread = 20;
  std::vector<std::vector<uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        got[t].push_back(log->Append(Record("t" + std::to_string(t))).value().sequence);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (const auto& v : got) {
    for (size_t i = 1; i < v.size(); ++i) EXPECT_LT(v[i - 1], v[i]);  // per-thread order kept
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.rbegin(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(log->Verify().value().entries_checked, static_cast<uint64_t>(kThreads * kPerThread));
  // 1280 appends in far fewer synced writes.
  EXPECT_LT(store.writes.load(), kThreads * kPerThread / 4);
}

TEST(ExchangeLogTest, WorksOnRocksDbAcrossReopen) {
  const ::schakel::testing::TempDir temp("schakel-log");
  const std::string& dir = temp.path();
  {
    auto db = store::RocksDbStore::Open(dir + "/db").value();
    auto log = ExchangeLog::Open(db.get()).value();
    for (int i = 0; i < 10; ++i) log->Append(Record("p")).value();
  }
  {
    auto db = store::RocksDbStore::Open(dir + "/db").value();
    auto log = ExchangeLog::Open(db.get()).value();
    EXPECT_EQ(log->head_sequence(), 10u);
    EXPECT_EQ(log->Verify().value().entries_checked, 10u);
  }
}

}  // namespace
}  // namespace schakel::gateway
