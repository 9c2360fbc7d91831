// Damaged store files under the exchange log: a byte flipped or a file cut
// short at random places in the RocksDB directory of a stopped gateway.
// Each time the gateway's open path (the store, then the log) must refuse,
// or Verify must name the first bad entry, and every entry the store still
// returns must be the one written: never a silent wrong answer.
//
// Short form: 100 damaged copies (30 under AddressSanitizer). Long form:
//   ./tests/long.sh crash   (SCHAKEL_CORRUPTION_TRIALS=2000)
// SCHAKEL_CRASH_SEED=<n> repeats a run (the seed is printed).
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gateway/exchange_log.h"
#include "store/rocksdb_store.h"
#include "tests/support/crash_test_fs.h"
#include "tests/support/store_damage.h"
#include "tests/support/test_scale.h"
#include "tests/support/test_support.h"

namespace schakel::gateway {
namespace {

namespace fs = std::filesystem;
using schakel::testing::CrashTestFileSystem;

v1::LogRecord Record(int n) {
  v1::LogRecord r;
  r.set_purpose_id("purpose-" + std::to_string(n % 7));
  r.set_policy_version("corruption-1");
  r.set_exchange_id(std::string(16, static_cast<char>('a' + n % 26)));
  r.mutable_recorded_at()->set_seconds(1763900000 + n);
  return r;
}

// What happened to one damaged copy.
enum class Outcome { kStoreRefused, kLogRefused, kEntryNamed, kIntact };

class LogCorruptionTest : public ::testing::Test {
 protected:
  // A log of 2,000 entries: most in table files (small memtables flush
  // often), the last ones only in the live WAL; closed like a stopped
  // gateway (the durability record written).
  static void SetUpTestSuite() {
    dir_ = new schakel::testing::TempDir("schakel-corruption");
    originals_ = new std::map<uint64_t, std::string>();
    const std::string path = *dir_ / "db";
    {
      auto store = store::RocksDbStore::Open(path, {.env = env(), .write_buffer_size = 64 << 10});
      ASSERT_TRUE(store.ok()) << store.status();
      auto log = ExchangeLog::Open(store->get()).value();
      std::atomic<int> next{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
          for (int n = next++; n < kEntries - kInWal; n = next++) ASSERT_TRUE(log->Append(Record(n)).ok());
        });
      }
      for (std::thread& t : threads) t.join();
    }
    {
      // Reopening flushes the WAL into a table file; what follows stays in
      // the new WAL (well under a memtable).
      auto store = store::RocksDbStore::Open(path, {.env = env()}).value();
      auto log = ExchangeLog::Open(store.get()).value();
      for (int n = kEntries - kInWal; n < kEntries; ++n) ASSERT_TRUE(log->Append(Record(n)).ok());
      for (uint64_t sequence = 1; sequence <= log->head_sequence(); ++sequence) {
        auto bytes = store->Get(LogEntryKey(sequence));
        ASSERT_TRUE(bytes.ok() && bytes->has_value()) << sequence;
        (*originals_)[sequence] = **bytes;
      }
    }
    ASSERT_EQ(originals_->size(), static_cast<size_t>(kEntries));
  }
  static void TearDownTestSuite() {
    delete originals_;
    delete dir_;
  }

  // The file system: the real one, with syncs simulated (page-cache speed;
  // the files and RocksDB's handling of them are the same).
  static std::shared_ptr<rocksdb::Env> env() {
    static const auto* const kEnv =
        new std::shared_ptr<rocksdb::Env>(CrashTestFileSystem::EnvFor(std::make_shared<CrashTestFileSystem>()));
    return *kEnv;
  }

  // Opens a damaged copy as the gateway does and checks what it says.
  static Outcome Check(const std::string& path, const std::string& what) {
    SCOPED_TRACE(what);
    auto store = store::RocksDbStore::Open(path, {.env = env()});
    if (!store.ok()) {
      EXPECT_NE(store.status().message(), "") << "refused without saying why";
      return Outcome::kStoreRefused;
    }
    auto log = ExchangeLog::Open(store->get());
    // Every entry the store still returns is the one written.
    for (const auto& [sequence, bytes] : *originals_) {
      auto got = (*store)->Get(LogEntryKey(sequence));
      if (got.ok() && got->has_value()) {
        EXPECT_EQ(**got, bytes) << "entry " << sequence << " silently changed";
      }
    }
    if (!log.ok()) return Outcome::kLogRefused;
    auto report = (*log)->Verify();
    EXPECT_TRUE(report.ok()) << "Verify failed instead of naming the entry: " << report.status();
    if (!report.ok()) return Outcome::kEntryNamed;
    if (report->first_bad_sequence) {
      EXPECT_GE(*report->first_bad_sequence, 1u);
      EXPECT_LE(*report->first_bad_sequence, static_cast<uint64_t>(kEntries) + 1);
      EXPECT_EQ(report->entries_checked + 1, *report->first_bad_sequence) << report->problem;
      return Outcome::kEntryNamed;
    }
    // Verified: then it must be the whole log, unchanged.
    EXPECT_EQ(report->entries_checked, static_cast<uint64_t>(kEntries))
        << "the log verifies but is shorter: a silent wrong answer";
    EXPECT_EQ((*log)->head_sequence(), static_cast<uint64_t>(kEntries));
    return Outcome::kIntact;
  }

  static constexpr int kEntries = 2000;
  static constexpr int kInWal = 300;
  static schakel::testing::TempDir* dir_;
  static std::map<uint64_t, std::string>* originals_;
};

schakel::testing::TempDir* LogCorruptionTest::dir_ = nullptr;
std::map<uint64_t, std::string>* LogCorruptionTest::originals_ = nullptr;

TEST_F(LogCorruptionTest, AFlippedByteOrCutFileIsRefusedOrNamedNeverSilent) {
  const int trials = schakel::testing::ScaledCount("SCHAKEL_CORRUPTION_TRIALS", 100, 30);
  const uint64_t seed = schakel::testing::TestSeed("SCHAKEL_CRASH_SEED");
  std::cout << "LogCorruptionTest: " << trials << " trials, SCHAKEL_CRASH_SEED=" << seed << "\n";
  std::mt19937_64 rng(seed);
  const std::string original = *dir_ / "db";
  std::vector<std::string> files;
  bool has_table = false, has_wal = false;
  for (const auto& f : fs::directory_iterator(original)) {
    if (!f.is_regular_file() || f.file_size() == 0) continue;
    files.push_back(f.path().filename().string());
    has_table |= f.path().extension() == ".sst";
    has_wal |= f.path().extension() == ".log";
  }
  ASSERT_TRUE(has_table && has_wal) << "the log should be in table files and a live WAL";

  std::map<Outcome, int> outcomes;
  std::map<std::string, std::map<Outcome, int>> by_kind;  // file kind -> outcomes
  for (int trial = 0; trial < trials; ++trial) {
    const std::string copy = *dir_ / ("trial-" + std::to_string(trial));
    fs::copy(original, copy, fs::copy_options::recursive);
    const std::string name = files[rng() % files.size()];
    const std::string damage = schakel::testing::DamageFile(copy + "/" + name, rng);
    ASSERT_NE(damage, "") << "cannot damage " << name;
    const std::string what = "seed " + std::to_string(seed) + " trial " + std::to_string(trial) + ": " + damage;
    const Outcome outcome = Check(copy, what);
    ++outcomes[outcome];
    // 000012.sst -> .sst; MANIFEST-000005 -> MANIFEST; LOG.old.1234 -> LOG
    const std::string kind = std::isdigit(static_cast<unsigned char>(name[0]))
                                 ? fs::path(name).extension().string()
                                 : name.substr(0, name.find_first_of(".-"));
    ++by_kind[kind][outcome];
    fs::remove_all(copy);
    if (HasFailure()) {
      ADD_FAILURE() << what;
      break;
    }
  }
  auto count = [](const std::map<Outcome, int>& m, Outcome o) {
    auto it = m.find(o);
    return it == m.end() ? 0 : it->second;
  };
  std::cout << "store refused " << count(outcomes, Outcome::kStoreRefused) << ", log refused "
            << count(outcomes, Outcome::kLogRefused) << ", entry named "
            << count(outcomes, Outcome::kEntryNamed) << ", intact " << count(outcomes, Outcome::kIntact)
            << "\n";
  for (const auto& [kind, counts] : by_kind) {
    std::cout << "  " << kind << ": refused " << count(counts, Outcome::kStoreRefused) + count(counts, Outcome::kLogRefused)
              << ", named " << count(counts, Outcome::kEntryNamed) << ", intact "
              << count(counts, Outcome::kIntact) << "\n";
  }
}

}  // namespace
}  // namespace schakel::gateway
