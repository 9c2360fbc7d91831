// RocksDbStore after damage and power loss: what Open accepts and refuses
// (store/rocksdb_store.h, "Lost writes").
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/strings.h"
#include "store/rocksdb_store.h"
#include "tests/support/crash_test_fs.h"
#include "tests/support/test_support.h"

namespace schakel::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using schakel::testing::CrashTestFileSystem;

std::string Key(int i) { return "k/" + std::to_string(1000 + i); }

void WriteKeys(RocksDbStore& store, int from, int to, Durability durability) {
  for (int i = from; i < to; ++i) {
    WriteBatch b;
    b.Put(Key(i), std::string(100, static_cast<char>('a' + i % 26)));
    ASSERT_TRUE(store.Write(b, durability).ok());
  }
}

// The names of the files in `dir` that `match` takes, sorted.
std::vector<std::string> FilesWhere(const std::string& dir,
                                    const std::function<bool(const fs::path&)>& match) {
  std::vector<std::string> found;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (match(f.path())) found.push_back(f.path().filename().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::vector<std::string> FilesWith(const std::string& dir, const std::string& extension) {
  return FilesWhere(dir, [&](const fs::path& p) { return p.extension() == extension; });
}

// The path of the one file in `dir` that `match` takes ("" if none).
std::string OnlyFileWhere(const std::string& dir, const std::function<bool(const fs::path&)>& match) {
  const std::vector<std::string> found = FilesWhere(dir, match);
  EXPECT_LE(found.size(), 1u) << "more than one: " << found.size();
  return found.empty() ? "" : dir + "/" + found.front();
}

std::string OnlyFileWith(const std::string& dir, const std::string& extension) {
  return OnlyFileWhere(dir, [&](const fs::path& p) { return p.extension() == extension; });
}

std::string OnlyManifest(const std::string& dir) {
  return OnlyFileWhere(dir, [](const fs::path& p) { return p.filename().string().starts_with("MANIFEST-"); });
}

TEST(RocksDbDurabilityTest, AWriteAheadLogCutShortIsRefusedAtOpen) {
  schakel::testing::TempDir dir;
  const std::string path = dir / "db";
  {
    auto store = RocksDbStore::Open(path).value();
    WriteKeys(*store, 0, 100, Durability::kSynced);
  }  // closed: SCHAKEL-DURABLE records the last write
  ASSERT_TRUE(fs::exists(path + "/SCHAKEL-DURABLE"));
  const std::string wal = OnlyFileWith(path, ".log");
  ASSERT_NE(wal, "");
  fs::resize_file(wal, fs::file_size(wal) / 2);  // looks like a torn tail to RocksDB
  auto reopened = RocksDbStore::Open(path);
  ASSERT_FALSE(reopened.ok()) << "a log cut short opened as if nothing was lost";
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(reopened.status().message(), HasSubstr("recovers only up to"));
  EXPECT_THAT(reopened.status().message(), HasSubstr("were durable"));
}

TEST(RocksDbDurabilityTest, ADamagedDurabilityRecordIsRefused) {
  schakel::testing::TempDir dir;
  const std::string path = dir / "db";
  {
    auto store = RocksDbStore::Open(path).value();
    WriteKeys(*store, 0, 10, Durability::kSynced);
  }
  std::string text;
  {
    std::ifstream in(path + "/SCHAKEL-DURABLE");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const size_t digit = text.find_last_of("0123456789");
  ASSERT_NE(digit, std::string::npos);
  text[digit] = text[digit] == '9' ? '8' : static_cast<char>(text[digit] + 1);  // one copy changed
  schakel::testing::WriteFile(path + "/SCHAKEL-DURABLE", text);
  auto reopened = RocksDbStore::Open(path);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(reopened.status().message(), HasSubstr("SCHAKEL-DURABLE"));
  EXPECT_THAT(reopened.status().message(), HasSubstr("damaged"));
}

TEST(RocksDbDurabilityTest, AFlippedByteInsideTheWriteAheadLogIsRefusedNotSkipped) {
  schakel::testing::TempDir dir;
  const std::string path = dir / "db";
  {
    auto store = RocksDbStore::Open(path).value();
    WriteKeys(*store, 0, 200, Durability::kSynced);
  }
  fs::remove(path + "/SCHAKEL-DURABLE");  // the WAL's own checksums alone
  const std::string wal = OnlyFileWith(path, ".log");
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = static_cast<std::streamoff>(fs::file_size(wal) / 2);
    f.seekg(middle);
    char byte = 0;
    f.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x40);
    f.seekp(middle);
    f.write(&byte, 1);
  }
  // RocksDB's default (point in time) would open with the second half gone.
  auto reopened = RocksDbStore::Open(path);
  ASSERT_FALSE(reopened.ok()) << "the log after the damage was silently dropped";
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
}

TEST(RocksDbDurabilityTest, ATornTailAfterAPowerLossOpensWithEverySyncedWrite) {
  schakel::testing::TempDir dir;
  const std::string path = dir / "db";
  auto disk = std::make_shared<CrashTestFileSystem>();
  const RocksDbStore::OpenOptions options{.env = CrashTestFileSystem::EnvFor(disk)};
  std::mt19937_64 rng(1);
  for (int round = 0; round < 10; ++round) {
    auto store = RocksDbStore::Open(path, options);
    ASSERT_TRUE(store.ok()) << "round " << round << ": " << store.status();
    for (int i = 0; i < 50 * round; ++i) {
      auto got = (*store)->Get(Key(i));
      ASSERT_TRUE(got.ok() && got->has_value()) << "round " << round << ": synced write " << i << " lost";
    }
    WriteKeys(**store, 50 * round, 50 * (round + 1), Durability::kSynced);
    ASSERT_TRUE((*store)->RecordDurable().ok());
    WriteKeys(**store, 1000, 1000 + 40, Durability::kBuffered);  // unsynced: dropped or torn
    disk->Crash();
    store->reset();
    disk->DropUnsyncedData(rng, /*torn_tails=*/true);
  }
  EXPECT_GT(disk->stats().files_cut, 0u);
}


// RocksDB takes a MANIFEST cut short as the whole list of table files and
// deletes the tables it no longer names (docs/faults.md); the durability
// record's MANIFEST size makes Open refuse before that, so the table files
// are still there to restore from.
TEST(RocksDbDurabilityTest, AManifestCutShortIsRefusedBeforeRocksDbDropsTables) {
  schakel::testing::TempDir dir;
  const std::string path = dir / "db";
  const RocksDbStore::OpenOptions small{.write_buffer_size = 64 << 10};
  {
    auto store = RocksDbStore::Open(path, small).value();
    WriteKeys(*store, 0, 3000, Durability::kBuffered);  // ~300 KB: several flushes
    WriteKeys(*store, 3000, 3001, Durability::kSynced);
  }
  const std::vector<std::string> tables = FilesWith(path, ".sst");
  ASSERT_GE(tables.size(), 2u) << "the test needs flushed table files";
  const std::string manifest = OnlyManifest(path);
  ASSERT_NE(manifest, "");
  const uintmax_t size = fs::file_size(manifest);
  {
    std::ifstream in(path + "/SCHAKEL-DURABLE");
    const std::string text(std::istreambuf_iterator<char>(in), {});
    EXPECT_THAT(text, HasSubstr(StrCat(fs::path(manifest).filename().string(), " ", size, "\n")))
        << "the record does not hold the MANIFEST's size at close";
  }
  fs::resize_file(manifest, size - 40);  // the last version edits lost

  auto reopened = RocksDbStore::Open(path, small);
  ASSERT_FALSE(reopened.ok()) << "a MANIFEST cut short opened";
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(reopened.status().message(), HasSubstr(fs::path(manifest).filename().string()));
  EXPECT_THAT(reopened.status().message(),
              HasSubstr(StrCat("had ", size, " bytes durable but has ", size - 40)));
  EXPECT_THAT(reopened.status().message(), HasSubstr("Restore the directory from a backup"));
  EXPECT_EQ(FilesWith(path, ".sst"), tables) << "table files were deleted";

  fs::resize_file(manifest, size);  // the lost bytes back (as zeros): RocksDB refuses them itself
  EXPECT_FALSE(RocksDbStore::Open(path, small).ok());
}

TEST(RocksDbDurabilityTest, ReopeningRecordsTheNewManifestAndKeepsEveryWrite) {
  schakel::testing::TempDir dir;
  const std::string path = dir / "db";
  const RocksDbStore::OpenOptions small{.write_buffer_size = 64 << 10};
  for (int round = 0; round < 4; ++round) {
    auto store = RocksDbStore::Open(path, small);
    ASSERT_TRUE(store.ok()) << "round " << round << ": " << store.status();
    // Each open starts a new MANIFEST; the record names it at once.
    std::string text;
    {
      std::ifstream in(path + "/SCHAKEL-DURABLE");
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    EXPECT_THAT(text, HasSubstr("schakel store durable v2"));
    EXPECT_THAT(text, HasSubstr(fs::path(OnlyManifest(path)).filename().string()));
    for (int i = 0; i < 1000 * round; i += 97) {
      auto got = (*store)->Get(Key(i));
      ASSERT_TRUE(got.ok() && got->has_value()) << "round " << round << ": write " << i << " lost";
    }
    WriteKeys(**store, 1000 * round, 1000 * (round + 1), Durability::kSynced);
  }
}

// A record written by an earlier version (the sequence number only) is
// still read, and replaced by the current one.
TEST(RocksDbDurabilityTest, AVersionOneRecordIsReadAndReplaced) {
  schakel::testing::TempDir dir;
  const std::string path = dir / "db";
  {
    auto store = RocksDbStore::Open(path).value();
    WriteKeys(*store, 0, 10, Durability::kSynced);
  }
  schakel::testing::WriteFile(path + "/SCHAKEL-DURABLE",
                              "schakel store durable v1\nsequence 10\nsequence 10\n");
  {
    auto store = RocksDbStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
  }
  schakel::testing::WriteFile(path + "/SCHAKEL-DURABLE",
                              "schakel store durable v1\nsequence 11000\nsequence 11000\n");
  auto ahead = RocksDbStore::Open(path);
  ASSERT_FALSE(ahead.ok());
  EXPECT_THAT(ahead.status().message(), HasSubstr("writes up to RocksDB sequence number 11000"));
}

}  // namespace
}  // namespace schakel::store
