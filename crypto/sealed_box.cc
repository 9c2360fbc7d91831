#include "crypto/sealed_box.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common/strings.h"
#include "crypto/random.h"

namespace schakel::crypto {

absl::StatusOr<BoxPublicKey> BoxPublicKey::FromBytes(ByteView bytes) {
  if (bytes.size() != kBoxPublicKeySize) {
    return absl::InvalidArgumentError(StrCat("X25519 public key: has ", bytes.size(),
                                             " bytes; it must have ", kBoxPublicKeySize));
  }
  EnsureSodiumInitialized();
  // A clamped scalar is a multiple of the cofactor 8, so multiplying by any
  // one of them gives the all-zero result exactly for the points of small
  // order; crypto_scalarmult reports that as an error.
  SecretBytes<crypto_scalarmult_SCALARBYTES> probe;
  probe.mutable_bytes()[0] = 1;
  std::array<uint8_t, crypto_scalarmult_BYTES> product{};
  if (crypto_scalarmult(product.data(), probe.data(), bytes.data()) != 0) {
    return absl::InvalidArgumentError("X25519 public key: a point of small order is not allowed");
  }
  BoxPublicKey key;
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  return key;
}

BoxSecretKey BoxSecretKey::Generate() {
  EnsureSodiumInitialized();
  BoxSecretKey key;
  crypto_box_keypair(key.public_key_.bytes_.data(), key.secret_key_.data());
  return key;
}

absl::StatusOr<BoxSecretKey> BoxSecretKey::FromBytes(ByteView bytes) {
  if (bytes.size() != kBoxSecretKeySize) {
    return absl::InvalidArgumentError(StrCat("X25519 secret key: has ", bytes.size(),
                                             " bytes; it must have ", kBoxSecretKeySize));
  }
  if (sodium_is_zero(bytes.data(), bytes.size()) == 1) {
    return absl::InvalidArgumentError("X25519 secret key: must not be all zero");
  }
  EnsureSodiumInitialized();
  BoxSecretKey key;
  std::copy(bytes.begin(), bytes.end(), key.secret_key_.data());
  crypto_scalarmult_base(key.public_key_.bytes_.data(), key.secret_key_.data());
  return key;
}

Bytes Seal(const BoxPublicKey& recipient, ByteView plaintext) {
  EnsureSodiumInitialized();
  Bytes sealed(plaintext.size() + kSealOverhead);
  // libsodium is given a real pointer even for an empty plaintext.
  static constexpr uint8_t kEmpty = 0;
  const uint8_t* m = plaintext.empty() ? &kEmpty : plaintext.data();
  if (crypto_box_seal(sealed.data(), m, plaintext.size(), recipient.bytes().data()) != 0) {
    // BoxPublicKey::FromBytes refuses every key crypto_box_seal refuses.
    std::fputs("schakel: crypto_box_seal failed on a validated public key\n", stderr);
    std::abort();
  }
  return sealed;
}

absl::StatusOr<SecretBuffer> Open(const BoxSecretKey& recipient, ByteView sealed) {
  if (sealed.size() < kSealOverhead) {
    return absl::InvalidArgumentError(StrCat("sealed box: has ", sealed.size(),
                                             " bytes; it must have at least ", kSealOverhead,
                                             " (the sealing overhead)"));
  }
  EnsureSodiumInitialized();
  const size_t plaintext_size = sealed.size() - kSealOverhead;
  // At least one byte, so that libsodium writes to a real buffer.
  SecretBuffer plaintext(std::max<size_t>(plaintext_size, 1));
  if (crypto_box_seal_open(plaintext.data(), sealed.data(), sealed.size(),
                           recipient.public_key().bytes().data(),
                           recipient.secret_bytes().data()) != 0) {
    return absl::InvalidArgumentError(
        "sealed box does not open with this key (it was sealed to another key, or altered)");
  }
  plaintext.Resize(plaintext_size);
  return plaintext;
}

}  // namespace schakel::crypto
