#include "nodes/approvals.h"

#include <algorithm>

#include "common/strings.h"
#include "crypto/bytes.h"

namespace schakel::nodes {
namespace {

constexpr char kRecord[] = "appr/r/";
constexpr char kRequest[] = "appr/q/";
constexpr char kAllowance[] = "appr/l/";
constexpr char kSealed[] = "appr/s/";
constexpr char kOutbox[] = "appr/x/";
constexpr char kDue[] = "appr/d/";
constexpr char kIndex[] = "appr/i/";
constexpr char kIndexPending[] = "appr/i/0/";
constexpr char kIndexDecided[] = "appr/i/1/";
constexpr size_t kIdSize = 16;

int64_t Millis(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

uint64_t Unsigned(int64_t ms) { return ms < 0 ? 0 : static_cast<uint64_t>(ms); }

std::string Key(std::string_view prefix, std::string_view id) { return StrCat(prefix, id); }

// The listing index key of an approval in its current state.
std::string IndexKey(const v1::Approval& a) {
  if (a.state() == v1::APPROVAL_STATE_PENDING) {
    return StrCat(kIndexPending, store::EncodeKeyU64(Unsigned(Millis(a.received_at()))),
                  a.disclosure_id());
  }
  return StrCat(kIndexDecided, store::EncodeKeyU64(~Unsigned(Millis(a.decided_at()))),
                a.disclosure_id());
}

std::string DueKey(const v1::Approval& a) {
  return StrCat(kDue, store::EncodeKeyU64(Unsigned(Millis(a.decide_by()))), a.disclosure_id());
}

template <typename Message>
absl::Status ParseInto(const std::string& bytes, Message& out, std::string_view what) {
  if (!out.ParseFromString(bytes)) {
    return absl::DataLossError(StrCat("approvals: a stored ", what, " does not parse"));
  }
  return absl::OkStatus();
}

// The ids at the end of the keys of a prefix scan.
absl::StatusOr<std::vector<std::string>> IdsUnder(const store::KvStore& kv, std::string_view begin,
                                                  std::string_view end) {
  auto rows = kv.Scan(begin, end, 0);
  if (!rows.ok()) return rows.status();
  std::vector<std::string> ids;
  ids.reserve(rows->size());
  for (const auto& [key, value] : *rows) {
    if (key.size() >= kIdSize) ids.push_back(key.substr(key.size() - kIdSize));
  }
  return ids;
}

}  // namespace

absl::StatusOr<std::optional<ApprovalRecord>> ApprovalStore::Get(
    std::string_view disclosure_id) const {
  const std::string id(disclosure_id);
  auto approval = kv_->Get(Key(kRecord, id));
  if (!approval.ok()) return approval.status();
  if (!approval->has_value()) return std::optional<ApprovalRecord>();
  ApprovalRecord record;
  if (auto s = ParseInto(**approval, record.approval, "approval"); !s.ok()) return s;
  auto request = kv_->Get(Key(kRequest, id));
  if (!request.ok()) return request.status();
  if (!request->has_value()) return absl::DataLossError("approvals: an order is missing");
  if (auto s = ParseInto(**request, record.request, "order"); !s.ok()) return s;
  auto allowance = kv_->Get(Key(kAllowance, id));
  if (!allowance.ok()) return allowance.status();
  if (allowance->has_value()) {
    if (auto s = ParseInto(**allowance, record.allowance, "rule"); !s.ok()) return s;
  }
  auto sealed = kv_->Get(Key(kSealed, id));
  if (!sealed.ok()) return sealed.status();
  if (sealed->has_value()) {
    record.sealed.emplace();
    if (auto s = ParseInto(**sealed, *record.sealed, "decision"); !s.ok()) return s;
  }
  auto outbox = kv_->Get(Key(kOutbox, id));
  if (!outbox.ok()) return outbox.status();
  record.in_outbox = outbox->has_value();
  return std::optional<ApprovalRecord>(std::move(record));
}

absl::Status ApprovalStore::Put(const ApprovalRecord& record, const ApprovalRecord* previous,
                                v1::LocalLogRecord log_record) {
  const std::string& id = record.approval.disclosure_id();
  if (id.size() != kIdSize) return absl::InternalError("approvals: a disclosure id is not 16 bytes");
  store::WriteBatch batch;
  v1::Approval approval = record.approval;
  approval.clear_signals();
  batch.Put(Key(kRecord, id), approval.SerializeAsString());
  if (previous == nullptr) {
    batch.Put(Key(kRequest, id), record.request.SerializeAsString());
    batch.Put(Key(kAllowance, id), record.allowance.SerializeAsString());
  } else {
    batch.Delete(IndexKey(previous->approval));
    if (previous->approval.state() == v1::APPROVAL_STATE_PENDING) {
      batch.Delete(DueKey(previous->approval));
    }
  }
  batch.Put(IndexKey(approval), "");
  if (approval.state() == v1::APPROVAL_STATE_PENDING) batch.Put(DueKey(approval), "");
  if (record.sealed.has_value()) batch.Put(Key(kSealed, id), record.sealed->SerializeAsString());
  if (record.in_outbox) {
    batch.Put(Key(kOutbox, id), "");
  } else {
    batch.Delete(Key(kOutbox, id));
  }
  if (log_ != nullptr) {
    auto appended = log_->AppendWith(std::move(log_record), std::move(batch));
    return appended.ok() ? absl::OkStatus() : appended.status();
  }
  return kv_->Write(batch, store::Durability::kSynced);
}

absl::StatusOr<ApprovalPage> ApprovalStore::List(const std::vector<v1::ApprovalState>& states,
                                                 uint32_t page_size,
                                                 std::string_view page_token) const {
  if (page_size > 1000) {
    return absl::InvalidArgumentError(StrCat("page_size: ", page_size, " is more than 1000"));
  }
  const size_t want = page_size == 0 ? 100 : page_size;
  std::string begin = kIndex;
  if (!page_token.empty()) {
    auto decoded = crypto::FromHex(page_token);
    const std::string last = decoded.ok() ? std::string(decoded->begin(), decoded->end()) : "";
    if (!decoded.ok() || last.rfind(kIndex, 0) != 0 || last.size() < sizeof(kIndex) + kIdSize) {
      return absl::InvalidArgumentError("page_token: malformed");
    }
    begin = last + '\0';
  }
  const std::string end = store::PrefixEnd(kIndex);
  ApprovalPage page;
  std::string last_key;
  bool exhausted = false;
  while (page.approvals.size() < want && !exhausted) {
    auto rows = kv_->Scan(begin, end, want);
    if (!rows.ok()) return rows.status();
    exhausted = rows->size() < want;
    for (const auto& [key, value] : *rows) {
      last_key = key;
      auto stored = kv_->Get(Key(kRecord, key.substr(key.size() - kIdSize)));
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) continue;
      v1::Approval approval;
      if (auto s = ParseInto(**stored, approval, "approval"); !s.ok()) return s;
      if (!states.empty() &&
          std::find(states.begin(), states.end(), approval.state()) == states.end()) {
        continue;
      }
      page.approvals.push_back(std::move(approval));
      if (page.approvals.size() == want) break;
    }
    begin = last_key + '\0';
  }
  if (page.approvals.size() == want) {
    // More may follow: the token is where this page stopped.
    auto more = kv_->Scan(begin, end, 1);
    if (!more.ok()) return more.status();
    if (!more->empty()) page.next_page_token = crypto::ToHex(crypto::AsBytes(last_key));
  }
  return page;
}

absl::StatusOr<std::vector<std::string>> ApprovalStore::PendingDue(int64_t now_ms) const {
  return IdsUnder(*kv_, kDue, StrCat(kDue, store::EncodeKeyU64(Unsigned(now_ms) + 1)));
}

absl::StatusOr<std::vector<std::string>> ApprovalStore::Outbox() const {
  return IdsUnder(*kv_, kOutbox, store::PrefixEnd(kOutbox));
}

absl::StatusOr<size_t> ApprovalStore::PendingCount() const {
  auto ids = IdsUnder(*kv_, kDue, store::PrefixEnd(kDue));
  if (!ids.ok()) return ids.status();
  return ids->size();
}

absl::StatusOr<size_t> ApprovalStore::OutboxCount() const {
  auto ids = Outbox();
  if (!ids.ok()) return ids.status();
  return ids->size();
}

}  // namespace schakel::nodes
