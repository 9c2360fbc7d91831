#include "load/metrics_scrape.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "cli/table.h"
#include "common/strings.h"

namespace schakel::load {
namespace {

// GET /metrics over plain HTTP/1.0; the body, or an error.
absl::StatusOr<std::string> HttpGetMetrics(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(StrCat("metrics at ", host, ":", port, ": ", gai_strerror(rc)));
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(StrCat("metrics at ", host, ":", port, ": cannot connect"));
  }
  const std::string request = StrCat("GET /metrics HTTP/1.0\r\nHost: ", host, "\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError(StrCat("metrics at ", host, ":", port, ": cannot send"));
  }
  std::string response;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buffer[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      close(fd);
      return absl::UnavailableError(StrCat("metrics at ", host, ":", port, ": no answer in 5 s"));
    }
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      close(fd);
      return absl::UnavailableError(StrCat("metrics at ", host, ":", port, ": read failed"));
    }
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200") > response.find("\r\n") ||
      body == std::string::npos) {
    return absl::UnavailableError(
        StrCat("metrics at ", host, ":", port, ": not an HTTP 200 answer"));
  }
  return response.substr(body + 4);
}

std::string Fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

}  // namespace

absl::StatusOr<MetricsSnapshot> ScrapeMetrics(const std::string& spec) {
  MetricsSnapshot out;
  const size_t eq = spec.find('=');
  out.address = eq == std::string::npos ? spec : spec.substr(eq + 1);
  out.name = eq == std::string::npos ? spec : spec.substr(0, eq);
  const size_t colon = out.address.rfind(':');
  if (out.name.empty() || colon == std::string::npos || colon == 0 ||
      colon + 1 == out.address.size()) {
    return absl::InvalidArgumentError(
        StrCat("--metrics ", spec, ": give NAME=host:port, e.g. gateway=127.0.0.1:9464"));
  }
  auto body = HttpGetMetrics(out.address.substr(0, colon), out.address.substr(colon + 1));
  if (!body.ok()) return body.status();
  std::istringstream lines(*body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    char* end = nullptr;
    const double value = std::strtod(line.c_str() + space + 1, &end);
    if (end == line.c_str() + space + 1) continue;
    out.samples[line.substr(0, space)] = value;
  }
  return out;
}

MetricsDelta Difference(const MetricsSnapshot& before, const MetricsSnapshot& after) {
  MetricsDelta out;
  out.name = after.name;
  for (const auto& [series, value] : after.samples) {
    // "name_sum{labels}" or "name_sum".
    const size_t brace = series.find('{');
    const std::string metric = series.substr(0, brace);
    // Schakel's own timers only (prometheus-cpp's exposer_* are in other units).
    if (!metric.starts_with("schakel_") || !metric.ends_with("_sum")) continue;
    const std::string base = metric.substr(0, metric.size() - 4);
    const std::string labels = brace == std::string::npos ? "" : series.substr(brace);
    const auto count_after = after.samples.find(StrCat(base, "_count", labels));
    if (count_after == after.samples.end()) continue;
    auto old = [&](const std::string& key) {
      auto it = before.samples.find(key);
      return it == before.samples.end() ? 0.0 : it->second;
    };
    HistogramDelta d;
    d.series = base + labels;
    d.count = count_after->second - old(StrCat(base, "_count", labels));
    d.seconds = value - old(series);
    if (d.count > 0) out.histograms.push_back(std::move(d));
  }
  return out;
}

nlohmann::json ToJson(const MetricsDelta& delta) {
  nlohmann::json histograms = nlohmann::json::array();
  for (const HistogramDelta& h : delta.histograms) {
    histograms.push_back({{"series", h.series}, {"count", h.count}, {"total_ms", h.seconds * 1e3}});
  }
  return {{"name", delta.name}, {"histograms", histograms}};
}

std::optional<Breakdown> BreakDown(const std::vector<MetricsDelta>& deltas, const Report& report,
                                   double crypto_ms) {
  if (report.ok == 0) return std::nullopt;
  const double calls = static_cast<double>(report.ok);
  const std::string kPartner = "schakel_gateway_partner_latency_seconds{partner=\"";
  std::map<std::string, HistogramDelta> partners;  // org -> its latency at the gateway
  const MetricsDelta* gateway = nullptr;
  Breakdown b;
  for (const MetricsDelta& d : deltas) {
    for (const HistogramDelta& h : d.histograms) {
      if (h.series == "schakel_gateway_log_write_seconds") {
        gateway = &d;
        b.gateway_log = h.seconds * 1e3 / calls;
      } else if (h.series.starts_with(kPartner)) {
        const std::string org =
            h.series.substr(kPartner.size(), h.series.find('"', kPartner.size()) - kPartner.size());
        partners[org] = h;
      }
    }
  }
  if (gateway == nullptr) return std::nullopt;
  int answering = 0;
  for (const MetricsDelta& d : deltas) {
    for (const HistogramDelta& h : d.histograms) {
      if (h.series != "schakel_node_store_write_seconds") continue;
      if (partners.count(d.name) > 0) {
        b.partner_store += h.seconds * 1e3 / calls;
        ++answering;
      } else {
        b.requester_store += h.seconds * 1e3 / calls;
      }
    }
  }
  if (answering > 0) b.partner_store /= answering;
  for (const auto& [org, h] : partners) {
    b.partner_call += h.seconds * 1e3 / h.count / static_cast<double>(partners.size());
  }
  b.total = static_cast<double>(report.service_time.mean.count()) / 1e6;
  b.crypto = crypto_ms;
  b.other =
      b.total - std::max(0.0, crypto_ms) - b.gateway_log - b.requester_store - b.partner_store;
  return b;
}

nlohmann::json ToJson(const Breakdown& b) {
  nlohmann::json out = {{"total_ms", b.total},
                        {"gateway_log_ms", b.gateway_log},
                        {"requester_store_ms", b.requester_store},
                        {"partner_store_ms", b.partner_store},
                        {"partner_call_ms", b.partner_call},
                        {"other_ms", b.other}};
  if (b.crypto >= 0) out["crypto_ms"] = b.crypto;
  return out;
}

void PrintBreakdown(const Breakdown& b, std::ostream& out) {
  out << "where an acknowledged call's time went (means per call; docs/performance.md):\n";
  cli::Table table({"part", "ms", "% of the call"});
  auto row = [&](const std::string& name, double ms) {
    table.AddRow({name, Fixed(ms, 2), b.total > 0 ? Fixed(100 * ms / b.total, 1) : "-"});
  };
  row("the whole call (service time)", b.total);
  if (b.crypto >= 0) row("crypto alone (in-process baseline)", b.crypto);
  row("gateway log writes (RocksDB, synced)", b.gateway_log);
  row("requesting node's writes (RocksDB, synced)", b.requester_store);
  row("an answering node's writes (RocksDB, synced)", b.partner_store);
  row(b.crypto >= 0 ? "everything else (gRPC, TLS, logic, waiting for a CPU)"
                    : "everything else, crypto included",
      b.other);
  table.Print(out);
  out << "(the gateway's call to a partner took " << Fixed(b.partner_call, 2)
      << " ms on average, that partner's writes and evaluation included)\n";
}

void PrintDelta(const MetricsDelta& delta, const Report& report, std::ostream& out) {
  out << delta.name << " (its metrics, before and after the run):\n";
  cli::Table table({"timer", "count", "total ms", "ms each", "ms per OK call"});
  for (const HistogramDelta& h : delta.histograms) {
    table.AddRow({h.series, Fixed(h.count, 0), Fixed(h.seconds * 1e3, 1),
                  Fixed(h.seconds * 1e3 / h.count, 3),
                  report.ok > 0 ? Fixed(h.seconds * 1e3 / static_cast<double>(report.ok), 3)
                                : std::string("-")});
  }
  table.Print(out);
}

}  // namespace schakel::load
