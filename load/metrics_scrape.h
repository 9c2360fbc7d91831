// Reading a gateway's or node's Prometheus endpoint (GET /metrics, plain
// HTTP on loopback: gateway/gateway_metrics.h, node_config.h "metrics")
// before and after a load run, to see where the servers spent the time:
// the histograms' _sum and _count (schakel_gateway_log_write_seconds,
// schakel_gateway_partner_latency_seconds{partner}, schakel_node_store_write_seconds).
//
// Thread safety: reentrant.
#ifndef SCHAKEL_LOAD_METRICS_SCRAPE_H_
#define SCHAKEL_LOAD_METRICS_SCRAPE_H_

#include <map>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "load/load_client.h"

namespace schakel::load {

struct MetricsSnapshot {
  std::string name;     // as given: "gateway"
  std::string address;  // host:port
  // "series{labels}" -> value, for every sample line.
  std::map<std::string, double> samples;
};

// `spec` is "NAME=host:port" (or "host:port", named by itself).
// Errors: INVALID_ARGUMENT for a bad spec; UNAVAILABLE when the endpoint
// cannot be reached or does not answer 200 within 5 s.
absl::StatusOr<MetricsSnapshot> ScrapeMetrics(const std::string& spec);

// The time a histogram accumulated between two snapshots.
struct HistogramDelta {
  std::string series;  // "schakel_gateway_partner_latency_seconds{partner=\"politie\"}"
  double count = 0;
  double seconds = 0;
};
struct MetricsDelta {
  std::string name;
  std::vector<HistogramDelta> histograms;  // those whose count grew
};
MetricsDelta Difference(const MetricsSnapshot& before, const MetricsSnapshot& after);

nlohmann::json ToJson(const MetricsDelta& delta);
// A table: series, count, total ms, ms per count, ms per acknowledged call
// of `report`.
void PrintDelta(const MetricsDelta& delta, const Report& report, std::ostream& out);

}  // namespace schakel::load

#endif  // SCHAKEL_LOAD_METRICS_SCRAPE_H_
