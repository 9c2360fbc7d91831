// The gateway's open exchanges, persisted in its store: what ResolveMatches
// needs (who opened it, under which purpose, the subjects' families,
// relations and key types, each partner's outcome and evaluated element
// count, resolve_by), the response OpenExchange returned (so a retry with
// the same request_id gets it again and nothing is evaluated twice), and,
// once resolved, the tags' digest and the result (so a retry with the same
// tags gets the same result and different tags are refused).
//
// Writes go into the batch of the log entry that records the step
// (ExchangeLog::Append's `with`): an exchange is stored exactly when its
// EXCHANGE_EVALUATED entry is, and marked resolved exactly when its
// EXCHANGE_RESOLVED entry is.
//
// Storage:
//   "xr/<org>\0<request_id>"  -> exchange id (16) || request digest (32)
//   "xo/<exchange id>"        -> StoredExchange (see below; protobuf wire
//                                format of its parts, length-prefixed)
//   "xd/<exchange id>"        -> tags digest (32) || ResolveMatchesResponse
// The blinded elements are not kept (the response keeps the evaluations,
// which a retry returns).
//
// Thread safety: all methods may be called concurrently. Begin and
// LockExchange serialise work on one request id or one exchange in memory.
#ifndef SCHAKEL_GATEWAY_EXCHANGE_STATE_H_
#define SCHAKEL_GATEWAY_EXCHANGE_STATE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "proto/canonical.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/gateway.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

// An exchange as OpenExchange left it.
struct StoredExchange {
  std::string exchange_id;  // 16 bytes
  // Who opened it: organisation (from its certificate), user and role.
  v1::Requester requester;
  // The request without its blinded elements (purpose, case, targets,
  // subjects' families, relations and key types, request_id).
  v1::OpenExchangeRequest shape;
  // The response as returned, without receipts.
  v1::OpenExchangeResponse response;
  // The EXCHANGE_REQUESTED and EXCHANGE_EVALUATED entries (receipts are
  // issued again from them on a retry).
  uint64_t requested_sequence = 0;
  uint64_t evaluated_sequence = 0;
};

// A resolved exchange.
struct ResolvedExchange {
  canonical::DigestBytes tags_digest{};
  // The response as returned, without receipts.
  v1::ResolveMatchesResponse response;
  uint64_t resolved_sequence = 0;
};

class ExchangeStore {
 public:
  // `kv` is not owned and must outlive the store.
  static std::unique_ptr<ExchangeStore> Open(store::KvStore* kv);

  // The exchange that `org_id`'s `request_id` opened, when that request had
  // `request_digest`; nullopt when the request id was not used. Errors:
  // ALREADY_EXISTS when it was used with another request; DATA_LOSS; store
  // errors.
  absl::StatusOr<std::optional<StoredExchange>> FindRequest(
      std::string_view org_id, std::string_view request_id,
      const canonical::DigestBytes& request_digest) const;

  // Marks (org_id, request_id) in progress until the returned guard goes.
  // Errors: UNAVAILABLE when it already is (a concurrent retry).
  class InFlight {
   public:
    InFlight(InFlight&& o) noexcept : store_(std::exchange(o.store_, nullptr)), key_(std::move(o.key_)) {}
    InFlight& operator=(InFlight&&) = delete;
    ~InFlight();

   private:
    friend class ExchangeStore;
    InFlight(ExchangeStore* store, std::string key) : store_(store), key_(std::move(key)) {}
    ExchangeStore* store_;
    std::string key_;
  };
  absl::StatusOr<InFlight> Begin(std::string_view org_id, std::string_view request_id);

  // Adds the writes that store `exchange` (under its request id, with
  // `request_digest`) to `batch`.
  void AddOpened(const StoredExchange& exchange, const canonical::DigestBytes& request_digest,
                 store::WriteBatch& batch) const;

  // The exchange, nullopt when unknown. Errors: DATA_LOSS; store errors.
  absl::StatusOr<std::optional<StoredExchange>> Get(std::string_view exchange_id) const;

  // The resolution, nullopt when not resolved.
  absl::StatusOr<std::optional<ResolvedExchange>> GetResolved(std::string_view exchange_id) const;
  void AddResolved(std::string_view exchange_id, const ResolvedExchange& resolved,
                   store::WriteBatch& batch) const;

  // Serialises work on one exchange (ResolveMatches).
  std::unique_lock<std::mutex> LockExchange(std::string_view exchange_id);

 private:
  explicit ExchangeStore(store::KvStore* kv) : kv_(kv) {}

  store::KvStore* const kv_;
  std::mutex in_flight_mu_;
  std::set<std::string> in_flight_;  // guarded by in_flight_mu_
  std::array<std::mutex, 64> exchange_locks_;
};

// BLAKE2b-256 of the deterministic wire encoding of `m`: a fingerprint for
// comparing requests (idempotency), never part of the protocol.
canonical::DigestBytes Fingerprint(const google::protobuf::Message& m);

// The deterministic wire encoding of `m`.
std::string DeterministicBytes(const google::protobuf::Message& m);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_EXCHANGE_STATE_H_
