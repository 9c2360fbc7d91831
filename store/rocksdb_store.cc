#include "store/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/strings.h"

namespace schakel::store {
namespace {

constexpr size_t kBlockCacheBytes = 64 << 20;

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what, std::string_view dir) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = StrCat("store ", dir, ": ", what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsIOError() || s.IsNoSpace()) return absl::UnavailableError(message);
  if (s.IsBusy() || s.IsTryAgain()) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

}  // namespace

RocksDbStore::RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::string directory)
    : db_(std::move(db)), directory_(std::move(directory)) {}

RocksDbStore::~RocksDbStore() {
  if (db_) db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const std::string& directory) {
  if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        StrCat("store ", directory, ": cannot create the directory: ", std::strerror(errno)));
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  options.IncreaseParallelism(2);
  // Most reads are point lookups of keys that do not exist yet (a new
  // signal's id, a new tag's reference count): a Bloom filter per table
  // (about 1.25 bytes per key, held in memory with the table's index, not
  // in the block cache where data blocks would evict it) answers those
  // without reading data blocks.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // The same for keys still in the memtable.
  options.memtable_prefix_bloom_size_ratio = 0.02;
  options.memtable_whole_key_filtering = true;
  // Levels 0 and 1 are rewritten often and hold little: compressing them
  // costs more CPU than the disk it saves; deeper levels use Snappy.
  options.compression_per_level = {rocksdb::kNoCompression, rocksdb::kNoCompression,
                                   rocksdb::kSnappyCompression, rocksdb::kSnappyCompression,
                                   rocksdb::kSnappyCompression, rocksdb::kSnappyCompression,
                                   rocksdb::kSnappyCompression};
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, directory, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return absl::FailedPreconditionError(
          StrCat("store ", directory, ": in use by another process (", s.ToString(), ")"));
    }
    return FromRocks(s, "open", directory);
  }
  return std::unique_ptr<RocksDbStore>(new RocksDbStore(std::unique_ptr<rocksdb::DB>(raw), directory));
}

absl::StatusOr<std::optional<std::string>> RocksDbStore::Get(std::string_view key) const {
  std::string value;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  rocksdb::Status s = db_->Get(ro, ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read", directory_);
  return std::optional<std::string>(std::move(value));
}

absl::StatusOr<std::vector<std::optional<std::string>>> RocksDbStore::MultiGet(
    std::span<const std::string> keys) const {
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (const std::string& key : keys) slices.push_back(ToSlice(key));
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  // One implicit snapshot for all; RocksDB sorts the keys itself.
  db_->MultiGet(ro, db_->DefaultColumnFamily(), keys.size(), slices.data(), values.data(),
                statuses.data(), /*sorted_input=*/false);
  std::vector<std::optional<std::string>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "read", directory_);
    out[i] = values[i].ToString();
  }
  return out;
}

absl::Status RocksDbStore::Write(const WriteBatch& batch, Durability durability) {
  rocksdb::WriteBatch wb;
  std::vector<WriteBatch::Op> ops = batch.ops();
  // The memtable inserts keys that arrive in order much faster (its skip
  // list starts each search where the last one ended). Sorting keeps the
  // batch's meaning as long as it has no range deletion (one may precede a
  // put into its range); stable, so two operations on one key keep theirs.
  if (ops.size() > 16 && std::none_of(ops.begin(), ops.end(), [](const WriteBatch::Op& op) {
        return op.kind == WriteBatch::Kind::kDeleteRange;
      })) {
    std::stable_sort(ops.begin(), ops.end(), [](const WriteBatch::Op& a, const WriteBatch::Op& b) {
      return a.key < b.key;
    });
  }
  for (const auto& op : ops) {
    rocksdb::Status s;
    switch (op.kind) {
      case WriteBatch::Kind::kPut:
        s = wb.Put(ToSlice(op.key), ToSlice(op.value));
        break;
      case WriteBatch::Kind::kDelete:
        s = wb.Delete(ToSlice(op.key));
        break;
      case WriteBatch::Kind::kDeleteRange:
        s = wb.DeleteRange(ToSlice(op.key), ToSlice(op.value));
        break;
    }
    if (!s.ok()) return FromRocks(s, "batch", directory_);
  }
  rocksdb::WriteOptions wo;
  wo.sync = durability == Durability::kSynced;
  return FromRocks(db_->Write(wo, &wb), "write", directory_);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> RocksDbStore::Scan(
    std::string_view begin, std::string_view end, size_t limit) const {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  // The bound lets the iterator stop at `end` instead of stepping over the
  // deleted keys beyond it.
  const rocksdb::Slice upper = ToSlice(end);
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::vector<std::pair<std::string, std::string>> out;
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (!end.empty() && k.compare(ToSlice(end)) >= 0) break;
    out.emplace_back(k.ToString(), it->value().ToString());
    if (limit != 0 && out.size() == limit) break;
  }
  if (auto s = FromRocks(it->status(), "scan", directory_); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>> RocksDbStore::Last(
    std::string_view begin, std::string_view end) const {
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  if (end.empty()) {
    it->SeekToLast();
  } else {
    it->SeekForPrev(ToSlice(end));
    if (it->Valid() && it->key().compare(ToSlice(end)) >= 0) it->Prev();
  }
  if (auto s = FromRocks(it->status(), "scan", directory_); !s.ok()) return s;
  if (!it->Valid() || it->key().compare(ToSlice(begin)) < 0) {
    return std::optional<std::pair<std::string, std::string>>();
  }
  return std::optional<std::pair<std::string, std::string>>(
      std::make_pair(it->key().ToString(), it->value().ToString()));
}

}  // namespace schakel::store
