// A gateway authorisation for Node.Evaluate, signed with a gateway signing
// key, as the integration tests send it to a real schakel-node in the
// gateway's place (node_process_test.cc, attacks_test.cc).
//
// The elements are raw bytes, so a test can send encodings that are not
// elements at all; the authorisation's request digest covers them as sent.
#ifndef SCHAKEL_TESTS_INTEGRATION_GATEWAY_AUTHORISATION_H_
#define SCHAKEL_TESTS_INTEGRATION_GATEWAY_AUTHORISATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "crypto/signing.h"
#include "schakel/v1/node.pb.h"

namespace schakel::integration {

// The authorisation's fields that tests vary.
struct EvaluateAuthorisation {
  std::string requester_org_id = "riec";
  std::string responder_org_id = "politie";
  std::string purpose_id = "riec-ondermijning";
  uint32_t subject_count = 1;
  // Seconds since the Unix epoch; 0 means now.
  int64_t issued_at_s = 0;
  // expires_at = issued_at + lifetime_s (the node allows at most 60 s).
  int64_t lifetime_s = 30;
};

// An EvaluateRequest for `elements` with a fresh random nonce, signed by
// `gateway` under the authorisation context.
v1::EvaluateRequest SignedEvaluateRequest(const crypto::SigningKey& gateway,
                                          const std::vector<std::string>& elements,
                                          const EvaluateAuthorisation& fields = {});

// The same for encoded elements (e.g. MatchRequester's BlindedEncodings()).
template <typename ByteContainer>
v1::EvaluateRequest SignedEvaluateRequest(const crypto::SigningKey& gateway,
                                          const std::vector<ByteContainer>& elements,
                                          const EvaluateAuthorisation& fields = {}) {
  std::vector<std::string> raw;
  raw.reserve(elements.size());
  for (const auto& e : elements) raw.emplace_back(e.begin(), e.end());
  return SignedEvaluateRequest(gateway, raw, fields);
}

}  // namespace schakel::integration

#endif  // SCHAKEL_TESTS_INTEGRATION_GATEWAY_AUTHORISATION_H_
