// Sealed boxes: anonymous public-key encryption to an X25519 key
// (libsodium's crypto_box_seal).
//
// A disclosure's payload travels from the answering node to the requesting
// node sealed to the requester's X25519 key; the gateway relays the box and
// cannot open it (protocol.md, flow 3).
//
// Construction (libsodium): an ephemeral X25519 key pair per box; the
// ciphertext is ephemeral_pk || crypto_box(m, nonce = BLAKE2b(ephemeral_pk ||
// recipient_pk), ephemeral_sk, recipient_pk), i.e. XSalsa20-Poly1305, 48 bytes
// longer than the plaintext. It gives confidentiality and integrity towards
// the recipient, but NOT sender authentication: anyone can seal to a public
// key. Whoever needs to know who sealed a box signs it (crypto/signing.h).
//
// Ownership: `BoxSecretKey` owns its 32 secret bytes in a SecretBytes: it is
// move-only, the moved-from key holds zeros, and the bytes are wiped on
// destruction. `BoxPublicKey` is a copyable value. Opened plaintext is
// returned in a SecretBuffer, which wipes itself.
//
// Thread safety: both key types are immutable after construction; Seal and
// Open are reentrant and may run on several threads with the same keys.
#ifndef SCHAKEL_CRYPTO_SEALED_BOX_H_
#define SCHAKEL_CRYPTO_SEALED_BOX_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/secret.h"

namespace schakel::crypto {

inline constexpr size_t kBoxPublicKeySize = crypto_box_PUBLICKEYBYTES;  // 32
inline constexpr size_t kBoxSecretKeySize = crypto_box_SECRETKEYBYTES;  // 32
inline constexpr size_t kSealOverhead = crypto_box_SEALBYTES;           // 48

class BoxPublicKey {
 public:
  // Parses a public key received from outside (directory, key file, peer).
  // Errors: INVALID_ARGUMENT when `bytes` is not 32 bytes long, or is a point
  // of small order (sealing to it would give a shared secret every party
  // knows; libsodium refuses such keys when sealing).
  static absl::StatusOr<BoxPublicKey> FromBytes(ByteView bytes);

  std::span<const uint8_t, kBoxPublicKeySize> bytes() const { return bytes_; }
  Bytes ToBytes() const { return Bytes(bytes_.begin(), bytes_.end()); }
  bool operator==(const BoxPublicKey& o) const { return bytes_ == o.bytes_; }

 private:
  friend class BoxSecretKey;
  BoxPublicKey() = default;
  std::array<uint8_t, kBoxPublicKeySize> bytes_{};
};

class BoxSecretKey {
 public:
  // A fresh random key pair.
  static BoxSecretKey Generate();
  // A serialised X25519 secret key (32 bytes). Errors: INVALID_ARGUMENT when
  // it is not 32 bytes long or is all zero (a wiped or never-filled buffer,
  // not a key).
  static absl::StatusOr<BoxSecretKey> FromBytes(ByteView bytes);

  BoxSecretKey(BoxSecretKey&&) noexcept = default;
  BoxSecretKey& operator=(BoxSecretKey&&) noexcept = default;
  BoxSecretKey(const BoxSecretKey&) = delete;
  BoxSecretKey& operator=(const BoxSecretKey&) = delete;

  const BoxPublicKey& public_key() const { return public_key_; }

  // The secret bytes. Secret: only for Open and key files
  // (crypto/key_file.h); never log, print or send them.
  std::span<const uint8_t, kBoxSecretKeySize> secret_bytes() const {
    return secret_key_.bytes();
  }

 private:
  BoxSecretKey() = default;
  SecretBytes<kBoxSecretKeySize> secret_key_;
  BoxPublicKey public_key_;
};

// Seals `plaintext` to `recipient`; the result is plaintext.size() + 48 bytes
// long and differs on every call. Never fails: BoxPublicKey only holds keys
// libsodium accepts.
Bytes Seal(const BoxPublicKey& recipient, ByteView plaintext);

// Opens a box sealed to `recipient`'s public key.
// Errors: INVALID_ARGUMENT when `sealed` is shorter than the 48-byte overhead,
// or "sealed box does not open with this key" when it was sealed to another
// key or was altered in any byte.
absl::StatusOr<SecretBuffer> Open(const BoxSecretKey& recipient, ByteView sealed);

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_SEALED_BOX_H_
