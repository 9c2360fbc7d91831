#include "tests/integration/gateway_authorisation.h"

#include <chrono>
#include <span>

#include "crypto/random.h"
#include "proto/canonical.h"

namespace schakel::integration {

v1::EvaluateRequest SignedEvaluateRequest(const crypto::SigningKey& gateway,
                                          const std::vector<std::string>& elements,
                                          const EvaluateAuthorisation& fields) {
  v1::EvaluateRequest r;
  for (const std::string& e : elements) r.add_blinded_elements(e);
  v1::ElementBatch batch;
  *batch.mutable_elements() = r.blinded_elements();
  const auto digest = canonical::Digest(canonical::kElementBatchContext, batch).value();
  auto* p = r.mutable_authorisation()->mutable_payload();
  p->set_operation(v1::AUTHORISED_OPERATION_EVALUATE);
  p->set_exchange_id(std::string(16, 'x'));
  p->set_requester_org_id(fields.requester_org_id);
  p->set_responder_org_id(fields.responder_org_id);
  p->set_purpose_id(fields.purpose_id);
  p->set_subject_count(fields.subject_count);
  p->set_element_count(static_cast<uint32_t>(elements.size()));
  p->set_request_digest(std::string(digest.begin(), digest.end()));
  const int64_t issued =
      fields.issued_at_s != 0
          ? fields.issued_at_s
          : std::chrono::duration_cast<std::chrono::seconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  p->mutable_issued_at()->set_seconds(issued);
  p->mutable_expires_at()->set_seconds(issued + fields.lifetime_s);
  std::string nonce(16, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()));
  p->set_nonce(nonce);
  *r.mutable_authorisation()->mutable_signature() =
      canonical::Sign(gateway, canonical::kAuthorisationContext, *p).value();
  return r;
}

}  // namespace schakel::integration
