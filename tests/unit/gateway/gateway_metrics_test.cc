// The gateway's metrics follow its exchange log (gateway_metrics.h).
#include "gateway/gateway_metrics.h"

#include <prometheus/text_serializer.h>

#include "gateway/authoriser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/memory_store.h"

namespace schakel::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::LogRecord Record(v1::RecordKind kind, v1::Outcome outcome) {
  v1::LogRecord r;
  r.set_kind(kind);
  SetMillis(r.mutable_recorded_at(), 1'772'366'400'000);
  r.set_policy_version("test.1+00000000");
  r.set_outcome(outcome);
  return r;
}

std::string Scrape(const GatewayMetrics& metrics) {
  std::vector<prometheus::MetricFamily> families = metrics.registry()->Collect();
  for (const auto& c : metrics.scraped()) {
    for (auto& f : c->Collect()) families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

TEST(GatewayMetricsTest, CountsExchangesRefusalsAndPartnersFromTheLog) {
  store::MemoryStore memory;
  auto log = ExchangeLog::Open(&memory);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_TRUE((*log)->Append(Record(v1::RECORD_KIND_AUDIT_QUERY, v1::OUTCOME_GRANTED)).ok());
  GatewayMetrics metrics(log->get(), [] { return std::shared_ptr<const Policy>(); });
  // Entries before the metrics were made are not counted (counters start
  // with the process).
  ASSERT_TRUE((*log)->Append(Record(v1::RECORD_KIND_EXCHANGE_REQUESTED, v1::OUTCOME_GRANTED)).ok());
  v1::LogRecord refused = Record(v1::RECORD_KIND_EXCHANGE_REQUESTED, v1::OUTCOME_REFUSED);
  refused.add_denial_reasons(v1::DENIAL_REASON_QUOTA_EXCEEDED);
  ASSERT_TRUE((*log)->Append(refused).ok());
  v1::LogRecord evaluated = Record(v1::RECORD_KIND_EXCHANGE_EVALUATED, v1::OUTCOME_PARTIAL);
  v1::PartnerOutcome* ok = evaluated.add_partners();
  ok->set_org_id("politie-zwb");
  ok->set_status(v1::PARTNER_STATUS_OK);
  ok->mutable_latency()->set_nanos(20'000'000);
  v1::PartnerOutcome* down = evaluated.add_partners();
  down->set_org_id("gemeente-tilburg");
  down->set_status(v1::PARTNER_STATUS_TIMED_OUT);
  ASSERT_TRUE((*log)->Append(evaluated).ok());
  ASSERT_TRUE(metrics.CatchUp().ok());
  ASSERT_TRUE(metrics.CatchUp().ok());  // nothing new: nothing counted twice

  const std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("schakel_gateway_exchanges_total{outcome=\"granted\"} 1"));
  EXPECT_THAT(text, HasSubstr("schakel_gateway_exchanges_total{outcome=\"refused\"} 1"));
  EXPECT_THAT(text, HasSubstr(
                        "schakel_gateway_refusals_total{kind=\"exchange_requested\",reason=\"quota_exceeded\"} 1"));
  EXPECT_THAT(text, HasSubstr("schakel_gateway_partner_evaluations_total{partner=\"politie-zwb\",status=\"ok\"} 1"));
  EXPECT_THAT(text, HasSubstr(
                        "schakel_gateway_partner_evaluations_total{partner=\"gemeente-tilburg\",status=\"timed_out\"} 1"));
  EXPECT_THAT(text, HasSubstr("schakel_gateway_partner_available{partner=\"politie-zwb\"} 1"));
  EXPECT_THAT(text, HasSubstr("schakel_gateway_partner_available{partner=\"gemeente-tilburg\"} 0"));
  EXPECT_THAT(text, HasSubstr("schakel_gateway_partner_latency_seconds_count{partner=\"politie-zwb\"} 1"));
  EXPECT_THAT(text, HasSubstr("schakel_gateway_partner_latency_seconds_bucket{partner=\"politie-zwb\",le=\"0.025\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("schakel_gateway_partner_latency_seconds_count{partner=\"gemeente-tilburg\"}")));
  EXPECT_THAT(text, HasSubstr("schakel_gateway_log_entries 4"));
}

TEST(GatewayMetricsTest, TimesOnlySyncedWritesThatCarryALogEntry) {
  store::MemoryStore memory;
  auto log = ExchangeLog::Open(&memory);
  ASSERT_TRUE(log.ok()) << log.status();
  GatewayMetrics metrics(log->get(), [] { return std::shared_ptr<const Policy>(); });
  store::WriteBatch entry;
  entry.Put("log/e/x", "v");
  store::WriteBatch other;
  other.Put("tags/x", "v");
  metrics.ObserveWrite(entry, store::Durability::kSynced, absl::Milliseconds(2), absl::OkStatus());
  metrics.ObserveWrite(other, store::Durability::kSynced, absl::Milliseconds(2), absl::OkStatus());
  metrics.ObserveWrite(entry, store::Durability::kBuffered, absl::Milliseconds(2), absl::OkStatus());
  metrics.ObserveWrite(entry, store::Durability::kSynced, absl::Milliseconds(2),
                       absl::UnavailableError("disk full"));
  const std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("schakel_gateway_log_write_seconds_count 1"));
  EXPECT_THAT(text, HasSubstr("schakel_gateway_log_write_failures_total 1"));
}

}  // namespace
}  // namespace schakel::gateway
