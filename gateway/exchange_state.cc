#include "gateway/exchange_state.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cstring>

#include "common/strings.h"
#include "crypto/hash.h"

namespace schakel::gateway {
namespace {

constexpr char kRequestPrefix[] = "xr/";
constexpr char kExchangePrefix[] = "xo/";
constexpr char kResolvedPrefix[] = "xd/";
constexpr std::string_view kSep("\0", 1);

std::string RequestKey(std::string_view org, std::string_view request_id) {
  return StrCat(kRequestPrefix, org, kSep, request_id);
}

std::string DigestString(const canonical::DigestBytes& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

void PartsWriter::Part(std::string_view bytes) {
  out_ += store::EncodeKeyU64(bytes.size());
  out_ += bytes;
}

void PartsWriter::Number(uint64_t v) { out_ += store::EncodeKeyU64(v); }

bool PartsReader::Number(uint64_t& v) {
  if (in_.size() < 8) return false;
  v = store::DecodeKeyU64(in_.substr(0, 8)).value();
  in_.remove_prefix(8);
  return true;
}

bool PartsReader::Part(std::string_view& bytes) {
  uint64_t n = 0;
  if (!Number(n) || n > in_.size()) return false;
  bytes = in_.substr(0, n);
  in_.remove_prefix(n);
  return true;
}

bool PartsReader::Message(google::protobuf::Message& m) {
  std::string_view bytes;
  return Part(bytes) && m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

bool PartsReader::Digest(canonical::DigestBytes& d) {
  if (in_.size() < d.size()) return false;
  std::memcpy(d.data(), in_.data(), d.size());
  in_.remove_prefix(d.size());
  return true;
}

std::string DeterministicBytes(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

canonical::DigestBytes Fingerprint(const google::protobuf::Message& m) {
  return crypto::Blake2b256Hash(crypto::AsBytes(DeterministicBytes(m)));
}

std::unique_ptr<ExchangeStore> ExchangeStore::Open(store::KvStore* kv) {
  return std::unique_ptr<ExchangeStore>(new ExchangeStore(kv));
}

absl::StatusOr<std::optional<StoredExchange>> ExchangeStore::FindRequest(
    std::string_view org_id, std::string_view request_id,
    const canonical::DigestBytes& request_digest) const {
  auto value = kv_->Get(RequestKey(org_id, request_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  const std::string& v = **value;
  if (v.size() != 16 + canonical::kDigestSize) {
    return absl::DataLossError("exchange state: a stored request entry is malformed");
  }
  if (std::string_view(v).substr(16) != DigestString(request_digest)) {
    return absl::AlreadyExistsError(
        "request_id: already used for a different request; choose a new request_id for a new "
        "exchange, or resend exactly the same request to get its response");
  }
  auto exchange = Get(std::string_view(v).substr(0, 16));
  if (!exchange.ok()) return exchange.status();
  if (!exchange->has_value()) {
    return absl::DataLossError("exchange state: a request names an exchange that is not stored");
  }
  return exchange;
}

RequestsInFlight::Guard::~Guard() {
  if (owner_ == nullptr) return;
  std::lock_guard lock(owner_->mu_);
  owner_->keys_.erase(key_);
}

absl::StatusOr<RequestsInFlight::Guard> RequestsInFlight::Begin(std::string key) {
  std::lock_guard lock(mu_);
  if (!keys_.insert(key).second) {
    return absl::UnavailableError(
        "request_id: the same request is still being processed; retry in a moment");
  }
  return Guard(this, std::move(key));
}

absl::StatusOr<ExchangeStore::InFlight> ExchangeStore::Begin(std::string_view org_id,
                                                             std::string_view request_id) {
  return in_flight_.Begin(RequestKey(org_id, request_id));
}

void ExchangeStore::AddOpened(const StoredExchange& exchange,
                              const canonical::DigestBytes& request_digest,
                              store::WriteBatch& batch) const {
  batch.Put(RequestKey(exchange.requester.org_id(), exchange.shape.request_id()),
            exchange.exchange_id + DigestString(request_digest));
  PartsWriter w;
  w.Number(1);  // format version
  w.Message(exchange.requester);
  w.Message(exchange.shape);
  w.Message(exchange.response);
  w.Number(exchange.requested_sequence);
  w.Number(exchange.evaluated_sequence);
  batch.Put(StrCat(kExchangePrefix, exchange.exchange_id), w.Take());
}

absl::StatusOr<std::optional<StoredExchange>> ExchangeStore::Get(std::string_view exchange_id) const {
  auto value = kv_->Get(StrCat(kExchangePrefix, exchange_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  StoredExchange e;
  e.exchange_id = std::string(exchange_id);
  PartsReader r(**value);
  uint64_t version = 0;
  if (!r.Number(version) || version != 1 || !r.Message(e.requester) || !r.Message(e.shape) ||
      !r.Message(e.response) || !r.Number(e.requested_sequence) ||
      !r.Number(e.evaluated_sequence) || !r.done()) {
    return absl::DataLossError("exchange state: a stored exchange is malformed");
  }
  return e;
}

absl::StatusOr<std::optional<ResolvedExchange>> ExchangeStore::GetResolved(
    std::string_view exchange_id) const {
  auto value = kv_->Get(StrCat(kResolvedPrefix, exchange_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  ResolvedExchange resolved;
  PartsReader r(**value);
  uint64_t version = 0;
  bool ok = r.Number(version) && (version == 1 || version == 2) && r.Digest(resolved.tags_digest) &&
            r.Message(resolved.response) && r.Number(resolved.resolved_sequence);
  if (ok && version == 2) {
    uint64_t at_ms = 0;
    uint64_t count = 0;
    ok = r.Number(at_ms) && r.Number(count);
    resolved.resolved_at = absl::FromUnixMillis(static_cast<int64_t>(at_ms));
    for (uint64_t i = 0; ok && i < count; ++i) {
      ok = r.Message(resolved.hit_tags.emplace_back()) &&
           resolved.hit_tags.back().tags_size() == resolved.hit_tags.back().hit_element_indices_size();
    }
    resolved.has_hits = true;
  }
  if (!ok || !r.done()) {
    return absl::DataLossError("exchange state: a stored resolution is malformed");
  }
  return resolved;
}

void ExchangeStore::AddResolved(std::string_view exchange_id, const ResolvedExchange& resolved,
                                store::WriteBatch& batch) const {
  PartsWriter w;
  w.Number(2);  // format version
  w.Raw(DigestString(resolved.tags_digest));
  w.Message(resolved.response);
  w.Number(resolved.resolved_sequence);
  w.Number(static_cast<uint64_t>(absl::ToUnixMillis(resolved.resolved_at.value_or(absl::UnixEpoch()))));
  w.Number(resolved.hit_tags.size());
  for (const v1::OrgTags& t : resolved.hit_tags) w.Message(t);
  batch.Put(StrCat(kResolvedPrefix, exchange_id), w.Take());
}

std::unique_lock<std::mutex> ExchangeStore::LockExchange(std::string_view exchange_id) {
  const size_t slot =
      exchange_id.empty() ? 0 : static_cast<uint8_t>(exchange_id.back()) % exchange_locks_.size();
  return std::unique_lock(exchange_locks_[slot]);
}

}  // namespace schakel::gateway
