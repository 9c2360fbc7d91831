// Test-only access to the deterministic entry points of crypto/oprf.h (fixed
// blinds and proof nonces), which the RFC's test vectors need and production
// code must never use.
#ifndef SCHAKEL_TESTS_UNIT_CRYPTO_OPRF_TEST_PEER_H_
#define SCHAKEL_TESTS_UNIT_CRYPTO_OPRF_TEST_PEER_H_

#include "crypto/oprf.h"

namespace schakel::crypto::oprf {

class OprfTestPeer {
 public:
  static absl::StatusOr<Blinded> BlindWith(const OprfClient& c, ByteView input, Scalar blind) {
    return c.BlindWith(input, std::move(blind));
  }
  static absl::StatusOr<Blinded> BlindWith(const VoprfClient& c, ByteView input, Scalar blind) {
    return c.BlindWith(input, std::move(blind));
  }
  static absl::StatusOr<Blinded> PoprfBlindWith(ByteView input, Scalar blind) {
    return PoprfClient::BlindWith(input, std::move(blind));
  }
  static absl::StatusOr<BatchEvaluation> BlindEvaluateBatchWith(const VoprfServer& s,
                                                                std::span<const Element> blinded,
                                                                const Scalar& nonce) {
    return s.BlindEvaluateBatchWith(blinded, nonce);
  }
  static absl::StatusOr<BatchEvaluation> BlindEvaluateBatchWith(const PoprfInfoKey& k,
                                                                std::span<const Element> blinded,
                                                                const Scalar& nonce, int threads) {
    return k.BlindEvaluateBatchWith(blinded, nonce, threads);
  }
};

}  // namespace schakel::crypto::oprf

#endif  // SCHAKEL_TESTS_UNIT_CRYPTO_OPRF_TEST_PEER_H_
