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
#include <optional>
#include <ostream>
#include <string>
#include <vector>

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

// Where an acknowledged call's time went, in ms per call (means), from the
// servers' timers and the in-process crypto baseline:
//   total            the calls' mean service time (client side)
//   crypto           the baseline's blind + evaluate + finalize (< 0: none)
//   gateway_log      the gateway's synced log writes, per call (on the path:
//                    EXCHANGE_REQUESTED, _EVALUATED, _RESOLVED one after another)
//   requester_store  the synced writes of the node(s) not among the partners
//                    (the requesting node's MATCH_RUN record)
//   partner_store    the answering nodes' synced writes per call, averaged over
//                    them (they answer at the same time; the nonce is stored
//                    before evaluating)
//   partner_call     the gateway's partner latency, averaged over partners
//                    (includes partner_store and the evaluation)
//   other            total - crypto - gateway_log - requester_store -
//                    partner_store: gRPC and TLS, protobuf, signatures,
//                    queueing for the CPU, the node's and gateway's own logic
// Needs the gateway's delta; nullopt without it or without an OK call.
struct Breakdown {
  double total = 0, crypto = -1, gateway_log = 0, requester_store = 0, partner_store = 0,
         partner_call = 0, other = 0;
};
std::optional<Breakdown> BreakDown(const std::vector<MetricsDelta>& deltas, const Report& report,
                                   double crypto_ms);
nlohmann::json ToJson(const Breakdown& breakdown);
void PrintBreakdown(const Breakdown& breakdown, std::ostream& out);
// A table: series, count, total ms, ms per count, ms per acknowledged call
// of `report`.
void PrintDelta(const MetricsDelta& delta, const Report& report, std::ostream& out);

}  // namespace schakel::load

#endif  // SCHAKEL_LOAD_METRICS_SCRAPE_H_
