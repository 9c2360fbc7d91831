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
// storage format does not matter for verification). Signed checkpoints
// (gateway/checkpoints.h writes them) live beside the entries under
// "log/c/" and "log/s/" (keys below), so that Verify finds and checks them;
// see docs/exchange-log.md.
//
// Index (SequencesWithTag, SequencesOfExchange): "logx/t/" + org, purpose
// and tag + sequence, and "logx/x/" + exchange id + sequence, empty values.
//
// Writes that must happen together with an entry (a case change and its
// CASE_* record) go into the same synced write: Append's `with` callback.
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
#include <string_view>
#include <vector>

#include <functional>

#include "absl/status/statusor.h"
#include "crypto/signing.h"
#include "proto/canonical.h"
#include "schakel/v1/audit.pb.h"
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

  // Adds the store writes that must be durable exactly when the entry is:
  // called with the entry's sequence number while the group's write batch
  // is being built (without the log's lock held; it must not call the log),
  // and its puts go into that same synced write. On any error nothing of
  // either is written. The writes must not touch the log's own keys.
  using WithEntry = std::function<void(uint64_t sequence, store::WriteBatch& batch)>;
  absl::StatusOr<Appended> Append(const v1::LogRecord& record, const WithEntry& with);

  // The last appended entry (0 and 32 zero bytes for an empty log).
  uint64_t head_sequence() const;
  canonical::DigestBytes head_hash() const;
  // False once a write has failed; the gateway then reports not serving.
  bool healthy() const;

  // Entries from `first` (1-based), at most `limit` (0: all).
  absl::StatusOr<std::vector<v1::LogEntry>> Read(uint64_t first, size_t limit) const;

  struct VerifyOptions {
    // First and last entry to verify; 0 means 1 and the head (as stored
    // when the walk reaches the end). An entry before `from_sequence` is
    // only used for its entry_hash, to link the first one.
    uint64_t from_sequence = 0;
    uint64_t to_sequence = 0;
    // Keys the gateway signs checkpoints with (current and earlier). Empty:
    // checkpoints are not checked (without a key a forger could recompute
    // them along with the chain, so checking them would prove nothing).
    std::vector<crypto::VerifyKey> checkpoint_keys;
    // Called after every `progress_every` entries with (checked, total);
    // returning false stops the walk (Verify then returns CANCELLED).
    std::function<bool(uint64_t, uint64_t)> progress;
    uint64_t progress_every = 10'000;
  };

  struct VerifyReport {
    uint64_t entries_checked = 0;
    // Checkpoints in the range whose signature and head were checked.
    uint64_t checkpoints_checked = 0;
    // The first entry that is missing, does not parse, or whose hashes or
    // links do not match, or that a signed checkpoint shows was changed, or
    // that the store cannot read (a damaged file: DATA_LOSS from the store;
    // the entries before it were checked); nullopt when the range verifies.
    std::optional<uint64_t> first_bad_sequence;
    // What kind of problem (audit.proto); UNSPECIFIED when intact.
    v1::ChainProblem problem_kind = v1::CHAIN_PROBLEM_UNSPECIFIED;
    std::string problem;  // why first_bad_sequence is bad, for people
    // The last entry verified (sequence 0 when none).
    v1::ChainLink head;
    // The latest checkpoint in the range that verified; nullopt when none.
    std::optional<v1::Checkpoint> latest_checkpoint;
  };
  // Walks the whole chain from entry 1, without checking checkpoints.
  // Reads from the store, so it finds edits made behind the log's back.
  absl::StatusOr<VerifyReport> Verify() const;
  // Walks the chain over a range and checks every stored checkpoint whose
  // head is in it: its signature with one of `checkpoint_keys`, and its
  // head_hash against the entry_hash at its sequence. A chain edited and
  // consistently re-hashed from some entry on no longer matches the next
  // checkpoint; the record hashes stored with that checkpoint then name
  // the first changed entry (docs/exchange-log.md). Entries after the last
  // checkpoint are covered only by the chain itself (and by receipts).
  // Errors: INVALID_ARGUMENT for an inverted range; CANCELLED when
  // `progress` said stop; store errors.
  absl::StatusOr<VerifyReport> Verify(const VerifyOptions& options) const;

  // The store the log is kept in (checkpoints and case changes are written
  // to the same one).
  store::KvStore* store() const { return store_; }

  // The log's index, written in the same synced write as each entry (and
  // rebuilt by Open for entries written before it existed): the sequences,
  // ascending, of the entries with `tag` among the OrgTags of `org_id`
  // under `purpose_id`, and of the entries of an exchange (16-byte id).
  // It is derived data that the chain does not cover: callers re-check the
  // entries they read. Errors: store errors.
  absl::StatusOr<std::vector<uint64_t>> SequencesWithTag(std::string_view org_id,
                                                         std::string_view purpose_id,
                                                         std::string_view tag) const;
  absl::StatusOr<std::vector<uint64_t>> SequencesOfExchange(std::string_view exchange_id) const;

 private:
  struct Writer;
  explicit ExchangeLog(store::KvStore* store) : store_(store) {}
  // Indexes the entries of a log written before the index existed.
  absl::Status BuildIndex();

  store::KvStore* const store_;
  mutable std::mutex mu_;
  std::deque<Writer*> queue_;          // guarded by mu_; front is the leader
  uint64_t head_sequence_ = 0;         // guarded by mu_
  canonical::DigestBytes head_hash_{};  // guarded by mu_
  bool failed_ = false;                // guarded by mu_
};

// Key of entry `sequence` in the store.
std::string LogEntryKey(uint64_t sequence);
// The entry without its content (log.proto, ChainLink).
v1::ChainLink ChainLinkOf(const v1::LogEntry& entry);
// Signed checkpoints (checkpoints.h): "log/c/" + head sequence -> Checkpoint
// (wire format), and "log/s/" + head sequence -> the record_hash of every
// entry after the previous checkpoint up to this head, 32 bytes each, in
// order: the "segment" that lets Verify name the first changed entry.
std::string CheckpointKey(uint64_t sequence);
std::string CheckpointSegmentKey(uint64_t sequence);
inline constexpr char kCheckpointPrefix[] = "log/c/";

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_EXCHANGE_LOG_H_
