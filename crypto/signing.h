// Ed25519 signatures (RFC 8032, pure Ed25519) on libsodium.
//
// The gateway signs authorisations, checkpoints and receipts; nodes sign
// their evaluations and disclosures (protocol.md). `SigningKey` is the secret
// half, `VerifyKey` the public half that the directory publishes.
//
// Security: verification is libsodium's crypto_sign_verify_detached, which
// refuses non-canonical S values and small-order R points; `VerifyKey` only
// exists for canonical public keys of prime order (small-order keys, for which
// a signature can verify on several messages, are refused when parsing), so a
// signature that verifies was made with the secret key behind that key.
//
// Ownership: `SigningKey` owns the 64-byte libsodium secret key (the RFC 8032
// 32-byte seed followed by the public key) in a SecretBytes: it is move-only,
// the moved-from key holds zeros, and the bytes are wiped on destruction.
// `VerifyKey` is a copyable value.
//
// Thread safety: both types are immutable after construction; all const
// methods may be called from several threads at once.
#ifndef SCHAKEL_CRYPTO_SIGNING_H_
#define SCHAKEL_CRYPTO_SIGNING_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/secret.h"

namespace schakel::crypto {

inline constexpr size_t kSignatureSize = crypto_sign_BYTES;           // 64
inline constexpr size_t kVerifyKeySize = crypto_sign_PUBLICKEYBYTES;  // 32
inline constexpr size_t kSigningSeedSize = crypto_sign_SEEDBYTES;     // 32

using Signature = std::array<uint8_t, kSignatureSize>;

class VerifyKey {
 public:
  // Parses a public key received from outside (directory, key file, peer).
  // Errors: INVALID_ARGUMENT when `bytes` is not 32 bytes long, or is not the
  // canonical encoding of a point of prime order (this refuses the identity
  // and every other small-order point).
  static absl::StatusOr<VerifyKey> FromBytes(ByteView bytes);

  // Checks `signature` over `message`. Errors: INVALID_ARGUMENT when the
  // signature is not 64 bytes long, or "signature does not verify" when it
  // is not a valid signature of this key over exactly this message.
  absl::Status Verify(ByteView message, ByteView signature) const;

  std::span<const uint8_t, kVerifyKeySize> bytes() const { return bytes_; }
  Bytes ToBytes() const { return Bytes(bytes_.begin(), bytes_.end()); }
  bool operator==(const VerifyKey& o) const { return bytes_ == o.bytes_; }

 private:
  friend class SigningKey;
  VerifyKey() = default;
  std::array<uint8_t, kVerifyKeySize> bytes_{};
};

class SigningKey {
 public:
  // A fresh random key.
  static SigningKey Generate();
  // The key for an RFC 8032 private key (the 32-byte seed). Never fails:
  // every 32-byte string is a valid seed.
  static SigningKey FromSeed(std::span<const uint8_t, kSigningSeedSize> seed);

  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  // The deterministic Ed25519 signature of `message`.
  Signature Sign(ByteView message) const;

  const VerifyKey& verify_key() const { return verify_key_; }

  // The RFC 8032 private key (seed). Secret: only for key files
  // (crypto/key_file.h); never log, print or send it.
  std::span<const uint8_t, kSigningSeedSize> seed() const {
    return secret_key_.bytes().first<kSigningSeedSize>();
  }

 private:
  SigningKey() = default;
  SecretBytes<crypto_sign_SECRETKEYBYTES> secret_key_;  // seed || public key
  VerifyKey verify_key_;
};

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_SIGNING_H_
