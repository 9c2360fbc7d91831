// The node's own log (local.proto, LocalLog): append-only, hash-chained,
// durable. Every action of the node's users and of the node itself (signal
// changes, imports, user changes, failed logins, matches, evaluations,
// index publication) is one v1::LocalLogRecord: no identifiers of persons,
// signal ids only, and the acting user id and role in every record.
//
// Chain (local.proto, LocalLogEntry; proto/canonical.h):
//   record_hash = D("schakel:v1:node-log-record", record)
//   entry_hash  = canonical::NodeEntryHash(sequence, previous_hash, record_hash)
// sequences from 1 without gaps; previous_hash of entry 1 is 32 zero bytes.
//
// Durability and fail-closed: Append returns only after the entry is on
// stable storage (Durability::kSynced). An error means nothing was recorded,
// and the caller must not perform (or must undo) the action it wanted to
// record. AppendWith writes the entry in the SAME atomic batch as the change
// it records, so that the change and its record are stored together or not
// at all. After a failed write the log re-reads its head from the store
// before the next append, so a write that failed but reached the disk
// cannot fork the chain.
//
// Storage: key "llog/e/" + 8-byte big-endian sequence -> v1::LocalLogEntry
// (protobuf wire format; the hashes are over the canonical encoding).
//
// Thread safety: all methods are safe to call concurrently; appends are
// serialised by an internal mutex.
#ifndef SCHAKEL_NODES_LOCAL_LOG_H_
#define SCHAKEL_NODES_LOCAL_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "proto/canonical.h"
#include "schakel/v1/local.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

// The key prefix of the local log's entries.
inline constexpr char kLocalLogPrefix[] = "llog/e/";

// Which entries ListLocalLog returns (ListLocalLogRequest, already checked).
struct LocalLogFilter {
  std::optional<int64_t> from_ms;  // recorded_at >= from_ms
  std::optional<int64_t> to_ms;    // recorded_at < to_ms
  uint64_t from_sequence = 1;
  std::vector<v1::LocalEventKind> kinds;  // empty: all
  std::string user_id;                    // empty: all
  std::string purpose_id;                 // empty: all
  std::string exchange_id;                // empty: all (16 bytes otherwise)
  uint64_t limit = 0;                     // 0: no limit

  bool Matches(const v1::LocalLogRecord& record) const;
};

class LocalLog {
 public:
  // Milliseconds since the Unix epoch; the system clock when not given.
  using Clock = std::function<int64_t()>;

  // Opens the log kept in `kv` (not owned; must outlive the log) and
  // recovers its head. Errors: DATA_LOSS when the last entry does not parse
  // or its hashes do not match; INTERNAL from the store.
  static absl::StatusOr<std::unique_ptr<LocalLog>> Open(store::KvStore* kv, Clock now_ms = {});

  LocalLog(const LocalLog&) = delete;
  LocalLog& operator=(const LocalLog&) = delete;

  // Appends durably (synced); fills recorded_at (whole milliseconds) when
  // unset; returns the sequence. Fails closed: an error means nothing was
  // recorded.
  // Errors: INVALID_ARGUMENT when the record cannot be canonically encoded
  // (a sub-millisecond time) or its detail is longer than 2,000 characters;
  // UNAVAILABLE / INTERNAL when the write failed.
  absl::StatusOr<uint64_t> Append(v1::LocalLogRecord record);

  // Appends the record in one atomic synced write together with `batch`
  // (the change the record describes). Errors: as Append; on error neither
  // the batch nor the record was written.
  absl::StatusOr<uint64_t> AppendWith(v1::LocalLogRecord record, store::WriteBatch batch);

  // The last appended sequence (0 for an empty log).
  uint64_t head_sequence() const;

  // Entries matching `filter`, ascending, handed to `sink` in batches of at
  // most `batch_size`; stops early (OK) when `sink` returns false. Reads the
  // store in pages, so any number of entries can be streamed.
  // Errors: DATA_LOSS for an entry that does not parse; INTERNAL.
  absl::Status Scan(const LocalLogFilter& filter, size_t batch_size,
                    const std::function<bool(std::vector<v1::LocalLogEntry>&)>& sink) const;

  // Entries from sequence `first` (1-based), at most `limit` (0: all).
  absl::StatusOr<std::vector<v1::LocalLogEntry>> Read(uint64_t first, size_t limit) const;

  struct VerifyReport {
    uint64_t entries_checked = 0;
    // The first entry that is missing, does not parse, or whose hashes or
    // link do not match; nullopt when the chain verifies.
    std::optional<uint64_t> first_bad_sequence;
    std::string problem;
  };
  // Walks the whole chain from entry 1 (reads the store: finds edits made
  // behind the log's back).
  absl::StatusOr<VerifyReport> Verify() const;

 private:
  LocalLog(store::KvStore* kv, Clock now_ms) : kv_(kv), now_ms_(std::move(now_ms)) {}
  absl::Status LoadHead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::KvStore* const kv_;
  const Clock now_ms_;
  mutable std::mutex mu_;
  uint64_t head_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  canonical::DigestBytes head_hash_ ABSL_GUARDED_BY(mu_) = canonical::kFirstPreviousHash;
  bool reload_head_ ABSL_GUARDED_BY(mu_) = false;  // after a failed write
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_LOCAL_LOG_H_
