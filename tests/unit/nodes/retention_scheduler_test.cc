#include "nodes/retention_scheduler.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/oprf.h"
#include "nodes/node_secret.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace schakel::nodes {
namespace {

using ::testing::UnorderedElementsAre;

constexpr char kPolicy[] = R"({
  "version": "test",
  "categories": [{"category": "overlast", "domain": "housing", "retention": "30d"}],
  "purposes": [{"purpose_id": "riec", "matchable_categories": ["overlast"]}]
})";

const absl::Time kNow = absl::Now();

bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

class RetentionSchedulerTest : public ::testing::Test {
 protected:
  RetentionSchedulerTest() : oprf_(crypto::oprf::PrivateKey::Generate()) {
    std::map<std::string, crypto::PurposeKey> keys;
    keys.emplace("riec", crypto::PurposeKey::Create(oprf_, "riec").value());
    log_ = LocalLog::Open(&kv_).value();
    store_ = SignalStore::Create(&kv_, ParseLocalPolicy(kPolicy).value(), std::move(keys),
                                 NodeSecret::Random(), log_.get())
                 .value();
  }

  // A signal about `bsn` that expires `ttl` after kNow.
  void Add(const std::string& id, const std::string& bsn, absl::Duration ttl) {
    v1::Signal s;
    s.set_signal_id(id);
    s.set_category("overlast");
    s.mutable_subject()->set_bsn(bsn);
    const absl::Time expires = kNow + ttl;
    s.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(expires));
    auto added = store_->Add(s, kNow, "alice");
    ASSERT_TRUE(added.ok()) << added.status();
  }

  std::string Tag(const std::string& bsn) {
    auto key = crypto::PurposeKey::Create(oprf_, "riec").value();
    const crypto::MatchKey match_key{crypto::MatchKeyType::kBsn, bsn};
    const crypto::Tag tag = key.TagFor(crypto::AsBytes(match_key.OprfInput())).value();
    return std::string(reinterpret_cast<const char*>(tag.data()), tag.size());
  }

  std::vector<v1::LocalLogRecord> Expired() {
    std::vector<v1::LocalLogRecord> out;
    auto entries = log_->Read(1, 0);
    if (!entries.ok()) return out;
    for (const v1::LocalLogEntry& e : *entries) {
      if (e.record().kind() == v1::LOCAL_EVENT_KIND_SIGNAL_EXPIRED) out.push_back(e.record());
    }
    return out;
  }

  RetentionScheduler::Options At(absl::Time now) {
    RetentionScheduler::Options o;
    o.now = [now] { return now; };
    return o;
  }

  crypto::oprf::PoprfServer oprf_;
  store::MemoryStore kv_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<SignalStore> store_;
};

TEST_F(RetentionSchedulerTest, APassRemovesExpiredSignalsAndQueuesTheWithdrawal) {
  Add("old-1", "111222333", absl::Hours(1));
  Add("old-2", "123456782", absl::Hours(1));
  Add("young", "100000009", absl::Hours(48));
  const uint64_t queued = store_->GetIndexStatus().value().queued_through;

  RetentionScheduler scheduler(store_.get(), nullptr, At(kNow + absl::Hours(2)));
  auto removed = scheduler.RunOnce();
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2u);
  EXPECT_TRUE(scheduler.last_error().empty());
  EXPECT_TRUE(absl::IsNotFound(store_->Get("old-1").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Get("old-2").status()));
  EXPECT_TRUE(store_->Get("young").ok());

  // One queue entry withdraws both tags; the young signal's tag stays.
  auto batches = store_->PendingBatches(queued, 0);
  ASSERT_TRUE(batches.ok()) << batches.status();
  ASSERT_EQ(batches->size(), 1u);
  ASSERT_EQ((*batches)[0].changes_size(), 1);
  const v1::PurposeTagChanges& changes = (*batches)[0].changes(0);
  EXPECT_EQ(changes.purpose_id(), "riec");
  EXPECT_TRUE(changes.added().empty());
  EXPECT_THAT(changes.removed(), UnorderedElementsAre(Tag("111222333"), Tag("123456782")));
  EXPECT_EQ(store_->GetIndexStatus().value().tag_count.at("riec"), 1u);

  // Recorded in the node's own log, by the node, with signal ids only.
  const auto records = Expired();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].user_id().empty());
  EXPECT_THAT(records[0].signal_ids(), UnorderedElementsAre("old-1", "old-2"));

  // A second pass finds nothing and queues nothing.
  removed = scheduler.RunOnce();
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0u);
  EXPECT_EQ(store_->GetIndexStatus().value().queued_through, queued + 1);
}

TEST_F(RetentionSchedulerTest, StartRunsAPassAtOnceAndStopIsPrompt) {
  Add("old", "111222333", absl::Hours(1));
  RetentionScheduler::Options options = At(kNow + absl::Hours(2));
  options.interval = std::chrono::hours(24);
  RetentionScheduler scheduler(store_.get(), nullptr, options);
  scheduler.Start();
  ASSERT_TRUE(WaitFor([&] { return absl::IsNotFound(store_->Get("old").status()); }));
  const auto start = std::chrono::steady_clock::now();
  scheduler.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(RetentionSchedulerTest, RunsAgainEveryInterval) {
  std::atomic<int64_t> offset_hours{0};
  RetentionScheduler::Options options;
  options.now = [&] { return kNow + absl::Hours(offset_hours.load()); };
  options.interval = std::chrono::milliseconds(5);
  Add("a", "111222333", absl::Hours(1));
  Add("b", "123456782", absl::Hours(3));
  RetentionScheduler scheduler(store_.get(), nullptr, options);
  scheduler.Start();
  offset_hours = 2;
  ASSERT_TRUE(WaitFor([&] { return absl::IsNotFound(store_->Get("a").status()); }));
  EXPECT_TRUE(store_->Get("b").ok());
  offset_hours = 4;
  ASSERT_TRUE(WaitFor([&] { return absl::IsNotFound(store_->Get("b").status()); }));
}

TEST(RetentionSchedulerFaultTest, AFailedPassIsReportedAndNothingHalfRemoved) {
  store::MemoryStore memory;
  store::FaultyStore faulty(&memory);
  crypto::oprf::PoprfServer oprf(crypto::oprf::PrivateKey::Generate());
  std::map<std::string, crypto::PurposeKey> keys;
  keys.emplace("riec", crypto::PurposeKey::Create(oprf, "riec").value());
  auto log = LocalLog::Open(&faulty).value();
  auto store = SignalStore::Create(&faulty, ParseLocalPolicy(kPolicy).value(), std::move(keys),
                                   NodeSecret::Random(), log.get())
                   .value();
  v1::Signal s;
  s.set_signal_id("old");
  s.set_category("overlast");
  s.mutable_subject()->set_bsn("111222333");
  s.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(kNow + absl::Hours(1)));
  ASSERT_TRUE(store->Add(s, kNow, "alice").ok());
  const uint64_t queued = store->GetIndexStatus().value().queued_through;

  faulty.FailAllWrites();
  RetentionScheduler::Options options;
  options.now = [] { return kNow + absl::Hours(2); };
  RetentionScheduler scheduler(store.get(), nullptr, options);
  auto removed = scheduler.RunOnce();
  EXPECT_TRUE(absl::IsUnavailable(removed.status())) << removed.status();
  EXPECT_THAT(scheduler.last_error(), ::testing::HasSubstr("UNAVAILABLE"));
  EXPECT_TRUE(store->Get("old").ok());
  EXPECT_EQ(store->GetIndexStatus().value().queued_through, queued);

  faulty.ClearFaults();
  removed = scheduler.RunOnce();
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 1u);
  EXPECT_TRUE(scheduler.last_error().empty());
}

}  // namespace
}  // namespace schakel::nodes
