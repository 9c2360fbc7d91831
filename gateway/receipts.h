// The gateway's signed receipts (signing.proto, ReceiptPayload / Receipt):
// for every log entry a call writes, a statement signed with the gateway's
// Ed25519 key that entry `sequence` with `entry_hash` exists, issued to the
// organisation concerned. Nodes keep them, so a partner can later prove
// what the log said and that it was not rewritten (protocol.md, "The
// exchange log"). One entry may have several receipts, one per recipient
// (the requester, and each partner an exchange was forwarded to).
//
// Errors: Sign and Issue return INVALID_ARGUMENT when the payload cannot be
// canonically encoded (a sub-millisecond issued_at), or when the entry hash
// or exchange id has the wrong size; VerifyReceipt returns INVALID_ARGUMENT
// naming what does not hold.
//
// Thread safety: a ReceiptIssuer is immutable; its methods may be called
// from any number of threads at once.
#ifndef SCHAKEL_GATEWAY_RECEIPTS_H_
#define SCHAKEL_GATEWAY_RECEIPTS_H_

#include <functional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/signing.h"
#include "gateway/exchange_log.h"
#include "schakel/v1/signing.pb.h"

namespace schakel::gateway {

class ReceiptIssuer {
 public:
  // `key` is the gateway's signing key (to keep a copy elsewhere, use
  // crypto::SigningKey::FromSeed(key.seed())); `now` the clock.
  ReceiptIssuer(crypto::SigningKey key, std::function<absl::Time()> now)
      : key_(std::move(key)), now_(std::move(now)) {}

  // Signs `payload` as SM("schakel:v1:receipt", payload); issued_at is set
  // to now (whole milliseconds) when unset.
  absl::StatusOr<v1::Receipt> Sign(v1::ReceiptPayload payload) const;

  // The receipt of the entry `appended` for `recipient_org_id`.
  // `exchange_id` is 16 bytes, or empty for entries outside an exchange.
  absl::StatusOr<v1::Receipt> Issue(const ExchangeLog::Appended& appended,
                                    std::string_view recipient_org_id,
                                    std::string_view exchange_id) const;

  const crypto::VerifyKey& verify_key() const { return key_.verify_key(); }

 private:
  const crypto::SigningKey key_;
  const std::function<absl::Time()> now_;
};

// Checks `receipt`: signed by `gateway_key` over its payload, a 32-byte
// entry hash, a sequence of at least 1, and an exchange id of 0 or 16 bytes.
absl::Status VerifyReceipt(const v1::Receipt& receipt, const crypto::VerifyKey& gateway_key);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_RECEIPTS_H_
