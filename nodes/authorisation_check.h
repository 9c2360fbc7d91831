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
// a replay is refused also after the node is killed and restarted; they are
// kept until expires_at plus the skew (ForgetExpiredNonces removes them).
// Forgetting records, in the same write, the latest expiry forgotten; an
// authorisation that expires at or before it is refused (FAILED_PRECONDITION)
// whatever the clock says, so setting the node's clock back cannot make a
// forgotten nonce acceptable again.
//
// Thread safety: Check may be called concurrently; two calls with the same
// nonce accept exactly one.
#ifndef SCHAKEL_NODES_AUTHORISATION_CHECK_H_
#define SCHAKEL_NODES_AUTHORISATION_CHECK_H_

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
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
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_AUTHORISATION_CHECK_H_
