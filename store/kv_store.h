// A narrow, ordered key-value store: the only way Schakel's components touch
// storage. Each component (signals, tag index, publication queue, exchange
// log) keeps its data under its own key prefix and writes every multi-key
// change as one atomic WriteBatch.
//
// Implementations: store/rocksdb_store.h (production, one RocksDB per data
// directory), store/memory_store.h (tests), store/faulty_store.h (wraps
// another and fails writes on command, for fail-closed tests).
//
// Durability: Write(batch, Durability::kSynced) returns only after the batch
// is on stable storage (fsync of the write-ahead log). The exchange log uses
// it for every entry; an error means nothing of the batch may be assumed
// written.
//
// Thread safety: implementations are safe for concurrent use; a WriteBatch
// belongs to one thread until written.
#ifndef SCHAKEL_STORE_KV_STORE_H_
#define SCHAKEL_STORE_KV_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace schakel::store {

enum class Durability {
  kBuffered,  // in the OS page cache; survives a process crash, not a power loss
  kSynced,    // on stable storage before Write returns
};

// Puts and deletes applied together, all or nothing, in order.
class WriteBatch {
 public:
  enum class Kind : uint8_t { kPut, kDelete, kDeleteRange };
  // A view into the batch: valid until the batch is changed or destroyed.
  struct Op {
    Kind kind;
    std::string_view key;
    std::string_view value;  // the value (kPut) or the end of the range (kDeleteRange)
  };

  void Put(std::string_view key, std::string_view value) { Add(Kind::kPut, key, value); }
  void Delete(std::string_view key) { Add(Kind::kDelete, key, {}); }
  // Deletes every key with begin <= key < end.
  void DeleteRange(std::string_view begin, std::string_view end) {
    Add(Kind::kDeleteRange, begin, end);
  }
  // Every operation of `other`, after those already here.
  void Append(const WriteBatch& other) {
    for (const Op& op : other.ops()) Add(op.kind, op.key, op.value);
  }
  std::vector<Op> ops() const {
    std::vector<Op> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) {
      const std::string_view key(data_.data() + e.at, e.key_size);
      out.push_back({e.kind, key, std::string_view(key.data() + e.key_size, e.value_size)});
    }
    return out;
  }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  void Clear() {
    entries_.clear();
    data_.clear();
  }

 private:
  // Keys and values live in one buffer (one allocation for many small
  // operations), each operation's key followed by its value.
  struct Entry {
    Kind kind;
    size_t at;
    size_t key_size;
    size_t value_size;
  };
  void Add(Kind kind, std::string_view key, std::string_view value) {
    entries_.push_back({kind, data_.size(), key.size(), value.size()});
    data_.append(key);
    data_.append(value);
  }
  std::string data_;
  std::vector<Entry> entries_;
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // The value under `key`, or nullopt. Errors: INTERNAL / DATA_LOSS from the
  // storage engine (for example a corrupt block).
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const = 0;

  // The value under each of `keys` (nullopt where there is none), in the
  // order given, read from one consistent view. Errors: those of Get. This
  // default reads them one by one; a storage engine can batch the lookups.
  virtual absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      std::span<const std::string> keys) const;

  // Applies the batch atomically. Errors: UNAVAILABLE when the storage engine
  // could not write (disk full, I/O error); nothing of the batch is applied.
  virtual absl::Status Write(const WriteBatch& batch, Durability durability) = 0;

  // Every key-value pair with begin <= key < end, in key order, at most
  // `limit` of them (0: no limit). A consistent snapshot.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view begin, std::string_view end, size_t limit = 0) const = 0;

  // The last pair with begin <= key < end, or nullopt.
  virtual absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Last(
      std::string_view begin, std::string_view end) const = 0;
};

// The smallest key greater than every key that starts with `prefix` (for
// Scan(prefix, PrefixEnd(prefix))). Empty when no such key exists.
std::string PrefixEnd(std::string_view prefix);

// Fixed-width big-endian encoding, so that numeric order is key order.
std::string EncodeKeyU64(uint64_t v);
// Errors: INVALID_ARGUMENT when `bytes` is not 8 bytes.
absl::StatusOr<uint64_t> DecodeKeyU64(std::string_view bytes);

}  // namespace schakel::store

#endif  // SCHAKEL_STORE_KV_STORE_H_
