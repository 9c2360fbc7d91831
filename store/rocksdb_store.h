// The production KvStore: one RocksDB database in a data directory.
//
// Open creates the directory (mode 0700) and the database if missing.
// Synced writes set rocksdb::WriteOptions::sync (the WAL is fsynced before
// Write returns). Paranoid checks are on: a corrupt file makes Open or a
// read fail with DATA_LOSS rather than return wrong data.
//
// Thread safety: safe for concurrent use (RocksDB's own guarantees).
#ifndef SCHAKEL_STORE_ROCKSDB_STORE_H_
#define SCHAKEL_STORE_ROCKSDB_STORE_H_

#include <memory>
#include <string>

#include "store/kv_store.h"

namespace rocksdb {
class DB;
}

namespace schakel::store {

class RocksDbStore : public KvStore {
 public:
  // Errors: FAILED_PRECONDITION when the directory cannot be created or is
  // locked by another process; DATA_LOSS when RocksDB reports corruption;
  // INTERNAL otherwise. Messages name the directory.
  static absl::StatusOr<std::unique_ptr<RocksDbStore>> Open(const std::string& directory);
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
  RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::string directory);
  std::unique_ptr<rocksdb::DB> db_;
  const std::string directory_;
};

}  // namespace schakel::store

#endif  // SCHAKEL_STORE_ROCKSDB_STORE_H_
