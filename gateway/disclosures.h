// The gateway's disclosures (disclosure.proto), persisted in its store:
// what was asked (the order sent to the answering node), by whom, where it
// stands (DisclosureStatus), the node's signed statement, and, for a
// DELIVERED disclosure, the sealed box until the requester has had it. The
// box is ciphertext sealed to the requester's X25519 key: the gateway
// cannot open it, never logs it, and keeps it only to hand it over.
//
// Writes go into the batch of the log entry that records the step
// (ExchangeLog::Append's `with`), so a disclosure is stored exactly when
// its DISCLOSURE_REQUESTED entry is, and its decision exactly when its
// DISCLOSURE_DECIDED entry is. Only the hand-over marks (MarkHandedOut,
// DropBox) are written on their own (synced).
//
// Storage:
//   "ds/d/<disclosure id>"          -> StoredDisclosure (parts, see .cc)
//   "ds/r/<org>\0<request_id>"      -> disclosure id (16) || request digest (32)
//   "ds/p/<decide_by ms, 8 BE><id>" -> "" while PENDING_APPROVAL (expiry sweep)
//   "ds/b/<drop at ms, 8 BE><id>"   -> "" while a handed-out box is kept
//
// Box retention: a sealed box is kept until `box_retention` after it was
// first handed to the requester (in a RequestDisclosure or GetDisclosure
// answer, or queued in a DisclosureNotice, whose own copy lives until the
// notice is acknowledged). The grace covers an answer lost on the way: a
// retry with the same request_id, or GetDisclosure, still gets the box.
//
// Thread safety: all methods may be called concurrently; Begin and Lock
// serialise work on one request id or one disclosure in memory.
#ifndef SCHAKEL_GATEWAY_DISCLOSURES_H_
#define SCHAKEL_GATEWAY_DISCLOSURES_H_

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/exchange_state.h"
#include "proto/canonical.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/disclosure.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

// One disclosure as the gateway tracks it.
struct StoredDisclosure {
  // Where it stands, as the requester sees it (with `sealed` once decided
  // by the node; its sealed_box only while kept).
  v1::DisclosureStatus status;
  // Who asked (organisation from its certificate, user, role).
  v1::Requester requester;
  // The order sent to the answering node.
  v1::DisclosureOrder order;
  // The request id and the fingerprint of the request (idempotency).
  std::string request_id;
  canonical::DigestBytes request_digest{};
  // The DISCLOSURE_REQUESTED and (0 until decided) DISCLOSURE_DECIDED
  // entries; receipts are issued again from them on a retry.
  uint64_t requested_sequence = 0;
  uint64_t decided_sequence = 0;
  // When the box was first handed to the requester; nullopt before.
  std::optional<absl::Time> box_handed_out_at;
  // Whether the box was dropped after the retention (status keeps the
  // statement with its payload hash).
  bool box_dropped = false;
};

class DisclosureStore {
 public:
  struct Options {
    absl::Duration box_retention = absl::Hours(24);
  };
  // `kv` is not owned and must outlive the store.
  static std::unique_ptr<DisclosureStore> Open(store::KvStore* kv, Options options);

  // The disclosure `org_id`'s `request_id` asked for, when that request had
  // `request_digest`; nullopt when the request id was not used. Errors:
  // ALREADY_EXISTS when it was used with another request; DATA_LOSS; store
  // errors.
  absl::StatusOr<std::optional<StoredDisclosure>> FindRequest(
      std::string_view org_id, std::string_view request_id,
      const canonical::DigestBytes& request_digest) const;

  // Marks (org_id, request_id) in progress until the returned guard goes.
  // Errors: UNAVAILABLE when it already is (a concurrent retry).
  using InFlight = RequestsInFlight::Guard;
  absl::StatusOr<InFlight> Begin(std::string_view org_id, std::string_view request_id);

  // The disclosure, nullopt when unknown. Errors: DATA_LOSS; store errors.
  absl::StatusOr<std::optional<StoredDisclosure>> Get(std::string_view disclosure_id) const;

  // Adds the writes that store `d` to `batch`: the record, its request id,
  // and the expiry and retention index entries; `previous` (the state
  // before, or null for a new one) lets stale index entries go.
  void AddPut(const StoredDisclosure& d, const StoredDisclosure* previous,
              store::WriteBatch& batch) const;

  // Records that the box of `d` was handed to the requester at `now` (the
  // first time only; synced). Returns `d` as now stored.
  absl::StatusOr<StoredDisclosure> MarkHandedOut(StoredDisclosure d, absl::Time now);

  // Ids of disclosures still PENDING_APPROVAL whose decide_by is before
  // `now`, oldest first, at most `limit`.
  absl::StatusOr<std::vector<std::string>> DuePending(absl::Time now, size_t limit) const;

  // Drops every kept box whose retention ended before `now` (synced);
  // returns how many.
  absl::StatusOr<size_t> DropExpiredBoxes(absl::Time now);

  // Serialises work on one disclosure (decisions, expiry, hand-over).
  std::unique_lock<std::mutex> Lock(std::string_view disclosure_id);

 private:
  DisclosureStore(store::KvStore* kv, Options options) : kv_(kv), options_(options) {}

  store::KvStore* const kv_;
  const Options options_;
  RequestsInFlight in_flight_;
  std::array<std::mutex, 64> locks_;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_DISCLOSURES_H_
