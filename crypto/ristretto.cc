#include "crypto/ristretto.h"

#include <algorithm>

#include "common/strings.h"
#include "crypto/random.h"

namespace schakel::crypto {

namespace {

Scalar ScalarFromOp(void (*op)(unsigned char*, const unsigned char*, const unsigned char*),
                    const Scalar& a, const Scalar& b) {
  SecretBytes<kScalarSize> out;
  op(out.data(), a.bytes().data(), b.bytes().data());
  auto parsed = Scalar::FromCanonicalBytes(out.bytes(), "scalar");
  return std::move(parsed).value();  // libsodium returns reduced scalars
}

// libsodium 1.0.18's ristretto255 decoder ignores bit 255, so it accepts
// a second, non-canonical encoding of every element (found by
// fuzz/element_fuzzer.cc). RFC 9496 section 4.3.1 requires rejecting it.
bool HighBitSet(ByteView encoding) { return (encoding[kElementSize - 1] & 0x80) != 0; }

absl::Status NotCanonical(std::string_view field) {
  return absl::InvalidArgumentError(
      StrCat(field, ": not a canonical ristretto255 encoding of a non-identity element"));
}

absl::Status IdentityResult(std::string_view what) {
  return absl::InternalError(StrCat(what, " produced the identity element"));
}

}  // namespace

Scalar Scalar::Random() {
  EnsureSodiumInitialized();
  Scalar s;
  do {
    crypto_core_ristretto255_scalar_random(s.bytes_.data());
  } while (s.IsZero());
  return s;
}

Scalar Scalar::FromUniformBytes(std::span<const uint8_t, kUniformSize> wide) {
  Scalar s;
  crypto_core_ristretto255_scalar_reduce(s.bytes_.data(), wide.data());
  return s;
}

absl::StatusOr<Scalar> Scalar::FromCanonicalBytes(ByteView bytes, std::string_view field) {
  if (bytes.size() != kScalarSize) {
    return absl::InvalidArgumentError(StrCat(field, ": a scalar is ", kScalarSize,
                                                   " bytes, got ", bytes.size()));
  }
  // Canonical iff reducing the value modulo ℓ leaves it unchanged.
  SecretBytes<kUniformSize> wide;
  std::copy(bytes.begin(), bytes.end(), wide.data());
  Scalar s;
  crypto_core_ristretto255_scalar_reduce(s.bytes_.data(), wide.data());
  if (sodium_memcmp(s.bytes_.data(), bytes.data(), kScalarSize) != 0) {
    return absl::InvalidArgumentError(
        StrCat(field, ": not a canonical scalar (value is not below the group order)"));
  }
  return s;
}

Scalar Scalar::Clone() const {
  Scalar s;
  s.bytes_ = bytes_.Clone();
  return s;
}

bool Scalar::IsZero() const { return sodium_is_zero(bytes_.data(), kScalarSize) == 1; }

bool Scalar::operator==(const Scalar& o) const {
  return sodium_memcmp(bytes_.data(), o.bytes_.data(), kScalarSize) == 0;
}

Scalar Scalar::operator+(const Scalar& o) const {
  return ScalarFromOp(crypto_core_ristretto255_scalar_add, *this, o);
}
Scalar Scalar::operator-(const Scalar& o) const {
  return ScalarFromOp(crypto_core_ristretto255_scalar_sub, *this, o);
}
Scalar Scalar::operator*(const Scalar& o) const {
  return ScalarFromOp(crypto_core_ristretto255_scalar_mul, *this, o);
}

absl::StatusOr<Scalar> Scalar::Invert() const {
  Scalar s;
  if (crypto_core_ristretto255_scalar_invert(s.bytes_.data(), bytes_.data()) != 0) {
    return absl::InvalidArgumentError("cannot invert the zero scalar");
  }
  return s;
}

absl::StatusOr<std::vector<Scalar>> InvertAll(std::span<const Scalar> scalars) {
  // prefix[i] = scalars[0] · … · scalars[i]
  std::vector<Scalar> prefix;
  prefix.reserve(scalars.size());
  for (size_t i = 0; i < scalars.size(); ++i) {
    if (scalars[i].IsZero()) {
      return absl::InvalidArgumentError(StrCat("cannot invert the zero scalar (scalar ", i, ")"));
    }
    prefix.push_back(i == 0 ? scalars[0].Clone() : prefix[i - 1] * scalars[i]);
  }
  std::vector<Scalar> inverses;
  if (scalars.empty()) return inverses;
  auto running = prefix.back().Invert();  // (scalars[0] · … · scalars[i])⁻¹, i from the end
  if (!running.ok()) return running.status();
  inverses.reserve(scalars.size());
  for (size_t i = scalars.size() - 1; i > 0; --i) {
    inverses.push_back(*running * prefix[i - 1]);
    *running = *running * scalars[i];
  }
  inverses.push_back(*std::move(running));
  std::reverse(inverses.begin(), inverses.end());
  return inverses;
}

absl::StatusOr<Element> Element::FromBytes(ByteView bytes, std::string_view field) {
  if (bytes.size() != kElementSize) {
    return absl::InvalidArgumentError(StrCat(
        field, ": a ristretto255 element is ", kElementSize, " bytes, got ", bytes.size()));
  }
  if (sodium_is_zero(bytes.data(), kElementSize) == 1) {
    return absl::InvalidArgumentError(
        StrCat(field, ": the identity element is not allowed"));
  }
  if (HighBitSet(bytes) || crypto_core_ristretto255_is_valid_point(bytes.data()) != 1) {
    return NotCanonical(field);
  }
  Element e;
  std::copy(bytes.begin(), bytes.end(), e.bytes_.begin());
  return e;
}

const Element& Element::Generator() {
  static const Element g = [] {
    Element e;
    uint8_t one[kScalarSize] = {1};
    crypto_scalarmult_ristretto255_base(e.bytes_.data(), one);
    return e;
  }();
  return g;
}

absl::StatusOr<Element> Element::FromUniformBytes(std::span<const uint8_t, kUniformSize> wide) {
  Element e;
  crypto_core_ristretto255_from_hash(e.bytes_.data(), wide.data());
  if (sodium_is_zero(e.bytes_.data(), kElementSize) == 1) {
    return absl::InvalidArgumentError("hash to group produced the identity element");
  }
  return e;
}

absl::StatusOr<Element> ScalarMult(const Scalar& k, const Element& p) {
  Element out;
  if (crypto_scalarmult_ristretto255(out.bytes_.data(), k.bytes().data(), p.bytes().data()) != 0) {
    return IdentityResult("scalar multiplication");
  }
  return out;
}

absl::StatusOr<Element> ScalarMultBase(const Scalar& k) {
  Element out;
  if (crypto_scalarmult_ristretto255_base(out.bytes_.data(), k.bytes().data()) != 0) {
    return IdentityResult("base point multiplication");
  }
  return out;
}

absl::StatusOr<Element> Add(const Element& a, const Element& b) {
  Element out;
  if (crypto_core_ristretto255_add(out.bytes_.data(), a.bytes().data(), b.bytes().data()) != 0 ||
      sodium_is_zero(out.bytes_.data(), kElementSize) == 1) {
    return IdentityResult("point addition");
  }
  return out;
}

absl::StatusOr<ValidatedProduct> ScalarMultUntrusted(const Scalar& k, ByteView encoding,
                                                     std::string_view field) {
  if (encoding.size() != kElementSize) {
    return absl::InvalidArgumentError(StrCat(
        field, ": a ristretto255 element is ", kElementSize, " bytes, got ", encoding.size()));
  }
  if (k.IsZero()) return absl::InvalidArgumentError("scalar multiplication by zero");
  if (HighBitSet(encoding)) return NotCanonical(field);
  Element out;
  // crypto_scalarmult_ristretto255 fails for a non-canonical encoding and for
  // an identity result; with k non-zero and ℓ prime the latter means the
  // input was the identity.
  if (crypto_scalarmult_ristretto255(out.bytes_.data(), k.bytes().data(), encoding.data()) != 0) {
    if (sodium_is_zero(encoding.data(), kElementSize) == 1) {
      return absl::InvalidArgumentError(StrCat(field, ": the identity element is not allowed"));
    }
    return NotCanonical(field);
  }
  Element input;
  std::copy(encoding.begin(), encoding.end(), input.bytes_.data());
  return ValidatedProduct{input, out};
}

}  // namespace schakel::crypto
