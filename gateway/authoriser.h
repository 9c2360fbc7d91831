// Issues the gateway's signed authorisations (signing.proto, Authorisation):
// what a node may do for one exchange, addressed to that node, bound to the
// exact request by its digest, valid for at most 60 seconds, with a fresh
// 16-byte nonce. The node checks all of it (nodes/authorisation_check.h).
//
// Thread safety: Issue may be called concurrently.
#ifndef SCHAKEL_GATEWAY_AUTHORISER_H_
#define SCHAKEL_GATEWAY_AUTHORISER_H_

#include <chrono>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "crypto/signing.h"
#include "proto/canonical.h"
#include "schakel/v1/signing.pb.h"

namespace schakel::gateway {

class Authoriser {
 public:
  // Lifetime of an authorisation; at most 60 s (signing.proto).
  static constexpr std::chrono::milliseconds kMaxLifetime{60000};

  // `now_ms` returns the current time in milliseconds since the Unix epoch.
  // Errors: INVALID_ARGUMENT for a lifetime outside 1 ms .. 60 s.
  static absl::StatusOr<std::unique_ptr<Authoriser>> Create(
      crypto::SigningKey key, std::chrono::milliseconds lifetime,
      std::function<int64_t()> now_ms);

  // Everything but the times, the nonce and the signature, which Issue
  // fills in. Errors: INVALID_ARGUMENT when the request digest is not 32
  // bytes, the exchange id not 16, or the responder or purpose is empty.
  absl::StatusOr<v1::Authorisation> Issue(v1::AuthorisationPayload payload) const;

  const crypto::VerifyKey& verify_key() const { return key_.verify_key(); }

 private:
  Authoriser(crypto::SigningKey key, std::chrono::milliseconds lifetime,
             std::function<int64_t()> now_ms)
      : key_(std::move(key)), lifetime_(lifetime), now_ms_(std::move(now_ms)) {}
  const crypto::SigningKey key_;
  const std::chrono::milliseconds lifetime_;
  const std::function<int64_t()> now_ms_;
};

// Milliseconds since the Unix epoch as a Timestamp, and back.
void SetMillis(google::protobuf::Timestamp* t, int64_t ms);
int64_t ToMillis(const google::protobuf::Timestamp& t);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_AUTHORISER_H_
