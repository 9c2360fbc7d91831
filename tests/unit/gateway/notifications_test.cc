// gateway/notifications.h: per-recipient gapless sequences, only committed
// writes take a sequence, Fetch returns what is newer and acknowledges the
// rest, the queue survives a reopen of the store, receipts are issued on
// the way out, and the pusher delivers in order, backs off while the node
// is down and keeps the queue until the node acknowledges.
#include "gateway/notifications.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/strings.h"
#include "store/memory_store.h"

namespace schakel::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

NotificationOutbox::Options TestOptions() {
  NotificationOutbox::Options o;
  o.receipt = [](uint64_t sequence, std::string_view recipient, std::string_view exchange_id) {
    v1::Receipt r;
    r.mutable_payload()->set_sequence(sequence);
    r.mutable_payload()->set_recipient_org_id(std::string(recipient));
    r.mutable_payload()->set_exchange_id(std::string(exchange_id));
    return absl::StatusOr<v1::Receipt>(r);
  };
  o.now = [] { return absl::FromUnixSeconds(1'750'000'000); };
  o.first_retry = absl::Milliseconds(5);
  o.max_retry = absl::Milliseconds(20);
  return o;
}

v1::Notification Match(const std::string& tag) {
  v1::Notification n;
  n.mutable_match()->set_purpose_id("verwijsindex-jeugd");
  n.mutable_match()->add_tags(tag);
  return n;
}

// Queues one notification per recipient, caused by log entry `log_sequence`.
void Queue(store::MemoryStore& kv, NotificationOutbox& outbox, const std::vector<std::string>& recipients,
           uint64_t log_sequence, bool write = true) {
  auto reservation = outbox.Reserve(recipients);
  store::WriteBatch batch;
  for (const std::string& r : recipients) {
    outbox.AddQueued(reservation, r, Match(StrCat("tag-", log_sequence)), log_sequence, std::string(16, 'x'), batch);
  }
  if (!write) return;  // as when the log's write fails: nothing is taken
  ASSERT_TRUE(kv.Write(batch, store::Durability::kSynced).ok());
  outbox.Commit(reservation);
}

TEST(NotificationsTest, SequencesArePerRecipientAndGapless) {
  store::MemoryStore kv;
  auto outbox = NotificationOutbox::Open(&kv, TestOptions()).value();
  Queue(kv, *outbox, {"politie-zwb", "gemeente-tilburg"}, 10);
  Queue(kv, *outbox, {"politie-zwb"}, 11, /*write=*/false);
  Queue(kv, *outbox, {"politie-zwb"}, 12);
  EXPECT_EQ(outbox->LastSequence("politie-zwb"), 2u);
  EXPECT_EQ(outbox->LastSequence("gemeente-tilburg"), 1u);
  EXPECT_EQ(outbox->LastSequence("riec-zwb"), 0u);
  EXPECT_EQ(outbox->QueueDepth(), 3u);
  auto fetched = outbox->Fetch("politie-zwb", 0, 0);
  ASSERT_TRUE(fetched.ok());
  ASSERT_THAT(fetched->notifications(), SizeIs(2));
  EXPECT_EQ(fetched->notifications(0).sequence(), 1u);
  EXPECT_EQ(fetched->notifications(1).sequence(), 2u);
  EXPECT_EQ(fetched->notifications(1).match().tags(0), "tag-12");
  EXPECT_EQ(fetched->notifications(1).receipt().payload().sequence(), 12u);
  EXPECT_EQ(fetched->notifications(1).receipt().payload().recipient_org_id(), "politie-zwb");
  EXPECT_EQ(fetched->notifications(0).created_at().seconds(), 1'750'000'000);
  EXPECT_EQ(fetched->last_sequence(), 2u);
}

TEST(NotificationsTest, FetchAcknowledgesAndTheQueueSurvivesAReopen) {
  store::MemoryStore kv;
  {
    auto outbox = NotificationOutbox::Open(&kv, TestOptions()).value();
    for (uint64_t i = 1; i <= 5; ++i) Queue(kv, *outbox, {"politie-zwb"}, i);
    auto page = outbox->Fetch("politie-zwb", 0, 2);
    ASSERT_THAT(page->notifications(), SizeIs(2));
    EXPECT_EQ(page->last_sequence(), 5u);  // more waiting
    ASSERT_TRUE(outbox->Fetch("politie-zwb", 2, 0).ok());
    EXPECT_EQ(outbox->AcknowledgedThrough("politie-zwb"), 2u);
  }
  auto reopened = NotificationOutbox::Open(&kv, TestOptions()).value();
  EXPECT_EQ(reopened->LastSequence("politie-zwb"), 5u);
  EXPECT_EQ(reopened->AcknowledgedThrough("politie-zwb"), 2u);
  auto rest = reopened->Fetch("politie-zwb", 0, 0);  // 0: everything still queued
  ASSERT_TRUE(rest.ok());
  ASSERT_THAT(rest->notifications(), SizeIs(3));
  EXPECT_EQ(rest->notifications(0).sequence(), 3u);
  EXPECT_EQ(reopened->Fetch("politie-zwb", 6, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reopened->Fetch("politie-zwb", 5, 0)->notifications(), IsEmpty());
  EXPECT_EQ(reopened->QueueDepth(), 0u);
  auto rows = kv.Scan("nq/n/", store::PrefixEnd("nq/n/"), 0);
  EXPECT_THAT(*rows, IsEmpty());  // acknowledged ones are dropped
  Queue(kv, *reopened, {"politie-zwb"}, 6);
  EXPECT_EQ(reopened->LastSequence("politie-zwb"), 6u);
}

TEST(NotificationsTest, ThePusherBacksOffWhileTheNodeIsDownAndDeliversInOrder) {
  store::MemoryStore kv;
  auto outbox = NotificationOutbox::Open(&kv, TestOptions()).value();
  Queue(kv, *outbox, {"politie-zwb"}, 1);
  std::atomic<bool> online{false};
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<uint64_t> received;
  outbox->Start(
      [&](const std::string& org, const v1::DeliverNotificationsRequest& request) -> absl::StatusOr<uint64_t> {
        EXPECT_EQ(org, "politie-zwb");
        ++calls;
        if (!online) return absl::UnavailableError("down");
        std::lock_guard lock(mu);
        for (const v1::Notification& n : request.notifications()) {
          if (n.sequence() == received.size() + 1) received.push_back(n.sequence());
        }
        return static_cast<uint64_t>(received.size());
      },
      nullptr);
  auto wait_for = [](const std::function<bool()>& condition) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!condition() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
  };
  ASSERT_TRUE(wait_for([&] { return calls >= 3; }));  // retried with back-off
  EXPECT_EQ(outbox->AcknowledgedThrough("politie-zwb"), 0u);
  Queue(kv, *outbox, {"politie-zwb"}, 2);
  online = true;
  ASSERT_TRUE(wait_for([&] { return outbox->AcknowledgedThrough("politie-zwb") == 2; }));
  {
    std::lock_guard lock(mu);
    EXPECT_THAT(received, ElementsAre(1u, 2u));
  }
  EXPECT_EQ(outbox->QueueDepth(), 0u);
  outbox->Stop();
  outbox->Stop();  // idempotent
}

}  // namespace
}  // namespace schakel::gateway
