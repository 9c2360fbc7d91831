// The load tool (load/load_client.h, schakel-load) briefly against a test
// federation (federation.h): every call is accounted for, none fails at a
// low rate, the percentiles are ordered, and every acknowledged exchange
// carries its id and the gateway's log sequence numbers.
//
// ctest names: load_smoke.<Suite>.<Test>. The sanitizer build sends fewer
// calls (tests/support/test_scale.h).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "load/load_client.h"
#include "tests/integration/federation.h"
#include "tests/integration/load_targets.h"
#include "tests/support/test_scale.h"

namespace schakel::integration {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr double kRate = ::schakel::testing::kSanitized ? 4 : 20;
constexpr int kSeconds = 2;

class LoadSmokeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / StrCat("schakel-load-smoke-", ::getpid()));
    fs::remove_all(*root_);
    std::string error;
    FederationOptions options;
    options.zorg_daily_exchange_quota = 100'000;
    fed_ = Federation::Create(*root_, options, &error).release();
    ASSERT_NE(fed_, nullptr) << error;
    ASSERT_TRUE(fed_->StartAll(&error)) << error;
    ASSERT_TRUE(fed_->AddUser("gemeente", "g.analist", {"analyst"}, &error)) << error;
  }

  static void TearDownTestSuite() {
    delete fed_;
    fed_ = nullptr;
    if (root_ != nullptr && !::testing::UnitTest::GetInstance()->Failed()) fs::remove_all(*root_);
    delete root_;
    root_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(fed_, nullptr); }

  // The CLI config AddUser wrote (federation.cc: <root>/<org>/cli-<user>.json).
  static std::string UserConfig() { return (*root_ / "gemeente" / "cli-g.analist.json").string(); }

  static Federation* fed_;
  static fs::path* root_;
};

Federation* LoadSmokeTest::fed_ = nullptr;
fs::path* LoadSmokeTest::root_ = nullptr;

// What every report must satisfy, whatever the path.
void ExpectSaneReport(const load::Report& report, uint64_t expected_calls, int receipts_per_call) {
  EXPECT_EQ(report.calls, expected_calls);
  ASSERT_EQ(report.calls_made.size(), report.calls);
  for (size_t i = 0; i < report.calls_made.size(); ++i) {
    EXPECT_EQ(report.calls_made[i].index, i) << "every call is accounted for, in order";
  }
  EXPECT_EQ(report.ok, report.calls)
      << (report.errors.empty() ? std::string() : report.first_error.begin()->second);
  EXPECT_TRUE(report.errors.empty());
  EXPECT_EQ(report.partial, 0u) << "every partner answered every call";
  const load::LatencySummary& l = report.latency;
  EXPECT_EQ(l.count, report.ok);
  EXPECT_GT(l.min.count(), 0);
  EXPECT_LE(l.min, l.p50);
  EXPECT_LE(l.p50, l.p95);
  EXPECT_LE(l.p95, l.p99);
  EXPECT_LE(l.p99, l.max);
  EXPECT_LE(report.service_time.p50, report.latency.max);
  std::set<std::string> exchanges;
  std::set<uint64_t> sequences;
  for (const load::CallOutcome& c : report.calls_made) {
    EXPECT_EQ(c.exchange_id.size(), 16u);
    exchanges.insert(c.exchange_id);
    EXPECT_EQ(c.log_sequences.size(), static_cast<size_t>(receipts_per_call));
    for (uint64_t s : c.log_sequences) {
      EXPECT_GT(s, 0u);
      EXPECT_TRUE(sequences.insert(s).second) << "log sequence " << s << " acknowledged twice";
    }
    EXPECT_EQ(c.partners_ok, 2u) << "politie and zorg answer gemeente under zorg-signalering";
    EXPECT_EQ(c.partners_failed, 0u);
  }
  EXPECT_EQ(exchanges.size(), report.ok) << "one exchange id per acknowledged call";
  EXPECT_EQ(report.AcknowledgedSequences().size(), sequences.size());
}

// The user path through the schakel-load program, as the docs run it.
TEST_F(LoadSmokeTest, ProgramDrivesTheUserPathAtASteadyRate) {
  const ProcessResult r =
      RunProcess(SCHAKEL_LOAD_BINARY, {"single", "--config", UserConfig(), "--purpose",
                                       kZorgPurpose, "--rate", StrCat(kRate), "--clients", "4",
                                       "--seconds", StrCat(kSeconds), "--json", "--json-calls"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json report = json::parse(r.out);
  const auto expected = static_cast<uint64_t>(kRate * kSeconds);
  EXPECT_EQ(report["mode"], "single");
  EXPECT_EQ(report["calls"].get<uint64_t>(), expected);
  EXPECT_EQ(report["ok"].get<uint64_t>(), expected);
  EXPECT_EQ(report["failed"].get<uint64_t>(), 0u);
  EXPECT_TRUE(report["errors"].empty());
  EXPECT_EQ(report["partial"].get<uint64_t>(), 0u);
  const json& l = report["latency"];
  EXPECT_EQ(l["count"].get<uint64_t>(), expected);
  EXPECT_GT(l["p50_ms"].get<double>(), 0);
  EXPECT_LE(l["p50_ms"].get<double>(), l["p95_ms"].get<double>());
  EXPECT_LE(l["p95_ms"].get<double>(), l["p99_ms"].get<double>());
  EXPECT_LE(l["p99_ms"].get<double>(), l["max_ms"].get<double>());
  ASSERT_EQ(report["calls_made"].size(), expected);
  std::set<std::string> ids;
  std::set<uint64_t> sequences;
  for (const json& call : report["calls_made"]) {
    EXPECT_EQ(call["code"], "OK");
    ids.insert(call["exchange_id"].get<std::string>());
    // EXCHANGE_REQUESTED, EXCHANGE_EVALUATED, EXCHANGE_RESOLVED.
    EXPECT_EQ(call["log_sequences"].size(), 3u);
    for (const json& s : call["log_sequences"]) {
      EXPECT_GT(s.get<uint64_t>(), 0u);
      EXPECT_TRUE(sequences.insert(s.get<uint64_t>()).second);
    }
  }
  EXPECT_EQ(ids.size(), expected);
  // Open loop: the last call was not sent before it was due.
  EXPECT_GE(report["seconds"].get<double>(), static_cast<double>(expected - 1) / kRate);
}

// The library in a test (one federation for both paths: its boot is most of
// the time): the user path with families, every call's outcome seen by
// on_call as it happens; then the gateway directly as the organisation
// gemeente (mutual TLS, blinding in this process), where OpenExchange is
// acknowledged with its two log entries.
TEST_F(LoadSmokeTest, LibraryRecordsEveryCallOnBothPaths) {
  auto target = UserLoadTarget(*fed_, "gemeente", "g.analist");
  ASSERT_TRUE(target.ok()) << target.status();
  load::Workload work({.mode = load::Mode::kFamily,
                       .purpose_id = kZorgPurpose,
                       .case_id = "",
                       .partners = {},
                       .batch_subjects = 1,
                       .seed = 7,
                       .population = 200,
                       .bsn_only = false});
  ASSERT_GE(work.Request(0).subjects_size(), 2) << "a family has two or more members";
  std::atomic<int> seen{0};
  const uint64_t calls = 6;
  load::Report report = load::Run(**target, work,
                                  {.rate = kRate,
                                   .clients = 3,
                                   .duration = std::chrono::milliseconds(0),
                                   .max_calls = calls,
                                   .call_timeout = std::chrono::seconds(30),
                                   .stop = nullptr,
                                   .on_call = [&](const load::CallOutcome&) { ++seen; }});
  ExpectSaneReport(report, calls, 3);
  EXPECT_EQ(seen.load(), static_cast<int>(calls));
  EXPECT_GE(report.subjects, 2 * calls);

  auto gateway = GatewayLoadTarget(*fed_, "gemeente", "g.analist");
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  load::Workload singles({.mode = load::Mode::kSingle,
                          .purpose_id = kZorgPurpose,
                          .case_id = "",
                          .partners = {},
                          .batch_subjects = 1,
                          .seed = 11,
                          .population = 200,
                          .bsn_only = false});
  const auto gateway_calls = static_cast<uint64_t>(kRate);
  load::Report direct = load::Run(**gateway, singles,
                                  {.rate = kRate,
                                   .clients = 4,
                                   .duration = std::chrono::seconds(10),
                                   .max_calls = gateway_calls,
                                   .call_timeout = std::chrono::seconds(30),
                                   .stop = nullptr,
                                   .on_call = nullptr});
  // EXCHANGE_REQUESTED and EXCHANGE_EVALUATED (nothing is resolved).
  ExpectSaneReport(direct, gateway_calls, 2);

  // A run bounded by a minute ends soon after `stop` is set (as a fault
  // test stops its load), the calls under way included.
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  const auto started = std::chrono::steady_clock::now();
  load::Report stopped = load::Run(**gateway, singles,
                                   {.rate = kRate,
                                    .clients = 2,
                                    .duration = std::chrono::minutes(1),
                                    .max_calls = 0,
                                    .call_timeout = std::chrono::seconds(30),
                                    .stop = &stop,
                                    .on_call = [&](const load::CallOutcome&) {
                                      if (++answered >= 3) stop = true;
                                    }});
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  EXPECT_GE(stopped.calls, 3u);
  EXPECT_LE(stopped.calls, 4u) << "at most one call per other client was under way";
  EXPECT_EQ(stopped.ok, stopped.calls);
}

}  // namespace
}  // namespace schakel::integration
