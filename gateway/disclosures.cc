#include "gateway/disclosures.h"

#include "common/strings.h"

namespace schakel::gateway {
namespace {

constexpr char kDisclosurePrefix[] = "ds/d/";
constexpr char kRequestPrefix[] = "ds/r/";
constexpr char kPendingPrefix[] = "ds/p/";
constexpr char kBoxPrefix[] = "ds/b/";
constexpr std::string_view kSep("\0", 1);
constexpr size_t kIdSize = 16;
constexpr uint64_t kFormatVersion = 1;

std::string RequestKey(std::string_view org, std::string_view request_id) {
  return StrCat(kRequestPrefix, org, kSep, request_id);
}

std::string TimedKey(std::string_view prefix, absl::Time at, std::string_view id) {
  return StrCat(prefix, store::EncodeKeyU64(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(at)))),
                id);
}

absl::Time DecideBy(const StoredDisclosure& d) {
  return absl::FromUnixSeconds(d.status.decide_by().seconds()) +
         absl::Nanoseconds(d.status.decide_by().nanos());
}

bool Pending(const StoredDisclosure& d) {
  return d.status.state() == v1::DISCLOSURE_STATE_PENDING_APPROVAL;
}

// The key of the retention entry of `d`, when its box is kept and was
// handed out.
std::optional<std::string> BoxKey(const StoredDisclosure& d, absl::Duration retention) {
  if (d.box_dropped || !d.box_handed_out_at.has_value() || !d.status.has_sealed() ||
      d.status.sealed().sealed_box().empty()) {
    return std::nullopt;
  }
  return TimedKey(kBoxPrefix, *d.box_handed_out_at + retention, d.status.disclosure_id());
}

std::string DigestString(const canonical::DigestBytes& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string Encode(const StoredDisclosure& d) {
  PartsWriter w;
  w.Number(kFormatVersion);
  w.Message(d.status);
  w.Message(d.requester);
  w.Message(d.order);
  w.Part(d.request_id);
  w.Raw(DigestString(d.request_digest));
  w.Number(d.requested_sequence);
  w.Number(d.decided_sequence);
  w.Number(d.box_handed_out_at.has_value() ? 1 : 0);
  w.Number(static_cast<uint64_t>(absl::ToUnixMillis(d.box_handed_out_at.value_or(absl::UnixEpoch()))));
  w.Number(d.box_dropped ? 1 : 0);
  return w.Take();
}

}  // namespace

std::unique_ptr<DisclosureStore> DisclosureStore::Open(store::KvStore* kv, Options options) {
  return std::unique_ptr<DisclosureStore>(new DisclosureStore(kv, options));
}

absl::StatusOr<std::optional<StoredDisclosure>> DisclosureStore::FindRequest(
    std::string_view org_id, std::string_view request_id,
    const canonical::DigestBytes& request_digest) const {
  auto value = kv_->Get(RequestKey(org_id, request_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  const std::string& v = **value;
  if (v.size() != kIdSize + canonical::kDigestSize) {
    return absl::DataLossError("disclosures: a stored request entry is malformed");
  }
  if (std::string_view(v).substr(kIdSize) != DigestString(request_digest)) {
    return absl::AlreadyExistsError(
        "request_id: already used for a different disclosure request; choose a new request_id, or "
        "resend exactly the same request to get its disclosure");
  }
  auto found = Get(std::string_view(v).substr(0, kIdSize));
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    return absl::DataLossError("disclosures: a request names a disclosure that is not stored");
  }
  return found;
}

absl::StatusOr<DisclosureStore::InFlight> DisclosureStore::Begin(std::string_view org_id,
                                                                 std::string_view request_id) {
  return in_flight_.Begin(RequestKey(org_id, request_id));
}

absl::StatusOr<std::optional<StoredDisclosure>> DisclosureStore::Get(
    std::string_view disclosure_id) const {
  auto value = kv_->Get(StrCat(kDisclosurePrefix, disclosure_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  StoredDisclosure d;
  PartsReader r(**value);
  uint64_t version = 0;
  uint64_t handed_out = 0;
  uint64_t handed_out_ms = 0;
  uint64_t dropped = 0;
  std::string_view request_id;
  if (!r.Number(version) || version != kFormatVersion || !r.Message(d.status) ||
      !r.Message(d.requester) || !r.Message(d.order) || !r.Part(request_id) ||
      !r.Digest(d.request_digest) || !r.Number(d.requested_sequence) ||
      !r.Number(d.decided_sequence) || !r.Number(handed_out) || !r.Number(handed_out_ms) ||
      !r.Number(dropped) || !r.done() || d.status.disclosure_id() != disclosure_id) {
    return absl::DataLossError("disclosures: a stored disclosure is malformed");
  }
  d.request_id = std::string(request_id);
  if (handed_out != 0) d.box_handed_out_at = absl::FromUnixMillis(static_cast<int64_t>(handed_out_ms));
  d.box_dropped = dropped != 0;
  return d;
}

void DisclosureStore::AddPut(const StoredDisclosure& d, const StoredDisclosure* previous,
                             store::WriteBatch& batch) const {
  const std::string& id = d.status.disclosure_id();
  if (previous == nullptr) {
    batch.Put(RequestKey(d.requester.org_id(), d.request_id), id + DigestString(d.request_digest));
  } else {
    if (Pending(*previous)) batch.Delete(TimedKey(kPendingPrefix, DecideBy(*previous), id));
    if (auto key = BoxKey(*previous, options_.box_retention)) batch.Delete(*key);
  }
  if (Pending(d)) batch.Put(TimedKey(kPendingPrefix, DecideBy(d), id), "");
  if (auto key = BoxKey(d, options_.box_retention)) batch.Put(*key, "");
  batch.Put(StrCat(kDisclosurePrefix, id), Encode(d));
}

absl::StatusOr<StoredDisclosure> DisclosureStore::MarkHandedOut(StoredDisclosure d, absl::Time now) {
  if (d.box_handed_out_at.has_value() || d.box_dropped || !d.status.has_sealed() ||
      d.status.sealed().sealed_box().empty()) {
    return d;
  }
  const StoredDisclosure previous = d;
  d.box_handed_out_at = absl::FromUnixMillis(absl::ToUnixMillis(now));
  store::WriteBatch batch;
  AddPut(d, &previous, batch);
  if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
    return written;
  }
  return d;
}

absl::StatusOr<std::vector<std::string>> DisclosureStore::DuePending(absl::Time now,
                                                                     size_t limit) const {
  auto due = kv_->Scan(kPendingPrefix, TimedKey(kPendingPrefix, now, ""), limit);
  if (!due.ok()) return due.status();
  std::vector<std::string> ids;
  for (const auto& [key, value] : *due) {
    const std::string_view rest = std::string_view(key).substr(std::string_view(kPendingPrefix).size());
    if (rest.size() == 8 + kIdSize) ids.emplace_back(rest.substr(8));
  }
  return ids;
}

absl::StatusOr<size_t> DisclosureStore::DropExpiredBoxes(absl::Time now) {
  auto due = kv_->Scan(kBoxPrefix, TimedKey(kBoxPrefix, now, ""));
  if (!due.ok()) return due.status();
  size_t dropped = 0;
  for (const auto& [key, value] : *due) {
    const std::string_view rest = std::string_view(key).substr(std::string_view(kBoxPrefix).size());
    if (rest.size() != 8 + kIdSize) continue;
    const std::string id(rest.substr(8));
    std::unique_lock lock = Lock(id);
    auto found = Get(id);
    if (!found.ok()) return found.status();
    store::WriteBatch batch;
    if (!found->has_value()) {
      batch.Delete(key);
    } else {
      StoredDisclosure d = **found;
      const StoredDisclosure previous = d;
      d.status.mutable_sealed()->clear_sealed_box();
      d.box_dropped = true;
      AddPut(d, &previous, batch);
      batch.Delete(key);  // in case the entry was left from another retention
    }
    if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
      return written;
    }
    ++dropped;
  }
  return dropped;
}

std::unique_lock<std::mutex> DisclosureStore::Lock(std::string_view disclosure_id) {
  const size_t slot =
      disclosure_id.empty() ? 0 : static_cast<uint8_t>(disclosure_id.back()) % locks_.size();
  return std::unique_lock(locks_[slot]);
}

}  // namespace schakel::gateway
