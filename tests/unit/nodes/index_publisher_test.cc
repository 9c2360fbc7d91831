#include "nodes/index_publisher.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/oprf.h"
#include "rpc/channel.h"
#include "nodes/node_secret.h"
#include "store/memory_store.h"
#include "tests/unit/nodes/fake_index_gateway.h"

namespace schakel::nodes {
namespace {

using ::schakel::nodes::testing::Bsn;
using ::schakel::nodes::testing::FakeServer;
using ::schakel::nodes::testing::IndexState;
using ::schakel::nodes::testing::WaitFor;
using ::testing::HasSubstr;

constexpr char kPolicy[] = R"({
  "version": "test",
  "categories": [
    {"category": "huiselijk-geweld", "domain": "care"},
    {"category": "overlast", "domain": "housing", "retention": "30d"}
  ],
  "purposes": [
    {"purpose_id": "zvh", "matchable_categories": ["huiselijk-geweld"]},
    {"purpose_id": "riec", "matchable_categories": ["overlast"]}
  ]
})";

// The first error the publisher reports (it is cleared again when a later
// session gets through, so it is read once).
std::string ErrorOf(const IndexPublisher& publisher) {
  std::string error;
  WaitFor([&] {
    error = publisher.status().last_error;
    return !error.empty();
  });
  return error;
}

class IndexPublisherTest : public ::testing::Test {
 protected:
  IndexPublisherTest() : server_(&state_), oprf_(crypto::oprf::PrivateKey::Generate()) {
    policy_ = ParseLocalPolicy(kPolicy).value();
    std::map<std::string, crypto::PurposeKey> keys;
    for (const char* purpose : {"zvh", "riec"}) {
      keys.emplace(purpose, crypto::PurposeKey::Create(oprf_, purpose).value());
    }
    log_ = LocalLog::Open(&kv_).value();
    store_ = SignalStore::Create(&kv_, policy_, std::move(keys), NodeSecret::Random(), log_.get())
                 .value();
    gateway_ = std::make_unique<GatewayClient>(
        rpc::CreateChannel(server_.endpoint(), grpc::InsecureChannelCredentials()).value(),
        GatewayClient::Options{});
  }

  IndexPublisher::Options Fast() {
    IndexPublisher::Options o;
    o.retry = std::chrono::milliseconds(10);
    o.max_retry = std::chrono::milliseconds(50);
    o.check_interval = std::chrono::milliseconds(50);
    o.window = 4;
    return o;
  }

  // Adds `n` signals, each its own queued batch.
  void AddSignals(int from, int n, std::string category = "huiselijk-geweld") {
    for (int i = from; i < from + n; ++i) {
      v1::Signal s;
      s.set_signal_id(StrCat("s", i));
      s.set_category(category);
      s.mutable_subject()->set_bsn(Bsn(1000 + i));
      ASSERT_TRUE(store_->Add(s, absl::Now(), "alice").ok());
    }
  }

  uint64_t Queued() { return store_->GetIndexStatus().value().queued_through; }
  uint64_t Acknowledged() { return store_->GetIndexStatus().value().acknowledged_through; }

  // The tags the store holds, per purpose, from every signal id s<from..to>.
  std::map<std::string, std::set<std::string>> StoreTags(int from, int to) {
    std::map<std::string, std::set<std::string>> out;
    for (int i = from; i < to; ++i) {
      auto tags = store_->TagsOf(StrCat("s", i));
      if (!tags.ok()) continue;
      for (const auto& [purpose, list] : *tags) {
        for (const crypto::Tag& t : list) {
          out[purpose].insert(std::string(reinterpret_cast<const char*>(t.data()), t.size()));
        }
      }
    }
    return out;
  }

  std::map<std::string, std::set<std::string>> GatewayTags() {
    std::lock_guard lock(state_.mu);
    std::map<std::string, std::set<std::string>> out;
    for (const auto& [purpose, set] : state_.tags) {
      if (!set.empty()) out[purpose] = set;
    }
    return out;
  }

  // Every batch applied exactly once, in order, 1..n.
  void ExpectAppliedOnce(uint64_t n) {
    std::lock_guard lock(state_.mu);
    ASSERT_EQ(state_.applied_sequences.size(), n);
    for (uint64_t i = 0; i < n; ++i) EXPECT_EQ(state_.applied_sequences[i], i + 1);
  }

  std::vector<v1::LocalLogRecord> Records(v1::LocalEventKind kind) {
    std::vector<v1::LocalLogRecord> out;
    auto entries = log_->Read(1, 0);
    if (!entries.ok()) return out;
    for (const v1::LocalLogEntry& e : *entries) {
      if (e.record().kind() == kind) out.push_back(e.record());
    }
    return out;
  }

  IndexState state_;
  FakeServer server_;
  crypto::oprf::PoprfServer oprf_;
  std::shared_ptr<const LocalPolicy> policy_;
  store::MemoryStore kv_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<SignalStore> store_;
  std::unique_ptr<GatewayClient> gateway_;
};

TEST_F(IndexPublisherTest, PublishesTheQueueAndLogsOnceWhenCaughtUp) {
  AddSignals(0, 12);
  ASSERT_EQ(Queued(), 12u);
  IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), Fast());
  publisher.Start();
  ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 12; }));
  EXPECT_EQ(GatewayTags(), StoreTags(0, 12));
  ExpectAppliedOnce(12);
  ASSERT_TRUE(WaitFor([&] { return !Records(v1::LOCAL_EVENT_KIND_INDEX_PUBLISHED).empty(); }));
  const auto records = Records(v1::LOCAL_EVENT_KIND_INDEX_PUBLISHED);
  ASSERT_EQ(records.size(), 1u);  // once for the catch-up, not per batch
  EXPECT_THAT(records[0].detail(), HasSubstr("batches 1 to 12 acknowledged"));
  EXPECT_EQ(records[0].element_count(), 12u);
  EXPECT_TRUE(records[0].user_id().empty());

  auto status = publisher.GetIndexStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->queued_through(), 12u);
  EXPECT_EQ(status->acknowledged_through(), 12u);
  EXPECT_EQ(status->pending_batches(), 0u);
  EXPECT_TRUE(status->connected());
  EXPECT_TRUE(status->has_last_ack_at());
}

TEST_F(IndexPublisherTest, NotifySendsNewBatchesOnTheOpenStream) {
  IndexPublisher::Options options = Fast();
  options.check_interval = std::chrono::hours(1);  // only Notify can wake it
  IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), options);
  publisher.Start();
  ASSERT_TRUE(WaitFor([&] { return publisher.status().connected; }));
  AddSignals(0, 3);
  publisher.Notify();
  ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 3; }));
  EXPECT_EQ(GatewayTags(), StoreTags(0, 3));
  EXPECT_EQ(publisher.status().sessions, 1u);
  // A deletion withdraws the tag at the gateway.
  ASSERT_TRUE(store_->Delete("s1", 0).ok());
  publisher.Notify();
  ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 4; }));
  EXPECT_EQ(GatewayTags(), StoreTags(0, 3));
  EXPECT_EQ(GatewayTags()["zvh"].size(), 2u);
}

TEST_F(IndexPublisherTest, ResumesAfterTheGatewayRestartsMidStreamWithoutGapsOrDuplicates) {
  AddSignals(0, 20);
  {
    std::lock_guard lock(state_.mu);
    state_.hold_after = 7;  // the gateway hangs after applying batch 7, then goes away
  }
  IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), Fast());
  publisher.Start();
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(state_.mu);
    return state_.applied == 7;
  }));
  {
    std::lock_guard lock(state_.mu);
    state_.hold_after = 0;
  }
  server_.Restart();
  ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 20; }));
  ExpectAppliedOnce(20);
  EXPECT_EQ(GatewayTags(), StoreTags(0, 20));
  EXPECT_GE(publisher.status().sessions, 2u);
}

TEST_F(IndexPublisherTest, ANodeRestartAfterLostAcksResumesFromTheGatewaysState) {
  AddSignals(0, 10);
  {
    std::lock_guard lock(state_.mu);
    state_.drop_acks = true;  // applied at the gateway, but the node never hears of it
  }
  {
    IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), Fast());
    publisher.Start();
    ASSERT_TRUE(WaitFor([&] {
      std::lock_guard lock(state_.mu);
      return state_.applied >= 4;  // the window: at most 4 unacknowledged
    }));
    publisher.Stop();  // the node is "killed"
  }
  EXPECT_EQ(Acknowledged(), 0u);
  {
    std::lock_guard lock(state_.mu);
    state_.drop_acks = false;
  }
  AddSignals(10, 2);
  IndexPublisher restarted(gateway_.get(), store_.get(), log_.get(), Fast());
  restarted.Start();
  ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 12; }));
  ExpectAppliedOnce(12);
  EXPECT_EQ(GatewayTags(), StoreTags(0, 12));
}

TEST_F(IndexPublisherTest, ASupersededStreamIsRetried) {
  AddSignals(0, 5);
  {
    std::lock_guard lock(state_.mu);
    state_.abort_next_stream = true;
  }
  IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), Fast());
  publisher.Start();
  ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 5; }));
  ExpectAppliedOnce(5);
  std::lock_guard lock(state_.mu);
  EXPECT_GE(state_.streams, 2);
}

TEST_F(IndexPublisherTest, AGatewayThatLostStateGetsAFullRepublish) {
  AddSignals(0, 6);
  AddSignals(6, 2, "overlast");  // tags under the second purpose too
  {
    IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), Fast());
    publisher.Start();
    ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 8; }));
  }
  {
    // The gateway's store is restored from an old backup: as after batch 2.
    std::lock_guard lock(state_.mu);
    state_.applied = 2;
    state_.applied_sequences.resize(2);
    state_.tags.clear();
    state_.tags["zvh"].insert("stale tag, gone at the node ");
    state_.max_changes = 3;
  }
  // Changes keep coming while the node republishes.
  ASSERT_TRUE(store_->Delete("s0", 0).ok());

  std::mutex mu;
  std::vector<std::pair<uint64_t, uint32_t>> calls;
  IndexPublisher::Options options = Fast();
  options.max_changes_per_batch = 1000;
  options.republish = [&](uint64_t after, uint32_t max_changes) {
    {
      std::lock_guard lock(mu);
      calls.emplace_back(after, max_changes);
    }
    return store_->Republish(after, max_changes);
  };
  IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), options);
  publisher.Start();
  ASSERT_TRUE(WaitFor([&] {
    const auto status = store_->GetIndexStatus().value();
    return status.acknowledged_through == status.queued_through &&
           GatewayTags() == StoreTags(0, 8);
  }));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].first, 2u);    // numbered from the gateway's applied_through + 1
    EXPECT_EQ(calls[0].second, 3u);   // the smaller of the two limits
  }
  // 7 tags in batches of at most 3, after the clearing one: sequences 3 to 5.
  ExpectAppliedOnce(5);
  EXPECT_TRUE(publisher.status().last_error.empty()) << publisher.status().last_error;
  bool logged = false;
  for (const auto& r : Records(v1::LOCAL_EVENT_KIND_INDEX_PUBLISHED)) {
    if (r.detail().find("full republish queued") != std::string::npos) logged = true;
  }
  EXPECT_TRUE(logged);
}

TEST_F(IndexPublisherTest, ANodeThatLostStateRepublishesAfterTheGatewaysSequence) {
  {
    std::lock_guard lock(state_.mu);  // the gateway knows a longer stream
    state_.applied = 40;
    state_.tags["zvh"].insert("from a lost node store");
  }
  AddSignals(0, 3);
  IndexPublisher::Options options = Fast();
  options.republish = [&](uint64_t after, uint32_t max_changes) {
    return store_->Republish(after, max_changes);
  };
  IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), options);
  publisher.Start();
  ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 41; }));
  EXPECT_EQ(GatewayTags(), StoreTags(0, 3));
}

TEST_F(IndexPublisherTest, WithoutARepublishMethodTheDisagreementIsReported) {
  AddSignals(0, 6);
  {
    IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), Fast());
    publisher.Start();
    ASSERT_TRUE(WaitFor([&] { return Acknowledged() == 6; }));
  }
  {
    std::lock_guard lock(state_.mu);
    state_.applied = 2;
  }
  IndexPublisher bare(gateway_.get(), store_.get(), log_.get(), Fast());
  bare.Start();
  const std::string error = ErrorOf(bare);
  EXPECT_THAT(error, HasSubstr("applied index batches through 2 but had acknowledged them through 6"));
  EXPECT_THAT(error, HasSubstr("lost state"));
}

TEST_F(IndexPublisherTest, ABatchLargerThanTheGatewayAllowsIsReported) {
  {
    std::lock_guard lock(state_.mu);
    state_.max_changes = 2;
  }
  v1::Signal s;
  s.set_signal_id("big");
  s.set_category("huiselijk-geweld");
  s.mutable_subject()->set_bsn(Bsn(7));
  s.mutable_subject()->set_given_names("Jan");
  s.mutable_subject()->set_surname("Jansen-de Vries");  // three name_dob keys
  s.mutable_subject()->set_birth_date("1990-02-01");
  ASSERT_TRUE(store_->Add(s, absl::Now(), "alice").ok());
  IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), Fast());
  publisher.Start();
  EXPECT_THAT(ErrorOf(publisher), HasSubstr("the gateway accepts at most 2"));
  EXPECT_EQ(Acknowledged(), 0u);
}

TEST_F(IndexPublisherTest, StopsPromptlyWhileTheGatewayIsDown) {
  server_.Stop();
  AddSignals(0, 2);
  IndexPublisher publisher(gateway_.get(), store_.get(), log_.get(), Fast());
  publisher.Start();
  EXPECT_THAT(ErrorOf(publisher), HasSubstr("UNAVAILABLE"));
  EXPECT_FALSE(publisher.status().connected);
  const auto start = std::chrono::steady_clock::now();
  publisher.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(Acknowledged(), 0u);
}

}  // namespace
}  // namespace schakel::nodes
