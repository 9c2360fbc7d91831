// The gateway's exchange log: append-only, hash-chained, durable.
//
// Every exchange, refusal, disclosure, audit query and policy change is a
// LogRecord (proto/schakel/v1/log.proto). Append gives it the next sequence
// number, chains it to the previous entry (the formula at the top of
// log.proto: record_hash = D("schakel:v1:log-record", record), entry_hash
// over sequence, previous hash and record hash), and returns only after the
// entry is on stable storage.
//
// Group commit: appends that arrive while a synced write is in progress are
// written together by the next one (one fsync for the group), so durability
// does not serialise the gateway. Order within a group is arrival order.
//
// Fail closed: if a write fails, none of that group is appended, every
// waiter gets UNAVAILABLE, and the log refuses all further appends
// (healthy() turns false) until it is reopened: the gateway must not
// perform an exchange it could not log, and must not guess what reached the
// disk.
//
// Storage: key "log/e/" + 8-byte big-endian sequence -> LogEntry (protobuf
// wire format; the chain hashes are over the canonical encoding, so the
// storage format does not matter for verification).
//
// Thread safety: all methods are safe to call concurrently.
#ifndef SCHAKEL_GATEWAY_EXCHANGE_LOG_H_
#define SCHAKEL_GATEWAY_EXCHANGE_LOG_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/canonical.h"
#include "schakel/v1/log.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

class ExchangeLog {
 public:
  // Opens the log kept in `store` (not owned; must outlive the log) and
  // recovers its head. Errors: DATA_LOSS when the last entry does not parse
  // or its own hashes do not match (run Verify to find the first bad entry).
  static absl::StatusOr<std::unique_ptr<ExchangeLog>> Open(store::KvStore* store);

  struct Appended {
    uint64_t sequence;
    canonical::DigestBytes record_hash;
    canonical::DigestBytes entry_hash;
  };
  // Appends durably. Errors: INVALID_ARGUMENT when the record cannot be
  // canonically encoded (for example a sub-millisecond timestamp);
  // UNAVAILABLE when the write failed or the log stopped after an earlier
  // failure.
  absl::StatusOr<Appended> Append(const v1::LogRecord& record);

  // The last appended entry (0 and 32 zero bytes for an empty log).
  uint64_t head_sequence() const;
  canonical::DigestBytes head_hash() const;
  // False once a write has failed; the gateway then reports not serving.
  bool healthy() const;

  // Entries from `first` (1-based), at most `limit` (0: all).
  absl::StatusOr<std::vector<v1::LogEntry>> Read(uint64_t first, size_t limit) const;

  struct VerifyReport {
    uint64_t entries_checked = 0;
    // The first entry that is missing, does not parse, or whose hashes or
    // links do not match; nullopt when the whole chain verifies.
    std::optional<uint64_t> first_bad_sequence;
    std::string problem;  // why first_bad_sequence is bad
  };
  // Walks the whole chain from entry 1. Reads from the store, so it finds
  // edits made behind the log's back.
  absl::StatusOr<VerifyReport> Verify() const;

 private:
  struct Writer;
  explicit ExchangeLog(store::KvStore* store) : store_(store) {}

  store::KvStore* const store_;
  mutable std::mutex mu_;
  std::deque<Writer*> queue_;          // guarded by mu_; front is the leader
  uint64_t head_sequence_ = 0;         // guarded by mu_
  canonical::DigestBytes head_hash_{};  // guarded by mu_
  bool failed_ = false;                // guarded by mu_
};

// Key of entry `sequence` in the store.
std::string LogEntryKey(uint64_t sequence);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_EXCHANGE_LOG_H_
