#include "crypto/signing.h"

#include <algorithm>

#include "common/strings.h"
#include "crypto/random.h"

namespace schakel::crypto {

absl::StatusOr<VerifyKey> VerifyKey::FromBytes(ByteView bytes) {
  if (bytes.size() != kVerifyKeySize) {
    return absl::InvalidArgumentError(StrCat("Ed25519 public key: has ", bytes.size(),
                                             " bytes; it must have ", kVerifyKeySize));
  }
  EnsureSodiumInitialized();
  // libsodium 1.0.18's check refuses non-canonical encodings, points not on
  // the curve, small-order points and points outside the prime-order subgroup.
  if (crypto_core_ed25519_is_valid_point(bytes.data()) != 1) {
    return absl::InvalidArgumentError(
        "Ed25519 public key: not a canonical encoding of a point of prime order "
        "(small-order keys are refused)");
  }
  VerifyKey key;
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  return key;
}

absl::Status VerifyKey::Verify(ByteView message, ByteView signature) const {
  if (signature.size() != kSignatureSize) {
    return absl::InvalidArgumentError(StrCat("Ed25519 signature: has ", signature.size(),
                                             " bytes; it must have ", kSignatureSize));
  }
  EnsureSodiumInitialized();
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                  bytes_.data()) != 0) {
    return absl::InvalidArgumentError("Ed25519 signature: signature does not verify");
  }
  return absl::OkStatus();
}

SigningKey SigningKey::Generate() {
  EnsureSodiumInitialized();
  SigningKey key;
  crypto_sign_keypair(key.verify_key_.bytes_.data(), key.secret_key_.data());
  return key;
}

SigningKey SigningKey::FromSeed(std::span<const uint8_t, kSigningSeedSize> seed) {
  EnsureSodiumInitialized();
  SigningKey key;
  crypto_sign_seed_keypair(key.verify_key_.bytes_.data(), key.secret_key_.data(), seed.data());
  return key;
}

Signature SigningKey::Sign(ByteView message) const {
  Signature signature;
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(),
                       secret_key_.data());
  return signature;
}

}  // namespace schakel::crypto
