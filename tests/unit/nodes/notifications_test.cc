// Notifications at the node: pushed and fetched, stored once by sequence,
// mapped to the organisation's own signals and their owners, read per user.
#include "nodes/notifications.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/oprf.h"
#include "crypto/random.h"
#include "nodes/notifications_service.h"
#include "nodes/users.h"
#include "rpc/channel.h"
#include "rpc/status.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kPurpose[] = "zvh";
constexpr char kPolicy[] = R"({
  "version": "test",
  "categories": [
    {"category": "huiselijk-geweld", "domain": "care"},
    {"category": "schulden", "domain": "social", "retention": "365d"}
  ],
  "purposes": [
    {"purpose_id": "zvh", "matchable_categories": ["huiselijk-geweld", "schulden"]}
  ]
})";

std::string RandomId() {
  std::string id(16, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(id.data()), 16));
  return id;
}

std::string Bytes(const crypto::Tag& tag) {
  return std::string(reinterpret_cast<const char*>(tag.data()), tag.size());
}

// The gateway's notification queue for this node.
class FakeGateway final : public v1::Gateway::Service {
 public:
  grpc::Status FetchNotifications(grpc::ServerContext*, const v1::FetchNotificationsRequest* request,
                                  v1::FetchNotificationsResponse* response) override {
    std::lock_guard lock(mu);
    fetches.push_back(*request);
    if (down) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway down");
    const uint32_t max = request->max_count() == 0 ? 100 : request->max_count();
    uint64_t last = 0;
    for (const v1::Notification& n : queue) {
      last = std::max(last, n.sequence());
      if (n.sequence() > request->after_sequence() &&
          static_cast<uint32_t>(response->notifications_size()) < max) {
        *response->add_notifications() = n;
      }
    }
    // after_sequence acknowledges: the gateway may drop those.
    std::erase_if(queue, [&](const v1::Notification& n) {
      return n.sequence() <= request->after_sequence();
    });
    response->set_last_sequence(std::max(last, request->after_sequence()));
    return grpc::Status::OK;
  }

  std::mutex mu;
  bool down = false;
  std::vector<v1::Notification> queue;
  std::vector<v1::FetchNotificationsRequest> fetches;
};

class NotificationsTest : public ::testing::Test {
 protected:
  NotificationsTest() : server_(crypto::oprf::PrivateKey::Generate()) {
    log_ = LocalLog::Open(&kv_).value();
    std::map<std::string, crypto::PurposeKey> keys;
    keys.emplace(kPurpose, crypto::PurposeKey::Create(server_, kPurpose).value());
    signals_ = SignalStore::Create(&kv_, ParseLocalPolicy(kPolicy).value(), std::move(keys),
                                   NodeSecret::Random(), log_.get())
                   .value();
    disclosures_ = std::make_unique<OutgoingDisclosures>(
        &kv_, log_.get(), nullptr,
        OutgoingDisclosures::Options{.own_org_id = "wijkteam", .box_key = nullptr, .now = {}});
    inbox_ = NotificationInbox::Open(&kv_, log_.get(), signals_.get(), disclosures_.get()).value();
    // piet and els registered signals; two of them about the same person.
    piet_signal_ = AddSignal("piet", "111222333", "huiselijk-geweld");
    els_same_person_ = AddSignal("els", "111222333", "schulden");
    els_other_ = AddSignal("els", "123456782", "schulden");
  }

  std::string AddSignal(const std::string& owner, const std::string& bsn,
                        const std::string& category) {
    v1::Signal s;
    s.set_category(category);
    s.mutable_subject()->set_bsn(bsn);
    auto added = signals_->Add(s, absl::Now(), owner);
    EXPECT_TRUE(added.ok()) << added.status();
    return added->signal_id();
  }

  std::string TagOf(const std::string& signal_id) {
    auto tags = signals_->TagsOf(signal_id).value();
    return Bytes(tags.at(kPurpose).at(0));  // the BSN key comes first
  }

  v1::Notification Match(uint64_t sequence, std::vector<std::string> tags) {
    v1::Notification n;
    n.set_sequence(sequence);
    n.mutable_created_at()->set_seconds(1'760'000'000 + static_cast<int64_t>(sequence));
    v1::MatchNotice* m = n.mutable_match();
    m->set_exchange_id(RandomId());
    m->set_purpose_id(kPurpose);
    m->mutable_requester()->set_org_id("riec");
    m->mutable_requester()->set_user_id("analist1");
    m->mutable_requester()->set_role(v1::ROLE_ANALYST);
    for (std::string& t : tags) m->add_tags(std::move(t));
    m->add_key_types(v1::MATCH_KEY_TYPE_BSN);
    n.mutable_receipt()->mutable_payload()->set_sequence(100 + sequence);
    return n;
  }

  absl::StatusOr<uint64_t> Deliver(std::vector<v1::Notification> notifications) {
    v1::DeliverNotificationsRequest request;
    for (v1::Notification& n : notifications) *request.add_notifications() = std::move(n);
    auto delivered = inbox_->Deliver(request);
    if (!delivered.ok()) return delivered.status();
    return delivered->acknowledged_through();
  }

  std::vector<uint64_t> Sequences(const v1::ListNotificationsResponse& r) {
    std::vector<uint64_t> out;
    for (const auto& n : r.notifications()) out.push_back(n.notification().sequence());
    return out;
  }

  v1::ListNotificationsResponse List(const LocalCaller& caller,
                                     v1::ListNotificationsRequest request = {}) {
    auto listed = inbox_->List(request, caller);
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? *listed : v1::ListNotificationsResponse();
  }

  size_t Records(v1::LocalEventKind kind) {
    size_t count = 0;
    const std::vector<v1::LocalLogEntry> entries = log_->Read(1, 0).value();
    for (const v1::LocalLogEntry& e : entries) count += e.record().kind() == kind ? 1 : 0;
    return count;
  }

  const LocalCaller piet_{"piet", v1::ROLE_PROFESSIONAL};
  const LocalCaller els_{"els", v1::ROLE_PROFESSIONAL};
  const LocalCaller admin_{"admin", v1::ROLE_ADMIN};
  crypto::oprf::PoprfServer server_;
  store::MemoryStore kv_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<SignalStore> signals_;
  std::unique_ptr<OutgoingDisclosures> disclosures_;
  std::unique_ptr<NotificationInbox> inbox_;
  std::string piet_signal_, els_same_person_, els_other_;
};

TEST_F(NotificationsTest, PushedNotificationsAreStoredOnceAndMappedToSignalsAndOwners) {
  const std::string person = TagOf(piet_signal_);
  ASSERT_EQ(person, TagOf(els_same_person_));
  auto through = Deliver({Match(1, {person}), Match(2, {TagOf(els_other_)})});
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_EQ(*through, 2u);
  EXPECT_EQ(Records(v1::LOCAL_EVENT_KIND_NOTIFICATION_RECEIVED), 2u);

  // The same again (a re-sent push): acknowledged, nothing stored twice.
  through = Deliver({Match(1, {person}), Match(2, {TagOf(els_other_)})});
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 2u);
  EXPECT_EQ(Records(v1::LOCAL_EVENT_KIND_NOTIFICATION_RECEIVED), 2u);

  // The admin sees both, newest first, each with its signals and owners.
  const v1::ListNotificationsResponse all = List(admin_);
  EXPECT_THAT(Sequences(all), ElementsAre(2u, 1u));
  ASSERT_EQ(all.notifications(1).signals_size(), 2);
  std::map<std::string, std::string> owners;
  for (const auto& s : all.notifications(1).signals()) {
    owners[s.signal_id()] = s.owner_user_id();
    EXPECT_THAT(s.key_types(), ElementsAre(v1::MATCH_KEY_TYPE_BSN));
  }
  EXPECT_EQ(owners[piet_signal_], "piet");
  EXPECT_EQ(owners[els_same_person_], "els");
  EXPECT_EQ(all.notifications(0).signals(0).signal_id(), els_other_);
  EXPECT_EQ(all.notifications(0).signals(0).category(), "schulden");
  EXPECT_EQ(all.notifications(1).notification().match().requester().org_id(), "riec");

  // piet sees only the hit on his own signal, with only his signal.
  const v1::ListNotificationsResponse pieter = List(piet_);
  ASSERT_THAT(Sequences(pieter), ElementsAre(1u));
  ASSERT_EQ(pieter.notifications(0).signals_size(), 1);
  EXPECT_EQ(pieter.notifications(0).signals(0).signal_id(), piet_signal_);
  EXPECT_THAT(Sequences(List(els_)), ElementsAre(2u, 1u));

  // Naming another owner needs admin or auditor.
  v1::ListNotificationsRequest others;
  others.set_owner_user_id("els");
  EXPECT_TRUE(absl::IsPermissionDenied(inbox_->List(others, piet_).status()));
  EXPECT_THAT(Sequences(List(admin_, others)), ElementsAre(2u, 1u));

  // A deleted signal is no longer shown.
  ASSERT_TRUE(signals_->Delete(piet_signal_, 0).ok());
  EXPECT_THAT(Sequences(List(piet_)), IsEmpty());
  EXPECT_EQ(List(admin_).notifications(1).signals_size(), 1);
}

TEST_F(NotificationsTest, APushedGapIsNotStoredUntilTheMissingOnesArrive) {
  const std::string tag = TagOf(piet_signal_);
  auto through = Deliver({Match(3, {tag})});
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 0u);
  EXPECT_THAT(Sequences(List(admin_)), IsEmpty());
  through = Deliver({Match(2, {tag}), Match(1, {tag}), Match(3, {tag})});  // any order
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 3u);
  EXPECT_THAT(Sequences(List(admin_)), ElementsAre(3u, 2u, 1u));
}

TEST_F(NotificationsTest, BadDeliveriesAreRefusedWholeAndNameTheProblem) {
  v1::Notification no_sequence = Match(1, {TagOf(piet_signal_)});
  no_sequence.set_sequence(0);
  v1::Notification no_kind;
  no_kind.set_sequence(2);
  v1::Notification bad_tag = Match(3, {"abc"});
  const std::vector<std::pair<v1::Notification, std::string>> cases = {
      {no_sequence, "notifications[1].sequence: missing"},
      {no_kind, "notifications[1]: no kind"},
      {bad_tag, "notifications[1].match.tags[0]: 3 bytes; exactly 16"},
  };
  for (const auto& [bad, message] : cases) {
    auto through = Deliver({Match(1, {TagOf(piet_signal_)}), bad});
    EXPECT_TRUE(absl::IsInvalidArgument(through.status())) << through.status();
    EXPECT_THAT(through.status().message(), HasSubstr(message));
  }
  EXPECT_TRUE(absl::IsInvalidArgument(Deliver({}).status()));
  EXPECT_EQ(inbox_->stored_through(), 0u);
  EXPECT_EQ(Records(v1::LOCAL_EVENT_KIND_NOTIFICATION_RECEIVED), 0u);
}

TEST_F(NotificationsTest, FetchCatchesUpAfterAnOutageWithoutDuplicates) {
  FakeGateway gateway;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&gateway);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  GatewayClient client(
      rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()).value(),
      GatewayClient::Options{});
  const std::string tag = TagOf(els_other_);
  // 1 and 2 arrived by push before the node went offline; 3 to 7 queued
  // while it was down.
  ASSERT_EQ(*Deliver({Match(1, {tag}), Match(2, {tag})}), 2u);
  for (uint64_t s = 1; s <= 7; ++s) gateway.queue.push_back(Match(s, {tag}));
  gateway.down = true;
  NotificationPoller poller(&client, inbox_.get(), {.interval = std::chrono::milliseconds(20),
                                                     .max_count = 2,
                                                     .log_line = {}});
  EXPECT_TRUE(absl::IsUnavailable(poller.PollOnce().status()));
  {
    std::lock_guard lock(gateway.mu);
    gateway.down = false;
    gateway.fetches.clear();
  }
  // Back online: the background poller catches up (polled, no fixed wait).
  poller.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (inbox_->stored_through() < 7 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  poller.Stop();
  EXPECT_EQ(inbox_->stored_through(), 7u);
  {
    std::lock_guard lock(gateway.mu);
    ASSERT_GE(gateway.fetches.size(), 3u);
    EXPECT_EQ(gateway.fetches[0].after_sequence(), 2u);
    EXPECT_EQ(gateway.fetches[1].after_sequence(), 4u);
    EXPECT_EQ(gateway.fetches[2].after_sequence(), 6u);
  }
  // A late push of what was fetched changes nothing.
  ASSERT_EQ(*Deliver({Match(6, {tag}), Match(7, {tag})}), 7u);
  EXPECT_EQ(Records(v1::LOCAL_EVENT_KIND_NOTIFICATION_RECEIVED), 7u);
  EXPECT_THAT(Sequences(List(els_)), ElementsAre(7u, 6u, 5u, 4u, 3u, 2u, 1u));

  // A node whose store was lost catches up from what the gateway still
  // holds (the first fetched sequence may jump).
  store::MemoryStore fresh;
  auto fresh_log = LocalLog::Open(&fresh).value();
  auto fresh_inbox = NotificationInbox::Open(&fresh, fresh_log.get(), nullptr, nullptr).value();
  {
    std::lock_guard lock(gateway.mu);
    gateway.queue = {Match(8, {tag}), Match(9, {tag})};
  }
  NotificationPoller fresh_poller(&client, fresh_inbox.get(), {});
  auto polled = fresh_poller.PollOnce();
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(*polled, 9u);
  server->Shutdown();
}

TEST_F(NotificationsTest, ADisclosureNoticeMovesTheOutgoingDisclosureOn) {
  v1::MatchResponse exchange;
  exchange.set_exchange_id(RandomId());
  exchange.set_purpose_id(kPurpose);
  exchange.add_subjects()->set_label("regel 2");
  v1::AskDisclosureRequest ask;
  ask.set_exchange_id(exchange.exchange_id());
  ask.set_responder_org_id("politie");
  ask.add_subject_indices(0);
  ask.mutable_ask()->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
  ask.mutable_ask()->set_reason("overleg");
  v1::RequestDisclosureResponse answer;
  v1::DisclosureStatus* status = answer.mutable_status();
  status->set_disclosure_id(RandomId());
  status->set_exchange_id(exchange.exchange_id());
  status->set_responder_org_id("politie");
  status->set_state(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  ASSERT_TRUE(
      disclosures_->RecordAsked({"anna", v1::ROLE_ANALYST}, exchange, ask, answer).ok());

  v1::Notification n;
  n.set_sequence(1);
  v1::DisclosureStatus* expired = n.mutable_disclosure()->mutable_status();
  *expired = *status;
  expired->set_state(v1::DISCLOSURE_STATE_EXPIRED);
  expired->set_reason(v1::DENIAL_REASON_APPROVAL_EXPIRED);
  ASSERT_EQ(*Deliver({n}), 1u);

  auto stored = disclosures_->Find(status->disclosure_id()).value();
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->status().state(), v1::DISCLOSURE_STATE_EXPIRED);
  EXPECT_THAT(stored->subject_labels(), ElementsAre("regel 2"));  // kept as asked
  EXPECT_EQ(Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_RECEIVED), 1u);
  // anna asked, so she sees the notice; piet does not.
  EXPECT_THAT(Sequences(List({"anna", v1::ROLE_ANALYST})), ElementsAre(1u));
  EXPECT_THAT(Sequences(List(piet_)), IsEmpty());
}

TEST_F(NotificationsTest, ReadIsPerUser) {
  const std::string tag = TagOf(piet_signal_);
  ASSERT_EQ(*Deliver({Match(1, {tag}), Match(2, {tag})}), 2u);
  v1::MarkNotificationsReadRequest mark;
  mark.add_sequences(1);
  mark.add_sequences(99);  // unknown: ignored
  EXPECT_EQ(*inbox_->MarkRead(mark, "piet"), 1u);
  EXPECT_EQ(*inbox_->MarkRead(mark, "piet"), 0u);  // already read

  v1::ListNotificationsRequest unread;
  unread.set_unread_only(true);
  EXPECT_THAT(Sequences(List(piet_, unread)), ElementsAre(2u));
  const v1::ListNotificationsResponse piet_all = List(piet_);
  EXPECT_FALSE(piet_all.notifications(0).read());
  EXPECT_TRUE(piet_all.notifications(1).read());
  EXPECT_THAT(Sequences(List(els_, unread)), ElementsAre(2u, 1u));  // els has not read it

  auto none = inbox_->MarkRead({}, "piet");
  EXPECT_TRUE(absl::IsInvalidArgument(none.status()));
  EXPECT_THAT(none.status().message(), HasSubstr("sequences: no sequence"));
}

TEST_F(NotificationsTest, ListsInPages) {
  const std::string tag = TagOf(els_other_);
  std::vector<v1::Notification> five;
  for (uint64_t s = 1; s <= 5; ++s) five.push_back(Match(s, {tag}));
  ASSERT_EQ(*Deliver(five), 5u);
  v1::ListNotificationsRequest request;
  request.set_page_size(2);
  std::vector<uint64_t> seen;
  for (int page = 0; page < 5; ++page) {
    const v1::ListNotificationsResponse r = List(els_, request);
    for (uint64_t s : Sequences(r)) seen.push_back(s);
    if (r.next_page_token().empty()) break;
    request.set_page_token(r.next_page_token());
  }
  EXPECT_THAT(seen, ElementsAre(5u, 4u, 3u, 2u, 1u));
  request.set_page_token("not-a-token");
  EXPECT_TRUE(absl::IsInvalidArgument(inbox_->List(request, els_).status()));
}

TEST_F(NotificationsTest, NothingIsStoredWhenItCannotBeLogged) {
  store::FaultyStore refusing(&kv_);
  auto log = LocalLog::Open(&refusing).value();
  auto inbox = NotificationInbox::Open(&refusing, log.get(), signals_.get(), nullptr).value();
  refusing.FailAllWrites();
  v1::DeliverNotificationsRequest request;
  *request.add_notifications() = Match(1, {TagOf(piet_signal_)});
  EXPECT_TRUE(absl::IsUnavailable(inbox->Deliver(request).status()));
  EXPECT_EQ(inbox->stored_through(), 0u);
  EXPECT_THAT(Sequences(List(admin_)), IsEmpty());
}

TEST_F(NotificationsTest, TheInboxServiceAuthenticatesAndTheNodeRpcNeedsAnInbox) {
  crypto::SecretBytes<32> key;
  crypto::RandomBytes(key.mutable_bytes());
  auto users = UserStore::Create(&kv_, log_.get(), std::move(key)).value();
  const std::string piet =
      std::string(users->CreateUser({}, "piet", "Piet", {v1::ROLE_PROFESSIONAL})->credential_view());
  LocalAuthenticator authenticator(users.get(), log_.get());
  InboxService service(inbox_.get(), &authenticator);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = v1::Inbox::NewStub(
      rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()).value());
  ASSERT_EQ(*Deliver({Match(1, {TagOf(piet_signal_)})}), 1u);

  v1::ListNotificationsResponse listed;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", StrCat("Bearer ", piet));
    ASSERT_TRUE(stub->ListNotifications(&context, {}, &listed).ok());
  }
  EXPECT_THAT(Sequences(listed), ElementsAre(1u));
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer piet.wrong");
    EXPECT_EQ(stub->ListNotifications(&context, {}, &listed).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  v1::MarkNotificationsReadRequest mark;
  mark.add_sequences(1);
  v1::MarkNotificationsReadResponse marked;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", StrCat("Bearer ", piet));
    ASSERT_TRUE(stub->MarkNotificationsRead(&context, mark, &marked).ok());
  }
  EXPECT_EQ(marked.marked(), 1u);
  server->Shutdown();

  v1::DeliverNotificationsResponse response;
  EXPECT_EQ(DeliverNotificationsRpc(nullptr, {}, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace schakel::nodes
