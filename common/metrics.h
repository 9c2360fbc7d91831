// The Prometheus text-format metrics endpoint of schakel-gateway and
// schakel-node (config "metrics": {"listen": "127.0.0.1:9464"}; off when
// absent), and what both processes share to fill it.
//
// The metrics themselves are prometheus-cpp's (Debian's prometheus-cpp-dev):
// a process builds its families in a prometheus::Registry and hands the
// registry to MetricsEndpoint, which serves GET /metrics on its own plain
// HTTP listener (prometheus-cpp "pull", civetweb). Figures that are cheaper
// to read when scraped than to keep up to date (queue depths, the log head)
// are CallbackGauges, read at each scrape.
//
// Metrics never carry an identifier of a person: labels are organisation
// ids, purpose ids, outcomes, reasons and statuses.
//
// Thread safety: prometheus-cpp's metrics are thread-safe; a CallbackGauge's
// function is called from the endpoint's threads and must be thread-safe.
// Errors: MetricsEndpoint::Start returns UNAVAILABLE when the address cannot
// be bound, INVALID_ARGUMENT when it is not "host:port".
#ifndef SCHAKEL_COMMON_METRICS_H_
#define SCHAKEL_COMMON_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/statusor.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace schakel::store {
class RocksDbStore;
}  // namespace schakel::store

namespace schakel {

// Bucket bounds (seconds) for latencies from a synced disk write (~1 ms) up
// to a partner's deadline (seconds).
prometheus::Histogram::BucketBoundaries LatencyBuckets();

// A gauge family whose values are read when scraped.
class CallbackGauge final : public prometheus::Collectable {
 public:
  using Labels = std::map<std::string, std::string>;
  // Returns every (labels, value) of the family now.
  using Read = std::function<std::vector<std::pair<Labels, double>>()>;

  CallbackGauge(std::string name, std::string help, Read read)
      : name_(std::move(name)), help_(std::move(help)), read_(std::move(read)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string name_;
  const std::string help_;
  const Read read_;
};

// `name`{part="memtables"|"block_cache"|"table_readers"}: the bytes `store`
// holds in memory by design (store::RocksDbStore::MemoryUsage), read at each
// scrape. `store` must outlive the endpoint that serves the gauge.
std::shared_ptr<CallbackGauge> StoreMemoryGauge(std::string name, const store::RocksDbStore* store);

class MetricsEndpoint {
 public:
  // Serves `registry` and `extra` (CallbackGauges) as GET /metrics on
  // `listen` ("host:port"; port 0 picks a free one).
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      std::string_view listen, std::shared_ptr<prometheus::Registry> registry,
      std::vector<std::shared_ptr<prometheus::Collectable>> extra = {});
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // "host:port" with the port bound.
  const std::string& bound_address() const { return bound_address_; }

 private:
  MetricsEndpoint() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extra_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string bound_address_;
};

}  // namespace schakel

#endif  // SCHAKEL_COMMON_METRICS_H_
