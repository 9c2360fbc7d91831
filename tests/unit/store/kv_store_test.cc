// One contract, every implementation: the same tests run against the
// in-memory store and RocksDB.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>

#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"
#include "tests/support/test_support.h"

namespace schakel::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

using ::schakel::testing::TempDir;

struct Impl {
  const char* name;
  std::function<std::unique_ptr<KvStore>(const std::string& dir)> open;
};

class KvStoreTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override { store_ = GetParam().open(dir_.path() + "/db"); }
  TempDir dir_;
  std::unique_ptr<KvStore> store_;
};

TEST_P(KvStoreTest, GetPutDelete) {
  EXPECT_EQ(store_->Get("a").value(), std::nullopt);
  WriteBatch b;
  b.Put("a", "1");
  b.Put("b", "2");
  b.Delete("b");
  ASSERT_TRUE(store_->Write(b, Durability::kSynced).ok());
  EXPECT_EQ(store_->Get("a").value(), "1");
  EXPECT_EQ(store_->Get("b").value(), std::nullopt);
}

TEST_P(KvStoreTest, DeleteRangeRemovesExactlyTheRange) {
  WriteBatch b;
  for (const char* k : {"t/a/1", "t/a/2", "t/b/1", "t/c"}) b.Put(k, "x");
  ASSERT_TRUE(store_->Write(b, Durability::kSynced).ok());
  WriteBatch d;
  d.DeleteRange("t/a/", PrefixEnd("t/a/"));
  d.Put("t/a/3", "new");  // later ops in the same batch still apply
  ASSERT_TRUE(store_->Write(d, Durability::kSynced).ok());
  EXPECT_THAT(store_->Scan("t/", PrefixEnd("t/")).value(),
              ElementsAre(Pair("t/a/3", "new"), Pair("t/b/1", "x"), Pair("t/c", "x")));
}

TEST_P(KvStoreTest, ScanAndLastRespectRangesAndLimits) {
  WriteBatch b;
  for (const char* k : {"log/1", "log/2", "log/3", "sig/1", "lo"}) b.Put(k, k);
  ASSERT_TRUE(store_->Write(b, Durability::kBuffered).ok());
  EXPECT_THAT(store_->Scan("log/", PrefixEnd("log/")).value(),
              ElementsAre(Pair("log/1", "log/1"), Pair("log/2", "log/2"), Pair("log/3", "log/3")));
  EXPECT_EQ(store_->Scan("log/", PrefixEnd("log/"), 2).value().size(), 2u);
  EXPECT_THAT(store_->Last("log/", PrefixEnd("log/")).value(), ::testing::Optional(Pair("log/3", "log/3")));
  EXPECT_EQ(store_->Last("x/", PrefixEnd("x/")).value(), std::nullopt);
  EXPECT_EQ(store_->Last("a", "lo").value(), std::nullopt);
  EXPECT_THAT(store_->Last("", "").value(), ::testing::Optional(Pair("sig/1", "sig/1")));
}

TEST_P(KvStoreTest, BinaryKeysOrderNumerically) {
  WriteBatch b;
  for (uint64_t v : {256u, 1u, 255u, 65536u}) b.Put("n/" + EncodeKeyU64(v), "");
  ASSERT_TRUE(store_->Write(b, Durability::kBuffered).ok());
  std::vector<uint64_t> got;
  const auto rows = store_->Scan("n/", PrefixEnd("n/")).value();
  for (const auto& [k, v] : rows) {
    got.push_back(DecodeKeyU64(std::string_view(k).substr(2)).value());
  }
  EXPECT_THAT(got, ElementsAre(1u, 255u, 256u, 65536u));
}

TEST_P(KvStoreTest, FailedWriteAppliesNothing) {
  FaultyStore faulty(store_.get());
  WriteBatch b;
  b.Put("x", "1");
  b.Put("y", "2");
  faulty.FailNextWrites(1);
  auto s = faulty.Write(b, Durability::kSynced);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->Get("x").value(), std::nullopt);
  EXPECT_EQ(store_->Get("y").value(), std::nullopt);
  EXPECT_TRUE(faulty.Write(b, Durability::kSynced).ok());
  EXPECT_EQ(store_->Get("y").value(), "2");
  EXPECT_EQ(faulty.failed_writes(), 1);
}

INSTANTIATE_TEST_SUITE_P(
    AllStores, KvStoreTest,
    ::testing::Values(Impl{"memory", [](const std::string&) -> std::unique_ptr<KvStore> {
                             return std::make_unique<MemoryStore>();
                           }},
                      Impl{"rocksdb", [](const std::string& dir) -> std::unique_ptr<KvStore> {
                             return RocksDbStore::Open(dir).value();
                           }}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(RocksDbStoreTest, DataSurvivesReopen) {
  TempDir dir;
  {
    auto db = RocksDbStore::Open(dir.path() + "/db").value();
    WriteBatch b;
    b.Put("k", "v");
    ASSERT_TRUE(db->Write(b, Durability::kSynced).ok());
  }
  auto db = RocksDbStore::Open(dir.path() + "/db").value();
  EXPECT_EQ(db->Get("k").value(), "v");
}

TEST(RocksDbStoreTest, SecondOpenOfTheSameDirectoryIsRefused) {
  TempDir dir;
  auto first = RocksDbStore::Open(dir.path() + "/db").value();
  auto second = RocksDbStore::Open(dir.path() + "/db");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use by another process"));
}

TEST(RocksDbStoreTest, UncreatableDirectoryIsNamed) {
  TempDir dir;
  const std::string bad = dir.path() + "/missing-parent/db";
  auto s = RocksDbStore::Open(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(bad));
}

TEST(KeyCodingTest, PrefixEndAndU64) {
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(DecodeKeyU64(EncodeKeyU64(0x0102030405060708)).value(), 0x0102030405060708u);
  EXPECT_EQ(DecodeKeyU64("abc").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace schakel::store
