// RFC 9497 oblivious pseudorandom functions for the suite ristretto255-SHA512,
// in all three modes: OPRF (0x00), VOPRF (0x01) and POPRF (0x02).
//
// This header is the RFC, function by function, so that it can be checked
// against the specification and its test vectors. Schakel's matching code
// does not use it directly: it uses crypto/pseudonym.h, which fixes the mode
// to POPRF and the public info to the purpose.
//
// Flow (RFC 9497 section 3.3):
//   client: Blind(input)                -> blind, blindedElement
//   server: BlindEvaluate(blindedElement[, info])
//                                       -> evaluatedElement (+ proof in VOPRF/POPRF)
//   client: Finalize(input, blind, evaluatedElement[, proof, info]) -> 64-byte output
//   server: Evaluate(input[, info])     -> the same 64-byte output, directly
//
// Security: the client's input is hidden from the server by the blind (a
// uniformly random scalar); in VOPRF and POPRF a batched DLEQ proof shows the
// server used the key behind its published public key (tweaked by the info in
// POPRF). Every element taken from a peer is validated (crypto/ristretto.h).
//
// Errors: INVALID_ARGUMENT for malformed inputs (named by field), for an
// input that hashes to the identity (the RFC's InvalidInputError), and for a
// proof that does not verify (the RFC's VerifyError, message "proof does not
// verify"); INTERNAL for events of negligible probability.
//
// Ownership and thread safety: servers hold their private key `const`; all
// methods are const and safe to call from several threads at once. Objects
// holding keys are move-only and refuse to work once moved from.
#ifndef SCHAKEL_CRYPTO_OPRF_H_
#define SCHAKEL_CRYPTO_OPRF_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/ristretto.h"
#include "crypto/secret.h"

namespace schakel::crypto::oprf {

enum class Mode : uint8_t { kOprf = 0x00, kVoprf = 0x01, kPoprf = 0x02 };

inline constexpr char kSuiteId[] = "ristretto255-SHA512";
inline constexpr size_t kOutputSize = 64;  // Nh
inline constexpr size_t kSeedSize = 32;    // Nseed
inline constexpr size_t kProofSize = 2 * kScalarSize;
// Largest batch one BlindEvaluate or Finalize call accepts: the RFC encodes
// the element index with I2OSP(i, 2).
inline constexpr size_t kMaxBatch = 65535;
// Largest thread count a batch call uses, whatever it is asked for.
inline constexpr int kMaxThreads = 16;

using Output = std::array<uint8_t, kOutputSize>;

// Test vectors need fixed blinds and proof nonces. Those entry points are
// private; only this class, which only the tests define, reaches them. A
// reused proof nonce reveals the key, and a reused blind links requests.
class OprfTestPeer;

// "OPRFV1-" || I2OSP(mode, 1) || "-" || "ristretto255-SHA512".
Bytes ContextString(Mode mode);

// HashToGroup and HashToScalar for a mode (their DSTs depend on it).
absl::StatusOr<Element> HashToGroup(Mode mode, ByteView input);
Scalar HashToScalar(Mode mode, ByteView input);
Scalar HashToScalarWithDst(ByteView input, ByteView dst);

// A batched DLEQ proof (c, s): serialised as c || s, 64 bytes.
struct Proof {
  Scalar c;
  Scalar s;
  Bytes Serialize() const;
  // Errors: INVALID_ARGUMENT when not 64 bytes or a half is not canonical.
  static absl::StatusOr<Proof> Parse(ByteView bytes);
};

// An OPRF key pair. Move-only; the secret is wiped on destruction. A
// moved-from key refuses every use (FAILED_PRECONDITION) rather than acting
// as the all-zero key, whose POPRF tweak anyone could compute.
class PrivateKey {
 public:
  // A fresh random key.
  static PrivateKey Generate();
  // DeriveKeyPair (RFC 9497 section 3.2.1). Errors: INVALID_ARGUMENT when
  // info is longer than 65535 bytes; INTERNAL in the negligible case the
  // derivation fails 256 times.
  static absl::StatusOr<PrivateKey> Derive(Mode mode, std::span<const uint8_t, kSeedSize> seed,
                                           ByteView info);
  // A serialised key (32 bytes, canonical, non-zero).
  static absl::StatusOr<PrivateKey> FromBytes(ByteView bytes);

  PrivateKey(PrivateKey&&) noexcept = default;
  PrivateKey& operator=(PrivateKey&&) noexcept = default;

  // OK, or FAILED_PRECONDITION for a moved-from key.
  absl::Status CheckUsable() const;
  const Scalar& scalar() const { return sk_; }
  const Element& public_key() const { return pk_; }

 private:
  PrivateKey(Scalar sk, Element pk) : sk_(std::move(sk)), pk_(std::move(pk)) {}
  Scalar sk_;
  Element pk_;
  OwnershipFlag live_;
};

// What a client keeps between Blind and Finalize.
struct Blinded {
  Scalar blind;
  Element blinded_element;
};

// ---------------------------------------------------------------- OPRF mode
class OprfClient {
 public:
  absl::StatusOr<Blinded> Blind(ByteView input) const;
  absl::StatusOr<Output> Finalize(ByteView input, const Scalar& blind,
                                  const Element& evaluated_element) const;

 private:
  friend class OprfTestPeer;
  absl::StatusOr<Blinded> BlindWith(ByteView input, Scalar blind) const;
};

class OprfServer {
 public:
  explicit OprfServer(PrivateKey key) : key_(std::move(key)) {}
  absl::StatusOr<Element> BlindEvaluate(const Element& blinded_element) const;
  absl::StatusOr<Output> Evaluate(ByteView input) const;

 private:
  const PrivateKey key_;
};

// --------------------------------------------------------------- VOPRF mode
struct BatchEvaluation {
  std::vector<Element> evaluated_elements;
  Proof proof;
};

class VoprfClient {
 public:
  explicit VoprfClient(Element server_public_key) : pk_(std::move(server_public_key)) {}
  absl::StatusOr<Blinded> Blind(ByteView input) const;
  // Verifies the proof over the whole batch, then finalises each input.
  // inputs, blinds, blinded and evaluated have one entry per element.
  absl::StatusOr<std::vector<Output>> Finalize(std::span<const ByteView> inputs,
                                               std::span<const Scalar> blinds,
                                               std::span<const Element> blinded_elements,
                                               std::span<const Element> evaluated_elements,
                                               const Proof& proof) const;

 private:
  friend class OprfTestPeer;
  absl::StatusOr<Blinded> BlindWith(ByteView input, Scalar blind) const;
  const Element pk_;
};

class VoprfServer {
 public:
  explicit VoprfServer(PrivateKey key) : key_(std::move(key)) {}
  absl::StatusOr<BatchEvaluation> BlindEvaluateBatch(std::span<const Element> blinded) const;
  absl::StatusOr<Output> Evaluate(ByteView input) const;
  const Element& public_key() const { return key_.public_key(); }

 private:
  friend class OprfTestPeer;
  absl::StatusOr<BatchEvaluation> BlindEvaluateBatchWith(std::span<const Element> blinded,
                                                         const Scalar& proof_nonce) const;
  const PrivateKey key_;
};

// --------------------------------------------------------------- POPRF mode
class PoprfClient {
 public:
  // Computes the tweaked key for `info` once (RFC: part of Blind).
  // Errors: INVALID_ARGUMENT when info is longer than 65535 bytes, its tweak
  // m is zero (the RFC would continue with pkS; refused here, probability
  // 2^-252), or the tweaked key is the identity.
  static absl::StatusOr<PoprfClient> Create(Element server_public_key, ByteView info);

  // Blinding does not depend on the server or the info, so one blinded
  // element can be sent to several servers and finalised against each.
  static absl::StatusOr<Blinded> Blind(ByteView input);
  // FAILED_PRECONDITION for a moved-from client (whose info is gone).
  absl::StatusOr<std::vector<Output>> Finalize(std::span<const ByteView> inputs,
                                               std::span<const Scalar> blinds,
                                               std::span<const Element> blinded_elements,
                                               std::span<const Element> evaluated_elements,
                                               const Proof& proof) const;
  // As Finalize, with the blinds' inverses (InvertAll(blinds)) instead of the
  // blinds: a batch blinded once and finalised against several servers then
  // inverts its blinds once instead of once per server.
  absl::StatusOr<std::vector<Output>> FinalizeWithInverses(
      std::span<const ByteView> inputs, std::span<const Scalar> blind_inverses,
      std::span<const Element> blinded_elements, std::span<const Element> evaluated_elements,
      const Proof& proof) const;
  // FinalizeWithInverses in two halves, for callers that run them apart
  // (several servers' answers spread over threads element by element):
  // Verify makes every check (sizes, the batched proof), FinalizeUnverified
  // unblinds and hashes ONE element and checks nothing. FinalizeWithInverses
  // is Verify, then FinalizeUnverified for each element. An output of
  // FinalizeUnverified may be computed before or alongside Verify, but means
  // nothing, and must be discarded, unless Verify of the same batch returned
  // OK.
  absl::Status Verify(std::span<const Element> blinded_elements,
                      std::span<const Element> evaluated_elements, const Proof& proof) const;
  static absl::StatusOr<Output> FinalizeUnverified(ByteView input, ByteView info,
                                                   const Scalar& blind_inverse,
                                                   const Element& evaluated_element);

  const Element& tweaked_key() const { return tweaked_key_; }
  const Bytes& info() const { return info_; }

 private:
  friend class OprfTestPeer;
  static absl::StatusOr<Blinded> BlindWith(ByteView input, Scalar blind);
  PoprfClient(Element tweaked_key, Bytes info)
      : tweaked_key_(std::move(tweaked_key)), info_(std::move(info)) {}
  Element tweaked_key_;
  Bytes info_;
  OwnershipFlag live_;
};

// The server's key tweaked for one `info`: t = skS + HashToScalar(framedInfo)
// and its inverse, computed once (a scalar inversion) and reused for every
// evaluation under that info. Holds secrets: move-only, wiped on
// destruction; a moved-from one refuses every use (FAILED_PRECONDITION).
class PoprfInfoKey {
 public:
  PoprfInfoKey(PoprfInfoKey&&) noexcept = default;
  PoprfInfoKey& operator=(PoprfInfoKey&&) noexcept = default;

  // Evaluates a batch with one batched proof. `threads` > 1 splits large
  // batches across up to that many threads (at most kMaxThreads, and only
  // for batches of at least 32 elements per thread); results are identical.
  absl::StatusOr<BatchEvaluation> BlindEvaluateBatch(std::span<const Element> blinded,
                                                     int threads = 1) const;
  // Like BlindEvaluateBatch, but takes the blinded elements as received
  // encodings and validates each inside its scalar multiplication (no separate
  // decode). Errors name the offending index as "<field>[i]".
  absl::StatusOr<BatchEvaluation> BlindEvaluateEncoded(std::span<const ByteView> blinded,
                                                       std::string_view field,
                                                       int threads = 1) const;
  // Evaluate (RFC 9497 section 3.3.3) under this info.
  absl::StatusOr<Output> Evaluate(ByteView input) const;

  // tweakedKey = t·G, what a client verifies proofs against.
  const Element& tweaked_public_key() const { return tweaked_key_; }
  const Bytes& info() const { return info_; }

 private:
  friend class PoprfServer;
  friend class OprfTestPeer;
  PoprfInfoKey(Scalar t, Scalar t_inverse, Element tweaked_key, Bytes info)
      : t_(std::move(t)), t_inverse_(std::move(t_inverse)),
        tweaked_key_(std::move(tweaked_key)), info_(std::move(info)) {}
  absl::StatusOr<BatchEvaluation> BlindEvaluateBatchWith(std::span<const Element> blinded,
                                                         const Scalar& proof_nonce,
                                                         int threads) const;
  absl::StatusOr<BatchEvaluation> Prove(std::span<const Element> blinded,
                                        std::vector<Element> evaluated, const Scalar& nonce,
                                        int threads) const;
  Scalar t_;
  Scalar t_inverse_;
  Element tweaked_key_;
  Bytes info_;
  OwnershipFlag live_;
};

class PoprfServer {
 public:
  explicit PoprfServer(PrivateKey key) : key_(std::move(key)) {}

  // The key tweaked for `info`. Errors: INVALID_ARGUMENT when info is longer
  // than 65535 bytes or the tweaked key is zero (the RFC's InverseError);
  // FAILED_PRECONDITION when the server was built from a moved-from key.
  absl::StatusOr<PoprfInfoKey> ForInfo(ByteView info) const;

  // One-off conveniences over ForInfo(info); callers evaluating repeatedly
  // under the same info keep the PoprfInfoKey instead.
  absl::StatusOr<BatchEvaluation> BlindEvaluateBatch(std::span<const Element> blinded,
                                                     ByteView info, int threads = 1) const;
  absl::StatusOr<Output> Evaluate(ByteView input, ByteView info) const;
  const Element& public_key() const { return key_.public_key(); }

 private:
  const PrivateKey key_;
};

// ------------------------------------------------------ the batched proof
// VerifyProof (RFC 9497 section 2.2.2) for callers that keep evaluation and
// proof apart: checks that D[i] = k·C[i] for the k with B = k·A. Proofs with
// c = 0 or s = 0 are refused (an honest prover produces them with
// probability 2^-252). Errors: INVALID_ARGUMENT "proof does not verify".
absl::Status VerifyProof(Mode mode, const Element& a, const Element& b,
                         std::span<const Element> c, std::span<const Element> d,
                         const Proof& proof);

}  // namespace schakel::crypto::oprf

#endif  // SCHAKEL_CRYPTO_OPRF_H_
