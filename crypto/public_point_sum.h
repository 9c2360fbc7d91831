// Sums of PUBLIC ristretto255 elements, fast.
//
// Why it exists: the prover's batched DLEQ proof (RFC 9497
// ComputeCompositesFast) needs M = Σ d_i·C_i over every element of a batch.
// libsodium exposes points only as 32-byte encodings, so each addition there
// costs two decodes and an encode (0.32 of a scalar multiplication, see
// docs/performance.md). This class decodes each term once into extended
// coordinates, adds there, and encodes once at the end.
//
// What it may be used for: only values that are public (here: the d_i·C_i
// terms and their sum M, which every verifier recomputes). It runs in
// VARIABLE TIME and must never see a secret. The group arithmetic on secrets
// (evaluation, blinding, keys) stays in libsodium.
//
// How it is checked: the result is re-validated by libsodium
// (Element::FromBytes); tests compare it with libsodium's own additions on
// random points; and every proof it helps build is verified by
// VerifyProof, which uses libsodium only, so an arithmetic error would show
// as a proof that does not verify, never as a wrong answer.
//
// Thread safety: one object per thread; Merge combines per-thread sums.
#ifndef SCHAKEL_CRYPTO_PUBLIC_POINT_SUM_H_
#define SCHAKEL_CRYPTO_PUBLIC_POINT_SUM_H_

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "crypto/ristretto.h"

namespace schakel::crypto {

class PublicPointSum {
 public:
  PublicPointSum();

  // Adds a (validated) element. An element this decoder cannot decode, which
  // libsodium accepted, would be a bug here: the sum then reports INTERNAL.
  void Add(const Element& e);
  // Adds another partial sum.
  void Merge(const PublicPointSum& other);
  // The sum as an element. Errors: INTERNAL when it is the identity (no
  // terms, or terms that cancel) or a term failed to decode.
  absl::StatusOr<Element> Sum() const;

  // Field element mod 2^255 - 19 in five 51-bit limbs (internal).
  struct Fe {
    uint64_t v[5];
  };

 private:
  // Extended twisted Edwards coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z.
  Fe x_, y_, z_, t_;
  bool failed_ = false;
};

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_PUBLIC_POINT_SUM_H_
