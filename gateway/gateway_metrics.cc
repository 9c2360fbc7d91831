#include "gateway/gateway_metrics.h"

#include <utility>

#include "common/metrics.h"
#include "common/strings.h"

namespace schakel::gateway {
namespace {

constexpr size_t kReadChunk = 500;
constexpr char kEntryKeyPrefix[] = "log/e/";  // exchange_log.cc: one per entry

std::string Lower(std::string_view name, std::string_view prefix) {
  std::string out(name.starts_with(prefix) ? name.substr(prefix.size()) : name);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace

GatewayMetrics::GatewayMetrics(ExchangeLog* log,
                               std::function<std::shared_ptr<const Policy>()> current_policy)
    : log_(log),
      registry_(std::make_shared<prometheus::Registry>()),
      exchanges_(prometheus::BuildCounter()
                     .Name("schakel_gateway_exchanges_total")
                     .Help("Exchanges asked for (EXCHANGE_REQUESTED), by the gateway's decision")
                     .Register(*registry_)),
      refusals_(prometheus::BuildCounter()
                    .Name("schakel_gateway_refusals_total")
                    .Help("Logged refusals, denials and failures, by record kind and reason")
                    .Register(*registry_)),
      evaluations_(prometheus::BuildCounter()
                       .Name("schakel_gateway_partner_evaluations_total")
                       .Help("Partner outcomes of exchanges, by partner and status")
                       .Register(*registry_)),
      partner_latency_(prometheus::BuildHistogram()
                           .Name("schakel_gateway_partner_latency_seconds")
                           .Help("Time a partner took to evaluate an exchange's batch")
                           .Register(*registry_)),
      partner_available_(prometheus::BuildGauge()
                             .Name("schakel_gateway_partner_available")
                             .Help("1 when the partner answered its last exchange, 0 when it was "
                                   "unavailable or timed out")
                             .Register(*registry_)),
      log_write_(prometheus::BuildHistogram()
                     .Name("schakel_gateway_log_write_seconds")
                     .Help("Synced writes of exchange log entries")
                     .Register(*registry_)
                     .Add({}, LatencyBuckets())),
      log_write_failures_(prometheus::BuildCounter()
                              .Name("schakel_gateway_log_write_failures_total")
                              .Help("Exchange log writes that failed (the gateway then stops serving)")
                              .Register(*registry_)
                              .Add({})),
      seen_through_(log->head_sequence()) {
  scraped_.push_back(std::make_shared<CallbackGauge>(
      "schakel_gateway_log_entries", "Entries in the exchange log", [log] {
        return std::vector<std::pair<CallbackGauge::Labels, double>>{
            {{}, static_cast<double>(log->head_sequence())}};
      }));
  scraped_.push_back(std::make_shared<CallbackGauge>(
      "schakel_gateway_policy_loaded", "1 for the policy version in force",
      [current_policy = std::move(current_policy)] {
        const std::shared_ptr<const Policy> policy = current_policy();
        std::vector<std::pair<CallbackGauge::Labels, double>> out;
        if (policy != nullptr) out.push_back({{{"version", policy->version()}}, 1.0});
        return out;
      }));
}

absl::Status GatewayMetrics::CatchUp() {
  while (seen_through_ < log_->head_sequence()) {
    auto entries = log_->Read(seen_through_ + 1, kReadChunk);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) break;
    for (const v1::LogEntry& e : *entries) {
      Count(e.record());
      seen_through_ = e.sequence();
    }
  }
  return absl::OkStatus();
}

void GatewayMetrics::Count(const v1::LogRecord& record) {
  if (record.kind() == v1::RECORD_KIND_EXCHANGE_REQUESTED) {
    exchanges_.Add({{"outcome", Lower(v1::Outcome_Name(record.outcome()), "OUTCOME_")}}).Increment();
  }
  const v1::Outcome o = record.outcome();
  if (o == v1::OUTCOME_REFUSED || o == v1::OUTCOME_DENIED || o == v1::OUTCOME_FAILED ||
      o == v1::OUTCOME_EXPIRED) {
    const std::string kind = Lower(v1::RecordKind_Name(record.kind()), "RECORD_KIND_");
    if (record.denial_reasons().empty()) {
      refusals_.Add({{"kind", kind}, {"reason", "unspecified"}}).Increment();
    }
    for (int reason : record.denial_reasons()) {
      refusals_
          .Add({{"kind", kind},
                {"reason", Lower(v1::DenialReason_Name(static_cast<v1::DenialReason>(reason)),
                                 "DENIAL_REASON_")}})
          .Increment();
    }
  }
  if (record.kind() == v1::RECORD_KIND_EXCHANGE_EVALUATED) {
    for (const v1::PartnerOutcome& p : record.partners()) {
      if (p.status() == v1::PARTNER_STATUS_REFUSED_BY_POLICY) continue;  // never asked
      evaluations_
          .Add({{"partner", p.org_id()}, {"status", Lower(v1::PartnerStatus_Name(p.status()), "PARTNER_STATUS_")}})
          .Increment();
      const bool unreachable =
          p.status() == v1::PARTNER_STATUS_UNAVAILABLE || p.status() == v1::PARTNER_STATUS_TIMED_OUT;
      partner_available_.Add({{"partner", p.org_id()}}).Set(unreachable ? 0 : 1);
      if (!unreachable && p.has_latency()) {
        const double seconds = static_cast<double>(p.latency().seconds()) +
                               static_cast<double>(p.latency().nanos()) / 1e9;
        partner_latency_.Add({{"partner", p.org_id()}}, LatencyBuckets()).Observe(seconds);
      }
    }
  }
}

void GatewayMetrics::ObserveWrite(const store::WriteBatch& batch, store::Durability durability,
                                  absl::Duration took, const absl::Status& result) {
  if (durability != store::Durability::kSynced) return;
  bool carries_entry = false;
  for (const store::WriteBatch::Op& op : batch.ops()) {
    if (op.key.starts_with(kEntryKeyPrefix)) {
      carries_entry = true;
      break;
    }
  }
  if (!carries_entry) return;
  if (!result.ok()) {
    log_write_failures_.Increment();
    return;
  }
  log_write_.Observe(absl::ToDoubleSeconds(took));
}

}  // namespace schakel::gateway
