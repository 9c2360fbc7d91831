// The production KvStore: one RocksDB database in a data directory.
//
// Open creates the directory (mode 0700) and the database if missing.
// Synced writes set rocksdb::WriteOptions::sync (the WAL is fsynced before
// Write returns). Paranoid checks are on: a corrupt file makes Open or a
// read fail with DATA_LOSS rather than return wrong data.
//
// Lost writes: RocksDB replays its write-ahead log (WAL) at Open. A crash
// or power loss may leave the WAL's last record torn; that record was never
// acknowledged (a synced write returns only after its record is on disk),
// so it is dropped (kTolerateCorruptedTailRecords). Any other damage to the
// WAL (a record whose checksum fails with more data after it) makes Open
// fail with DATA_LOSS instead of silently dropping everything after it, as
// RocksDB's default kPointInTimeRecovery would.
//
// A WAL (or MANIFEST) cut short cannot be told from a torn tail by its
// bytes. So the store keeps a record of what was durable outside RocksDB's
// files: the file SCHAKEL-DURABLE in the directory holds RocksDB's latest
// sequence number, and the live MANIFEST's name and synced size, as of the
// last RecordDurable() (the store calls it after opening and when closing;
// the gateway once a second). Open refuses (DATA_LOSS) a MANIFEST shorter
// than recorded, before RocksDB opens it (RocksDB would delete the table
// files a MANIFEST cut short no longer lists), and a database that
// recovers to an earlier sequence number: files of the store were damaged
// or lost. Writes after the last record are covered only by the WAL's
// checksums. See docs/faults.md.
//
// Thread safety: safe for concurrent use (RocksDB's own guarantees).
#ifndef SCHAKEL_STORE_ROCKSDB_STORE_H_
#define SCHAKEL_STORE_ROCKSDB_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "store/kv_store.h"

namespace rocksdb {
class DB;
class Env;
}

namespace schakel::store {

class RocksDbStore : public KvStore {
 public:
  // Errors: FAILED_PRECONDITION when the directory cannot be created or is
  // locked by another process; DATA_LOSS when RocksDB reports corruption;
  // INTERNAL otherwise. Messages name the directory.
  static absl::StatusOr<std::unique_ptr<RocksDbStore>> Open(const std::string& directory);
  struct OpenOptions {
    // Tests: the Env (and its file system) RocksDB uses instead of the
    // default one, e.g. a simulated crash (tests/support/crash_test_fs.h).
    std::shared_ptr<rocksdb::Env> env = nullptr;
    // Memtable size in bytes (0: RocksDB's default, 64 MB). Small makes
    // flushes, table files and MANIFEST updates frequent (tests), and keeps
    // the resident memory of a store with a steady trickle of small writes
    // close to its live data (kSmallWriteBuffer). A bulk writer (a node's
    // import) wants the default: with 4 MB, importing 1 M signals cost
    // 1.43 x the crypto work instead of 1.27 x (docs/performance.md).
    size_t write_buffer_size = 0;
  };
  // 4 MB (RocksDB's and LevelDB's old default): the gateway's store, whose
  // writes are log entries and index batches. At 64 MB its memtable took
  // tens of minutes to fill under steady load, and the process's resident
  // memory rose by that much before dropping at a flush.
  static constexpr size_t kSmallWriteBuffer = 4 << 20;

  static absl::StatusOr<std::unique_ptr<RocksDbStore>> Open(const std::string& directory,
                                                            const OpenOptions& options);
  // Records RocksDB's latest sequence number in SCHAKEL-DURABLE after
  // syncing the WAL up to it, with the live MANIFEST's name and synced size
  // (see the top of this file); does nothing when neither changed since the
  // last record. Errors: UNAVAILABLE when the sync or the file write fails.
  absl::Status RecordDurable();

  // Memory RocksDB holds by design, in bytes. Each part is bounded by the
  // store's options, not by the data stored: the memtables (at most two of
  // write_buffer_size before a flush frees one), the block cache
  // (kBlockCacheBytes) and the open tables' indexes and filters. A process's
  // resident memory less these is what a leak would show in
  // (tests/integration/faults_test.cc, SoakTest). Parts RocksDB cannot report
  // read as 0.
  struct Memory {
    uint64_t memtables = 0;
    uint64_t block_cache = 0;
    uint64_t table_readers = 0;
  };
  Memory MemoryUsage() const;

  ~RocksDbStore() override;

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      std::span<const std::string> keys) const override;
  absl::Status Write(const WriteBatch& batch, Durability durability) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view begin, std::string_view end, size_t limit) const override;
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Last(
      std::string_view begin, std::string_view end) const override;

 private:
  RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::string directory,
               std::shared_ptr<rocksdb::Env> env, uint64_t recorded);
  // The live MANIFEST's name and the size RocksDB has synced of it.
  absl::StatusOr<std::pair<std::string, uint64_t>> Manifest() const;

  std::shared_ptr<rocksdb::Env> env_;  // outlives db_ (declared first)
  std::unique_ptr<rocksdb::DB> db_;
  const std::string directory_;
  std::mutex record_mu_;
  // What SCHAKEL-DURABLE holds; guarded by record_mu_.
  uint64_t recorded_;
  std::string recorded_manifest_;
  uint64_t recorded_manifest_size_ = 0;
};

}  // namespace schakel::store

#endif  // SCHAKEL_STORE_ROCKSDB_STORE_H_
