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
// Every change (add, update, delete, an expiry chunk, an import chunk) is
// ONE atomic WriteBatch (synced) holding the signal records, the per-signal
// tag records, the reference counts, when some tag was added or removed one
// new queue entry, and - when the store has a LocalLog - the change's record
// in the node's own log (SIGNAL_ADDED, _UPDATED, _DELETED, _EXPIRED, with
// signal ids only). A crash therefore never leaves the queue or the log out
// of step with the signals: either the change, its queue entry and its log
// record are all stored, or none is.
//
// Withdrawal never re-derives keys from a stored subject: a signal's tags
// and its address group are kept with it (sig/k/), and deletion,
// expiry and update withdraw exactly those. A stored subject that no longer
// parses (older validation rules, a damaged record) therefore never blocks
// ExpireDue or Delete.
//
// Tags follow the local policy. The store records which purposes each
// category's tags were derived under (idx/m/tagged_under). When Create gets
// a policy whose matchable categories differ (an operator edited the local
// policy and restarted the node), it re-derives the tags of every signal of
// each category whose purposes changed, kRetagChunk signals per atomic
// write through the same path as every change: tags no longer matchable are
// withdrawn (removals queued for publication), newly matchable ones added,
// under a purpose the policy no longer answers too. Each chunk's write also
// records how far the run got (idx/m/retag), so a run that is interrupted
// (a crash, a failed write) resumes from there at the next Create, or starts
// again over the union of categories when the policy changed meanwhile; the
// last write records the new matchable sets and, with a LocalLog, one
// POLICY_LOADED record (PolicyRetag::Describe; category names and counts
// only). A store that never recorded them (written before 2026-11-24) has every
// signal re-derived once. A signal whose subject no longer yields keys loses
// all its tags (which may stay cannot be known without keys). Nothing is
// ever deleted: a failure stops the run with the signals as they were,
// every chunk either fully re-tagged or not at all.
//
// Address decisions follow the local policy too. Whether an address group
// is institutional is always decided from the current policy (its
// exclusion list and max_persons_per_address), never from what a signal's
// keys record says. The store records what the decisions of the stored
// tags were made under (idx/m/addressed_under: the threshold and the
// node-keyed digests of the excluded addresses). When Create gets a policy
// where that differs, after the category re-derivation above, it
// re-evaluates every address group (sig/a/) whose decision (or listed
// flag) differs between the recorded rules and the current ones: all the
// signals of such a group are re-tagged together through the same path as
// every change, so an address newly excluded (or now over the threshold)
// has its address tags withdrawn, and one no longer excluded has them
// queued again; other tags (BSN, name + birth date) stay as they are.
// Whole groups per atomic write (one once kRetagChunk signals are
// collected, and at the end of each page of kRetagChunk groups read); each
// write records how far the run got (idx/m/readdress), so an interrupted
// run resumes at the next Create, or starts over when the policy changed
// meanwhile: then over every group (an unfinished run may have started
// over itself, from rules no record names), which the progress record
// keeps for when that run is interrupted too. The last write records
// the new rules and, with a LocalLog, one POLICY_LOADED record
// (AddressRecheck::Describe; counts only). A store that never recorded them
// has every address group re-evaluated once. A signal whose subject no
// longer yields keys loses all its tags (and leaves its group).
// Nothing is ever deleted; a record that does not parse stops the start
// with DATA_LOSS (no identifier in the message), what was done staying.
//
// Node-local digests (address groups and persons) are BLAKE2b-256 keyed with
// the node's secret (nodes/node_secret.h): a copy of the database does not
// let anyone test whether an address or a BSN is registered.
//
// Key layout (all integers 8-byte big-endian, store::EncodeKeyU64, so that
// numeric order is key order; identifiers appear only inside signal values,
// never in keys):
//   sig/s/<signal id>                      -> v1::Signal (serialized, with
//                                             its output-only fields)
//   sig/g/<registered_at µs>/<signal id>   -> ""  (List by registered-at)
//   sig/e/<expires_at µs>/<signal id>      -> ""  (ExpireDue)
//   sig/k/<signal id>                      -> what the signal holds in the
//       index, one record: 1 byte (0 no address; 1 an address group; 2 one
//       the policy's exclusion list named when it was written, for
//       information only; 3 not recorded, from the subject: migrated from
//       an older store), the address digest (16 bytes) for 1
//       and 2, then per purpose with tags its id and its tags (16 bytes each,
//       concatenated), each as u32 length and bytes. (Stores from before
//       2026-11-24 kept these in sig/t/<id>/<purpose> and sig/m/<id>; Create
//       moves them here.)
//   sig/a/<hex address digest>             -> the address group, one
//       record: per member (ordered by signal id) its signal id (u32
//       length, bytes) and person digest (16 bytes); a point lookup, which
//       the Bloom filters answer, rather than a prefix scan
//       address digest: the first 16 bytes of the node-keyed digest
//       (kAddressDigestContext) of the canonical address; person digest:
//       the first 16 bytes of the node-keyed digest (kPersonDigestContext)
//       of the subject's first match key's OPRF input (BSN, else name_dob),
//       or of "signal:<id>" for an address-only subject. The distinct person
//       digests under one address are its "registered persons".
//   idx/r/<purpose id>/<tag>               -> reference count (u64)
//   idx/c/<purpose id>                     -> distinct tags held (u64)
//   idx/q/<sequence>                       -> v1::IndexBatch (serialized)
//   idx/m/queued_through                   -> highest sequence queued (u64)
//   idx/m/acknowledged_through             -> highest sequence acknowledged
//   idx/m/tagged_under                     -> the matchable sets the tags
//       were derived under: per category with purposes, its id, a u32
//       count and each purpose id (u32 length, bytes)
//   idx/m/retag                            -> an unfinished re-derivation:
//       1 byte (1: every category), the matchable sets it converges to,
//       the last signal id done, then each category re-derived (u32
//       length, bytes)
//   idx/m/addressed_under                  -> the rules the address
//       decisions were made under: max_persons_per_address (u32), then the
//       node-keyed address digest (16 bytes, as in sig/a/) of each excluded
//       address, sorted, concatenated
//   idx/m/readdress                        -> an unfinished address
//       re-evaluation: the rules it converges to and the hex digest of the
//       last address group done (each u32 length, bytes), then one byte: 1
//       if the run re-evaluates every group, else 0 (absent: 0)
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
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/match_keys.h"
#include "crypto/pseudonym.h"
#include "nodes/local_log.h"
#include "nodes/local_policy.h"
#include "nodes/node_secret.h"
#include "schakel/v1/gateway.pb.h"
#include "schakel/v1/signals.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

// Signals removed per atomic write (and per queue entry) by ExpireDue.
inline constexpr size_t kExpiryChunk = 128;
// Signals read per atomic write (and per queue entry) when tags are
// re-derived for a changed policy; address groups read per page, and
// signals collected before a write, when address decisions are
// re-evaluated (see the top of this file).
inline constexpr size_t kRetagChunk = 512;

// What Create re-derived for a changed policy.
struct PolicyRetag {
  bool all_categories = false;          // the store had not recorded them
  std::vector<std::string> categories;  // whose purposes changed (sorted)
  bool resumed = false;                 // continued an interrupted run
  uint64_t signals_seen = 0;            // signal records read
  uint64_t signals_retagged = 0;        // of the categories re-derived
  uint64_t untaggable = 0;              // subject yields no keys: tags withdrawn
  uint64_t tags_added = 0;              // queued for publication
  uint64_t tags_removed = 0;            // queued for withdrawal
  // One line for logs: categories and counts, never a signal id.
  std::string Describe() const;
};

// What Create re-applied for a changed exclusion list or
// max_persons_per_address.
struct AddressRecheck {
  bool all_groups = false;        // no record of the rules, or of them alone:
                                  // every group re-evaluated
  bool resumed = false;           // continued an interrupted run
  uint64_t groups_seen = 0;       // address group records read
  uint64_t groups_changed = 0;    // whose decision changed: re-tagged
  uint64_t signals_retagged = 0;  // in those groups
  uint64_t untaggable = 0;        // subject yields no keys: tags withdrawn
  uint64_t tags_added = 0;        // queued for publication
  uint64_t tags_removed = 0;      // queued for withdrawal
  // One line for logs: counts only, never an address or a signal id.
  std::string Describe() const;
};

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

// Who makes a change, for its local log record.
struct SignalActor {
  std::string user_id;  // empty: the node itself
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string reason;  // logged as the record's detail; may be empty
};

// One problem of a signal that fails validation: the field path relative to
// the signal ("subject.bsn", "category") and what is wrong with the value
// (never the value itself).
struct SignalProblem {
  std::string field;
  std::string problem;
};

// A signal validated, normalised and tagged ahead of its commit (imports
// compute these on several threads while earlier chunks are committed). Opaque outside the store except for `signal`.
struct PreparedSignal {
  v1::Signal signal;  // normalised; output-only fields set except key_types,
                      // tagged_purpose_ids and address_excluded
  // What the store derived (filled by SignalStore::Prepare).
  std::string address_digest;  // 16 bytes; empty without an address
  bool address_listed = false;
  std::string person_digest;       // 16 bytes
  std::vector<uint8_t> key_types;  // crypto::MatchKeyType per key, in key order
  // Per purpose matching the category: its tags in key order, and whether
  // each comes from the address key.
  struct PurposeTags {
    std::string purpose_id;
    std::vector<crypto::Tag> tags;
    std::vector<bool> from_address;
  };
  std::vector<PurposeTags> tags;
};

// What a CommitPrepared wrote.
struct PreparedCommit {
  uint64_t tags_added = 0;    // queued for publication
  uint64_t tags_removed = 0;  // queued for withdrawal
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
  // `secret` keys the node-local digests and must stay the same for the
  // life of the data directory. `log` (optional, not owned; on the same
  // KvStore) receives a record of every change, written atomically with it.
  // When the policy's matchable categories differ from those the stored
  // tags were derived under, re-derives them before returning; when its
  // exclusion list or max_persons_per_address differ from those the address
  // decisions were made under, re-evaluates the address groups affected
  // (see the top of this file; retag() and address_recheck() say what was
  // done). Further errors: DATA_LOSS for a stored signal, address group or
  // re-derivation record that does not parse (nothing further changed; what
  // was re-derived stays and is resumed from); UNAVAILABLE / INTERNAL from
  // the store (likewise).
  static absl::StatusOr<std::unique_ptr<SignalStore>> Create(
      store::KvStore* kv, std::shared_ptr<const LocalPolicy> policy,
      std::map<std::string, crypto::PurposeKey> purpose_keys, NodeSecret secret,
      LocalLog* log = nullptr);

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
  absl::StatusOr<v1::Signal> Add(v1::Signal signal, absl::Time now, std::string_view owner_user_id,
                                 v1::Role role = v1::ROLE_UNSPECIFIED);

  // Validation only: every problem of `signal` as Add would find it
  // (empty when valid), after filling defaults as Add does. Thread-safe.
  std::vector<SignalProblem> Validate(v1::Signal& signal, absl::Time now) const;

  // Validates, normalises and computes every tag of a signal for a later
  // CommitPrepared (the expensive part: one POPRF evaluation per key per
  // purpose). An empty signal_id is assigned. Does not look at what is
  // stored. Thread-safe (const; several threads may prepare at once).
  // Errors: INVALID_ARGUMENT with `problems` filled; INTERNAL from the
  // OPRF.
  absl::StatusOr<PreparedSignal> Prepare(v1::Signal signal, absl::Time now,
                                         std::string_view owner_user_id,
                                         std::vector<SignalProblem>* problems) const;

  // Prepare for a signal that Validate, with the same `now`, found valid
  // and left normalised (with its id): skips validating it again.
  // Errors: INTERNAL from the OPRF; INVALID_ARGUMENT if it does not derive.
  absl::StatusOr<PreparedSignal> PrepareValidated(v1::Signal signal, absl::Time now,
                                                  std::string_view owner_user_id) const;

  // A new signal id as the store assigns one (ULID layout, see above).
  static std::string NewSignalId(absl::Time now);

  // Holds off every other change (Add, Update, Delete, ExpireDue,
  // AcknowledgeUpTo) while alive, so that an import checks and commits its
  // chunks without anything changing in between. Do not call another
  // changing method of the same store while holding one (it would wait
  // for itself).
  class ChangeLock {
   public:
    ChangeLock(ChangeLock&&) = default;

   private:
    friend class SignalStore;
    ChangeLock(const SignalStore* owner, std::mutex& mu) : owner_(owner), lock_(mu) {}
    const SignalStore* owner_;
    std::unique_lock<std::mutex> lock_;
  };
  ChangeLock LockChanges() { return ChangeLock(this, mu_); }

  // Stores prepared signals (new ones, or replacing stored ones with the
  // same id: version + 1) in ONE atomic synced write together with `extra`
  // (an import's journal update) and, when `record` is given and the store
  // has a log, that log record with the signal ids filled in. With an
  // `undo_key`, the same write stores under it what RollBack needs to undo
  // exactly this change (each id and its record before, if any).
  // `all_new`: the caller checked, under `lock`, that none of the ids is
  // stored (an import without replace_existing): they are not read again.
  // Errors: INVALID_ARGUMENT when `lock` is not this store's; UNAVAILABLE /
  // INTERNAL from the store (nothing written).
  absl::StatusOr<PreparedCommit> CommitPrepared(const ChangeLock& lock,
                                                std::vector<PreparedSignal> prepared,
                                                const v1::LocalLogRecord* record,
                                                store::WriteBatch extra,
                                                std::string_view undo_key = {},
                                                bool all_new = false);

  // Undoes a CommitPrepared from the value it stored under its undo_key:
  // signals that were new are removed, replaced ones get their previous
  // record back (re-tagged), tags are withdrawn and added accordingly; one
  // atomic synced write with `extra` and `record` as CommitPrepared.
  // Errors: INVALID_ARGUMENT (lock); DATA_LOSS when `undo` does not parse;
  // UNAVAILABLE / INTERNAL from the store (nothing written).
  absl::StatusOr<PreparedCommit> RollBack(const ChangeLock& lock, std::string_view undo,
                                          const v1::LocalLogRecord* record,
                                          store::WriteBatch extra);

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
                                    absl::Time now, const SignalActor& actor = {});

  // Deletes a signal and queues the withdrawal of tags no other signal
  // yields. Returns the number of tags queued for withdrawal.
  // Errors: NOT_FOUND; ABORTED (version mismatch; 0 skips the check);
  // UNAVAILABLE / INTERNAL from the store (nothing deleted).
  absl::StatusOr<uint32_t> Delete(std::string_view signal_id, uint64_t expected_version,
                                  const SignalActor& actor = {});

  // Removes every signal whose expires_at <= now, kExpiryChunk signals per
  // atomic write, and withdraws their tags (those stored with each signal;
  // its subject is not re-derived). With a log, each chunk is logged as one
  // SIGNAL_EXPIRED record (no user) in the same write. Returns how many were
  // removed. Errors: from the store; chunks written before the error stay
  // removed.
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

  // A full republish (IndexPublisher::RepublishFn), after the gateway and
  // the node disagree on the stream (the gateway lost its store, or an OPRF
  // key rotation): drops every queued batch, records `after_sequence` as
  // acknowledged, and queues from after_sequence + 1 one batch that clears
  // the gateway's set of every purpose answered, then every current tag in
  // batches of at most `max_changes_per_batch` tags; one atomic write.
  // Returns the number of batches queued. Errors: INVALID_ARGUMENT for a
  // zero batch size; UNAVAILABLE / INTERNAL from the store (nothing
  // changed).
  absl::StatusOr<uint64_t> Republish(uint64_t after_sequence, uint32_t max_changes_per_batch);

  // Queue counters and distinct tags per purpose answered.
  absl::StatusOr<IndexStatus> GetIndexStatus() const;

  // The signal's tags per purpose (empty map when it has none).
  // Errors: INTERNAL from the store.
  absl::StatusOr<std::map<std::string, std::vector<crypto::Tag>>> TagsOf(
      std::string_view signal_id) const;

  // The ids of the signals that yield `tag` under `purpose_id` (what a
  // disclosure or a hit notification resolves a tag to), ascending; empty
  // when none. Errors: INTERNAL / DATA_LOSS from the store.
  absl::StatusOr<std::vector<std::string>> SignalsWithTag(std::string_view purpose_id,
                                                          const crypto::Tag& tag) const;

  // How many signals yield `tag` under `purpose_id` (0 when none).
  absl::StatusOr<uint64_t> TagReferences(std::string_view purpose_id, const crypto::Tag& tag) const;

  const LocalPolicy& policy() const { return *policy_; }

  // What Create re-derived for a changed policy; nullopt when nothing had
  // to be (the tags were derived under this policy's matchable categories).
  const std::optional<PolicyRetag>& retag() const { return retag_; }
  // What Create re-applied for a changed exclusion list or threshold;
  // nullopt when nothing had to be.
  const std::optional<AddressRecheck>& address_recheck() const { return address_recheck_; }

  // Whether a signal id is well formed (1 to 64 of [A-Za-z0-9_-]).
  static bool ValidSignalId(std::string_view id);

  // A subject's identifiers as crypto::DeriveMatchKeys takes them (the
  // surname prefix joined to the surname, an address only when given).
  static crypto::SubjectIdentifiers IdentifiersOf(const v1::Subject& subject);

  // The match keys of a subject as the store derives them (for filters).
  // Errors: INVALID_ARGUMENT naming each bad field ("subject.bsn: ...").
  static absl::StatusOr<std::vector<crypto::MatchKey>> MatchKeysOf(const v1::Subject& subject,
                                                                   absl::Time now);

 private:
  struct Change;
  SignalStore(store::KvStore* kv, std::shared_ptr<const LocalPolicy> policy,
              std::map<std::string, crypto::PurposeKey> purpose_keys, NodeSecret secret,
              LocalLog* log)
      : kv_(kv),
        policy_(std::move(policy)),
        purpose_keys_(std::move(purpose_keys)),
        secret_(std::move(secret)),
        log_(log) {}

  // Validates and normalises a signal for storage; fills defaults.
  absl::Status Normalise(v1::Signal& signal, absl::Time now,
                         std::vector<SignalProblem>* problems = nullptr) const;
  // Keys, digests and tags of a valid signal.
  absl::StatusOr<PreparedSignal> Derive(v1::Signal signal) const;
  // Writes the changes, their tag records, reference counts, (when a tag is
  // added or removed) one queue entry, `record` (when given and the store
  // has a log) and `extra` in one atomic batch. Caller holds mu_.
  absl::StatusOr<PreparedCommit> Commit(std::vector<Change> changes,
                                        const v1::LocalLogRecord* record = nullptr,
                                        store::WriteBatch extra = {});
  v1::LocalLogRecord RecordFor(v1::LocalEventKind kind, const SignalActor& actor) const;
  // A stored signal's keys record (sig/k/), nullopt when there is none.
  // Errors: DATA_LOSS when it does not parse; those of the store.
  struct KeysRecord;
  absl::StatusOr<std::optional<KeysRecord>> ReadKeys(std::string_view signal_id) const;
  // The address group a stored signal belongs to, from its keys record
  // (`record`, null when it has none); nullopt without one.
  struct AddressMeta {
    std::string digest;  // 16 bytes
    bool listed = false;
  };
  std::optional<AddressMeta> MetaOf(const KeysRecord* record, const v1::Signal& stored) const;
  // Moves the keys of a store written before sig/k/ into it (Create).
  absl::Status MigrateLegacyKeys();
  // Re-derives tags for a changed policy (Create; see the top of this file).
  absl::Status RetagForPolicy();
  // The last write of a policy run: `under` at `under_key`, `progress_key`
  // deleted and, when the run `ran` and the store has a log, one
  // POLICY_LOADED record with `detail` in the same write. Caller holds mu_.
  absl::Status FinishPolicyRun(std::string_view under_key, std::string_view under,
                               std::string_view progress_key, bool ran,
                               uint64_t signals_retagged, std::string detail);
  // Re-evaluates address groups for a changed exclusion list or threshold
  // (Create; see the top of this file).
  absl::Status RecheckAddresses();
  // Derive(stored); a subject that no longer yields keys gets no tags (and
  // no address group), counted in `untaggable`.
  absl::StatusOr<PreparedSignal> Rederive(const v1::Signal& stored, uint64_t& untaggable) const;
  absl::StatusOr<std::optional<v1::Signal>> Read(std::string_view signal_id) const;
  absl::StatusOr<uint64_t> ReadCounter(std::string_view key) const;

  store::KvStore* const kv_;
  const std::shared_ptr<const LocalPolicy> policy_;
  const std::map<std::string, crypto::PurposeKey> purpose_keys_;
  const NodeSecret secret_;
  LocalLog* const log_;
  std::optional<PolicyRetag> retag_;  // set by Create, then constant
  std::optional<AddressRecheck> address_recheck_;  // likewise
  // Address digests (16 bytes) of the policy's excluded addresses: whether
  // an address group is listed. Set by Create, then constant.
  std::set<std::string> excluded_digests_;
  std::mutex mu_;  // serialises changes
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_SIGNAL_STORE_H_
