// The gateway's Prometheus metrics (common/metrics.h), derived from what it
// already records: the exchange log's entries and the store's writes.
//
//   schakel_gateway_exchanges_total{outcome}             EXCHANGE_REQUESTED entries
//   schakel_gateway_refusals_total{kind,reason}          entries refused/denied/failed, per reason
//   schakel_gateway_partner_evaluations_total{partner,status}
//   schakel_gateway_partner_latency_seconds{partner}     histogram (EXCHANGE_EVALUATED)
//   schakel_gateway_partner_available{partner}           1 when its last evaluation was
//                                                        answered, 0 when it was unavailable or
//                                                        timed out
//   schakel_gateway_log_write_seconds                    histogram of synced log writes
//   schakel_gateway_log_write_failures_total
//   schakel_gateway_log_entries                          the log's head (scraped)
//   schakel_gateway_policy_loaded{version}               1 for the version in force (scraped)
// and, added by the server (common/metrics.h StoreMemoryGauge):
//   schakel_gateway_store_memory_bytes{part}             the store's memtables, block cache
//                                                        and table readers (scraped)
//
// The log is followed, not instrumented: CatchUp reads the entries appended
// since the last call (the gateway's background thread calls it after
// appends), so every refusal and partner outcome the log records is counted
// exactly once from the start of the process, whichever service wrote it.
// Labels are organisation ids, record kinds, outcomes, reasons and statuses:
// never an identifier of a person (the log holds none).
//
// Thread safety: ObserveWrite may be called from any thread; CatchUp from
// one thread at a time.
#ifndef SCHAKEL_GATEWAY_GATEWAY_METRICS_H_
#define SCHAKEL_GATEWAY_GATEWAY_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/exchange_log.h"
#include "gateway/policy.h"
#include "store/kv_store.h"

namespace schakel::gateway {

class GatewayMetrics {
 public:
  // Follows `log` (not owned; must outlive this) from its current head.
  GatewayMetrics(ExchangeLog* log, std::function<std::shared_ptr<const Policy>()> current_policy);

  // The families, for MetricsEndpoint::Start.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  std::vector<std::shared_ptr<prometheus::Collectable>> scraped() const { return scraped_; }

  // Counts the entries appended since the last call. Errors: those of
  // ExchangeLog::Read (the next call tries again from the same entry).
  absl::Status CatchUp();

  // A store write (ObservedStore's observer): the exchange log's writes
  // are the synced ones that carry a log entry.
  void ObserveWrite(const store::WriteBatch& batch, store::Durability durability, absl::Duration took,
                    const absl::Status& result);

 private:
  void Count(const v1::LogRecord& record);

  ExchangeLog* const log_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> scraped_;
  prometheus::Family<prometheus::Counter>& exchanges_;
  prometheus::Family<prometheus::Counter>& refusals_;
  prometheus::Family<prometheus::Counter>& evaluations_;
  prometheus::Family<prometheus::Histogram>& partner_latency_;
  prometheus::Family<prometheus::Gauge>& partner_available_;
  prometheus::Histogram& log_write_;
  prometheus::Counter& log_write_failures_;
  uint64_t seen_through_ = 0;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_GATEWAY_METRICS_H_
