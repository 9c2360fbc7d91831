// gateway/gateway_server.h: what the gateway records at start (policy and
// directory), that quotas and exchanges survive a restart, that it refuses
// to start with bad files (every problem named) or a log whose head does
// not verify, checkpoints, and the standard health service.
#include "gateway/gateway_server.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <future>
#include <random>
#include <set>

#include "store/rocksdb_store.h"
#include "tests/support/crash_test_fs.h"
#include "tests/support/health_check.h"
#include "tests/unit/gateway/gateway_test_env.h"

namespace schakel::gateway::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const TestSubject kPerson{{{v1::MATCH_KEY_TYPE_BSN, Bsn("111222333")}}};

std::vector<v1::RecordKind> Kinds(const std::vector<v1::LogEntry>& entries) {
  std::vector<v1::RecordKind> kinds;
  for (const v1::LogEntry& e : entries) kinds.push_back(e.record().kind());
  return kinds;
}

// The health of `service` at `address`, asked as riec (tests/support/health_check.h).
std::string HealthCheck(const std::string& address, const std::string& service) {
  auto creds = rpc::ClientCredentialsFromFiles(SharedPki::Get().Files(kRiec));
  if (!creds.ok()) return std::string(creds.status().message());
  return ::schakel::testing::HealthCheck(*rpc::CreateChannel(address, *creds), service);
}

TEST(GatewayServerTest, RecordsPolicyAndDirectoryAtStartAndOnlyChanges) {
  GatewayTestEnv env;
  env.SetUp();
  std::vector<v1::LogEntry> entries = env.AllEntries();
  ASSERT_THAT(Kinds(entries),
              ElementsAre(v1::RECORD_KIND_POLICY_LOADED, v1::RECORD_KIND_DIRECTORY_CHANGED,
                          v1::RECORD_KIND_DIRECTORY_CHANGED, v1::RECORD_KIND_DIRECTORY_CHANGED,
                          v1::RECORD_KIND_DIRECTORY_CHANGED));
  const v1::LogRecord& policy = entries[0].record();
  EXPECT_EQ(policy.policy().policy_version(), env.server().policy()->version());
  EXPECT_EQ(policy.policy().policy_hash().size(), 32u);
  EXPECT_TRUE(policy.policy().previous_version().empty());
  EXPECT_EQ(policy.requester().org_id(), kGatewayOrg);
  EXPECT_EQ(entries[1].record().directory().change(), v1::DIRECTORY_CHANGE_REGISTERED);
  EXPECT_EQ(entries[1].record().directory().organisation().org_id(), kGemeente);
  EXPECT_EQ(env.server().directory()->version(), 4u);

  // A restart with the same files records nothing new; an exchange made
  // before it is still there, and so is its quota count.
  v1::OpenExchangeResponse opened;
  ASSERT_TRUE(env.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPerson}).request, &opened).ok());
  const size_t count = env.AllEntries().size();
  env.Stop();
  env.Start();
  EXPECT_EQ(env.AllEntries().size(), count);
  EXPECT_EQ(env.server().directory()->version(), 4u);
  EXPECT_EQ(env.server().quota().Current(kRiec, kRiecPurpose, env.clock().Now()).subjects_used, 1u);
  auto stored = env.server().exchanges().Get(opened.exchange_id());
  ASSERT_TRUE(stored.ok() && stored->has_value());

  // A changed policy is recorded with the version it replaces.
  const std::string old_version = env.server().policy()->version();
  env.Stop();
  std::string text = PolicyText();
  text.replace(text.find("test-1"), 6, "test-2");
  ::schakel::testing::WriteFile(env.dir() / "policy.json", text);
  env.Start();
  entries = env.AllEntries();
  ASSERT_EQ(entries.size(), count + 1);
  EXPECT_EQ(entries.back().record().kind(), v1::RECORD_KIND_POLICY_LOADED);
  EXPECT_EQ(entries.back().record().policy().previous_version(), old_version);
  EXPECT_THAT(entries.back().record().policy_version(), HasSubstr("test-2+"));
}

TEST(GatewayServerTest, RefusesToStartWithEveryProblemNamed) {
  GatewayTestEnv env;
  env.SetUp();
  env.Stop();
  auto config = LoadGatewayConfig(env.dir() / "gateway.json");
  ASSERT_TRUE(config.ok());
  config->policy_file = env.dir() / "missing-policy.json";
  ::schakel::testing::WriteFile(env.dir() / "bad-directory.json", R"({"organisations": [{"org_id": "X"}]})");
  config->directory_file = env.dir() / "bad-directory.json";
  ASSERT_EQ(::chmod((env.dir() / "gateway-signing.key").c_str(), 0644), 0);
  config->tls_cert = env.dir() / "policy.json";
  auto server = GatewayServer::Create(*config, {});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string m(server.status().message());
  EXPECT_THAT(m, HasSubstr("cannot start, 4 problems:"));
  EXPECT_THAT(m, HasSubstr("\n  signing_key_file: key file"));
  EXPECT_THAT(m, HasSubstr("chmod 600"));
  EXPECT_THAT(m, HasSubstr("\n  policy: "));
  EXPECT_THAT(m, HasSubstr("\n  directory: "));
  EXPECT_THAT(m, HasSubstr("organisations[0].org_id: \"X\" is not an organisation id"));
  EXPECT_THAT(m, HasSubstr("\n  tls: "));
  ASSERT_EQ(::chmod((env.dir() / "gateway-signing.key").c_str(), 0600), 0);
}

TEST(GatewayServerTest, RefusesToStartWhenTheLogHeadDoesNotVerify) {
  GatewayTestEnv env;
  env.SetUp();
  const uint64_t head = env.server().log().head_sequence();
  env.Stop();
  {
    auto kv = store::RocksDbStore::Open((env.dir() / "data"));
    ASSERT_TRUE(kv.ok()) << kv.status();
    auto value = (*kv)->Get(LogEntryKey(head));
    ASSERT_TRUE(value.ok() && value->has_value());
    v1::LogEntry entry;
    ASSERT_TRUE(entry.ParseFromString(**value));
    entry.mutable_record()->set_detail("edited behind the log's back");
    store::WriteBatch batch;
    batch.Put(LogEntryKey(head), entry.SerializeAsString());
    ASSERT_TRUE((*kv)->Write(batch, store::Durability::kSynced).ok());
  }
  auto config = LoadGatewayConfig(env.dir() / "gateway.json");
  ASSERT_TRUE(config.ok());
  auto server = GatewayServer::Create(*config, {});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(server.status().message(), HasSubstr("cannot start: exchange log: entry"));
}

TEST(GatewayServerTest, CheckpointsAreMadeAtTheConfiguredInterval) {
  GatewayTestEnv env;
  env.SetUp();  // 5 entries at start; the test config checkpoints every 5
  v1::OpenExchangeResponse opened;
  ASSERT_TRUE(env.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPerson}).request, &opened).ok());
  // The background thread makes it; poll with a deadline.
  const absl::Time until = absl::Now() + absl::Seconds(10);
  std::optional<v1::Checkpoint> latest;
  while (absl::Now() < until) {
    latest = env.server().checkpoints().Latest();
    if (latest.has_value()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(latest.has_value());
  EXPECT_GE(latest->payload().sequence(), 5u);
  EXPECT_TRUE(canonical::Verify(env.gateway_key(), canonical::kCheckpointContext, latest->payload(),
                                latest->signature()).ok());
}

TEST(GatewayServerTest, HealthServiceReportsServing) {
  GatewayTestEnv env;
  env.SetUp();
  EXPECT_EQ(HealthCheck(env.server().bound_address(), "schakel.v1.Gateway"), std::string("\x08\x01"));
  EXPECT_EQ(HealthCheck(env.server().bound_address(), ""), std::string("\x08\x01"));
}

// Every health service name of the gateway.
constexpr const char* kHealthServices[] = {"", "schakel.v1.Gateway", "schakel.v1.Cases",
                                           "schakel.v1.Audit", "schakel.v1.GatewayAdmin"};

// Waits up to `limit` for every health service to answer NOT_SERVING;
// returns the services that still did not.
std::vector<std::string> NotYetNotServing(const std::string& address, absl::Duration limit) {
  const absl::Time until = absl::Now() + limit;
  std::vector<std::string> left(std::begin(kHealthServices), std::end(kHealthServices));
  while (true) {
    std::erase_if(left, [&](const std::string& service) {
      return HealthCheck(address, service) == std::string("\x08\x02");
    });
    if (left.empty() || absl::Now() >= until) return left;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

TEST(GatewayServerTest, AFailedLogWriteTurnsEveryHealthServiceNotServing) {
  GatewayTestEnv env({.faulty_store = true});
  env.SetUp();
  const std::string address = env.server().bound_address();
  for (const char* service : kHealthServices) {
    ASSERT_EQ(HealthCheck(address, service), std::string("\x08\x01")) << service;
  }
  env.faulty()->FailAllWrites();
  v1::OpenExchangeResponse opened;
  const grpc::Status status = env.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPerson}).request, &opened);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // The background tick is 1 s: within 2 s every service says so.
  EXPECT_THAT(NotYetNotServing(address, absl::Seconds(2)), ::testing::IsEmpty());
  const std::vector<std::string> lines = env.lines();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.find("not serving") != std::string::npos; }))
      << "the operator is told";
}

TEST(GatewayServerTest, ARealDiskFailureAcknowledgesNoExchangeWithoutADurableEntry) {
  // The gateway's RocksDB on a file system whose disk fails, then loses
  // power (tests/support/crash_test_fs.h): real RocksDB I/O errors.
  auto disk = std::make_shared<schakel::testing::CrashTestFileSystem>();
  GatewayTestEnv env({.rocksdb_env = schakel::testing::CrashTestFileSystem::EnvFor(disk)});
  env.SetUp();
  std::vector<std::string> acknowledged;
  v1::OpenExchangeResponse opened;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(env.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPerson}).request, &opened).ok());
    acknowledged.push_back(opened.exchange_id());
  }
  disk->FailWritesFromNow();
  for (int i = 0; i < 3; ++i) {
    const grpc::Status status =
        env.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPerson}).request, &opened);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  EXPECT_THAT(NotYetNotServing(env.server().bound_address(), absl::Seconds(2)), ::testing::IsEmpty());

  // The machine goes down: what was not synced is gone.
  env.Stop();
  disk->Crash();
  std::mt19937_64 rng(6);
  disk->DropUnsyncedData(rng, /*torn_tails=*/true);
  env.Start();
  std::set<std::string> evaluated;
  for (const v1::LogEntry& e : env.AllEntries()) {
    if (e.record().kind() == v1::RECORD_KIND_EXCHANGE_EVALUATED) evaluated.insert(e.record().exchange_id());
  }
  for (const std::string& id : acknowledged) EXPECT_TRUE(evaluated.contains(id)) << "an acknowledged exchange was lost";
  EXPECT_EQ(evaluated.size(), acknowledged.size()) << "no outcome after the failure was acknowledged";
  auto report = env.server().log().Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->first_bad_sequence, std::nullopt) << report->problem;
  // And it serves again.
  EXPECT_TRUE(env.Open(kRiec, GatewayTestEnv::Blind(kRiecPurpose, {kPerson}).request, &opened).ok());
}

TEST(GatewayServerTest, HealthCoversEveryServiceAndReflectionListsThem) {
  GatewayTestEnv env;
  env.SetUp();
  const std::string address = env.server().bound_address();
  for (const char* service : {"schakel.v1.Cases", "schakel.v1.Audit", "schakel.v1.GatewayAdmin"}) {
    EXPECT_EQ(HealthCheck(address, service), std::string("\x08\x01")) << service;
  }

  // ServerReflectionInfo with list_services (field 7) = "", without stubs.
  auto creds = rpc::ClientCredentialsFromFiles(SharedPki::Get().Files(kRiec));
  ASSERT_TRUE(creds.ok());
  grpc::GenericStub stub(*rpc::CreateChannel(address, *creds));
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  rpc::SetDeadline(context, std::chrono::milliseconds(5000));
  auto call = stub.PrepareCall(&context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto step = [&cq](grpc::GenericClientAsyncReaderWriter* c, int n, auto op) {
    op(c, reinterpret_cast<void*>(static_cast<intptr_t>(n)));
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(static_cast<intptr_t>(n));
  };
  ASSERT_TRUE(step(call.get(), 1, [](auto* c, void* t) { c->StartCall(t); }));
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer request(&slice, 1);
  ASSERT_TRUE(step(call.get(), 2, [&](auto* c, void* t) { c->Write(request, t); }));
  grpc::ByteBuffer reply;
  ASSERT_TRUE(step(call.get(), 3, [&](auto* c, void* t) { c->Read(&reply, t); }));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  for (const char* service : {"schakel.v1.Gateway", "schakel.v1.Cases", "schakel.v1.Audit",
                              "schakel.v1.GatewayAdmin", "grpc.health.v1.Health"}) {
    EXPECT_THAT(bytes, HasSubstr(service));
  }
  context.TryCancel();
  grpc::Status finished;
  step(call.get(), 4, [&](auto* c, void* t) { c->Finish(&finished, t); });
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

// A node's index publication stream stays open for minutes; a graceful
// shutdown ends it at once instead of waiting out the grace period.
TEST(GatewayServerTest, ShutdownEndsPublicationStreamsWithoutWaitingForTheGrace) {
  GatewayTestEnv env;
  env.SetUp();
  grpc::ClientContext context;
  auto stream = env.As(kPolitie).PublishIndex(&context);
  v1::IndexBatch nothing;  // sequence 0: not applied, but the stream is open
  ASSERT_TRUE(stream->Write(nothing));
  const auto start = std::chrono::steady_clock::now();
  env.server().Shutdown(absl::Seconds(60));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  v1::IndexAck ack;
  while (stream->Read(&ack)) {
  }
  EXPECT_FALSE(stream->Finish().ok());
}

TEST(GatewayServerTest, ReloadPutsANewPolicyInForceForLaterRecords) {
  GatewayTestEnv env;
  env.SetUp();
  const std::string old_version = env.server().policy()->version();
  std::string text = PolicyText();
  text.replace(text.find("\"test-1\""), 8, "\"test-2\"");
  ::schakel::testing::WriteFile(env.server().config().policy_file, text);
  auto reloaded = env.server().ReloadPolicy();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(reloaded->changed);
  const std::string version = env.server().policy()->version();
  EXPECT_NE(version, old_version);
  v1::ListPurposesResponse purposes;
  grpc::ClientContext context;
  ASSERT_TRUE(env.As(kRiec).ListPurposes(&context, v1::ListPurposesRequest(), &purposes).ok());
  EXPECT_EQ(purposes.policy_version(), version);

  ::schakel::testing::WriteFile(env.server().config().policy_file, "{ not json");
  auto refused = env.server().ReloadPolicy();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(env.server().policy()->version(), version);
}

}  // namespace
}  // namespace schakel::gateway::testing
