#include "common/metrics.h"

#include <prometheus/exposer.h>

#include <exception>

#include "common/strings.h"
#include "store/rocksdb_store.h"

namespace schakel {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

std::vector<prometheus::MetricFamily> CallbackGauge::Collect() const {
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = prometheus::MetricType::Gauge;
  for (auto& [labels, value] : read_()) {
    prometheus::ClientMetric metric;
    for (const auto& [name, label_value] : labels) metric.label.push_back({name, label_value});
    metric.gauge.value = value;
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

std::shared_ptr<CallbackGauge> StoreMemoryGauge(std::string name, const store::RocksDbStore* store) {
  return std::make_shared<CallbackGauge>(
      std::move(name), "Bytes the store holds in memory by design, bounded by its options, by part",
      [store] {
        const store::RocksDbStore::Memory m = store->MemoryUsage();
        return std::vector<std::pair<CallbackGauge::Labels, double>>{
            {{{"part", "memtables"}}, static_cast<double>(m.memtables)},
            {{{"part", "block_cache"}}, static_cast<double>(m.block_cache)},
            {{{"part", "table_readers"}}, static_cast<double>(m.table_readers)}};
      });
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    std::string_view listen, std::shared_ptr<prometheus::Registry> registry,
    std::vector<std::shared_ptr<prometheus::Collectable>> extra) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == listen.size()) {
    return absl::InvalidArgumentError(
        StrCat("metrics.listen: \"", listen.substr(0, 80), "\" is not host:port"));
  }
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint());
  endpoint->registry_ = std::move(registry);
  endpoint->extra_ = std::move(extra);
  try {
    // civetweb's "listening_ports" takes host:port; one thread serves the
    // scrapes (a scraper asks every 15 s or so).
    endpoint->exposer_ = std::make_unique<prometheus::Exposer>(std::string(listen), 1);
  } catch (const std::exception&) {
    return absl::UnavailableError(
        StrCat("cannot serve metrics on ", listen, " (address in use, or not an address of this host?)"));
  }
  endpoint->exposer_->RegisterCollectable(endpoint->registry_);
  for (const auto& c : endpoint->extra_) endpoint->exposer_->RegisterCollectable(c);
  const std::vector<int> ports = endpoint->exposer_->GetListeningPorts();
  endpoint->bound_address_ =
      StrCat(listen.substr(0, colon), ":", ports.empty() ? 0 : ports.front());
  return endpoint;
}

MetricsEndpoint::~MetricsEndpoint() = default;

}  // namespace schakel
