#include "nodes/evaluator.h"

#include <algorithm>

#include "common/strings.h"
#include "proto/canonical.h"

namespace schakel::nodes {
namespace {

constexpr char kQuotaPrefix[] = "evalquota/";

// "evalquota/<day, 8 digits>/": the keys of one UTC day, in day order.
std::string QuotaDayPrefix(int64_t day) {
  std::string digits = StrCat(day);
  if (digits.size() < 8) digits.insert(0, 8 - digits.size(), '0');
  return StrCat(kQuotaPrefix, digits, "/");
}

// The subjects and elements counted under `key` (two big-endian u64);
// zero when there is none.
absl::Status ReadCount(store::KvStore& kv, const std::string& key, uint64_t* subjects,
                       uint64_t* elements) {
  auto stored = kv.Get(key);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::OkStatus();
  const std::string_view value = **stored;
  if (value.size() != 16) return absl::DataLossError(StrCat(key, ": not 16 bytes"));
  auto s = store::DecodeKeyU64(value.substr(0, 8));
  auto e = store::DecodeKeyU64(value.substr(8));
  if (!s.ok()) return s.status();
  if (!e.ok()) return e.status();
  *subjects = *s;
  *elements = *e;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Evaluator>> Evaluator::Create(
    oprf::PrivateKey oprf_key, crypto::SigningKey signing_key,
    const std::vector<std::string>& purposes_answered, AuthorisationCheck* check, Options options) {
  std::unique_ptr<Evaluator> e(
      new Evaluator(std::move(oprf_key), std::move(signing_key), check, std::move(options)));
  for (const auto& purpose : purposes_answered) {
    auto key = crypto::PurposeKey::Create(e->server_, purpose);
    if (!key.ok()) return key.status();
    e->purpose_keys_.emplace(purpose, std::move(*key));
  }
  return e;
}

absl::Status Evaluator::ReserveQuota(const std::string& requester, const std::string& purpose,
                                     uint32_t subjects, uint32_t elements, int64_t now_ms) {
  constexpr int64_t kDayMs = 86400000;
  const int64_t day = now_ms / kDayMs;
  std::lock_guard lock(quota_mu_);
  store::KvStore* const kept = options_.quota_store;
  if (day != quota_day_) {
    used_.clear();
    quota_day_ = day;
    if (kept != nullptr) {  // earlier days' counts are of no use any more
      store::WriteBatch drop;
      drop.DeleteRange(kQuotaPrefix, QuotaDayPrefix(day));
      if (auto s = kept->Write(drop, store::Durability::kBuffered); !s.ok()) {
        quota_day_ = -1;
        return absl::UnavailableError(StrCat("quota: the counts could not be stored (", s.message(), ")"));
      }
    }
  }
  const std::string key = StrCat(QuotaDayPrefix(day), requester, "/", purpose);
  auto [slot, fresh] = used_.try_emplace({requester, purpose});
  Used& used = slot->second;
  if (fresh && kept != nullptr) {  // counted before a restart
    if (absl::Status read = ReadCount(*kept, key, &used.subjects, &used.elements); !read.ok()) {
      used_.erase(slot);
      return absl::UnavailableError(StrCat("quota: the stored count could not be read (", read.message(), ")"));
    }
  }
  if (used.subjects + subjects > options_.daily_subject_quota) {
    return absl::ResourceExhaustedError(StrCat("quota: this node's daily quota of ",
                                               options_.daily_subject_quota,
                                               " subjects for the requester under this purpose is used up (",
                                               used.subjects, " used, ", subjects, " asked)"));
  }
  uint32_t element_quota = options_.daily_element_quota;
  std::string_view whose = "this node's";
  if (auto own = options_.purpose_element_quotas.find(purpose);
      own != options_.purpose_element_quotas.end() && own->second < element_quota) {
    element_quota = own->second;
    whose = "the local policy's";
  }
  if (used.elements + elements > element_quota) {
    return absl::ResourceExhaustedError(StrCat("quota: ", whose, " daily quota of ", element_quota,
                                               " elements for the requester under this purpose is used up (",
                                               used.elements, " used, ", elements, " asked)"));
  }
  if (kept != nullptr) {
    store::WriteBatch count;
    count.Put(key, StrCat(store::EncodeKeyU64(used.subjects + subjects),
                          store::EncodeKeyU64(used.elements + elements)));
    // A process crash keeps it (page cache); fail closed when it cannot be
    // written.
    if (auto s = kept->Write(count, store::Durability::kBuffered); !s.ok()) {
      return absl::UnavailableError(StrCat("quota: the count could not be stored (", s.message(), ")"));
    }
  }
  used.subjects += subjects;
  used.elements += elements;
  return absl::OkStatus();
}

absl::StatusOr<v1::EvaluateResponse> Evaluator::Evaluate(const v1::EvaluateRequest& request,
                                                         int64_t now_ms, const Write& write) {
  const auto& elements = request.blinded_elements();
  const auto& payload = request.authorisation().payload();
  if (elements.empty() || static_cast<size_t>(elements.size()) > oprf::kMaxBatch) {
    return absl::InvalidArgumentError(StrCat("blinded_elements: ", elements.size(),
                                             " elements; 1 to ", oprf::kMaxBatch, " are allowed"));
  }
  if (payload.element_count() != static_cast<uint32_t>(elements.size())) {
    return absl::InvalidArgumentError(StrCat("blinded_elements: ", elements.size(),
                                             " elements, but the authorisation is for ",
                                             payload.element_count()));
  }
  v1::ElementBatch batch;
  *batch.mutable_elements() = elements;
  auto digest = canonical::Digest(canonical::kElementBatchContext, batch);
  if (!digest.ok()) return digest.status();
  auto key = purpose_keys_.find(payload.purpose_id());
  const auto answered = [this](const std::string& purpose) { return purpose_keys_.count(purpose) > 0; };
  auto nonce = check_->Claim(request.authorisation(), v1::AUTHORISED_OPERATION_EVALUATE, *digest, answered);
  if (!nonce.ok()) return nonce.status();
  if (auto r = options_.refused_requesters.find(payload.purpose_id());
      r != options_.refused_requesters.end() &&
      std::find(r->second.begin(), r->second.end(), payload.requester_org_id()) != r->second.end()) {
    return absl::PermissionDeniedError("node policy: this node does not answer that requester under that purpose");
  }
  const uint32_t element_count = static_cast<uint32_t>(elements.size());
  if (payload.subject_count() == 0 ||
      static_cast<uint64_t>(payload.subject_count()) * options_.max_keys_per_subject < element_count) {
    return absl::InvalidArgumentError(StrCat("authorisation: ", element_count, " elements for ",
                                             payload.subject_count(), " subjects is more than ",
                                             options_.max_keys_per_subject, " keys per subject"));
  }
  if (auto s = ReserveQuota(payload.requester_org_id(), payload.purpose_id(), payload.subject_count(),
                            element_count, now_ms);
      !s.ok()) {
    return s;
  }

  std::vector<crypto::ByteView> views;
  views.reserve(static_cast<size_t>(elements.size()));
  for (const auto& e : elements) views.push_back(crypto::AsBytes(e));
  auto evaluation = key->second.EvaluateBlinded(views, options_.threads);
  if (!evaluation.ok()) return evaluation.status();

  v1::EvaluateResponse response;
  v1::EvaluationStatement statement;
  auto auth_digest = canonical::Digest(canonical::kAuthorisationContext, payload);
  if (!auth_digest.ok()) return auth_digest.status();
  statement.set_authorisation_digest(std::string(auth_digest->begin(), auth_digest->end()));
  statement.set_responder_org_id(options_.own_org_id);
  for (const auto& e : evaluation->evaluated_elements) {
    const std::string bytes(e.begin(), e.end());
    statement.add_evaluated_elements(bytes);
    response.add_evaluated_elements(bytes);
  }
  const std::string proof(evaluation->proof.begin(), evaluation->proof.end());
  statement.set_proof(proof);
  response.set_proof(proof);
  auto signature = canonical::Sign(signing_key_, canonical::kEvaluationContext, statement);
  if (!signature.ok()) return signature.status();
  *response.mutable_signature() = std::move(*signature);
  // Nothing is answered before the nonce is durable (with the caller's
  // record of the answer, in one synced write).
  if (absl::Status stored = nonce->Commit(write); !stored.ok()) return stored;
  return response;
}

}  // namespace schakel::nodes
