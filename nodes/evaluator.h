// The node's answering role for Node.Evaluate (node.proto), without the
// network: the gRPC service is a thin adapter over this class.
//
// Evaluate(request, now):
//   1. shape: 1 to 65,535 elements, count equal to authorisation.element_count
//      (INVALID_ARGUMENT);
//   2. the authorisation (nodes/authorisation_check.h) against
//      D("schakel:v1:element-batch", ElementBatch{elements as received}),
//      so the gateway cannot swap elements after authorising; its nonce is
//      claimed here and stored (synced) after step 5, with the caller's log
//      record of the answer: nothing is answered unless it is durable
//      (UNAVAILABLE), and a request refused on the way does not use it up;
//   3. the node's own limits: requesters it refuses under the purpose
//      (PERMISSION_DENIED); a subject count of 0 or fewer subjects than
//      elements / max_keys_per_subject (INVALID_ARGUMENT: the count is the
//      gateway's word, the elements are what arrived); its daily quota per
//      requester and purpose, in subjects and in elements received
//      (RESOURCE_EXHAUSTED), enforced again here even though the gateway
//      enforces it too; the day's counts are kept in the node's store
//      (Options::quota_store), so a restart, also after SIGKILL, does not
//      reset them (UNAVAILABLE, nothing evaluated, when they cannot be
//      read or written);
//   4. every element checked (canonical, not the identity) inside its
//      evaluation under the purpose's tweaked key, with one batched DLEQ
//      proof, on up to `threads` threads (INVALID_ARGUMENT naming
//      blinded_elements[i]; one bad element refuses the whole batch);
//   5. an EvaluationStatement signed with the node's Ed25519 key.
// The node never learns which identifiers were asked about: it sees only
// blinded elements.
//
// Thread safety: Evaluate may be called concurrently.
#ifndef SCHAKEL_NODES_EVALUATOR_H_
#define SCHAKEL_NODES_EVALUATOR_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "crypto/oprf.h"
#include "crypto/pseudonym.h"
#include "crypto/signing.h"
#include "nodes/authorisation_check.h"
#include "schakel/v1/node.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

namespace oprf = ::schakel::crypto::oprf;

class Evaluator {
 public:
  struct Options {
    std::string own_org_id;
    // Per requesting organisation, per purpose, per UTC day: subjects as the
    // gateway states them, and blinded elements as actually received. The
    // element count is what bounds enumeration: a gateway cannot lower it.
    uint32_t daily_subject_quota = 10000;
    uint32_t daily_element_quota = 60000;
    // A lower element quota per purpose (local policy,
    // purposes[].daily_element_quota); a purpose not listed has only
    // daily_element_quota.
    std::map<std::string, uint32_t> purpose_element_quotas;
    // Largest number of keys (elements) per subject (policy.proto: 1..16).
    uint32_t max_keys_per_subject = 16;
    // Requesting organisations this node refuses, per purpose (local policy).
    std::map<std::string, std::vector<std::string>> refused_requesters;
    int threads = 2;
    // Where today's quota counts are kept ("evalquota/" keys; older days
    // are dropped when the day changes), not owned. Null: in memory only,
    // and a restart resets them.
    store::KvStore* quota_store = nullptr;
  };

  // `purposes_answered` lists the purpose ids this node answers (its local
  // policy); keys for them are derived once here. `check` is not owned.
  // Errors: INVALID_ARGUMENT for a bad purpose id.
  static absl::StatusOr<std::unique_ptr<Evaluator>> Create(
      oprf::PrivateKey oprf_key, crypto::SigningKey signing_key,
      const std::vector<std::string>& purposes_answered, AuthorisationCheck* check, Options options);

  // `write` stores the authorisation's nonce in a synced write (see
  // AuthorisationCheck::NonceClaim::Commit): the node service adds its log
  // record of the answer to the same batch. Default: the nonce alone.
  using Write = AuthorisationCheck::NonceClaim::Write;
  absl::StatusOr<v1::EvaluateResponse> Evaluate(const v1::EvaluateRequest& request, int64_t now_ms,
                                                const Write& write = nullptr);

 private:
  Evaluator(oprf::PrivateKey oprf_key, crypto::SigningKey signing_key, AuthorisationCheck* check,
            Options options)
      : server_(std::move(oprf_key)), signing_key_(std::move(signing_key)), check_(check),
        options_(std::move(options)) {}

  // Reserves `subjects` of today's quota; RESOURCE_EXHAUSTED when it would
  // exceed it (nothing reserved then); UNAVAILABLE when the quota store
  // fails (nothing reserved either).
  absl::Status ReserveQuota(const std::string& requester, const std::string& purpose,
                            uint32_t subjects, uint32_t elements, int64_t now_ms);

  oprf::PoprfServer server_;
  const crypto::SigningKey signing_key_;
  AuthorisationCheck* const check_;
  const Options options_;
  std::map<std::string, crypto::PurposeKey> purpose_keys_;  // fixed after Create

  std::mutex quota_mu_;
  int64_t quota_day_ = -1;                                          // guarded by quota_mu_
  struct Used {
    uint64_t subjects = 0;
    uint64_t elements = 0;
  };
  std::map<std::pair<std::string, std::string>, Used> used_;  // guarded by quota_mu_
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_EVALUATOR_H_
