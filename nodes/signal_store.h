// The node's signals, their tags per purpose, and the outbound
// index-publication queue, over a store::KvStore.
//
// A signal (v1::Signal, signals.proto) yields match keys (crypto/match_keys.h).
// For every purpose under which the local policy makes the signal's category
// matchable, each key becomes a tag (crypto::PurposeKey::TagFor). The gateway
// keeps a SET of tags per node and purpose, so the store counts references:
// a tag is published as an addition when its first signal appears and as a
// removal when its last signal goes. Address keys of institutional addresses
// (on the policy's exclusion list, or with more persons than
// max_persons_per_address among this node's signals) produce no tags.
//
// Every change (add, update, delete, an expiry chunk) is ONE atomic
// WriteBatch (synced) holding the signal records, the per-signal tag
// records, the reference counts and, when some tag was added or removed, one
// new queue entry. A crash therefore never leaves the queue out of step with
// the signals: either the change and its queue entry are both stored, or
// neither is.
//
// Key layout (all integers 8-byte big-endian, store::EncodeKeyU64, so that
// numeric order is key order; identifiers appear only inside signal values,
// never in keys):
//   sig/s/<signal id>                      -> v1::Signal (serialized, with
//                                             its output-only fields)
//   sig/t/<signal id>/<purpose id>         -> the signal's tags under that
//                                             purpose, 16 bytes each, concatenated
//   sig/g/<registered_at µs>/<signal id>   -> ""  (List by registered-at)
//   sig/e/<expires_at µs>/<signal id>      -> ""  (ExpireDue)
//   sig/a/<address digest>/<signal id>     -> person digest (16 bytes)
//       address digest: hex of the first 16 bytes of BLAKE2b-256 of the
//       canonical address; person digest: first 16 bytes of BLAKE2b-256 of
//       the subject's first match key's OPRF input (BSN, else name_dob), or
//       of "signal:<id>" for an address-only subject. The distinct person
//       digests under one address are its "registered persons".
//   idx/r/<purpose id>/<tag>               -> reference count (u64)
//   idx/c/<purpose id>                     -> distinct tags held (u64)
//   idx/q/<sequence>                       -> v1::IndexBatch (serialized)
//   idx/m/queued_through                   -> highest sequence queued (u64)
//   idx/m/acknowledged_through             -> highest sequence acknowledged
//
// Publication queue: sequences start at 1 and increase by one per queued
// batch, node-wide across purposes, without gaps (IndexBatch.sequence). A
// change that adds or removes no tag at the gateway queues nothing. One
// batch holds one PurposeTagChanges per purpose touched, with `added` and
// `removed` sorted bytewise and never overlapping. The publisher sends
// PendingBatches(applied_through) and, on the gateway's IndexAck, calls
// AcknowledgeUpTo(applied_through), which drops those entries.
//
// Signal ids: a client-chosen id (1 to 64 characters of [A-Za-z0-9_-]) or,
// when empty, one the store assigns: 26 characters, Crockford base32 of a
// 48-bit millisecond timestamp and 80 random bits (ULID layout), so
// assigned ids sort by creation time.
//
// Error messages never contain an identifier (BSN, name, date, postcode),
// the free text or a signal id given by a client: they name the field and
// the problem.
//
// Ownership and thread safety: the SignalStore does not own the KvStore,
// which must outlive it; it owns its PurposeKeys and shares the policy. It is
// the only writer of the "sig/" and "idx/" prefixes. All methods may be
// called from several threads at once: changes are serialised by an
// internal mutex (the read-modify-write of reference counts and the
// sequence needs it); reads go straight to the KvStore.
#ifndef SCHAKEL_NODES_SIGNAL_STORE_H_
#define SCHAKEL_NODES_SIGNAL_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/pseudonym.h"
#include "nodes/local_policy.h"
#include "schakel/v1/gateway.pb.h"
#include "schakel/v1/signals.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

// Signals removed per atomic write (and per queue entry) by ExpireDue.
inline constexpr size_t kExpiryChunk = 128;

// A page of List.
struct SignalPage {
  std::vector<v1::Signal> signals;
  std::string next_page_token;  // empty on the last page
};

struct ListOptions {
  enum class Order { kById, kByRegisteredAt };
  Order order = Order::kById;
  // From a previous page; empty for the first.
  std::string page_token;
  // 0 means 100; at most 1000.
  size_t page_size = 0;
};

struct IndexStatus {
  uint64_t queued_through = 0;
  uint64_t acknowledged_through = 0;
  std::map<std::string, uint64_t> tag_count;  // per purpose answered
};

class SignalStore {
 public:
  // `purpose_keys` must hold a key for every purpose the policy answers
  // (keys for other purposes are dropped).
  // Errors: INVALID_ARGUMENT for a null kv or policy, or a key whose
  // purpose_id() differs from its map key; FAILED_PRECONDITION naming a
  // purpose the policy answers without a key; errors of reading the queue
  // counters (INTERNAL, DATA_LOSS).
  static absl::StatusOr<std::unique_ptr<SignalStore>> Create(
      store::KvStore* kv, std::shared_ptr<const LocalPolicy> policy,
      std::map<std::string, crypto::PurposeKey> purpose_keys);

  SignalStore(const SignalStore&) = delete;
  SignalStore& operator=(const SignalStore&) = delete;

  // Stores a new signal, tags it and queues the additions. Output-only
  // fields of `signal` are ignored; an empty signal_id is assigned; empty
  // domain means the category's; empty registered_at means `now`; empty
  // expires_at means registered_at + the category's retention. Returns the
  // signal as stored (version 1, birth date as YYYY-MM-DD, postcode as
  // "1234AB", key_types, tagged_purpose_ids, address_excluded).
  // Errors: INVALID_ARGUMENT listing every problem ("; "-separated), each
  // naming its field ("signal.subject.bsn: fails the elfproef ...",
  // "signal.category: not a configured category", "signal.signal_id",
  // "signal.free_text: longer than 10000 characters", "signal.expires_at");
  // ALREADY_EXISTS when the id is taken; UNAVAILABLE / INTERNAL from the
  // store (then nothing is written).
  absl::StatusOr<v1::Signal> Add(v1::Signal signal, absl::Time now,
                                 std::string_view owner_user_id);

  // Errors: NOT_FOUND; DATA_LOSS for a record that does not parse;
  // INTERNAL from the store.
  absl::StatusOr<v1::Signal> Get(std::string_view signal_id) const;

  // One page of signals, by id or by registered-at (then by id).
  // Errors: INVALID_ARGUMENT "page_token: malformed" or page_size above
  // 1000; DATA_LOSS; INTERNAL.
  absl::StatusOr<SignalPage> List(const ListOptions& options) const;

  // Replaces subject, category, domain, contact, free_text and (when set)
  // expires_at of the stored signal with replacement.signal_id's. The id,
  // owner and registered_at stay; an unset expires_at stays unless the
  // category changes (then registered_at + the new retention). Re-derives
  // the keys: old tags are withdrawn and new ones added in one batch and
  // one queue entry. expected_version 0 means "do not check".
  // Errors: as Add (INVALID_ARGUMENT); NOT_FOUND; ABORTED when the stored
  // version is not expected_version (re-read and retry).
  absl::StatusOr<v1::Signal> Update(v1::Signal replacement, uint64_t expected_version,
                                    absl::Time now);

  // Deletes a signal and queues the withdrawal of tags no other signal
  // yields. Returns the number of tags queued for withdrawal.
  // Errors: NOT_FOUND; ABORTED (version mismatch; 0 skips the check);
  // UNAVAILABLE / INTERNAL from the store (nothing deleted).
  absl::StatusOr<uint32_t> Delete(std::string_view signal_id, uint64_t expected_version);

  // Removes every signal whose expires_at <= now, kExpiryChunk signals per
  // atomic write, and withdraws their tags. Returns how many were removed.
  // Errors: from the store; chunks written before the error stay removed.
  absl::StatusOr<size_t> ExpireDue(absl::Time now);

  // Queued batches with sequence > after_sequence, ascending, at most
  // `limit` (0: all). Empty when nothing newer is queued.
  // Errors: FAILED_PRECONDITION when after_sequence < acknowledged_through
  // (those batches were dropped: the gateway lost state; republish);
  // INVALID_ARGUMENT when after_sequence > queued_through; DATA_LOSS.
  absl::StatusOr<std::vector<v1::IndexBatch>> PendingBatches(uint64_t after_sequence,
                                                             size_t limit) const;

  // The gateway applied every batch up to `sequence`: drop them from the
  // queue. Idempotent (a sequence at or below acknowledged_through is a
  // no-op). Errors: INVALID_ARGUMENT when sequence > queued_through;
  // UNAVAILABLE / INTERNAL from the store.
  absl::Status AcknowledgeUpTo(uint64_t sequence);

  // Queue counters and distinct tags per purpose answered.
  absl::StatusOr<IndexStatus> GetIndexStatus() const;

  // The signal's tags per purpose (empty map when it has none).
  // Errors: INTERNAL from the store.
  absl::StatusOr<std::map<std::string, std::vector<crypto::Tag>>> TagsOf(
      std::string_view signal_id) const;

  // How many signals yield `tag` under `purpose_id` (0 when none).
  absl::StatusOr<uint64_t> TagReferences(std::string_view purpose_id,
                                         const crypto::Tag& tag) const;

  const LocalPolicy& policy() const { return *policy_; }

 private:
  struct Change;
  SignalStore(store::KvStore* kv, std::shared_ptr<const LocalPolicy> policy,
              std::map<std::string, crypto::PurposeKey> purpose_keys)
      : kv_(kv), policy_(std::move(policy)), purpose_keys_(std::move(purpose_keys)) {}

  // Validates and normalises a signal for storage; fills defaults.
  absl::Status Prepare(v1::Signal& signal, absl::Time now) const;
  // Writes the changes, their tag records, reference counts and (when a
  // tag is added or removed) one queue entry in one atomic batch. Returns
  // the number of tags withdrawn. Caller holds mu_.
  absl::StatusOr<uint32_t> Commit(std::vector<Change> changes, uint32_t* tags_added = nullptr);
  absl::StatusOr<std::optional<v1::Signal>> Read(std::string_view signal_id) const;
  absl::StatusOr<uint64_t> ReadCounter(std::string_view key) const;

  store::KvStore* const kv_;
  const std::shared_ptr<const LocalPolicy> policy_;
  const std::map<std::string, crypto::PurposeKey> purpose_keys_;
  std::mutex mu_;  // serialises changes
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_SIGNAL_STORE_H_
