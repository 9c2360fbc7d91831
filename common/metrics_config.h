// The optional "metrics" section of a process config (gateway and node):
//   "metrics": {"listen": "127.0.0.1:9464"}
// where GET /metrics is served (common/metrics.h); absent: no endpoint.
//
// Thread safety: a free function over its arguments.
// Errors: named on the checker ("metrics: must be an object ...",
// "metrics.listen: ...", an unknown field).
#ifndef SCHAKEL_COMMON_METRICS_CONFIG_H_
#define SCHAKEL_COMMON_METRICS_CONFIG_H_

#include <string>

#include "common/json_checker.h"
#include "common/strings.h"

namespace schakel {

inline void CheckMetricsSection(JsonChecker& c, const JsonChecker::Json& doc, std::string& listen_out) {
  const auto metrics = doc.find("metrics");
  if (metrics == doc.end()) return;
  if (!metrics->is_object()) {
    c.Problem("metrics", StrCat("must be an object {\"listen\": \"host:port\"}, not ", metrics->type_name()));
    return;
  }
  c.NoUnknown(*metrics, "metrics.", {"listen"});
  if (const std::string* listen = c.String(*metrics, "metrics.", "listen")) {
    listen_out = *listen;
    c.HostPort("metrics.listen", *listen);
  }
}

}  // namespace schakel

#endif  // SCHAKEL_COMMON_METRICS_CONFIG_H_
