#include "store/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
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

// The record of what was durable (rocksdb_store.h): the sequence number and
// the MANIFEST's name and synced size, all twice, so that a damaged file
// does not parse rather than say other numbers. Version 1 (the sequence
// number only) is still read.
constexpr char kDurableFile[] = "SCHAKEL-DURABLE";
constexpr char kDurableHeaderV1[] = "schakel store durable v1";
constexpr char kDurableHeader[] = "schakel store durable v2";

struct DurableRecord {
  uint64_t sequence = 0;
  std::string manifest;  // "MANIFEST-000123"; empty in a version 1 record
  uint64_t manifest_size = 0;
};

std::string DurableText(const DurableRecord& r) {
  if (r.manifest.empty()) {
    return StrCat(kDurableHeaderV1, "\nsequence ", r.sequence, "\nsequence ", r.sequence, "\n");
  }
  const std::string block =
      StrCat("sequence ", r.sequence, "\nmanifest ", r.manifest, " ", r.manifest_size, "\n");
  return StrCat(kDurableHeader, "\n", block, block);
}

// Reads a decimal number up to `stop` at the front of `text`, and drops it
// and the stop character.
std::optional<uint64_t> TakeNumber(std::string_view& text, char stop) {
  const size_t end = text.find(stop);
  if (end == 0 || end == std::string_view::npos || end > 20) return std::nullopt;
  uint64_t value = 0;
  for (char c : text.substr(0, end)) {
    if (c < '0' || c > '9') return std::nullopt;
    if (value > (UINT64_MAX - 9) / 10) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  text.remove_prefix(end + 1);
  return value;
}

bool TakePrefix(std::string_view& text, std::string_view prefix) {
  if (!text.starts_with(prefix)) return false;
  text.remove_prefix(prefix.size());
  return true;
}

std::optional<DurableRecord> ParseDurable(std::string_view text) {
  std::string_view rest = text;
  DurableRecord r;
  if (TakePrefix(rest, StrCat(kDurableHeaderV1, "\nsequence "))) {
    auto sequence = TakeNumber(rest, '\n');
    if (!sequence) return std::nullopt;
    r.sequence = *sequence;
  } else if (TakePrefix(rest, StrCat(kDurableHeader, "\nsequence "))) {
    auto sequence = TakeNumber(rest, '\n');
    if (!sequence || !TakePrefix(rest, "manifest ")) return std::nullopt;
    const size_t space = rest.find(' ');
    if (space == std::string_view::npos || space > 64) return std::nullopt;
    r.manifest = std::string(rest.substr(0, space));
    rest.remove_prefix(space + 1);
    auto size = TakeNumber(rest, '\n');
    if (!size || !r.manifest.starts_with("MANIFEST-") || r.manifest.size() == 9 ||
        r.manifest.find_first_not_of("0123456789", 9) != std::string::npos) {
      return std::nullopt;
    }
    r.sequence = *sequence;
    r.manifest_size = *size;
  } else {
    return std::nullopt;
  }
  if (text != DurableText(r)) return std::nullopt;
  return r;
}

// Writes the record atomically: a temporary file, synced, renamed over the
// old one, and the directory synced.
rocksdb::IOStatus WriteDurable(rocksdb::FileSystem& fs, const std::string& directory,
                               const DurableRecord& record) {
  const std::string path = StrCat(directory, "/", kDurableFile);
  const std::string temporary = path + ".tmp";
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = fs.NewWritableFile(temporary, rocksdb::FileOptions(), &file, nullptr);
  if (s.ok()) s = file->Append(DurableText(record), io, nullptr);
  if (s.ok()) s = file->Fsync(io, nullptr);
  if (file) {
    rocksdb::IOStatus closed = file->Close(io, nullptr);
    if (s.ok()) s = closed;
  }
  if (s.ok()) s = fs.RenameFile(temporary, path, io, nullptr);
  std::unique_ptr<rocksdb::FSDirectory> dir;
  if (s.ok()) s = fs.NewDirectory(directory, io, &dir, nullptr);
  if (s.ok()) s = dir->Fsync(io, nullptr);
  if (dir) dir->Close(io, nullptr).PermitUncheckedError();
  return s;
}

}  // namespace

RocksDbStore::RocksDbStore(std::unique_ptr<rocksdb::DB> db, std::string directory,
                           std::shared_ptr<rocksdb::Env> env, uint64_t recorded)
    : env_(std::move(env)), db_(std::move(db)), directory_(std::move(directory)), recorded_(recorded) {}

// The live MANIFEST's name and the size RocksDB has synced of it (it syncs
// every MANIFEST update before installing it).
absl::StatusOr<std::pair<std::string, uint64_t>> RocksDbStore::Manifest() const {
  std::vector<std::string> files;
  uint64_t size = 0;
  if (auto s = FromRocks(db_->GetLiveFiles(files, &size, /*flush_memtable=*/false),
                         "list the live files", directory_);
      !s.ok()) {
    return s;
  }
  for (const std::string& f : files) {
    const std::string_view name = std::string_view(f).substr(f.starts_with("/") ? 1 : 0);
    if (name.starts_with("MANIFEST-")) return std::make_pair(std::string(name), size);
  }
  return absl::InternalError(StrCat("store ", directory_, ": RocksDB names no live MANIFEST"));
}

RocksDbStore::~RocksDbStore() {
  if (db_) {
    // A failed disk: the next Open checks less.
    RecordDurable().IgnoreError();
    // A flush or compaction still running would add to the MANIFEST after
    // the record: wait for it, then record the MANIFEST's final size.
    rocksdb::CancelAllBackgroundWork(db_.get(), /*wait=*/true);
    RecordDurable().IgnoreError();
    db_->Close().PermitUncheckedError();
  }
}

RocksDbStore::Memory RocksDbStore::MemoryUsage() const {
  auto read = [this](const std::string& property) {
    uint64_t value = 0;
    return db_->GetIntProperty(property, &value) ? value : 0;
  };
  return Memory{.memtables = read(rocksdb::DB::Properties::kCurSizeAllMemTables),
                .block_cache = read(rocksdb::DB::Properties::kBlockCacheUsage),
                .table_readers = read(rocksdb::DB::Properties::kEstimateTableReadersMem)};
}

absl::Status RocksDbStore::RecordDurable() {
  std::lock_guard lock(record_mu_);
  const uint64_t sequence = db_->GetLatestSequenceNumber();
  auto manifest = Manifest();
  if (!manifest.ok()) return manifest.status();
  if (sequence == recorded_ && manifest->first == recorded_manifest_ &&
      manifest->second == recorded_manifest_size_) {
    return absl::OkStatus();
  }
  // Every write up to `sequence` is in the WAL or a table file. A synced
  // write of a WAL-only blob syncs the WAL up to it. (Not FlushWAL(true):
  // after a failed write RocksDB asserts in it; the write path instead
  // returns the background error.)
  if (sequence != recorded_) {
    rocksdb::WriteBatch sync;
    if (auto s = FromRocks(sync.PutLogData("schakel: durable"), "batch", directory_); !s.ok()) return s;
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (auto s = FromRocks(db_->Write(wo, &sync), "sync the write-ahead log", directory_); !s.ok()) {
      return s;
    }
  }
  const DurableRecord record{
      .sequence = sequence, .manifest = manifest->first, .manifest_size = manifest->second};
  rocksdb::FileSystem& fs = *db_->GetEnv()->GetFileSystem();
  if (auto s = FromRocks(WriteDurable(fs, directory_, record), "record what is durable", directory_);
      !s.ok()) {
    return s;
  }
  recorded_ = sequence;
  recorded_manifest_ = manifest->first;
  recorded_manifest_size_ = manifest->second;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const std::string& directory) {
  return Open(directory, OpenOptions{});
}

absl::StatusOr<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(const std::string& directory,
                                                                 const OpenOptions& open_options) {
  if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        StrCat("store ", directory, ": cannot create the directory: ", std::strerror(errno)));
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // A torn last record (never acknowledged) is dropped; other WAL damage
  // fails the open instead of cutting the log short (rocksdb_store.h).
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  if (open_options.env) options.env = open_options.env.get();
  if (open_options.write_buffer_size != 0) options.write_buffer_size = open_options.write_buffer_size;
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
  // What was durable when the store last recorded it must still be there.
  // The MANIFEST first: RocksDB's open would take a MANIFEST cut short as
  // the whole list of table files and delete the ones it no longer names.
  rocksdb::FileSystem& fs = *options.env->GetFileSystem();
  const std::string durable_path = StrCat(directory, "/", kDurableFile);
  std::string text;
  std::optional<DurableRecord> recorded;
  rocksdb::IOStatus read = rocksdb::ReadFileToString(&fs, durable_path, &text);
  if (read.ok()) {
    recorded = ParseDurable(text);
    if (!recorded) {
      return absl::DataLossError(StrCat("store ", directory, ": ", kDurableFile,
                                        " (the record of what was durable) is damaged"));
    }
  } else if (!read.IsNotFound() && fs.FileExists(durable_path, rocksdb::IOOptions(), nullptr).ok()) {
    return FromRocks(read, StrCat("read ", kDurableFile), directory);
  }
  const std::string restore = StrCat("Restore the directory from a backup (remove ", kDurableFile,
                                     " only if that backup is older)");
  if (recorded && !recorded->manifest.empty()) {
    // A MANIFEST RocksDB has since replaced (it starts a new one at each
    // open) is gone, and nothing is compared.
    uint64_t size = 0;
    const std::string manifest_path = StrCat(directory, "/", recorded->manifest);
    if (fs.GetFileSize(manifest_path, rocksdb::IOOptions(), &size, nullptr).ok() &&
        size < recorded->manifest_size) {
      return absl::DataLossError(StrCat(
          "store ", directory, ": ", recorded->manifest, " (RocksDB's list of table files) had ",
          recorded->manifest_size, " bytes durable but has ", size,
          ": it was cut short, and opening it would drop the table files it no longer lists. ",
          restore));
    }
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, directory, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return absl::FailedPreconditionError(
          StrCat("store ", directory, ": in use by another process (", s.ToString(), ")"));
    }
    return FromRocks(s, "open", directory);
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  if (recorded) {
    const uint64_t recovered = db->GetLatestSequenceNumber();
    if (recovered < recorded->sequence) {
      return absl::DataLossError(StrCat(
          "store ", directory, ": writes up to RocksDB sequence number ", recorded->sequence,
          " were durable, but the database recovers only up to ", recovered,
          ": its files were damaged or lost (a write-ahead log or MANIFEST cut short?). ", restore));
    }
  }
  auto store = std::unique_ptr<RocksDbStore>(
      new RocksDbStore(std::move(db), directory, open_options.env, recorded ? recorded->sequence : 0));
  // The open started a new MANIFEST: record it, so that the next open
  // checks that one.
  if (auto recorded_now = store->RecordDurable(); !recorded_now.ok()) return recorded_now;
  return store;
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
