// NodeAdmin (nodes/node_admin_service.h) served in-process over gRPC, with a
// real authenticator, signal store and index publisher: who may call it,
// what GetLocalPolicy shows (and never shows), and GetIndexStatus against
// the publisher's real state.
#include "nodes/node_admin_service.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/oprf.h"
#include "crypto/random.h"
#include "nodes/users.h"
#include "rpc/channel.h"
#include "store/memory_store.h"
#include "tests/unit/nodes/fake_index_gateway.h"

namespace schakel::nodes {
namespace {

using ::schakel::nodes::testing::Bsn;
using ::schakel::nodes::testing::FakeServer;
using ::schakel::nodes::testing::IndexState;
using ::schakel::nodes::testing::ServeLocally;
using ::schakel::nodes::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPolicy[] = R"({
  "version": "2025-07",
  "categories": [
    {"category": "huiselijk-geweld", "domain": "care"},
    {"category": "overlast", "domain": "housing", "retention": "30d"}
  ],
  "purposes": [
    {"purpose_id": "zvh", "matchable_categories": ["huiselijk-geweld", "overlast"],
     "refused_requester_org_ids": ["riec-west"], "daily_element_quota": 500},
    {"purpose_id": "riec", "matchable_categories": ["overlast"]}
  ],
  "disclosure_rules": [
    {"rule": "mandaat-zvh", "purpose_id": "zvh", "requester_org_ids": ["politie-oost"],
     "fields": ["category", "contact_name"], "categories": ["huiselijk-geweld"],
     "mandate": true}
  ],
  "max_persons_per_address": 4,
  "excluded_addresses": [
    {"postcode": "9711 XZ", "house_number": 17, "reason": "vrouwenopvang"},
    {"postcode": "9712ZY", "house_number": "23-B"}
  ]
})";

const absl::Time kLoadedAt = absl::FromUnixSeconds(1772366400) + absl::Microseconds(250'000);

class NodeAdminServiceTest : public ::testing::Test {
 protected:
  NodeAdminServiceTest() : gateway_server_(&gateway_state_) {
    policy_ = ParseLocalPolicy(kPolicy).value();
    log_ = LocalLog::Open(&kv_).value();
    crypto::SecretBytes<32> key;
    crypto::RandomBytes(key.mutable_bytes());
    users_ = UserStore::Create(&kv_, log_.get(), std::move(key)).value();
    admin_ = Credential("adam", {v1::ROLE_ADMIN});
    auditor_ = Credential("ada", {v1::ROLE_AUDITOR});
    analyst_ = Credential("anna", {v1::ROLE_ANALYST, v1::ROLE_PROFESSIONAL});
    authenticator_ = std::make_unique<LocalAuthenticator>(users_.get(), log_.get());

    const crypto::oprf::PoprfServer oprf(crypto::oprf::PrivateKey::Generate());
    std::map<std::string, crypto::PurposeKey> keys;
    for (const char* purpose : {"zvh", "riec"}) {
      keys.emplace(purpose, crypto::PurposeKey::Create(oprf, purpose).value());
    }
    signals_ =
        SignalStore::Create(&kv_, policy_, std::move(keys), NodeSecret::Random(), log_.get())
            .value();
    gateway_ = std::make_unique<GatewayClient>(
        rpc::CreateChannel(gateway_server_.endpoint(), grpc::InsecureChannelCredentials())
            .value(),
        GatewayClient::Options{});
    IndexPublisher::Options options;
    options.retry = std::chrono::milliseconds(10);
    options.max_retry = std::chrono::milliseconds(50);
    options.check_interval = std::chrono::milliseconds(20);
    publisher_ =
        std::make_unique<IndexPublisher>(gateway_.get(), signals_.get(), log_.get(), options);

    service_ = std::make_unique<NodeAdminService>(authenticator_.get(), policy_, kLoadedAt,
                                                  publisher_.get());
    stub_ = StubFor(service_.get(), server_);
  }
  ~NodeAdminServiceTest() override { publisher_->Stop(); }

  std::unique_ptr<v1::NodeAdmin::Stub> StubFor(NodeAdminService* service,
                                               std::unique_ptr<grpc::Server>& server) {
    int port = 0;
    server = ServeLocally({service}, &port);
    EXPECT_NE(server, nullptr);
    return v1::NodeAdmin::NewStub(
        rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials())
            .value());
  }

  std::string Credential(const std::string& user, std::vector<v1::Role> roles) {
    auto issued = users_->CreateUser({}, user, user, std::move(roles));
    EXPECT_TRUE(issued.ok()) << issued.status();
    return std::string(issued->credential_view());
  }
  // A call context with the credential (none when empty) and the role (none
  // when empty).
  static std::unique_ptr<grpc::ClientContext> As(const std::string& credential,
                                                 const std::string& role = "") {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!credential.empty()) context->AddMetadata("authorization", StrCat("Bearer ", credential));
    if (!role.empty()) context->AddMetadata("x-schakel-role", role);
    return context;
  }

  grpc::Status Policy(const std::string& credential, v1::GetLocalPolicyResponse* out,
                      const std::string& role = "") {
    auto context = As(credential, role);
    return stub_->GetLocalPolicy(context.get(), v1::GetLocalPolicyRequest(), out);
  }
  grpc::Status Status(const std::string& credential, v1::GetIndexStatusResponse* out,
                      const std::string& role = "") {
    auto context = As(credential, role);
    return stub_->GetIndexStatus(context.get(), v1::GetIndexStatusRequest(), out);
  }

  void AddSignal(const std::string& id, int bsn, const std::string& category) {
    v1::Signal s;
    s.set_signal_id(id);
    s.set_category(category);
    s.mutable_subject()->set_bsn(Bsn(bsn));
    ASSERT_TRUE(signals_->Add(s, absl::Now(), "adam").ok());
  }

  static std::map<std::string, std::pair<uint64_t, uint64_t>> Counts(
      const v1::GetIndexStatusResponse& r) {
    std::map<std::string, std::pair<uint64_t, uint64_t>> out;
    for (const auto& p : r.purposes()) out[p.purpose_id()] = {p.tag_count(), p.gateway_tag_count()};
    return out;
  }

  IndexState gateway_state_;
  FakeServer gateway_server_;
  store::MemoryStore kv_;
  std::shared_ptr<const LocalPolicy> policy_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<UserStore> users_;
  std::string admin_, auditor_, analyst_;
  std::unique_ptr<LocalAuthenticator> authenticator_;
  std::unique_ptr<SignalStore> signals_;
  std::unique_ptr<GatewayClient> gateway_;
  std::unique_ptr<IndexPublisher> publisher_;
  std::unique_ptr<NodeAdminService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::NodeAdmin::Stub> stub_;
};

TEST_F(NodeAdminServiceTest, AdminAndAuditorMayReadBoth) {
  for (const std::string* credential : {&admin_, &auditor_}) {
    v1::GetLocalPolicyResponse policy;
    const grpc::Status got_policy = Policy(*credential, &policy);
    EXPECT_TRUE(got_policy.ok()) << got_policy.error_message();
    EXPECT_EQ(policy.policy().local_policy_version(), policy_->version());
    v1::GetIndexStatusResponse status;
    const grpc::Status got_status = Status(*credential, &status);
    EXPECT_TRUE(got_status.ok()) << got_status.error_message();
    EXPECT_EQ(status.purposes_size(), 2);
  }
  // A user holding both roles may name either.
  const std::string both = Credential("bert", {v1::ROLE_AUDITOR, v1::ROLE_ADMIN});
  v1::GetLocalPolicyResponse policy;
  EXPECT_TRUE(Policy(both, &policy, "auditor").ok());
  EXPECT_TRUE(Policy(both, &policy, "admin").ok());
}

TEST_F(NodeAdminServiceTest, OtherRolesArePermissionDenied) {
  v1::GetLocalPolicyResponse policy;
  v1::GetIndexStatusResponse status;
  for (const char* role : {"", "analyst", "professional"}) {
    const grpc::Status p = Policy(analyst_, &policy, role);
    EXPECT_EQ(p.error_code(), grpc::StatusCode::PERMISSION_DENIED) << role;
    const grpc::Status s = Status(analyst_, &status, role);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << role;
  }
  // A role the user does not hold is refused too, even an accepted one.
  const grpc::Status named = Policy(analyst_, &policy, "admin");
  EXPECT_EQ(named.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(policy.has_policy());
  EXPECT_EQ(status.purposes_size(), 0);
}

TEST_F(NodeAdminServiceTest, NoOrABadCredentialIsUnauthenticated) {
  const std::string wrong_secret = StrCat("adam.", std::string(43, 'x'));
  for (const std::string& credential : {std::string(), wrong_secret, std::string("adam"),
                                       StrCat("nobody.", std::string(43, 'y'))}) {
    v1::GetLocalPolicyResponse policy;
    const grpc::Status p = Policy(credential, &policy);
    EXPECT_EQ(p.error_code(), grpc::StatusCode::UNAUTHENTICATED) << credential;
    EXPECT_THAT(p.error_message(), Not(HasSubstr(std::string(43, 'x'))));
    v1::GetIndexStatusResponse status;
    EXPECT_EQ(Status(credential, &status).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_FALSE(policy.has_policy());
  }
  // A disabled user's credential stops working.
  ASSERT_TRUE(users_->DisableUser({}, "ada", "left the organisation").ok());
  v1::GetLocalPolicyResponse policy;
  EXPECT_EQ(Policy(auditor_, &policy).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(NodeAdminServiceTest, LocalPolicyShowsWhatIsInForceButNoAddress) {
  v1::GetLocalPolicyResponse response;
  ASSERT_TRUE(Policy(auditor_, &response).ok());
  const v1::LocalPolicyInfo& p = response.policy();
  EXPECT_THAT(p.local_policy_version(), ::testing::StartsWith("2025-07+"));
  EXPECT_EQ(p.local_policy_version().size(), std::string("2025-07+").size() + 8);
  EXPECT_EQ(p.loaded_at().seconds(), 1772366400);
  EXPECT_EQ(p.loaded_at().nanos(), 250'000'000);

  ASSERT_EQ(p.categories_size(), 2);
  std::map<std::string, int64_t> retention_days;
  for (const auto& c : p.categories()) {
    retention_days[c.category()] = c.retention().seconds() / 86400;
  }
  EXPECT_EQ(retention_days, (std::map<std::string, int64_t>{{"huiselijk-geweld", 730},
                                                            {"overlast", 30}}));

  ASSERT_EQ(p.purposes_size(), 2);
  std::map<std::string, const v1::AnsweredPurpose*> purposes;
  for (const auto& a : p.purposes()) purposes[a.purpose_id()] = &a;
  ASSERT_TRUE(purposes.contains("zvh") && purposes.contains("riec"));
  EXPECT_THAT(purposes["zvh"]->matchable_categories(), ElementsAre("huiselijk-geweld", "overlast"));
  EXPECT_THAT(purposes["zvh"]->refused_requester_org_ids(), ElementsAre("riec-west"));
  EXPECT_EQ(purposes["zvh"]->daily_element_quota(), 500u);
  EXPECT_THAT(purposes["riec"]->matchable_categories(), ElementsAre("overlast"));
  EXPECT_EQ(purposes["riec"]->daily_element_quota(), 0u);

  ASSERT_EQ(p.disclosure_rules_size(), 1);
  const v1::LocalDisclosureRule& rule = p.disclosure_rules(0);
  EXPECT_EQ(rule.rule(), "mandaat-zvh");
  EXPECT_EQ(rule.purpose_id(), "zvh");
  EXPECT_THAT(rule.requester_org_ids(), ElementsAre("politie-oost"));
  EXPECT_THAT(rule.fields(), ElementsAre(v1::SIGNAL_FIELD_CATEGORY, v1::SIGNAL_FIELD_CONTACT_NAME));
  EXPECT_THAT(rule.categories(), ElementsAre("huiselijk-geweld"));
  EXPECT_TRUE(rule.mandate());

  // The count of institutional addresses, never which.
  EXPECT_EQ(p.excluded_address_count(), 2u);
  EXPECT_EQ(p.max_persons_per_address(), 4u);
  const std::string bytes = response.SerializeAsString();
  for (const char* part : {"9711", "XZ", "9712", "ZY", "23B", "23-B", "vrouwenopvang"}) {
    EXPECT_THAT(bytes, Not(HasSubstr(part))) << part;
  }
}

TEST_F(NodeAdminServiceTest, IndexStatusFollowsThePublisher) {
  AddSignal("s1", 1, "huiselijk-geweld");  // zvh: 1 tag
  AddSignal("s2", 2, "overlast");          // zvh and riec: 1 tag each
  AddSignal("s3", 2, "overlast");          // the same BSN: no new tag, nothing queued

  // Queued, nothing acknowledged yet: the publisher has not run.
  v1::GetIndexStatusResponse before;
  ASSERT_TRUE(Status(admin_, &before).ok());
  EXPECT_EQ(before.queued_through(), 2u);
  EXPECT_EQ(before.acknowledged_through(), 0u);
  EXPECT_EQ(before.pending_batches(), 2u);
  EXPECT_FALSE(before.connected());
  EXPECT_FALSE(before.has_last_ack_at());
  using Pair = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(Counts(before),
            (std::map<std::string, Pair>{{"riec", Pair{1, 0}}, {"zvh", Pair{2, 0}}}));

  // Published: everything acknowledged, the gateway's counts as it reported
  // them at the next session's GetIndexState.
  publisher_->Start();
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(gateway_state_.mu);
    return gateway_state_.applied == 2;
  }));
  v1::GetIndexStatusResponse after;
  ASSERT_TRUE(WaitFor([&] {
    after.Clear();
    return Status(auditor_, &after).ok() && after.acknowledged_through() == 2 &&
           after.has_last_ack_at();
  })) << after.DebugString();
  EXPECT_EQ(after.queued_through(), 2u);
  EXPECT_EQ(after.pending_batches(), 0u);
  EXPECT_TRUE(after.connected());
  EXPECT_GE(after.last_ack_at().seconds(), absl::ToUnixSeconds(absl::Now()) - 60);

  // One more batch while the gateway holds acks back: queued moves ahead
  // of acknowledged.
  {
    std::lock_guard lock(gateway_state_.mu);
    gateway_state_.drop_acks = true;
  }
  AddSignal("s4", 4, "huiselijk-geweld");
  publisher_->Notify();
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(gateway_state_.mu);
    return gateway_state_.applied == 3;
  }));
  v1::GetIndexStatusResponse held;
  ASSERT_TRUE(Status(admin_, &held).ok());
  EXPECT_EQ(held.queued_through(), 3u);
  EXPECT_EQ(held.acknowledged_through(), 2u);
  EXPECT_EQ(held.pending_batches(), 1u);
  EXPECT_EQ(Counts(held).at("zvh").first, 3u);
}

TEST_F(NodeAdminServiceTest, IndexStatusWithoutAGatewayIsAFailedPrecondition) {
  NodeAdminService without(authenticator_.get(), policy_, kLoadedAt, nullptr);
  std::unique_ptr<grpc::Server> server;
  auto stub = StubFor(&without, server);
  v1::GetIndexStatusResponse status;
  auto context = As(admin_);
  const grpc::Status s = stub->GetIndexStatus(context.get(), v1::GetIndexStatusRequest(), &status);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("no gateway configured (gateway.endpoint)"));
  // The role is checked first: a stranger learns nothing about the setup.
  auto stranger = As(analyst_);
  EXPECT_EQ(stub->GetIndexStatus(stranger.get(), v1::GetIndexStatusRequest(), &status).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // The policy is still there.
  v1::GetLocalPolicyResponse policy;
  auto again = As(auditor_);
  EXPECT_TRUE(stub->GetLocalPolicy(again.get(), v1::GetLocalPolicyRequest(), &policy).ok());
}

}  // namespace
}  // namespace schakel::nodes
