// The gateway's open exchanges, persisted in its store: what ResolveMatches
// needs (who opened it, under which purpose, the subjects' families,
// relations and key types, each partner's outcome and evaluated element
// count, resolve_by), the response OpenExchange returned (so a retry with
// the same request_id gets it again and nothing is evaluated twice), and,
// once resolved, the tags' digest and the result (so a retry with the same
// tags gets the same result and different tags are refused), when it was
// resolved and, per partner, the tags that hit (what a disclosure order
// carries: gateway.proto, RequestDisclosure).
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
//   "xd/<exchange id>"        -> format version, tags digest (32),
//                                ResolveMatchesResponse, resolved
//                                sequence; version 2 adds resolved_at and
//                                the hit tags (version 1 is still read)
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
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/canonical.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/gateway.pb.h"
#include "schakel/v1/log.pb.h"
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
  // When EXCHANGE_RESOLVED was recorded (whole milliseconds); nullopt for a
  // resolution stored before this was kept (its log entry says).
  std::optional<absl::Time> resolved_at;
  // Per partner with a hit, in directory order: org_id, purpose_id, and the
  // hits as parallel lists: hit_element_indices[i] is an element index
  // whose tag tags[i] was in the partner's tag set. Empty when nothing hit,
  // and for a resolution stored before this was kept (version 1).
  std::vector<v1::OrgTags> hit_tags;
  // Whether hit_tags and resolved_at were stored (version 2).
  bool has_hits = false;
};

// Request keys being processed, so that a concurrent retry of the same
// request is held off rather than performed twice.
class RequestsInFlight {
 public:
  // Removes its key when it goes.
  class Guard {
   public:
    Guard(Guard&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), key_(std::move(o.key_)) {}
    Guard& operator=(Guard&&) = delete;
    ~Guard();

   private:
    friend class RequestsInFlight;
    Guard(RequestsInFlight* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    RequestsInFlight* owner_;
    std::string key_;
  };
  // Errors: UNAVAILABLE "the same request is still being processed" when
  // `key` already is.
  absl::StatusOr<Guard> Begin(std::string key);

 private:
  std::mutex mu_;
  std::set<std::string> keys_;  // guarded by mu_
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
  using InFlight = RequestsInFlight::Guard;
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
  RequestsInFlight in_flight_;
  std::array<std::mutex, 64> exchange_locks_;
};

// BLAKE2b-256 of the deterministic wire encoding of `m`: a fingerprint for
// comparing requests (idempotency), never part of the protocol.
canonical::DigestBytes Fingerprint(const google::protobuf::Message& m);

// The deterministic wire encoding of `m`.
std::string DeterministicBytes(const google::protobuf::Message& m);

// Length-prefixed parts: the simple, versionable container the gateway's
// stores use for a value made of wire-format messages, numbers and
// digests. A PartsReader reads strictly: every read fails (false) on
// truncated input, and done() says whether everything was read.
class PartsWriter {
 public:
  void Part(std::string_view bytes);
  void Message(const google::protobuf::Message& m) { Part(DeterministicBytes(m)); }
  void Number(uint64_t v);
  void Raw(std::string_view bytes) { out_ += bytes; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class PartsReader {
 public:
  explicit PartsReader(std::string_view in) : in_(in) {}
  bool Number(uint64_t& v);
  bool Part(std::string_view& bytes);
  bool Message(google::protobuf::Message& m);
  bool Digest(canonical::DigestBytes& d);
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_EXCHANGE_STATE_H_
