// Exchange-log append throughput with synced writes on a real RocksDB.
//
//   build-bench/bench/schakel_log_bench --benchmark_min_time=3
//
// Baseline (same run, same disk): one writer doing one synced RocksDB write
// per entry. Measured: ExchangeLog::Append from 64 concurrent exchanges,
// grouped into shared synced writes. Goal (issue 3): >= 5x the baseline's
// entries per second, and the chain verifies afterwards.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "gateway/exchange_log.h"
#include "store/rocksdb_store.h"

namespace schakel::gateway {
namespace {

std::string TempDir() {
  const char* base = std::getenv("SCHAKEL_BENCH_DIR");
  std::string tmpl = (std::filesystem::path(base ? base : std::filesystem::temp_directory_path().string()) /
                      "schakel-log-bench-XXXXXX")
                         .string();
  return ::mkdtemp(tmpl.data());
}

v1::LogRecord TypicalRecord(int i) {
  v1::LogRecord r;
  r.set_kind(v1::RECORD_KIND_EXCHANGE_REQUESTED);
  r.mutable_recorded_at()->set_seconds(1763900000 + i);
  r.set_policy_version("convenant-2026-11");
  r.set_purpose_id("riec-ondermijning");
  r.mutable_lawful_basis()->set_reference("Wpg art. 20");
  r.mutable_lawful_basis()->set_text("Verstrekking van politiegegevens aan het RIEC ten behoeve van de bestuurlijke aanpak van ondermijning");
  r.set_case_id("RIEC-2026-0042");
  r.set_exchange_id(std::string(16, static_cast<char>(i)));
  r.set_detail("match: 3 subjects, 4 partners");
  return r;
}

void BM_BaselineOneSyncedWritePerEntry(benchmark::State& state) {
  const std::string dir = TempDir();
  auto db = store::RocksDbStore::Open(dir + "/db").value();
  const std::string value = TypicalRecord(0).SerializeAsString() + std::string(100, 'h');
  uint64_t seq = 0;
  for (auto _ : state) {
    store::WriteBatch b;
    b.Put(LogEntryKey(++seq), value);
    if (!db->Write(b, store::Durability::kSynced).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  db.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_BaselineOneSyncedWritePerEntry)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Each iteration: `threads` concurrent exchanges append 8 entries each.
void BM_ExchangeLogConcurrentAppend(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int kPerThread = 8;
  const std::string dir = TempDir();
  auto db = store::RocksDbStore::Open(dir + "/db").value();
  auto log = ExchangeLog::Open(db.get()).value();
  const v1::LogRecord record = TypicalRecord(1);
  for (auto _ : state) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = 0; i < kPerThread; ++i) {
          if (!log->Append(record).ok()) std::abort();
        }
      });
    }
    for (auto& w : workers) w.join();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * threads * kPerThread);
  auto report = log->Verify().value();
  state.counters["chain_ok"] = report.first_bad_sequence ? 0 : 1;
  state.counters["entries"] = static_cast<double>(report.entries_checked);
  log.reset();
  db.reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ExchangeLogConcurrentAppend)->Arg(1)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace schakel::gateway

BENCHMARK_MAIN();
