#include "gateway/receipts.h"

#include "common/strings.h"
#include "gateway/authoriser.h"
#include "proto/canonical.h"

namespace schakel::gateway {

absl::StatusOr<v1::Receipt> ReceiptIssuer::Sign(v1::ReceiptPayload payload) const {
  if (!payload.has_issued_at()) SetMillis(payload.mutable_issued_at(), absl::ToUnixMillis(now_()));
  auto signature = canonical::Sign(key_, canonical::kReceiptContext, payload);
  if (!signature.ok()) return signature.status();
  v1::Receipt receipt;
  *receipt.mutable_payload() = std::move(payload);
  *receipt.mutable_signature() = *std::move(signature);
  return receipt;
}

absl::StatusOr<v1::Receipt> ReceiptIssuer::Issue(const ExchangeLog::Appended& appended,
                                                 std::string_view recipient_org_id,
                                                 std::string_view exchange_id) const {
  if (!exchange_id.empty() && exchange_id.size() != 16) {
    return absl::InvalidArgumentError(
        StrCat("receipt: exchange_id is ", exchange_id.size(), " bytes; expected 16 or none"));
  }
  v1::ReceiptPayload payload;
  payload.set_sequence(appended.sequence);
  payload.set_entry_hash(std::string(appended.entry_hash.begin(), appended.entry_hash.end()));
  payload.set_recipient_org_id(std::string(recipient_org_id));
  payload.set_exchange_id(std::string(exchange_id));
  return Sign(std::move(payload));
}

absl::Status VerifyReceipt(const v1::Receipt& receipt, const crypto::VerifyKey& gateway_key) {
  const v1::ReceiptPayload& p = receipt.payload();
  if (p.sequence() == 0) return absl::InvalidArgumentError("receipt.payload.sequence: 0; entries start at 1");
  if (p.entry_hash().size() != canonical::kDigestSize) {
    return absl::InvalidArgumentError(
        StrCat("receipt.payload.entry_hash: ", p.entry_hash().size(), " bytes; expected 32"));
  }
  if (!p.exchange_id().empty() && p.exchange_id().size() != 16) {
    return absl::InvalidArgumentError(
        StrCat("receipt.payload.exchange_id: ", p.exchange_id().size(), " bytes; expected 16 or none"));
  }
  return canonical::Verify(gateway_key, canonical::kReceiptContext, p, receipt.signature());
}

}  // namespace schakel::gateway
