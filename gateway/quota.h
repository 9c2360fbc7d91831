// Per-organisation, per-purpose daily quotas (policy.proto: daily_exchange_
// quota, daily_subject_quota), enforced by the gateway before an exchange is
// logged and forwarded. Quotas are what make enumerating the identifier
// space take years (docs/policy.md), so they survive a restart: every
// accepted exchange leaves a key in the gateway's store, written in the same
// synced write as the exchange's EXCHANGE_REQUESTED log entry
// (ExchangeLog::Append's `with`), so the count and the log always agree.
//
// Day: a calendar day in the configured zone (Europe/Amsterdam); counters
// reset at its midnight. Refused exchanges do not count.
//
// Use: Reserve (checks and counts in memory, so concurrent exchanges cannot
// together overshoot), then either AddWrites into the log entry's batch
// (the count becomes durable with the entry) or Release when the entry
// could not be written.
//
// Storage: "quota/<org>\0<purpose>\0<YYYY-MM-DD>\0<exchange id>" -> subjects
// (8 bytes BE), one key per accepted exchange, so concurrent writes never
// overwrite each other's counts. Open loads today's and yesterday's keys and
// deletes older ones.
//
// Thread safety: all methods may be called concurrently.
#ifndef SCHAKEL_GATEWAY_QUOTA_H_
#define SCHAKEL_GATEWAY_QUOTA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "schakel/v1/policy.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

class QuotaBook {
 public:
  // A purpose's daily limits for one requesting organisation.
  struct Limits {
    uint32_t daily_exchanges = 0;  // 0: no limit on the number of exchanges
    uint32_t daily_subjects = 0;   // always a limit (policy.h: 1 .. 100,000)
  };

  struct Usage {
    uint32_t exchanges_used = 0;
    uint32_t subjects_used = 0;
    absl::Time resets_at;  // next midnight in the zone
  };

  // Counted in memory, not yet durable.
  struct Reservation {
    std::string org_id;
    std::string purpose_id;
    absl::CivilDay day;
    std::string exchange_id;  // 16 bytes
    uint32_t subjects = 0;
    Usage after;  // usage including this exchange
  };

  // Opens the quotas kept in `kv` (not owned). Errors: DATA_LOSS for a
  // malformed stored key or count; store errors.
  static absl::StatusOr<std::unique_ptr<QuotaBook>> Open(store::KvStore* kv, absl::TimeZone zone,
                                                         absl::Time now);

  // Today's use by `org_id` under `purpose_id`.
  Usage Current(std::string_view org_id, std::string_view purpose_id, absl::Time now) const;

  // Counts an exchange of `subjects` subjects when the limits allow it.
  // Errors: RESOURCE_EXHAUSTED with an ErrorDetail (reason QUOTA_EXCEEDED,
  // retry_after: the time until midnight) when it would exceed a limit;
  // nothing is counted then. The message names the limit and the counts,
  // never an organisation or purpose.
  absl::StatusOr<Reservation> Reserve(std::string_view org_id, std::string_view purpose_id,
                                      uint32_t subjects, const Limits& limits,
                                      std::string_view exchange_id, absl::Time now);

  // Adds the reservation's durable key to `batch` (the log entry's write).
  void AddWrites(const Reservation& reservation, store::WriteBatch& batch) const;

  // Undoes a reservation whose write failed.
  void Release(const Reservation& reservation);

  absl::TimeZone zone() const { return zone_; }

 private:
  using Key = std::tuple<std::string, std::string, absl::CivilDay>;  // org, purpose, day
  struct Count {
    uint32_t exchanges = 0;
    uint32_t subjects = 0;
  };
  explicit QuotaBook(absl::TimeZone zone) : zone_(zone) {}
  absl::Time ResetsAt(absl::CivilDay day) const;

  const absl::TimeZone zone_;
  mutable std::mutex mu_;
  std::map<Key, Count> counts_;  // guarded by mu_
};

// The quota use as the API shows it (policy.proto, QuotaUsage).
v1::QuotaUsage ToProto(const QuotaBook::Usage& usage);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_QUOTA_H_
