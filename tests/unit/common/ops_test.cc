// The operations pieces shared by the servers: the metrics endpoint, the
// JSON log lines and the observed store.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <sstream>
#include <string>

#include "common/json_log.h"
#include "common/metrics.h"
#include "common/observed_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"
#include "tests/support/test_support.h"

namespace schakel {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// One HTTP/1.1 request to 127.0.0.1:port; the whole response.
std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) response.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  return response;
}

int PortOf(const std::string& address) { return std::stoi(address.substr(address.rfind(':') + 1)); }

TEST(MetricsEndpointTest, ServesCountersAndScrapedGaugesInTextFormat) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& exchanges = prometheus::BuildCounter().Name("test_exchanges_total").Help("x").Register(*registry);
  exchanges.Add({{"outcome", "granted"}}).Increment(3);
  double depth = 7;
  auto gauge = std::make_shared<CallbackGauge>("test_queue_depth", "queue", [&depth] {
    return std::vector<std::pair<CallbackGauge::Labels, double>>{{{{"queue", "index"}}, depth}};
  });
  auto endpoint = MetricsEndpoint::Start("127.0.0.1:0", registry, {gauge});
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  const int port = PortOf((*endpoint)->bound_address());
  ASSERT_GT(port, 0);
  EXPECT_THAT((*endpoint)->bound_address(), StartsWith("127.0.0.1:"));

  std::string text = HttpGet(port, "/metrics");
  EXPECT_THAT(text, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(text, HasSubstr("# TYPE test_exchanges_total counter"));
  EXPECT_THAT(text, HasSubstr("test_exchanges_total{outcome=\"granted\"} 3"));
  EXPECT_THAT(text, HasSubstr("test_queue_depth{queue=\"index\"} 7"));
  depth = 2;  // read again at the next scrape
  EXPECT_THAT(HttpGet(port, "/metrics"), HasSubstr("test_queue_depth{queue=\"index\"} 2"));
  EXPECT_THAT(HttpGet(port, "/other"), StartsWith("HTTP/1.1 404"));
}

TEST(MetricsEndpointTest, RefusesABadOrBusyAddress) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto bad = MetricsEndpoint::Start("localhost", registry);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("not host:port"));

  auto first = MetricsEndpoint::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = MetricsEndpoint::Start((*first)->bound_address(), registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("cannot serve metrics on"));
}

// The first number after `prefix` in a metrics text, or -1.
double ValueAfter(const std::string& text, const std::string& prefix) {
  const size_t at = text.find(prefix);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + prefix.size()));
}

TEST(StoreMemoryGaugeTest, ServesTheMemtablesGrowingWithWrites) {
  testing::TempDir dir;
  auto store = store::RocksDbStore::Open(dir / "db");
  ASSERT_TRUE(store.ok()) << store.status();
  auto endpoint = MetricsEndpoint::Start("127.0.0.1:0", std::make_shared<prometheus::Registry>(),
                                         {StoreMemoryGauge("test_store_memory_bytes", store->get())});
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  const int port = PortOf((*endpoint)->bound_address());
  const std::string memtables = "test_store_memory_bytes{part=\"memtables\"} ";

  std::string text = HttpGet(port, "/metrics");
  EXPECT_THAT(text, HasSubstr("# TYPE test_store_memory_bytes gauge"));
  EXPECT_THAT(text, HasSubstr("test_store_memory_bytes{part=\"block_cache\"} "));
  EXPECT_THAT(text, HasSubstr("test_store_memory_bytes{part=\"table_readers\"} "));
  const double empty = ValueAfter(text, memtables);
  ASSERT_GE(empty, 0) << text;

  store::WriteBatch batch;
  for (int i = 0; i < 10'000; ++i) batch.Put("key/" + std::to_string(i), std::string(100, 'v'));
  ASSERT_TRUE((*store)->Write(batch, store::Durability::kSynced).ok());
  const std::string after = HttpGet(port, "/metrics");
  const double written = ValueAfter(after, memtables);
  // 10,000 entries of 100+ bytes: at least 1 MB more than the empty memtable.
  EXPECT_GE(written - empty, 1'000'000) << "empty " << empty << ", written " << written;
  const store::RocksDbStore::Memory memory = (*store)->MemoryUsage();
  EXPECT_EQ(static_cast<double>(memory.memtables), written);
  // Each part is served under its own label (nothing read between the two).
  EXPECT_EQ(static_cast<double>(memory.block_cache),
            ValueAfter(after, "test_store_memory_bytes{part=\"block_cache\"} "));
  EXPECT_EQ(static_cast<double>(memory.table_readers),
            ValueAfter(after, "test_store_memory_bytes{part=\"table_readers\"} "));
}

TEST(JsonLogTest, WritesOneJsonObjectPerLine) {
  std::ostringstream out;
  const JsonLog log("gateway", out);
  log.Event(JsonLog::Level::kInfo, "policy_reloaded", {{"policy_version", "2025.3+4f1c9a0b"}});
  log.Note("refused OpenExchange: PERMISSION_DENIED: role \"professional\" may not ask");
  log.Note("checkpoint 4 made");
  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> parsed;
  while (std::getline(lines, line)) parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[0]["component"], "gateway");
  EXPECT_EQ(parsed[0]["event"], "policy_reloaded");
  EXPECT_EQ(parsed[0]["level"], "info");
  EXPECT_EQ(parsed[0]["fields"]["policy_version"], "2025.3+4f1c9a0b");
  EXPECT_THAT(parsed[0]["time"].get<std::string>(), ::testing::MatchesRegex(
                                                         "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z"));
  EXPECT_EQ(parsed[1]["event"], "note");
  EXPECT_EQ(parsed[1]["level"], "warning");  // a refusal
  EXPECT_EQ(parsed[1]["fields"]["message"],
            "refused OpenExchange: PERMISSION_DENIED: role \"professional\" may not ask");
  EXPECT_EQ(parsed[2]["level"], "info");
}

TEST(JsonLogTest, ReplacesBytesThatAreNotUtf8) {
  std::ostringstream out;
  const JsonLog log("node", out);
  log.Note(std::string("bad \xff byte"));
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["fields"]["message"], "bad \xEF\xBF\xBD byte");
}

TEST(ObservedStoreTest, ReportsEveryWriteAndRemembersAFailure) {
  store::MemoryStore memory;
  store::FaultyStore faulty(&memory);
  int writes = 0;
  int failures = 0;
  ObservedStore observed(&faulty, [&](const store::WriteBatch& batch, store::Durability durability,
                                      absl::Duration took, const absl::Status& result) {
    ++writes;
    if (!result.ok()) ++failures;
    EXPECT_EQ(batch.size(), 1u);
    EXPECT_EQ(durability, store::Durability::kSynced);
    EXPECT_GE(took, absl::ZeroDuration());
  });
  store::WriteBatch batch;
  batch.Put("k", "v");
  ASSERT_TRUE(observed.Write(batch, store::Durability::kSynced).ok());
  EXPECT_FALSE(observed.write_failed());
  auto got = observed.Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or(""), "v");

  faulty.FailNextWrites(1);
  EXPECT_EQ(observed.Write(batch, store::Durability::kSynced).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(observed.write_failed());
  ASSERT_TRUE(observed.Write(batch, store::Durability::kSynced).ok());
  EXPECT_TRUE(observed.write_failed());  // stays: the node stays NOT_SERVING
  EXPECT_EQ(writes, 3);
  EXPECT_EQ(failures, 1);
}

}  // namespace
}  // namespace schakel
