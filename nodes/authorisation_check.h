// The node's check of a gateway authorisation (signing.proto), before it
// evaluates or discloses anything. In order, each failure with the code that
// node.proto's Evaluate/Disclose document:
//   signature by a pinned gateway key (PERMISSION_DENIED)
//   operation and addressee: this node's organisation (PERMISSION_DENIED)
//   request digest equals the digest of what actually arrived
//     (PERMISSION_DENIED)
//   issued_at not in the future, expires_at not passed, lifetime at most
//     60 s, each with the configured clock skew (FAILED_PRECONDITION)
//   purpose answered under the node's local policy (PERMISSION_DENIED)
//   nonce never accepted before (ALREADY_EXISTS)
// Accepted nonces are stored with a synced write before Check returns OK, so
// a replay is refused also after the node is killed and restarted. Claim
// splits that in two: it accepts the nonce in memory (no other call can
// accept it from then on) and returns a NonceClaim whose Commit makes it
// durable, in the same synced write as whatever else the answer needs (the
// node's log record of it): one fsync instead of two. Nothing may be answered
// before Commit returned OK. Destroying an uncommitted claim releases the
// nonce (a request refused afterwards, for instance over quota, does not use
// it up). Nonces are
// kept until expires_at plus the skew (ForgetExpiredNonces removes them).
// Forgetting records, in the same write, the latest expiry forgotten; an
// authorisation that expires at or before it is refused (FAILED_PRECONDITION)
// whatever the clock says, so setting the node's clock back cannot make a
// forgotten nonce acceptable again.
//
// Thread safety: Check and Claim may be called concurrently; two calls with
// the same nonce accept exactly one. The synced write happens outside the
// lock, so concurrent calls share RocksDB's group commit. A NonceClaim
// belongs to one thread at a time and must not outlive its check.
#ifndef SCHAKEL_NODES_AUTHORISATION_CHECK_H_
#define SCHAKEL_NODES_AUTHORISATION_CHECK_H_

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/signing.h"
#include "proto/canonical.h"
#include "schakel/v1/signing.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

class AuthorisationCheck {
 public:
  class NonceClaim {
   public:
    NonceClaim(NonceClaim&& other) noexcept;
    NonceClaim& operator=(NonceClaim&&) = delete;
    NonceClaim(const NonceClaim&) = delete;
    NonceClaim& operator=(const NonceClaim&) = delete;
    ~NonceClaim();
    // Writes `batch` plus the nonce with `write` (default: a synced write to
    // the nonce store; it must be synced and atomic), once. Errors:
    // UNAVAILABLE when it could not be written: refuse the request (fail
    // closed).
    using Write = std::function<absl::Status(store::WriteBatch batch)>;
    absl::Status Commit(const Write& write = nullptr);

   private:
    friend class AuthorisationCheck;
    NonceClaim(AuthorisationCheck* check, std::string key, int64_t keep_until)
        : check_(check), key_(std::move(key)), keep_until_(keep_until) {}
    AuthorisationCheck* check_;  // null once moved from
    std::string key_;
    int64_t keep_until_;
    bool committed_ = false;
  };

  struct Options {
    std::string own_org_id;
    std::chrono::milliseconds max_skew{5000};
  };

  // `gateway_keys`: the gateway's pinned signing keys (several during a key
  // rotation). `nonce_store` is not owned. `now_ms`: milliseconds since the
  // Unix epoch.
  AuthorisationCheck(std::vector<crypto::VerifyKey> gateway_keys, Options options,
                     store::KvStore* nonce_store, std::function<int64_t()> now_ms)
      : keys_(std::move(gateway_keys)), options_(std::move(options)), store_(nonce_store),
        now_ms_(std::move(now_ms)) {}

  // Checks `auth` for `operation` against the digest of the request as
  // received, and accepts its nonce. `purpose_answered` is the node's local
  // policy. Errors: see the top of this file; UNAVAILABLE when the nonce
  // could not be stored (the request is then refused: fail closed).
  absl::Status Check(const v1::Authorisation& auth, v1::AuthorisedOperation operation,
                     const canonical::DigestBytes& request_digest,
                     const std::function<bool(const std::string&)>& purpose_answered);
  // The same checks, with the nonce accepted in memory only: Commit the claim
  // before answering. Errors as Check's, except the store's.
  absl::StatusOr<NonceClaim> Claim(const v1::Authorisation& auth, v1::AuthorisedOperation operation,
                                   const canonical::DigestBytes& request_digest,
                                   const std::function<bool(const std::string&)>& purpose_answered);

  // Deletes stored nonces whose authorisations expired (plus skew) before
  // now; returns how many.
  absl::StatusOr<size_t> ForgetExpiredNonces();

 private:
  const std::vector<crypto::VerifyKey> keys_;
  const Options options_;
  store::KvStore* const store_;
  const std::function<int64_t()> now_ms_;
  // Reads the latest forgotten expiry (once; then kept here). Caller holds
  // nonce_mu_.
  absl::StatusOr<int64_t> ForgottenThrough();

  std::mutex nonce_mu_;  // serialises check-and-store of nonces
  std::optional<int64_t> forgotten_through_;  // guarded by nonce_mu_
  std::set<std::string> claimed_;             // claimed, not yet stored; guarded by nonce_mu_
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_AUTHORISATION_CHECK_H_
