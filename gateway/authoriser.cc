#include "gateway/authoriser.h"

#include "common/strings.h"
#include "crypto/random.h"

namespace schakel::gateway {

void SetMillis(google::protobuf::Timestamp* t, int64_t ms) {
  int64_t seconds = ms / 1000;
  int64_t rest = ms % 1000;
  if (rest < 0) {
    rest += 1000;
    --seconds;
  }
  t->set_seconds(seconds);
  t->set_nanos(static_cast<int32_t>(rest * 1000000));
}

int64_t ToMillis(const google::protobuf::Timestamp& t) { return t.seconds() * 1000 + t.nanos() / 1000000; }

absl::StatusOr<std::unique_ptr<Authoriser>> Authoriser::Create(crypto::SigningKey key,
                                                               std::chrono::milliseconds lifetime,
                                                               std::function<int64_t()> now_ms) {
  if (lifetime.count() < 1 || lifetime > kMaxLifetime) {
    return absl::InvalidArgumentError(
        StrCat("authorisation lifetime: ", lifetime.count(), " ms is outside 1 ms .. 60 s"));
  }
  return std::unique_ptr<Authoriser>(new Authoriser(std::move(key), lifetime, std::move(now_ms)));
}

absl::StatusOr<v1::Authorisation> Authoriser::Issue(v1::AuthorisationPayload payload) const {
  if (payload.request_digest().size() != canonical::kDigestSize) {
    return absl::InvalidArgumentError("authorisation: request_digest must be 32 bytes");
  }
  if (payload.exchange_id().size() != 16) {
    return absl::InvalidArgumentError("authorisation: exchange_id must be 16 bytes");
  }
  if (payload.responder_org_id().empty() || payload.purpose_id().empty()) {
    return absl::InvalidArgumentError("authorisation: responder_org_id and purpose_id are required");
  }
  const int64_t now = now_ms_();
  SetMillis(payload.mutable_issued_at(), now);
  SetMillis(payload.mutable_expires_at(), now + lifetime_.count());
  std::string nonce(16, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()));
  payload.set_nonce(std::move(nonce));
  auto signature = canonical::Sign(key_, canonical::kAuthorisationContext, payload);
  if (!signature.ok()) return signature.status();
  v1::Authorisation out;
  *out.mutable_payload() = std::move(payload);
  *out.mutable_signature() = std::move(*signature);
  return out;
}

}  // namespace schakel::gateway
