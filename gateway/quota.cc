#include "gateway/quota.h"

#include <vector>

#include "common/strings.h"
#include "gateway/authoriser.h"
#include "rpc/status.h"

namespace schakel::gateway {
namespace {

constexpr char kQuotaPrefix[] = "quota/";
constexpr std::string_view kSep("\0", 1);

std::string DayText(absl::CivilDay day) {
  return fmt::format("{:04d}-{:02d}-{:02d}", static_cast<int>(day.year()), day.month(), day.day());
}

std::optional<absl::CivilDay> ParseDay(std::string_view text) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(absl::string_view(text.data(), text.size()), &day)) return std::nullopt;
  return day;
}

std::string QuotaKey(std::string_view org, std::string_view purpose, absl::CivilDay day,
                     std::string_view exchange_id) {
  return StrCat(kQuotaPrefix, org, kSep, purpose, kSep, DayText(day), kSep, exchange_id);
}

}  // namespace

absl::StatusOr<std::unique_ptr<QuotaBook>> QuotaBook::Open(store::KvStore* kv, absl::TimeZone zone,
                                                           absl::Time now) {
  std::unique_ptr<QuotaBook> book(new QuotaBook(zone));
  const absl::CivilDay yesterday = absl::ToCivilDay(now, zone) - 1;
  auto rows = kv->Scan(kQuotaPrefix, store::PrefixEnd(kQuotaPrefix), 0);
  if (!rows.ok()) return rows.status();
  store::WriteBatch old;
  for (const auto& [key, value] : *rows) {
    const std::string_view rest = std::string_view(key).substr(sizeof(kQuotaPrefix) - 1);
    const size_t a = rest.find('\0');
    const size_t b = a == std::string_view::npos ? a : rest.find('\0', a + 1);
    const size_t c = b == std::string_view::npos ? b : rest.find('\0', b + 1);
    if (c == std::string_view::npos) return absl::DataLossError("quota: a stored key is malformed");
    const std::optional<absl::CivilDay> day = ParseDay(rest.substr(b + 1, c - b - 1));
    auto subjects = store::DecodeKeyU64(value);
    if (!day.has_value() || !subjects.ok() || *subjects > UINT32_MAX) {
      return absl::DataLossError("quota: a stored count is malformed");
    }
    if (*day < yesterday) {
      old.Delete(key);
      continue;
    }
    Count& count = book->counts_[Key(std::string(rest.substr(0, a)),
                                     std::string(rest.substr(a + 1, b - a - 1)), *day)];
    count.exchanges += 1;
    count.subjects += static_cast<uint32_t>(*subjects);
  }
  if (!old.empty()) {
    // Best effort: old days no longer count, whether or not they are gone.
    (void)kv->Write(old, store::Durability::kBuffered);
  }
  return book;
}

absl::Time QuotaBook::ResetsAt(absl::CivilDay day) const { return absl::FromCivil(day + 1, zone_); }

QuotaBook::Usage QuotaBook::Current(std::string_view org_id, std::string_view purpose_id,
                                    absl::Time now) const {
  const absl::CivilDay day = absl::ToCivilDay(now, zone_);
  Usage usage;
  usage.resets_at = ResetsAt(day);
  std::lock_guard lock(mu_);
  const auto it = counts_.find(Key(std::string(org_id), std::string(purpose_id), day));
  if (it != counts_.end()) {
    usage.exchanges_used = it->second.exchanges;
    usage.subjects_used = it->second.subjects;
  }
  return usage;
}

absl::StatusOr<QuotaBook::Reservation> QuotaBook::Reserve(std::string_view org_id,
                                                          std::string_view purpose_id,
                                                          uint32_t subjects, const Limits& limits,
                                                          std::string_view exchange_id,
                                                          absl::Time now) {
  const absl::CivilDay day = absl::ToCivilDay(now, zone_);
  const absl::Time resets_at = ResetsAt(day);
  std::lock_guard lock(mu_);
  // Days before yesterday can no longer matter.
  for (auto it = counts_.begin(); it != counts_.end();) {
    it = std::get<2>(it->first) < day - 1 ? counts_.erase(it) : std::next(it);
  }
  Count& count = counts_[Key(std::string(org_id), std::string(purpose_id), day)];
  std::string problem;
  if (limits.daily_exchanges != 0 && count.exchanges >= limits.daily_exchanges) {
    problem = StrCat("the daily exchange quota of this purpose is used up: ", count.exchanges,
                     " of ", limits.daily_exchanges, " exchanges today");
  } else if (static_cast<uint64_t>(count.subjects) + subjects > limits.daily_subjects) {
    problem = StrCat("the daily subject quota of this purpose would be exceeded: ", count.subjects,
                     " of ", limits.daily_subjects, " subjects used today, this exchange has ",
                     subjects);
  }
  if (!problem.empty()) {
    const absl::Duration wait = resets_at - now;
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_QUOTA_EXCEEDED);
    const int64_t ms = absl::ToInt64Milliseconds(wait);
    detail.mutable_retry_after()->set_seconds(ms / 1000);
    detail.mutable_retry_after()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
    return rpc::WithErrorDetail(
        absl::ResourceExhaustedError(StrCat(problem, "; it resets at midnight (in ",
                                            absl::FormatDuration(absl::Seconds(absl::ToInt64Seconds(wait))),
                                            ")")),
        detail);
  }
  count.exchanges += 1;
  count.subjects += subjects;
  Reservation r;
  r.org_id = std::string(org_id);
  r.purpose_id = std::string(purpose_id);
  r.day = day;
  r.exchange_id = std::string(exchange_id);
  r.subjects = subjects;
  r.after = Usage{count.exchanges, count.subjects, resets_at};
  return r;
}

void QuotaBook::AddWrites(const Reservation& r, store::WriteBatch& batch) const {
  batch.Put(QuotaKey(r.org_id, r.purpose_id, r.day, r.exchange_id), store::EncodeKeyU64(r.subjects));
}

void QuotaBook::Release(const Reservation& r) {
  std::lock_guard lock(mu_);
  const auto it = counts_.find(Key(r.org_id, r.purpose_id, r.day));
  if (it == counts_.end()) return;
  it->second.exchanges -= std::min(it->second.exchanges, 1u);
  it->second.subjects -= std::min(it->second.subjects, r.subjects);
}

v1::QuotaUsage ToProto(const QuotaBook::Usage& usage) {
  v1::QuotaUsage p;
  p.set_exchanges_used(usage.exchanges_used);
  p.set_subjects_used(usage.subjects_used);
  SetMillis(p.mutable_resets_at(), absl::ToUnixMillis(usage.resets_at));
  return p;
}

}  // namespace schakel::gateway
