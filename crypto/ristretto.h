// The ristretto255 group and its scalar field, on libsodium.
//
// `Element` is a group element that is never the identity and was, if it
// came from outside, a canonical encoding: the only way to build one from
// bytes is `Element::FromBytes`, which refuses anything else. libsodium
// 1.0.18's crypto_core_ristretto255_is_valid_point() accepts the identity
// (all-zero encoding), and ignores bit 255, accepting a second, non-canonical
// encoding of every element; FromBytes refuses both explicitly.
//
// `Scalar` is an integer modulo the group order ℓ. Scalars are often secret
// (keys, blinds, proof nonces), so every Scalar wipes itself on destruction
// and cannot be copied implicitly; use Clone() where a copy is meant.
//
// Thread safety: both types are immutable values after construction.
#ifndef SCHAKEL_CRYPTO_RISTRETTO_H_
#define SCHAKEL_CRYPTO_RISTRETTO_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/secret.h"

namespace schakel::crypto {

inline constexpr size_t kElementSize = crypto_core_ristretto255_BYTES;        // 32
inline constexpr size_t kScalarSize = crypto_core_ristretto255_SCALARBYTES;  // 32
inline constexpr size_t kUniformSize = crypto_core_ristretto255_HASHBYTES;   // 64

class Scalar;
class Element;
struct ValidatedProduct;
absl::StatusOr<Element> ScalarMult(const Scalar& k, const Element& p);
absl::StatusOr<Element> ScalarMultBase(const Scalar& k);
absl::StatusOr<Element> Add(const Element& a, const Element& b);
absl::StatusOr<ValidatedProduct> ScalarMultUntrusted(const Scalar& k, ByteView encoding,
                                                     std::string_view field);

class Scalar {
 public:
  // Zero.
  Scalar() = default;

  // A uniformly random non-zero scalar.
  static Scalar Random();
  // Reduces 64 uniformly distributed bytes modulo ℓ.
  static Scalar FromUniformBytes(std::span<const uint8_t, kUniformSize> wide);
  // Parses a canonical 32-byte little-endian encoding (value < ℓ).
  // Errors: INVALID_ARGUMENT naming `field` for a wrong length or a value ≥ ℓ.
  static absl::StatusOr<Scalar> FromCanonicalBytes(ByteView bytes, std::string_view field);

  Scalar(Scalar&&) noexcept = default;
  Scalar& operator=(Scalar&&) noexcept = default;
  Scalar Clone() const;

  bool IsZero() const;
  Scalar operator+(const Scalar& o) const;
  Scalar operator-(const Scalar& o) const;
  Scalar operator*(const Scalar& o) const;
  // Multiplicative inverse. Errors: INVALID_ARGUMENT for zero.
  absl::StatusOr<Scalar> Invert() const;

  std::span<const uint8_t, kScalarSize> bytes() const { return bytes_.bytes(); }
  // Constant-time equality.
  bool operator==(const Scalar& o) const;

 private:
  SecretBytes<kScalarSize> bytes_;
};

class Element {
 public:
  // Parses an element received from outside. Errors: INVALID_ARGUMENT naming
  // `field` when the length is not 32, the encoding is not a canonical
  // ristretto255 encoding, or it encodes the identity.
  static absl::StatusOr<Element> FromBytes(ByteView bytes, std::string_view field);
  // The conventional generator.
  static const Element& Generator();
  // Maps 64 uniform bytes to the group (RFC 9496 one-way map). Errors:
  // INVALID_ARGUMENT when the result is the identity (negligible probability).
  static absl::StatusOr<Element> FromUniformBytes(std::span<const uint8_t, kUniformSize> wide);

  std::span<const uint8_t, kElementSize> bytes() const { return bytes_; }
  Bytes ToBytes() const { return Bytes(bytes_.begin(), bytes_.end()); }
  bool operator==(const Element& o) const { return bytes_ == o.bytes_; }

 private:
  // Only the group operations below create elements without validation.
  friend absl::StatusOr<Element> ScalarMult(const Scalar&, const Element&);
  friend absl::StatusOr<Element> ScalarMultBase(const Scalar&);
  friend absl::StatusOr<Element> Add(const Element&, const Element&);
  friend absl::StatusOr<ValidatedProduct> ScalarMultUntrusted(const Scalar&, ByteView,
                                                              std::string_view);
  Element() = default;
  std::array<uint8_t, kElementSize> bytes_{};
};

// Group operations. Each returns INTERNAL if the result would be the
// identity, which for valid inputs and non-zero scalars happens with
// negligible probability, and which must never be silently accepted.
absl::StatusOr<Element> ScalarMult(const Scalar& k, const Element& p);
absl::StatusOr<Element> ScalarMultBase(const Scalar& k);
absl::StatusOr<Element> Add(const Element& a, const Element& b);

// The inverse of every scalar, in order, with a single inversion
// (Montgomery's trick: 3(n-1) multiplications instead of n-1 inversions,
// each of which costs about as much as a scalar multiplication). Runs in
// constant time for non-zero scalars. Errors: INVALID_ARGUMENT naming the
// index of a zero scalar.
absl::StatusOr<std::vector<Scalar>> InvertAll(std::span<const Scalar> scalars);

// Multiplies `k` with an encoding received from outside in one step: the
// multiplication itself decodes the point, so validation costs nothing extra.
// Returns the validated input and the product.
// Errors: INVALID_ARGUMENT naming `field` for a non-canonical encoding, a
// wrong length, or the identity; INVALID_ARGUMENT as well if k is zero.
struct ValidatedProduct {
  Element input;
  Element product;
};
absl::StatusOr<ValidatedProduct> ScalarMultUntrusted(const Scalar& k, ByteView encoding,
                                                     std::string_view field);

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_RISTRETTO_H_
