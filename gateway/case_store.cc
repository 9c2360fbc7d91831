#include "gateway/case_store.h"

#include <google/protobuf/util/message_differencer.h>

#include <cstdio>
#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "common/strings.h"
#include "gateway/authoriser.h"

namespace schakel::gateway {
namespace {

constexpr char kCasePrefix[] = "case/c/";
constexpr char kOrderPrefix[] = "case/o/";
constexpr char kRequestPrefix[] = "case/r/";
constexpr char kYearPrefix[] = "case/n/";
constexpr char kSerialKey[] = "case/s";
constexpr size_t kFingerprintSize = 32;

std::string CaseKey(std::string_view case_id) { return StrCat(kCasePrefix, case_id); }
// Newest first in key order.
std::string OrderKey(uint64_t serial) {
  return kOrderPrefix + store::EncodeKeyU64(std::numeric_limits<uint64_t>::max() - serial);
}
std::string RequestKey(std::string_view request_id) { return StrCat(kRequestPrefix, request_id); }

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMillis(ToMillis(t));
}

absl::StatusOr<uint64_t> ReadCounter(const store::KvStore& kv, const std::string& key) {
  auto value = kv.Get(key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return 0;
  auto n = store::DecodeKeyU64(**value);
  if (!n.ok()) return absl::DataLossError(StrCat("cases: the counter ", key, " is malformed"));
  return *n;
}

}  // namespace

v1::CaseState EffectiveState(const v1::Case& c, absl::Time now) {
  if (c.state() == v1::CASE_STATE_OPEN && c.has_ends_at() && now >= TimeOf(c.ends_at())) {
    return v1::CASE_STATE_EXPIRED;
  }
  return c.state();
}

absl::StatusOr<std::unique_ptr<CaseStore>> CaseStore::Open(store::KvStore* kv) {
  if (kv == nullptr) return absl::InvalidArgumentError("cases: a store is required");
  std::unique_ptr<CaseStore> cases(new CaseStore(kv));
  // Fail at start, not at the first case, when the counters are damaged.
  if (auto serial = ReadCounter(*kv, kSerialKey); !serial.ok()) return serial.status();
  return cases;
}

CaseStore::Commit CaseStore::DirectCommit() const {
  store::KvStore* kv = kv_;
  return [kv](const v1::Case&, const ExchangeLog::WithEntry& writes) -> absl::StatusOr<uint64_t> {
    store::WriteBatch batch;
    writes(0, batch);
    if (absl::Status s = kv->Write(batch, store::Durability::kSynced); !s.ok()) {
      return absl::UnavailableError(
          StrCat("cases: the change could not be written (", s.message(), ")"));
    }
    return 0;
  };
}

absl::StatusOr<v1::Case> CaseStore::GetLocked(std::string_view case_id) const {
  auto value = kv_->Get(CaseKey(case_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::NotFoundError("case: no such case");
  v1::Case c;
  if (!c.ParseFromString(**value))
    return absl::DataLossError("case: the stored case does not parse");
  return c;
}

absl::StatusOr<v1::Case> CaseStore::Get(std::string_view case_id, absl::Time now) const {
  auto c = GetLocked(case_id);
  if (!c.ok()) return c.status();
  c->set_state(EffectiveState(*c, now));
  return c;
}

absl::StatusOr<std::optional<CaseStore::Replay>> CaseStore::FindRequest(
    std::string_view request_id, std::string_view fingerprint) const {
  auto value = kv_->Get(RequestKey(request_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<Replay>();
  const std::string& v = **value;
  if (v.size() < kFingerprintSize + 8) {
    return absl::DataLossError("cases: a stored request record is malformed");
  }
  if (std::string_view(v).substr(0, kFingerprintSize) != fingerprint) {
    return absl::AlreadyExistsError(
        "request_id: already used for a different request; choose a new one");
  }
  Replay replay;
  replay.log_sequence =
      store::DecodeKeyU64(std::string_view(v).substr(kFingerprintSize, 8)).value();
  replay.case_id = v.substr(kFingerprintSize + 8);
  return std::optional<Replay>(std::move(replay));
}

absl::StatusOr<CaseStore::Opened> CaseStore::OpenCase(v1::Case draft, std::string_view request_id,
                                                      std::string_view fingerprint, absl::Time now,
                                                      const Commit& commit) {
  if (fingerprint.size() != kFingerprintSize) {
    return absl::InvalidArgumentError("cases: the request fingerprint must be 32 bytes");
  }
  std::lock_guard lock(mu_);
  auto replay = FindRequest(request_id, fingerprint);
  if (!replay.ok()) return replay.status();
  if (replay->has_value()) {
    auto c = Get((*replay)->case_id, now);
    if (!c.ok()) return c.status();
    return Opened{*std::move(c), true, (*replay)->log_sequence};
  }

  const std::string year = absl::FormatTime("%Y", now, absl::UTCTimeZone());
  const std::string year_key = StrCat(kYearPrefix, year);
  auto number = ReadCounter(*kv_, year_key);
  if (!number.ok()) return number.status();
  auto serial = ReadCounter(*kv_, kSerialKey);
  if (!serial.ok()) return serial.status();
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%04llu", static_cast<unsigned long long>(*number + 1));
  const std::string case_id = StrCat(year, "-", digits);
  auto existing = kv_->Get(CaseKey(case_id));
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return absl::DataLossError(
        StrCat("cases: case ", case_id, " exists but the counter says it does not"));
  }

  v1::Case c = std::move(draft);
  c.set_case_id(case_id);
  c.set_state(v1::CASE_STATE_OPEN);
  SetMillis(c.mutable_opened_at(), absl::ToUnixMillis(now));
  c.clear_closed_at();
  c.clear_close_reason();
  const uint64_t new_number = *number + 1;
  const uint64_t new_serial = *serial + 1;
  const std::string value = c.SerializeAsString();
  const std::string request(request_id);
  const std::string print(fingerprint);
  auto sequence = commit(c, [&](uint64_t log_sequence, store::WriteBatch& batch) {
    batch.Put(CaseKey(case_id), value);
    batch.Put(OrderKey(new_serial), case_id);
    batch.Put(RequestKey(request), StrCat(print, store::EncodeKeyU64(log_sequence), case_id));
    batch.Put(year_key, store::EncodeKeyU64(new_number));
    batch.Put(kSerialKey, store::EncodeKeyU64(new_serial));
  });
  if (!sequence.ok()) return sequence.status();
  c.set_state(EffectiveState(c, now));
  return Opened{std::move(c), false, *sequence};
}

absl::StatusOr<v1::Case> CaseStore::Update(std::string_view case_id,
                                           const std::function<absl::Status(v1::Case&)>& change,
                                           absl::Time now, const Commit& commit) {
  std::lock_guard lock(mu_);
  auto before = GetLocked(case_id);
  if (!before.ok()) return before.status();
  if (const v1::CaseState state = EffectiveState(*before, now); state != v1::CASE_STATE_OPEN) {
    return absl::FailedPreconditionError(
        StrCat("case: not open (", state == v1::CASE_STATE_EXPIRED ? "past its end date" : "closed",
               "); only an open case can be changed"));
  }
  v1::Case after = *before;
  if (absl::Status s = change(after); !s.ok()) return s;
  // Only what cases.proto lets UpdateCase change may differ.
  v1::Case rest = after;
  rest.set_title(before->title());
  *rest.mutable_ends_at() = before->ends_at();
  *rest.mutable_selection_grounds() = before->selection_grounds();
  *rest.mutable_partner_org_ids() = before->partner_org_ids();
  if (!before->has_ends_at()) rest.clear_ends_at();
  if (!google::protobuf::util::MessageDifferencer::Equals(rest, *before)) {
    return absl::InvalidArgumentError("case: the change touches a field that cannot change");
  }
  const std::string value = after.SerializeAsString();
  auto sequence = commit(
      after, [&](uint64_t, store::WriteBatch& batch) { batch.Put(CaseKey(case_id), value); });
  if (!sequence.ok()) return sequence.status();
  after.set_state(EffectiveState(after, now));
  return after;
}

absl::StatusOr<v1::Case> CaseStore::Close(std::string_view case_id, std::string_view reason,
                                          absl::Time now, const Commit& commit) {
  std::lock_guard lock(mu_);
  auto c = GetLocked(case_id);
  if (!c.ok()) return c.status();
  if (const v1::CaseState state = EffectiveState(*c, now); state != v1::CASE_STATE_OPEN) {
    return absl::FailedPreconditionError(
        StrCat("case: already ", state == v1::CASE_STATE_EXPIRED ? "expired" : "closed"));
  }
  c->set_state(v1::CASE_STATE_CLOSED);
  SetMillis(c->mutable_closed_at(), absl::ToUnixMillis(now));
  c->set_close_reason(std::string(reason));
  const std::string value = c->SerializeAsString();
  auto sequence =
      commit(*c, [&](uint64_t, store::WriteBatch& batch) { batch.Put(CaseKey(case_id), value); });
  if (!sequence.ok()) return sequence.status();
  return c;
}

absl::StatusOr<std::vector<v1::Case>> CaseStore::ExpireDue(absl::Time now, const Commit& commit) {
  std::lock_guard lock(mu_);
  auto rows = kv_->Scan(kCasePrefix, store::PrefixEnd(kCasePrefix), 0);
  if (!rows.ok()) return rows.status();
  std::vector<v1::Case> expired;
  for (const auto& [key, value] : *rows) {
    v1::Case c;
    if (!c.ParseFromString(value)) return absl::DataLossError("case: a stored case does not parse");
    if (c.state() != v1::CASE_STATE_OPEN || EffectiveState(c, now) != v1::CASE_STATE_EXPIRED)
      continue;
    c.set_state(v1::CASE_STATE_EXPIRED);
    const std::string stored = c.SerializeAsString();
    // clang 14 cannot capture a structured binding: name it.
    const std::string& case_key = key;
    auto sequence = commit(c, [&](uint64_t, store::WriteBatch& batch) { batch.Put(case_key, stored); });
    if (!sequence.ok()) return sequence.status();
    expired.push_back(std::move(c));
  }
  return expired;
}

absl::StatusOr<CaseStore::Page> CaseStore::List(const std::function<bool(const v1::Case&)>& keep,
                                                size_t page_size, std::string_view page_token,
                                                absl::Time now) const {
  if (page_size < 1 || page_size > 1000) {
    return absl::InvalidArgumentError(
        StrCat("page_size: ", page_size, " is out of range; 1 to 1000 allowed"));
  }
  std::string start = kOrderPrefix;
  if (!page_token.empty()) {
    uint64_t serial = 0;
    if (page_token.size() > 20 ||
        page_token.find_first_not_of("0123456789") != std::string_view::npos ||
        !absl::SimpleAtoi(absl::string_view(page_token.data(), page_token.size()), &serial) ||
        serial == 0) {
      return absl::InvalidArgumentError(
          "page_token: not a token this gateway gave out; use next_page_token of the previous "
          "response, or empty for the first page");
    }
    start = OrderKey(serial) + std::string(1, '\0');
  }
  const std::string end = store::PrefixEnd(kOrderPrefix);
  Page page;
  constexpr size_t kScan = 256;
  while (true) {
    auto rows = kv_->Scan(start, end, kScan);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, case_id] : *rows) {
      auto c = GetLocked(case_id);
      if (!c.ok()) {
        if (absl::IsNotFound(c.status())) {
          return absl::DataLossError("cases: the case index names a case that is not stored");
        }
        return c.status();
      }
      c->set_state(EffectiveState(*c, now));
      if (!keep(*c)) continue;
      if (page.cases.size() == page_size) {
        return page;  // one more matches: next_page_token names the last one returned
      }
      page.cases.push_back(*std::move(c));
      auto inverted = store::DecodeKeyU64(std::string_view(key).substr(sizeof(kOrderPrefix) - 1));
      if (!inverted.ok()) return absl::DataLossError("cases: a case index key is malformed");
      page.next_page_token = std::to_string(std::numeric_limits<uint64_t>::max() - *inverted);
    }
    if (rows->size() < kScan) break;
    start = rows->back().first + std::string(1, '\0');
  }
  page.next_page_token.clear();  // nothing after the last case returned
  return page;
}

}  // namespace schakel::gateway
