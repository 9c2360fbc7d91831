#include "nodes/authorisation_check.h"

#include <algorithm>
#include <utility>

#include "common/strings.h"

namespace schakel::nodes {
namespace {

constexpr char kNoncePrefix[] = "nonce/";
// Outside kNoncePrefix: the latest keep-until of a forgotten nonce (u64 ms).
constexpr char kForgottenThroughKey[] = "noncem/forgotten_through";
constexpr int64_t kMaxLifetimeMs = 60000;

int64_t Millis(const google::protobuf::Timestamp& t) { return t.seconds() * 1000 + t.nanos() / 1000000; }

}  // namespace

absl::Status AuthorisationCheck::Check(const v1::Authorisation& auth,
                                       v1::AuthorisedOperation operation,
                                       const canonical::DigestBytes& request_digest,
                                       const std::function<bool(const std::string&)>& purpose_answered) {
  auto claim = Claim(auth, operation, request_digest, purpose_answered);
  if (!claim.ok()) return claim.status();
  return claim->Commit();
}

AuthorisationCheck::NonceClaim::NonceClaim(NonceClaim&& other) noexcept
    : check_(std::exchange(other.check_, nullptr)), key_(std::move(other.key_)),
      keep_until_(other.keep_until_), committed_(other.committed_) {}

AuthorisationCheck::NonceClaim::~NonceClaim() {
  if (check_ == nullptr) return;
  std::lock_guard lock(check_->nonce_mu_);
  check_->claimed_.erase(key_);  // stored by now, or released
}

absl::Status AuthorisationCheck::NonceClaim::Commit(const Write& write) {
  if (check_ == nullptr) return absl::FailedPreconditionError("authorisation: nonce claim moved from");
  if (committed_) return absl::OkStatus();
  store::WriteBatch b;
  b.Put(key_, store::EncodeKeyU64(static_cast<uint64_t>(keep_until_)));
  const absl::Status s =
      write ? write(std::move(b)) : check_->store_->Write(b, store::Durability::kSynced);
  if (!s.ok()) {
    return absl::UnavailableError(StrCat(
        "authorisation: nonce could not be stored, so nothing was answered (", s.message(), ")"));
  }
  committed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<AuthorisationCheck::NonceClaim> AuthorisationCheck::Claim(
    const v1::Authorisation& auth, v1::AuthorisedOperation operation,
    const canonical::DigestBytes& request_digest,
    const std::function<bool(const std::string&)>& purpose_answered) {
  const v1::AuthorisationPayload& p = auth.payload();
  // Signature by a pinned gateway key.
  const crypto::VerifyKey* signer = nullptr;
  for (const auto& k : keys_) {
    const auto id = canonical::KeyId(k);
    if (auth.signature().key_id() == std::string(reinterpret_cast<const char*>(id.data()), id.size())) {
      signer = &k;
      break;
    }
  }
  if (signer == nullptr) {
    return absl::PermissionDeniedError("authorisation: signed by a key that is not a pinned gateway key");
  }
  if (auto s = canonical::Verify(*signer, canonical::kAuthorisationContext, p, auth.signature()); !s.ok()) {
    return absl::PermissionDeniedError(StrCat("authorisation: ", s.message()));
  }
  if (p.operation() != operation) {
    return absl::PermissionDeniedError("authorisation: issued for another operation");
  }
  if (p.responder_org_id() != options_.own_org_id) {
    return absl::PermissionDeniedError("authorisation: addressed to another organisation");
  }
  if (p.request_digest().size() != request_digest.size() ||
      !std::equal(request_digest.begin(), request_digest.end(), p.request_digest().begin(),
                  [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); })) {
    return absl::PermissionDeniedError(
        "authorisation: the request differs from the one the gateway authorised (request digest)");
  }
  const int64_t now = now_ms_();
  const int64_t skew = options_.max_skew.count();
  const int64_t issued = Millis(p.issued_at()), expires = Millis(p.expires_at());
  if (expires - issued > kMaxLifetimeMs || expires <= issued) {
    return absl::FailedPreconditionError("authorisation: lifetime is not within 1 ms .. 60 s");
  }
  if (issued > now + skew) {
    return absl::FailedPreconditionError(
        StrCat("authorisation: issued ", issued - now, " ms in the future (allowed skew ", skew, " ms)"));
  }
  if (expires + skew < now) {
    return absl::FailedPreconditionError(
        StrCat("authorisation: expired ", now - expires, " ms ago (allowed skew ", skew, " ms)"));
  }
  if (!purpose_answered(p.purpose_id())) {
    return absl::PermissionDeniedError("authorisation: this node does not answer under that purpose");
  }
  if (p.nonce().size() != 16) return absl::PermissionDeniedError("authorisation: nonce is not 16 bytes");

  // Accept the nonce exactly once: claimed here, stored by the claim's Commit.
  std::string key = kNoncePrefix + p.nonce();
  std::lock_guard lock(nonce_mu_);
  auto forgotten = ForgottenThrough();
  if (!forgotten.ok()) {
    return absl::UnavailableError(StrCat("authorisation: nonce store: ", forgotten.status().message()));
  }
  if (expires + skew <= *forgotten) {
    return absl::FailedPreconditionError(
        "authorisation: expires before nonces this node has already forgotten (was the node's "
        "clock set back?)");
  }
  auto seen = store_->Get(key);
  if (!seen.ok()) return absl::UnavailableError(StrCat("authorisation: nonce store: ", seen.status().message()));
  if (seen->has_value() || !claimed_.insert(key).second) {
    return absl::AlreadyExistsError("authorisation: replayed (nonce seen before)");
  }
  return NonceClaim(this, std::move(key), expires + skew);
}

absl::StatusOr<int64_t> AuthorisationCheck::ForgottenThrough() {
  if (forgotten_through_) return *forgotten_through_;
  auto value = store_->Get(kForgottenThroughKey);
  if (!value.ok()) return value.status();
  int64_t through = 0;
  if (value->has_value()) {
    auto decoded = store::DecodeKeyU64(**value);
    if (!decoded.ok()) return absl::DataLossError("the forgotten-nonce mark does not parse");
    through = static_cast<int64_t>(*decoded);
  }
  forgotten_through_ = through;
  return through;
}

absl::StatusOr<size_t> AuthorisationCheck::ForgetExpiredNonces() {
  std::lock_guard lock(nonce_mu_);
  auto through = ForgottenThrough();
  if (!through.ok()) return through.status();
  const int64_t now = now_ms_();
  auto rows = store_->Scan(kNoncePrefix, store::PrefixEnd(kNoncePrefix), 0);
  if (!rows.ok()) return rows.status();
  store::WriteBatch b;
  int64_t latest = *through;
  size_t n = 0;
  for (const auto& [key, value] : *rows) {
    auto keep_until = store::DecodeKeyU64(value);
    if (!keep_until.ok() || static_cast<int64_t>(*keep_until) < now) {
      b.Delete(key);
      ++n;
      if (keep_until.ok()) latest = std::max(latest, static_cast<int64_t>(*keep_until));
    }
  }
  if (n == 0) return n;
  b.Put(kForgottenThroughKey, store::EncodeKeyU64(static_cast<uint64_t>(latest)));
  if (auto s = store_->Write(b, store::Durability::kSynced); !s.ok()) return s;
  forgotten_through_ = latest;
  return n;
}

}  // namespace schakel::nodes
