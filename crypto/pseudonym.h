// Purpose-bound pseudonyms: the only way Schakel's matching code uses the OPRF.
//
// protocol.md fixes the mode to POPRF (0x02) and the public info to the
// purpose: info = "schakel:v1:purpose:<purpose id>". A node's pseudonym for a
// match key x under purpose P is y = Finalize(x, info = P) (64 bytes); its
// tag is the first 16 bytes of y. A tag obtained under one purpose is useless
// under another, so the gateway cannot link a person across purposes.
//
// Flow (protocol.md, "Match"):
//   requester R: MatchRequester::Create(purpose) -> Blind(inputs), once
//                -> the same blinded elements go, through the gateway, to
//                every partner asked (identifiers stay at R)
//   answering N: PurposeKey (from its PoprfServer) -> EvaluateBlinded(...)
//                -> evaluated elements + batched DLEQ proof
//   requester R: Finalize(pending, pk_N, ...) per partner: verifies the proof
//                against N's key tweaked for the purpose, unblinds, and
//                yields one Tag per input
//   answering N: PurposeKey::TagFor(input) computes the same tag directly
//                for its own signals (index publication)
//
// Thread safety: MatchRequester and PurposeKey are immutable after creation;
// their const methods may be called from several threads at once. A
// PendingMatch belongs to one caller.
#ifndef SCHAKEL_CRYPTO_PSEUDONYM_H_
#define SCHAKEL_CRYPTO_PSEUDONYM_H_

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/oprf.h"
#include "crypto/secret.h"

namespace schakel::crypto {

inline constexpr size_t kTagSize = 16;
using Tag = std::array<uint8_t, kTagSize>;

// Checks a purpose id (the rule of proto/schakel/v1/common.proto): 2 to 63
// characters of [a-z0-9._-], starting with a letter. Errors:
// INVALID_ARGUMENT naming "purpose".
absl::Status ValidatePurposeId(std::string_view purpose_id);

// "schakel:v1:purpose:<purpose id>", the POPRF public info. Errors as
// ValidatePurposeId.
absl::StatusOr<Bytes> PurposeInfo(std::string_view purpose_id);

// The first 16 bytes of an OPRF output.
Tag TagOf(const oprf::Output& output);

// What the requester keeps between Blind and Finalize, for ONE exchange.
// Holds the inputs (identifiers) and the blinds (which would unblind the
// request): move-only, wiped on destruction. Never send the same blinded
// elements twice: a repeat lets the gateway and the partners link the two
// requests. Blind again for every exchange.
class PendingMatch {
 public:
  PendingMatch(PendingMatch&&) noexcept = default;
  PendingMatch& operator=(PendingMatch&&) noexcept = default;

  // The blinded elements to send, one 32-byte encoding per input, in order.
  std::vector<Bytes> BlindedEncodings() const;
  size_t size() const { return blinded_.size(); }

 private:
  friend class MatchRequester;
  PendingMatch() = default;
  std::vector<SecretBuffer> inputs_;
  // The blinds' inverses (all Finalize needs of the blinds), computed once
  // for every partner the batch goes to.
  std::vector<Scalar> blind_inverses_;
  std::vector<Element> blinded_;
};

// The requesting side for one purpose.
class MatchRequester {
 public:
  // Errors: INVALID_ARGUMENT for a bad purpose id.
  static absl::StatusOr<MatchRequester> Create(std::string_view purpose_id);

  // Blinds each input (the bytes "schakel:v1:<type>:<canonical value>").
  // Errors: INVALID_ARGUMENT for an empty batch, more than oprf::kMaxBatch
  // inputs, or an input longer than 65535 bytes.
  absl::StatusOr<PendingMatch> Blind(std::span<const ByteView> inputs) const;

  // For one answering node: validates each evaluated encoding, verifies the
  // batched proof against the node's public key tweaked for the purpose, and
  // returns one tag per input, in order.
  // Errors: INVALID_ARGUMENT naming "evaluated_elements[i]" for a bad
  // element, "proof" for a malformed proof, "proof does not verify" for a
  // wrong one (another key, another purpose, altered or reordered elements),
  // a count mismatch, or a node key that tweaked for the purpose is the
  // identity.
  absl::StatusOr<std::vector<Tag>> Finalize(const PendingMatch& pending,
                                            const Element& node_public_key,
                                            std::span<const ByteView> evaluated_elements,
                                            ByteView proof) const;

  // Finalize in two halves, so that a caller can spread several nodes'
  // answers over threads element by element. VerifyAnswer makes every
  // check Finalize makes (the count, each encoding, the proof against the
  // node's key) and unblinds nothing; UnverifiedTag unblinds one element and
  // checks only that element's encoding. Finalize is VerifyAnswer, then
  // UnverifiedTag for each element. A tag from UnverifiedTag may be computed
  // before or alongside VerifyAnswer (it does not depend on the node's key),
  // but must be discarded unless VerifyAnswer of the same answer returned
  // OK. Errors as Finalize's; UnverifiedTag's name
  // "evaluated_elements[index]".
  absl::Status VerifyAnswer(const PendingMatch& pending, const Element& node_public_key,
                            std::span<const ByteView> evaluated_elements, ByteView proof) const;
  absl::StatusOr<Tag> UnverifiedTag(const PendingMatch& pending, size_t index,
                                    ByteView evaluated_element) const;

  const std::string& purpose_id() const { return purpose_id_; }

 private:
  // Parses and validates an answer's evaluated elements, named
  // "evaluated_elements[i]"; the count must be the pending batch's.
  absl::StatusOr<std::vector<Element>> ParseAnswer(const PendingMatch& pending,
                                                   std::span<const ByteView> evaluated_elements) const;
  absl::Status Verify(const PendingMatch& pending, const Element& node_public_key,
                      std::span<const Element> evaluated, ByteView proof) const;
  absl::StatusOr<Tag> Unblind(const PendingMatch& pending, size_t index,
                              const Element& evaluated) const;

  MatchRequester(Bytes info, std::string purpose_id)
      : info_(std::move(info)), purpose_id_(std::move(purpose_id)) {}
  Bytes info_;
  std::string purpose_id_;
  OwnershipFlag live_;  // a moved-from requester would finalise under empty info
};

// The answering side: a node's OPRF key tweaked for one purpose. A
// moved-from PurposeKey refuses every use (FAILED_PRECONDITION).
class PurposeKey {
 public:
  // Errors: INVALID_ARGUMENT for a bad purpose id.
  static absl::StatusOr<PurposeKey> Create(const oprf::PoprfServer& server,
                                           std::string_view purpose_id);

  struct Evaluation {
    std::vector<Bytes> evaluated_elements;  // 32 bytes each, in request order
    Bytes proof;                            // 64 bytes
  };
  // Evaluates received blinded encodings with one batched proof. Every
  // encoding is checked (canonical, not the identity); errors name
  // "blinded_elements[i]". `threads` > 1 uses that many threads.
  absl::StatusOr<Evaluation> EvaluateBlinded(std::span<const ByteView> blinded_elements,
                                             int threads = 1) const;

  // The tag of one of the node's own inputs under this purpose.
  absl::StatusOr<Tag> TagFor(ByteView input) const;

  // The node's key tweaked for this purpose (what requesters verify against).
  const Element& tweaked_public_key() const { return key_.tweaked_public_key(); }
  const std::string& purpose_id() const { return purpose_id_; }

 private:
  PurposeKey(oprf::PoprfInfoKey key, std::string purpose_id)
      : key_(std::move(key)), purpose_id_(std::move(purpose_id)) {}
  oprf::PoprfInfoKey key_;
  std::string purpose_id_;
};

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_PSEUDONYM_H_
