#include "nodes/disclosure_responder.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/hash.h"
#include "crypto/match_keys.h"
#include "crypto/random.h"
#include "crypto/sealed_box.h"
#include "nodes/approvals_service.h"
#include "nodes/users.h"
#include "proto/canonical.h"
#include "rpc/channel.h"
#include "rpc/status.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"
#include "tests/support/test_support.h"

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr int64_t kNow = 1763900000000;
constexpr char kOwnOrg[] = "zorgpunt";
constexpr char kBsn[] = "111222333";
constexpr char kFreeText[] = "zorgen over de thuissituatie";

constexpr char kPolicy[] = R"({
  "version": "t",
  "categories": [
    {"category": "huiselijk-geweld", "domain": "care"},
    {"category": "schulden", "domain": "social"}
  ],
  "purposes": [
    {"purpose_id": "zvh", "matchable_categories": ["huiselijk-geweld", "schulden"],
     "refused_requester_org_ids": ["boef"]},
    {"purpose_id": "riec", "matchable_categories": ["schulden"]}
  ],
  "disclosure_rules": [
    {"rule": "mandaat-zvh", "purpose_id": "zvh", "requester_org_ids": ["politie"],
     "fields": ["category", "contact_name", "contact_phone"],
     "categories": ["huiselijk-geweld"], "mandate": true},
    {"rule": "fg-toets", "purpose_id": "zvh",
     "fields": ["category", "contact_name", "free_text"]}
  ]
})";

std::string S(crypto::ByteView b) { return std::string(b.begin(), b.end()); }

void SetMs(int64_t ms, google::protobuf::Timestamp* t) {
  t->set_seconds(ms / 1000);
  t->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
}

std::string RandomId() {
  std::string id(16, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(id.data()), id.size()));
  return id;
}

v1::PublicKey Key(crypto::ByteView raw) {
  v1::PublicKey k;
  k.set_key(S(raw));
  const auto digest = crypto::Blake2b256Hash(raw);
  k.set_key_id(std::string(reinterpret_cast<const char*>(digest.data()), canonical::kKeyIdSize));
  return k;
}

// The gateway as far as the answering node needs it: the directory (box
// keys of the requesters) and CompleteDisclosure, which records what came.
class FakeGateway final : public v1::Gateway::Service {
 public:
  grpc::Status GetDirectory(grpc::ServerContext*, const v1::GetDirectoryRequest*,
                            v1::GetDirectoryResponse* response) override {
    std::lock_guard lock(mu);
    *response = directory;
    return grpc::Status::OK;
  }
  grpc::Status CompleteDisclosure(grpc::ServerContext*, const v1::CompleteDisclosureRequest* request,
                                  v1::CompleteDisclosureResponse* response) override {
    std::lock_guard lock(mu);
    if (down) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "down for a test");
    completed.push_back(*request);
    v1::Receipt* receipt = response->add_receipts();
    receipt->mutable_payload()->set_sequence(completed.size());
    receipt->mutable_payload()->set_recipient_org_id(kOwnOrg);
    return grpc::Status::OK;
  }

  std::mutex mu;
  v1::GetDirectoryResponse directory;
  std::vector<v1::CompleteDisclosureRequest> completed;
  bool down = false;
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

// One node with its stores over `kv`; rebuilt to simulate a restart.
struct Node {
  Node(store::KvStore* kv, std::shared_ptr<const LocalPolicy> policy,
       const crypto::oprf::PrivateKey& oprf, const NodeSecret& secret,
       const crypto::SigningKey& signing, const crypto::VerifyKey& gateway_key,
       GatewayClient* gateway, std::atomic<int64_t>* now) {
    log = LocalLog::Open(kv, [now] { return now->load(); }).value();
    const crypto::oprf::PoprfServer server(
        crypto::oprf::PrivateKey::FromBytes(oprf.scalar().bytes()).value());
    std::map<std::string, crypto::PurposeKey> keys;
    for (const char* p : {"zvh", "riec"}) keys.emplace(p, crypto::PurposeKey::Create(server, p).value());
    signals = SignalStore::Create(kv, policy, std::move(keys), secret.Clone(), log.get()).value();
    check = std::make_unique<AuthorisationCheck>(
        std::vector<crypto::VerifyKey>{gateway_key},
        AuthorisationCheck::Options{.own_org_id = kOwnOrg}, kv, [now] { return now->load(); });
    approvals = std::make_unique<ApprovalStore>(kv, log.get());
    responder = std::make_unique<DisclosureResponder>(
        approvals.get(), signals.get(), [policy] { return policy; }, check.get(), gateway,
        crypto::SigningKey::FromSeed(signing.seed()), log.get(), [now] { return now->load(); },
        DisclosureResponder::Options{.own_org_id = kOwnOrg,
                                     .retry = std::chrono::milliseconds(5)});
  }

  std::unique_ptr<LocalLog> log;
  std::unique_ptr<SignalStore> signals;
  std::unique_ptr<AuthorisationCheck> check;
  std::unique_ptr<ApprovalStore> approvals;
  std::unique_ptr<DisclosureResponder> responder;
};

class DisclosureResponderTest : public ::testing::Test {
 protected:
  DisclosureResponderTest() {
    policy_ = ParseLocalPolicy(kPolicy).value();
    gateway_server_ = Serve(&gateway_, &gateway_port_);
    for (const char* org : {"politie", "gemeente", "boef"}) {
      v1::Organisation* o = gateway_.directory.add_organisations();
      o->set_org_id(org);
      o->set_active(true);
      *o->add_box_keys() = Key(box_keys_.at(org).public_key().bytes());
    }
    GatewayClient::Options options;
    options.now = [this] { return absl::FromUnixMillis(now_.load()); };
    client_ = std::make_unique<GatewayClient>(
        rpc::CreateChannel(StrCat("127.0.0.1:", gateway_port_), grpc::InsecureChannelCredentials())
            .value(),
        options);
    Restart(&memory_);
  }

  void Restart(store::KvStore* kv) {
    node_.reset();
    node_ = std::make_unique<Node>(kv, policy_, oprf_, secret_, node_signing_,
                                   gateway_signing_.verify_key(), client_.get(), &now_);
  }

  v1::Signal AddSignal(const std::string& id, const std::string& category,
                       const std::string& bsn = kBsn) {
    v1::Signal s;
    s.set_signal_id(id);
    s.set_category(category);
    s.mutable_subject()->set_bsn(bsn);
    s.mutable_subject()->set_surname("Vries");
    s.mutable_subject()->set_given_names("Jan");
    s.mutable_subject()->set_birth_date("1990-02-01");
    s.mutable_contact()->set_name("J. de Boer");
    s.mutable_contact()->set_phone("+31 6 12345678");
    s.mutable_contact()->set_email("boer@zorgpunt.example");
    s.mutable_contact()->set_unit("Wijkteam Noord");
    s.set_free_text(kFreeText);
    return node_->signals->Add(s, absl::FromUnixMillis(kNow), "piet", v1::ROLE_PROFESSIONAL).value();
  }

  // This node's tag of a BSN under a purpose (what the gateway resolved).
  std::string Tag(const std::string& purpose, const std::string& bsn = kBsn) {
    const crypto::oprf::PoprfServer server(
        crypto::oprf::PrivateKey::FromBytes(oprf_.scalar().bytes()).value());
    auto key = crypto::PurposeKey::Create(server, purpose).value();
    const crypto::MatchKey match{crypto::MatchKeyType::kBsn, bsn};
    const crypto::Tag tag = key.TagFor(crypto::AsBytes(match.OprfInput())).value();
    return S(tag);
  }

  // The gateway's order, authorised for this node.
  v1::DiscloseRequest Order(const std::string& requester, const std::string& purpose,
                            std::vector<std::string> tags, std::vector<v1::SignalField> fields,
                            std::vector<std::string> categories = {}) {
    v1::DiscloseRequest r;
    v1::DisclosureOrder* order = r.mutable_order();
    order->set_disclosure_id(RandomId());
    order->mutable_requester()->set_org_id(requester);
    order->mutable_requester()->set_user_id("anna");
    order->mutable_requester()->set_role(v1::ROLE_ANALYST);
    order->mutable_lawful_basis()->set_reference("Wet art. 1");
    v1::DisclosureTarget* target = order->add_targets();
    target->set_subject_index(3);
    for (auto& t : tags) target->add_tags(t);
    for (auto f : fields) order->mutable_ask()->add_fields(f);
    for (auto& c : categories) order->mutable_ask()->add_categories(c);
    order->mutable_ask()->set_reason("casusoverleg");
    order->set_requester_box_key(S(box_keys_.at(requester).public_key().bytes()));
    SetMs(now_ + 3600'000, order->mutable_decide_by());
    Authorise(r, requester, purpose);
    return r;
  }

  void Authorise(v1::DiscloseRequest& r, const std::string& requester, const std::string& purpose,
                 const crypto::SigningKey* signer = nullptr) {
    const auto digest = canonical::Digest(canonical::kDisclosureOrderContext, r.order()).value();
    v1::AuthorisationPayload* p = r.mutable_authorisation()->mutable_payload();
    p->set_operation(v1::AUTHORISED_OPERATION_DISCLOSE);
    p->set_exchange_id(exchange_id_);
    p->set_requester_org_id(requester);
    p->set_responder_org_id(kOwnOrg);
    p->set_purpose_id(purpose);
    p->set_case_id("2025-0042");
    p->set_policy_version("p1");
    p->set_subject_count(static_cast<uint32_t>(r.order().targets_size()));
    p->set_request_digest(S(digest));
    SetMs(now_, p->mutable_issued_at());
    SetMs(now_ + 30'000, p->mutable_expires_at());
    p->set_nonce(RandomId());
    p->set_disclosure_id(r.order().disclosure_id());
    *r.mutable_authorisation()->mutable_signature() =
        canonical::Sign(signer ? *signer : gateway_signing_, canonical::kAuthorisationContext, *p)
            .value();
  }

  // The requester's side: verify the statement, the hash, open the box.
  v1::DisclosedContent Open(const std::string& requester, const v1::SealedDisclosure& sealed) {
    EXPECT_TRUE(canonical::Verify(node_signing_.verify_key(), canonical::kDisclosureContext,
                                  sealed.statement(), sealed.node_signature())
                    .ok());
    EXPECT_EQ(sealed.statement().payload_hash(),
              S(crypto::Blake2b256Hash(crypto::AsBytes(sealed.sealed_box()))));
    auto opened = crypto::Open(box_keys_.at(requester), crypto::AsBytes(sealed.sealed_box()));
    EXPECT_TRUE(opened.ok()) << opened.status();
    v1::DisclosedContent content;
    if (opened.ok()) {
      EXPECT_TRUE(content.ParseFromArray(opened->data(), static_cast<int>(opened->size())));
    }
    return content;
  }

  std::vector<v1::LocalLogRecord> Records(v1::LocalEventKind kind) {
    std::vector<v1::LocalLogRecord> out;
    const std::vector<v1::LocalLogEntry> entries = node_->log->Read(1, 0).value();
    for (const v1::LocalLogEntry& e : entries) {
      if (e.record().kind() == kind) out.push_back(e.record());
    }
    return out;
  }

  // Nothing identifying or signal content in the node's own log.
  void ExpectLogClean() {
    const std::vector<v1::LocalLogEntry> entries = node_->log->Read(1, 0).value();
    for (const v1::LocalLogEntry& e : entries) {
      const std::string bytes = e.SerializeAsString();
      EXPECT_EQ(bytes.find(kBsn), std::string::npos);
      EXPECT_EQ(bytes.find("Vries"), std::string::npos);
      EXPECT_EQ(bytes.find(kFreeText), std::string::npos);
      EXPECT_EQ(bytes.find("J. de Boer"), std::string::npos);
      EXPECT_EQ(bytes.find("12345678"), std::string::npos);
    }
  }

  static v1::DenialReason ReasonOf(const absl::Status& s) {
    auto detail = rpc::ErrorDetailOf(s);
    return detail ? detail->reason() : v1::DENIAL_REASON_UNSPECIFIED;
  }

  std::atomic<int64_t> now_{kNow};
  std::shared_ptr<const LocalPolicy> policy_;
  crypto::oprf::PrivateKey oprf_ = crypto::oprf::PrivateKey::Generate();
  NodeSecret secret_ = NodeSecret::Random();
  crypto::SigningKey node_signing_ = crypto::SigningKey::Generate();
  crypto::SigningKey gateway_signing_ = crypto::SigningKey::Generate();
  std::map<std::string, crypto::BoxSecretKey> box_keys_ = [] {
    std::map<std::string, crypto::BoxSecretKey> keys;
    for (const char* org : {"politie", "gemeente", "boef"}) {
      keys.emplace(org, crypto::BoxSecretKey::Generate());
    }
    return keys;
  }();
  std::string exchange_id_ = RandomId();
  FakeGateway gateway_;
  int gateway_port_ = 0;
  std::unique_ptr<grpc::Server> gateway_server_;
  std::unique_ptr<GatewayClient> client_;
  store::MemoryStore memory_;
  std::unique_ptr<Node> node_;
};

TEST_F(DisclosureResponderTest, MandateDisclosesOnlyAllowedFieldsSealedToTheRequester) {
  AddSignal("sig-hg", "huiselijk-geweld");
  AddSignal("sig-schuld", "schulden");  // a category the mandate does not cover
  // Asked: category, contact name, e-mail and free text; the rule allows
  // category, contact name and phone: category and name go out.
  v1::DiscloseRequest request =
      Order("politie", "zvh", {Tag("zvh")},
            {v1::SIGNAL_FIELD_FREE_TEXT, v1::SIGNAL_FIELD_CONTACT_NAME,
             v1::SIGNAL_FIELD_CONTACT_EMAIL, v1::SIGNAL_FIELD_CATEGORY});
  auto answer = node_->responder->Disclose(request);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->state(), v1::DISCLOSURE_STATE_DELIVERED);
  const v1::DisclosureStatement& st = answer->sealed().statement();
  EXPECT_EQ(st.decision(), v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE);
  EXPECT_EQ(st.rule(), "mandaat-zvh");
  EXPECT_EQ(st.responder_org_id(), kOwnOrg);
  EXPECT_EQ(st.requester_org_id(), "politie");
  EXPECT_EQ(st.exchange_id(), exchange_id_);
  EXPECT_EQ(st.order_digest(),
            S(canonical::Digest(canonical::kDisclosureOrderContext, request.order()).value()));
  EXPECT_THAT(st.fields_disclosed(),
              ElementsAre(v1::SIGNAL_FIELD_CATEGORY, v1::SIGNAL_FIELD_CONTACT_NAME));
  EXPECT_THAT(st.categories_disclosed(), ElementsAre("huiselijk-geweld"));
  EXPECT_EQ(st.signal_count(), 1u);
  EXPECT_TRUE(st.decided_by_user_id().empty());

  // The gateway cannot open it; the requester can, and finds exactly that.
  EXPECT_FALSE(crypto::Open(box_keys_.at("gemeente"), crypto::AsBytes(answer->sealed().sealed_box()))
                   .ok());
  const v1::DisclosedContent content = Open("politie", answer->sealed());
  EXPECT_EQ(content.exchange_id(), exchange_id_);
  EXPECT_EQ(content.disclosure_id(), request.order().disclosure_id());
  ASSERT_EQ(content.signals_size(), 1);
  const v1::DisclosedSignal& signal = content.signals(0);
  EXPECT_EQ(signal.subject_index(), 3u);
  EXPECT_THAT(signal.fields(), ElementsAre(v1::SIGNAL_FIELD_CATEGORY, v1::SIGNAL_FIELD_CONTACT_NAME));
  EXPECT_EQ(signal.category(), "huiselijk-geweld");
  EXPECT_EQ(signal.contact().name(), "J. de Boer");
  EXPECT_TRUE(signal.contact().phone().empty());
  EXPECT_TRUE(signal.contact().email().empty());
  EXPECT_TRUE(signal.contact().unit().empty());
  EXPECT_TRUE(signal.free_text().empty());
  EXPECT_EQ(signal.domain(), v1::DOMAIN_UNSPECIFIED);
  EXPECT_FALSE(signal.has_registered_at());
  const std::string plain = content.SerializeAsString();
  EXPECT_EQ(plain.find(kBsn), std::string::npos);
  EXPECT_EQ(plain.find("Vries"), std::string::npos);

  // Logged: the order and the decision, with the signal id, no content.
  const auto received = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_REQUEST_RECEIVED);
  const auto decided = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
  ASSERT_EQ(received.size(), 1u);
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(decided[0].counterpart_org_id(), "politie");
  EXPECT_EQ(decided[0].case_id(), "2025-0042");
  EXPECT_THAT(decided[0].signal_ids(), ElementsAre("sig-hg"));
  EXPECT_THAT(decided[0].detail(), HasSubstr("mandaat-zvh"));
  ExpectLogClean();

  // Idempotent: the same order again gets the same answer, not a new one.
  auto again = node_->responder->Disclose(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sealed().sealed_box(), answer->sealed().sealed_box());
  // Listed, approved by the mandate.
  auto listed = node_->responder->List({}).value();
  ASSERT_EQ(listed.approvals_size(), 1);
  EXPECT_EQ(listed.approvals(0).state(), v1::APPROVAL_STATE_APPROVED);
  EXPECT_TRUE(listed.approvals(0).delivered_to_gateway());
}

TEST_F(DisclosureResponderTest, PendingThenApprovedByAPersonIsSentToTheGateway) {
  AddSignal("sig-hg", "huiselijk-geweld");
  AddSignal("sig-schuld", "schulden");
  v1::DiscloseRequest request =
      Order("gemeente", "zvh", {Tag("zvh")},
            {v1::SIGNAL_FIELD_CATEGORY, v1::SIGNAL_FIELD_CONTACT_NAME, v1::SIGNAL_FIELD_FREE_TEXT,
             v1::SIGNAL_FIELD_CONTACT_PHONE});
  auto answer = node_->responder->Disclose(request);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->state(), v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  EXPECT_FALSE(answer->has_sealed());
  const std::string id = request.order().disclosure_id();

  auto shown = node_->responder->Get(id);
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(shown->state(), v1::APPROVAL_STATE_PENDING);
  EXPECT_EQ(shown->case_id(), "2025-0042");
  EXPECT_THAT(shown->fields_allowed(),
              ElementsAre(v1::SIGNAL_FIELD_CATEGORY, v1::SIGNAL_FIELD_CONTACT_NAME,
                          v1::SIGNAL_FIELD_FREE_TEXT));
  ASSERT_EQ(shown->signals_size(), 2);  // the approver sees its own signals in full
  EXPECT_EQ(shown->signals(0).subject().bsn(), kBsn);

  // Narrowing: a field outside the allowed ones, a signal not concerned.
  v1::ApproveRequest approve;
  approve.set_disclosure_id(id);
  approve.add_fields(v1::SIGNAL_FIELD_CONTACT_PHONE);
  auto bad = node_->responder->Approve(approve, {"ria", v1::ROLE_APPROVER});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("fields[0]"));
  approve.clear_fields();
  approve.add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
  approve.add_signal_ids("sig-elders");
  bad = node_->responder->Approve(approve, {"ria", v1::ROLE_APPROVER});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("signal_ids[0]"));
  approve.clear_signal_ids();
  approve.add_signal_ids("sig-schuld");
  approve.set_reason("akkoord na overleg");
  auto approved = node_->responder->Approve(approve, {"ria", v1::ROLE_APPROVER});
  ASSERT_TRUE(approved.ok()) << approved.status();
  EXPECT_EQ(approved->state(), v1::APPROVAL_STATE_APPROVED);
  EXPECT_EQ(approved->decided_by_user_id(), "ria");
  EXPECT_FALSE(approved->delivered_to_gateway());
  EXPECT_EQ(node_->approvals->OutboxCount().value(), 1u);

  // Deciding again is refused.
  EXPECT_EQ(node_->responder->Approve(approve, {"ria", v1::ROLE_APPROVER}).status().code(),
            absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(node_->responder->FlushOutbox().value(), 1u);
  ASSERT_EQ(gateway_.completed.size(), 1u);
  const v1::CompleteDisclosureRequest& sent = gateway_.completed[0];
  EXPECT_EQ(sent.disclosure_id(), id);
  const v1::DisclosureStatement& st = sent.sealed().statement();
  EXPECT_EQ(st.decision(), v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER);
  EXPECT_EQ(st.decided_by_user_id(), "ria");
  EXPECT_EQ(st.reason(), "akkoord na overleg");
  EXPECT_TRUE(st.rule().empty());
  EXPECT_THAT(st.fields_disclosed(), ElementsAre(v1::SIGNAL_FIELD_CONTACT_NAME));
  EXPECT_THAT(st.categories_disclosed(), ElementsAre("schulden"));
  const v1::DisclosedContent content = Open("gemeente", sent.sealed());
  ASSERT_EQ(content.signals_size(), 1);
  EXPECT_EQ(content.signals(0).contact().name(), "J. de Boer");
  EXPECT_TRUE(content.signals(0).category().empty());
  EXPECT_TRUE(content.signals(0).free_text().empty());

  // Delivered: out of the outbox, marked, logged with the approver and the receipt.
  EXPECT_EQ(node_->approvals->OutboxCount().value(), 0u);
  EXPECT_TRUE(node_->responder->Get(id)->delivered_to_gateway());
  EXPECT_EQ(node_->responder->FlushOutbox().value(), 0u);
  EXPECT_EQ(gateway_.completed.size(), 1u);
  const auto decided = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
  ASSERT_EQ(decided.size(), 2u);
  EXPECT_EQ(decided[0].user_id(), "ria");
  EXPECT_EQ(decided[0].role(), v1::ROLE_APPROVER);
  EXPECT_EQ(decided[0].outcome(), v1::OUTCOME_GRANTED);
  EXPECT_THAT(decided[0].signal_ids(), ElementsAre("sig-schuld"));
  EXPECT_EQ(decided[1].receipts_size(), 1);
  ExpectLogClean();
}

TEST_F(DisclosureResponderTest, DenyNeedsAReasonAndSendsASignedDenial) {
  AddSignal("sig-hg", "huiselijk-geweld");
  v1::DiscloseRequest request = Order("gemeente", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  ASSERT_EQ(node_->responder->Disclose(request)->state(), v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  v1::DenyRequest deny;
  deny.set_disclosure_id(request.order().disclosure_id());
  auto refused = node_->responder->Deny(deny, {"ria", v1::ROLE_APPROVER});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("reason"));
  deny.set_reason("zie dossier 123456782");  // a BSN would go to the gateway's log
  refused = node_->responder->Deny(deny, {"ria", v1::ROLE_APPROVER});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("without identifiers"));
  EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr("123456782")));
  deny.set_reason("geen grond voor verstrekking");
  auto denied = node_->responder->Deny(deny, {"ria", v1::ROLE_APPROVER});
  ASSERT_TRUE(denied.ok()) << denied.status();
  EXPECT_EQ(denied->state(), v1::APPROVAL_STATE_DENIED);
  EXPECT_EQ(denied->decision(), v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER);
  ASSERT_EQ(node_->responder->FlushOutbox().value(), 1u);
  const v1::SealedDisclosure& sealed = gateway_.completed.at(0).sealed();
  EXPECT_TRUE(sealed.sealed_box().empty());
  EXPECT_TRUE(sealed.statement().payload_hash().empty());
  EXPECT_THAT(sealed.statement().fields_disclosed(), IsEmpty());
  EXPECT_EQ(sealed.statement().reason(), "geen grond voor verstrekking");
  EXPECT_TRUE(canonical::Verify(node_signing_.verify_key(), canonical::kDisclosureContext,
                                sealed.statement(), sealed.node_signature())
                  .ok());
  const auto decided = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
  ASSERT_FALSE(decided.empty());
  EXPECT_EQ(decided[0].outcome(), v1::OUTCOME_DENIED);
  EXPECT_THAT(decided[0].denial_reasons(), ElementsAre(v1::DENIAL_REASON_APPROVER_DENIED));
  // The retry of the gateway's original call now gets the denial.
  auto retried = node_->responder->Disclose(request);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->state(), v1::DISCLOSURE_STATE_DENIED);
}

TEST_F(DisclosureResponderTest, PendingExpiresAtDecideByAndTheExpiryIsSent) {
  AddSignal("sig-hg", "huiselijk-geweld");
  v1::DiscloseRequest request = Order("gemeente", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  ASSERT_EQ(node_->responder->Disclose(request)->state(), v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  EXPECT_EQ(node_->responder->ExpireDue().value(), 0u);
  now_ += 3600'000;  // decide_by
  EXPECT_EQ(node_->responder->ExpireDue().value(), 1u);
  EXPECT_EQ(node_->responder->ExpireDue().value(), 0u);
  auto shown = node_->responder->Get(request.order().disclosure_id()).value();
  EXPECT_EQ(shown.state(), v1::APPROVAL_STATE_EXPIRED);
  v1::ApproveRequest approve;
  approve.set_disclosure_id(request.order().disclosure_id());
  EXPECT_EQ(node_->responder->Approve(approve, {"ria", v1::ROLE_APPROVER}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(node_->responder->FlushOutbox().value(), 1u);
  const v1::DisclosureStatement& st = gateway_.completed.at(0).sealed().statement();
  EXPECT_EQ(st.decision(), v1::DISCLOSURE_DECISION_EXPIRED);
  EXPECT_TRUE(gateway_.completed.at(0).sealed().sealed_box().empty());
  const auto decided = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
  ASSERT_FALSE(decided.empty());
  EXPECT_EQ(decided[0].outcome(), v1::OUTCOME_EXPIRED);
  EXPECT_TRUE(decided[0].user_id().empty());
}

TEST_F(DisclosureResponderTest, ApprovingAfterDecideByExpiresInstead) {
  AddSignal("sig-hg", "huiselijk-geweld");
  v1::DiscloseRequest request = Order("gemeente", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  ASSERT_TRUE(node_->responder->Disclose(request).ok());
  now_ += 3600'001;
  v1::ApproveRequest approve;
  approve.set_disclosure_id(request.order().disclosure_id());
  auto late = node_->responder->Approve(approve, {"ria", v1::ROLE_APPROVER});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(node_->responder->Get(request.order().disclosure_id())->state(),
            v1::APPROVAL_STATE_EXPIRED);
}

TEST_F(DisclosureResponderTest, ReplayedExpiredAndForgedAuthorisationsAreRefused) {
  AddSignal("sig-hg", "huiselijk-geweld");
  v1::DiscloseRequest first = Order("politie", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  ASSERT_TRUE(node_->responder->Disclose(first).ok());

  // The same nonce for another order.
  v1::DiscloseRequest replay = Order("politie", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  const std::string nonce = first.authorisation().payload().nonce();
  replay.mutable_authorisation()->mutable_payload()->set_nonce(nonce);
  *replay.mutable_authorisation()->mutable_signature() =
      canonical::Sign(gateway_signing_, canonical::kAuthorisationContext,
                      replay.authorisation().payload())
          .value();
  auto replayed = node_->responder->Disclose(replay);
  EXPECT_EQ(replayed.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReasonOf(replayed.status()), v1::DENIAL_REASON_AUTHORISATION_REPLAYED);

  // Expired.
  v1::DiscloseRequest late = Order("politie", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  now_ += 120'000;
  auto expired = node_->responder->Disclose(late);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReasonOf(expired.status()), v1::DENIAL_REASON_AUTHORISATION_EXPIRED);

  // Signed by someone else, or the order changed after signing.
  const crypto::SigningKey other = crypto::SigningKey::Generate();
  v1::DiscloseRequest forged = Order("politie", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  Authorise(forged, "politie", "zvh", &other);
  auto refused = node_->responder->Disclose(forged);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReasonOf(refused.status()), v1::DENIAL_REASON_AUTHORISATION_INVALID);
  v1::DiscloseRequest widened = Order("politie", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  widened.mutable_order()->mutable_ask()->add_fields(v1::SIGNAL_FIELD_FREE_TEXT);
  refused = node_->responder->Disclose(widened);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("request digest"));

  // A purpose the node does not answer.
  v1::DiscloseRequest unanswered = Order("politie", "jeugd", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  refused = node_->responder->Disclose(unanswered);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ReasonOf(refused.status()), v1::DENIAL_REASON_NODE_POLICY);

  // Only the first order was stored; the refusals are logged.
  EXPECT_EQ(node_->responder->List({})->approvals_size(), 1);
  size_t refusals = 0;
  for (const auto& r : Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_REQUEST_RECEIVED)) {
    if (r.outcome() == v1::OUTCOME_REFUSED) ++refusals;
  }
  EXPECT_EQ(refusals, 5u);
  ExpectLogClean();
}

TEST_F(DisclosureResponderTest, ABoxKeyOtherThanTheDirectoryShowsIsRefused) {
  AddSignal("sig-hg", "huiselijk-geweld");
  const crypto::BoxSecretKey gateway_own = crypto::BoxSecretKey::Generate();
  v1::DiscloseRequest request = Order("politie", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  request.mutable_order()->set_requester_box_key(S(gateway_own.public_key().bytes()));
  Authorise(request, "politie", "zvh");  // the gateway signs its swap
  auto refused = node_->responder->Disclose(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("requester_box_key"));
  EXPECT_EQ(node_->responder->List({})->approvals_size(), 0);
  EXPECT_THAT(Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED), IsEmpty());
}

TEST_F(DisclosureResponderTest, MalformedOrdersNameTheField) {
  v1::DiscloseRequest request = Order("politie", "zvh", {"short"}, {});
  request.mutable_order()->set_requester_box_key("0123");
  auto refused = node_->responder->Disclose(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(refused.status().message());
  EXPECT_THAT(message, HasSubstr("order.targets[0].tags[0]: 5 bytes"));
  EXPECT_THAT(message, HasSubstr("order.ask.fields: no field"));
  EXPECT_THAT(message, HasSubstr("order.requester_box_key: 4 bytes"));
  EXPECT_EQ(ReasonOf(refused.status()), v1::DENIAL_REASON_MALFORMED_REQUEST);
}

TEST_F(DisclosureResponderTest, AnUnknownTagDisclosesNothing) {
  AddSignal("sig-hg", "huiselijk-geweld");
  auto answer = node_->responder->Disclose(
      Order("politie", "zvh", {Tag("zvh", "100000009")}, {v1::SIGNAL_FIELD_CATEGORY}));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->state(), v1::DISCLOSURE_STATE_DELIVERED);
  EXPECT_EQ(answer->sealed().statement().signal_count(), 0u);
  EXPECT_EQ(Open("politie", answer->sealed()).signals_size(), 0);
  // A tag of another purpose does not resolve either (purpose-bound tags).
  answer = node_->responder->Disclose(
      Order("politie", "zvh", {Tag("riec")}, {v1::SIGNAL_FIELD_CATEGORY}));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->sealed().statement().signal_count(), 0u);
}

TEST_F(DisclosureResponderTest, WithoutARuleOrForARefusedRequesterItIsDeniedByPolicy) {
  AddSignal("sig-schuld", "schulden");
  for (const auto& [requester, purpose] :
       std::vector<std::pair<std::string, std::string>>{{"politie", "riec"}, {"boef", "zvh"}}) {
    auto answer =
        node_->responder->Disclose(Order(requester, purpose, {Tag(purpose)}, {v1::SIGNAL_FIELD_CATEGORY}));
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->state(), v1::DISCLOSURE_STATE_DENIED);
    const v1::SealedDisclosure& sealed = answer->sealed();
    EXPECT_EQ(sealed.statement().decision(), v1::DISCLOSURE_DECISION_DENIED_BY_POLICY);
    EXPECT_TRUE(sealed.sealed_box().empty());
    EXPECT_EQ(sealed.statement().signal_count(), 0u);
    EXPECT_TRUE(canonical::Verify(node_signing_.verify_key(), canonical::kDisclosureContext,
                                  sealed.statement(), sealed.node_signature())
                    .ok());
  }
  // A rule that allows none of the asked fields denies too.
  auto answer = node_->responder->Disclose(
      Order("politie", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_FREE_TEXT}));
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->sealed().statement().decision(), v1::DISCLOSURE_DECISION_DENIED_BY_POLICY);
  EXPECT_EQ(answer->sealed().statement().rule(), "mandaat-zvh");
  const auto decided = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
  ASSERT_EQ(decided.size(), 3u);
  for (const auto& r : decided) {
    EXPECT_THAT(r.denial_reasons(), ElementsAre(v1::DENIAL_REASON_NODE_POLICY));
  }
}

TEST_F(DisclosureResponderTest, RestartKeepsPendingApprovalsAndTheOutbox) {
  testing::TempDir dir("approvals");
  auto kv = store::RocksDbStore::Open(dir.path()).value();
  Restart(kv.get());
  AddSignal("sig-hg", "huiselijk-geweld");
  v1::DiscloseRequest one = Order("gemeente", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  v1::DiscloseRequest two = Order("gemeente", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  ASSERT_TRUE(node_->responder->Disclose(one).ok());
  ASSERT_TRUE(node_->responder->Disclose(two).ok());
  {
    std::lock_guard lock(gateway_.mu);
    gateway_.down = true;
  }
  v1::ApproveRequest approve;
  approve.set_disclosure_id(one.order().disclosure_id());
  ASSERT_TRUE(node_->responder->Approve(approve, {"ria", v1::ROLE_APPROVER}).ok());
  EXPECT_EQ(node_->responder->FlushOutbox().value(), 0u);  // the gateway is down

  node_.reset();
  kv.reset();
  kv = store::RocksDbStore::Open(dir.path()).value();
  Restart(kv.get());
  v1::ListApprovalsRequest pending;
  pending.add_states(v1::APPROVAL_STATE_PENDING);
  auto listed = node_->responder->List(pending).value();
  ASSERT_EQ(listed.approvals_size(), 1);
  EXPECT_EQ(listed.approvals(0).disclosure_id(), two.order().disclosure_id());
  EXPECT_EQ(node_->approvals->OutboxCount().value(), 1u);

  // The background thread delivers once the gateway is back.
  {
    std::lock_guard lock(gateway_.mu);
    gateway_.down = false;
  }
  node_->responder->Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (node_->approvals->OutboxCount().value() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  node_->responder->Stop();
  EXPECT_EQ(node_->approvals->OutboxCount().value(), 0u);
  std::lock_guard lock(gateway_.mu);
  ASSERT_EQ(gateway_.completed.size(), 1u);
  EXPECT_EQ(gateway_.completed[0].disclosure_id(), one.order().disclosure_id());
  node_.reset();
}

TEST_F(DisclosureResponderTest, ListPagesPendingOldestFirstThenDecidedNewestFirst) {
  AddSignal("sig-hg", "huiselijk-geweld");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    v1::DiscloseRequest r = Order(i < 3 ? "gemeente" : "politie", "zvh", {Tag("zvh")},
                                  {v1::SIGNAL_FIELD_CATEGORY});
    ASSERT_TRUE(node_->responder->Disclose(r).ok());
    ids.push_back(r.order().disclosure_id());
    now_ += 1000;
  }
  // ids 0..2 pending (oldest first), 3..4 approved by mandate (newest first).
  v1::ListApprovalsRequest request;
  request.set_page_size(2);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    auto listed = node_->responder->List(request);
    ASSERT_TRUE(listed.ok()) << listed.status();
    for (const auto& a : listed->approvals()) seen.push_back(a.disclosure_id());
    if (listed->next_page_token().empty()) break;
    request.set_page_token(listed->next_page_token());
  }
  EXPECT_THAT(seen, ElementsAre(ids[0], ids[1], ids[2], ids[4], ids[3]));
  request.set_page_token("zz");
  EXPECT_EQ(node_->responder->List(request).status().code(), absl::StatusCode::kInvalidArgument);
}

// The Approvals service over gRPC: roles and the caller in the log.
TEST_F(DisclosureResponderTest, ApprovalsServiceChecksRolesAndLogsTheApprover) {
  auto users = UserStore::Create(&memory_, node_->log.get(), [] {
                 crypto::SecretBytes<32> key;
                 crypto::RandomBytes(key.mutable_bytes());
                 return key;
               }()).value();
  const std::string approver =
      std::string(users->CreateUser({}, "ria", "Ria", {v1::ROLE_APPROVER}).value().credential_view());
  const std::string professional = std::string(
      users->CreateUser({}, "piet", "Piet", {v1::ROLE_PROFESSIONAL}).value().credential_view());
  LocalAuthenticator authenticator(users.get(), node_->log.get());
  ApprovalsService service(node_->responder.get(), &authenticator);
  int port = 0;
  auto server = Serve(&service, &port);
  auto stub = v1::Approvals::NewStub(
      rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()).value());

  AddSignal("sig-hg", "huiselijk-geweld");
  v1::DiscloseRequest request = Order("gemeente", "zvh", {Tag("zvh")}, {v1::SIGNAL_FIELD_CATEGORY});
  ASSERT_TRUE(node_->responder->Disclose(request).ok());

  auto call = [&](const std::string& credential, auto method, const auto& in, auto* out) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", StrCat("Bearer ", credential));
    return rpc::FromGrpcStatus(((*stub).*method)(&context, in, out));
  };
  v1::ListApprovalsResponse listed;
  EXPECT_EQ(call(professional, &v1::Approvals::Stub::ListApprovals, v1::ListApprovalsRequest(),
                 &listed)
                .code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(call(approver, &v1::Approvals::Stub::ListApprovals, v1::ListApprovalsRequest(),
                   &listed)
                  .ok());
  ASSERT_EQ(listed.approvals_size(), 1);
  EXPECT_THAT(listed.approvals(0).signals(), IsEmpty());
  v1::GetApprovalRequest get;
  get.set_disclosure_id(RandomId());
  v1::GetApprovalResponse got;
  EXPECT_EQ(call(approver, &v1::Approvals::Stub::GetApproval, get, &got).code(),
            absl::StatusCode::kNotFound);
  v1::DenyRequest deny;
  deny.set_disclosure_id(request.order().disclosure_id());
  deny.set_reason("niet nodig");
  v1::DenyResponse denied;
  EXPECT_EQ(call(professional, &v1::Approvals::Stub::Deny, deny, &denied).code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(call(approver, &v1::Approvals::Stub::Deny, deny, &denied).ok());
  EXPECT_EQ(denied.approval().decided_by_user_id(), "ria");
  const auto decided = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_DECIDED);
  ASSERT_EQ(decided.size(), 1u);
  EXPECT_EQ(decided[0].user_id(), "ria");
  EXPECT_EQ(decided[0].role(), v1::ROLE_APPROVER);
  server->Shutdown();
}

}  // namespace
}  // namespace schakel::nodes
