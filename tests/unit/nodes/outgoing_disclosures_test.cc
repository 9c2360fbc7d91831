// The requesting node's side of disclosure: Matching.AskDisclosure,
// ShowDisclosure and ListDisclosures against a fake gateway that relays
// what a fake answering node sealed and signed.
#include "nodes/outgoing_disclosures.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/hash.h"
#include "crypto/random.h"
#include "crypto/sealed_box.h"
#include "crypto/signing.h"
#include "nodes/matching_service.h"
#include "nodes/users.h"
#include "proto/canonical.h"
#include "rpc/channel.h"
#include "rpc/status.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kPurpose[] = "zorg.veiligthuis";
constexpr char kOwnOrg[] = "wijkteam";
constexpr char kResponder[] = "politie";
constexpr char kFreeText[] = "meldingen over geluidsoverlast sinds maart";

std::string AsString(crypto::ByteView b) { return std::string(b.begin(), b.end()); }

std::string RandomId() {
  std::string id(16, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(id.data()), 16));
  return id;
}

void SetMs(int64_t ms, google::protobuf::Timestamp* t) {
  t->set_seconds(ms / 1000);
  t->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
}

v1::PublicKey SigningKeyEntry(const crypto::VerifyKey& key) {
  v1::PublicKey k;
  k.set_key(AsString(key.bytes()));
  const auto id = canonical::KeyId(key);
  k.set_key_id(std::string(id.begin(), id.end()));
  return k;
}

// The answering node: seals to the requester and signs its statement.
struct Responder {
  crypto::SigningKey signing = crypto::SigningKey::Generate();

  static v1::DisclosedContent Content(const v1::DisclosureStatus& status) {
    v1::DisclosedContent content;
    content.set_exchange_id(status.exchange_id());
    content.set_disclosure_id(status.disclosure_id());
    content.set_responder_org_id(kResponder);
    v1::DisclosedSignal* s = content.add_signals();
    s->set_subject_index(status.subject_indices(0));
    s->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
    s->add_fields(v1::SIGNAL_FIELD_FREE_TEXT);
    s->mutable_contact()->set_name("J. de Boer");
    s->set_free_text(kFreeText);
    return content;
  }

  // `status` (with ids, subjects and ask) becomes DELIVERED with `content`
  // sealed to `to`.
  v1::DisclosureStatus Deliver(v1::DisclosureStatus status, const v1::DisclosedContent& content,
                               const crypto::BoxPublicKey& to) const {
    const std::string plaintext = content.SerializeAsString();
    const crypto::Bytes box = crypto::Seal(to, crypto::AsBytes(plaintext));
    status.set_state(v1::DISCLOSURE_STATE_DELIVERED);
    status.clear_sealed();
    v1::SealedDisclosure* sealed = status.mutable_sealed();
    sealed->set_sealed_box(AsString(box));
    v1::DisclosureStatement* st = sealed->mutable_statement();
    st->set_exchange_id(status.exchange_id());
    st->set_disclosure_id(status.disclosure_id());
    st->set_responder_org_id(kResponder);
    st->set_requester_org_id(kOwnOrg);
    st->set_purpose_id(status.purpose_id());
    st->set_order_digest(std::string(32, '\x07'));
    st->set_decision(v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE);
    st->add_fields_disclosed(v1::SIGNAL_FIELD_CONTACT_NAME);
    st->add_fields_disclosed(v1::SIGNAL_FIELD_FREE_TEXT);
    st->add_categories_disclosed("overlast");
    st->set_signal_count(static_cast<uint32_t>(content.signals_size()));
    const auto hash = crypto::Blake2b256Hash(box);
    st->set_payload_hash(std::string(hash.begin(), hash.end()));
    st->set_rule("mandaat-wijkteam");
    SetMs(1'760'000'000'000, st->mutable_decided_at());
    Sign(status);
    return status;
  }

  void Sign(v1::DisclosureStatus& status) const {
    *status.mutable_sealed()->mutable_node_signature() =
        canonical::Sign(signing, canonical::kDisclosureContext, status.sealed().statement())
            .value();
  }
};

// The gateway as disclosure needs it: directory, purposes, RequestDisclosure
// (answering what the test scripted) and GetDisclosure.
class FakeGateway final : public v1::Gateway::Service {
 public:
  explicit FakeGateway(const crypto::BoxPublicKey& own_box) : own_box_(own_box.ToBytes()) {}

  grpc::Status GetDirectory(grpc::ServerContext*, const v1::GetDirectoryRequest*,
                            v1::GetDirectoryResponse* response) override {
    std::lock_guard lock(mu);
    v1::Organisation* own = response->add_organisations();
    own->set_org_id(kOwnOrg);
    own->set_active(true);
    own->add_box_keys()->set_key(AsString(own_box_));
    v1::Organisation* politie = response->add_organisations();
    politie->set_org_id(kResponder);
    politie->set_active(true);
    *politie->add_signing_keys() = SigningKeyEntry(responder.signing.verify_key());
    response->set_directory_version(1);
    return grpc::Status::OK;
  }

  grpc::Status ListPurposes(grpc::ServerContext*, const v1::ListPurposesRequest*,
                            v1::ListPurposesResponse* response) override {
    v1::PurposeView* view = response->add_purposes();
    view->mutable_purpose()->set_purpose_id(kPurpose);
    view->add_roles_that_may_ask(v1::ROLE_ANALYST);
    return grpc::Status::OK;
  }

  grpc::Status RequestDisclosure(grpc::ServerContext*, const v1::RequestDisclosureRequest* request,
                                 v1::RequestDisclosureResponse* response) override {
    std::lock_guard lock(mu);
    requests.push_back(*request);
    if (!error.ok()) return error;
    v1::DisclosureStatus status;
    status.set_disclosure_id(RandomId());
    status.set_exchange_id(request->exchange_id());
    status.set_responder_org_id(request->responder_org_id());
    status.set_purpose_id(kPurpose);
    *status.mutable_subject_indices() = request->subject_indices();
    *status.mutable_ask() = request->ask();
    SetMs(1'760'000'000'000, status.mutable_requested_at());
    status.set_state(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
    if (answer) status = answer(status);
    current = status;
    *response->mutable_status() = status;
    response->add_receipts()->mutable_payload()->set_sequence(41);
    return grpc::Status::OK;
  }

  grpc::Status GetDisclosure(grpc::ServerContext*, const v1::GetDisclosureRequest* request,
                             v1::GetDisclosureResponse* response) override {
    std::lock_guard lock(mu);
    gets.push_back(*request);
    if (current.disclosure_id() != request->disclosure_id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such disclosure");
    }
    *response->mutable_status() = current;
    return grpc::Status::OK;
  }

  std::mutex mu;
  Responder responder;
  crypto::Bytes own_box_;
  // Scripted and observed.
  std::function<v1::DisclosureStatus(v1::DisclosureStatus)> answer;
  grpc::Status error = grpc::Status::OK;
  v1::DisclosureStatus current;
  std::vector<v1::RequestDisclosureRequest> requests;
  std::vector<v1::GetDisclosureRequest> gets;
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

class OutgoingDisclosuresTest : public ::testing::Test {
 protected:
  OutgoingDisclosuresTest() : gateway_(box_key_.public_key()) {
    int gateway_port = 0;
    gateway_server_ = Serve(&gateway_, &gateway_port);
    log_ = LocalLog::Open(&kv_).value();
    crypto::SecretBytes<32> key;
    crypto::RandomBytes(key.mutable_bytes());
    users_ = UserStore::Create(&kv_, log_.get(), std::move(key)).value();
    anna_ = Credential("anna", {v1::ROLE_ANALYST});
    bram_ = Credential("bram", {v1::ROLE_ANALYST});
    fenna_ = Credential("fenna", {v1::ROLE_AUDITOR});
    authenticator_ = std::make_unique<LocalAuthenticator>(users_.get(), log_.get());
    client_ = std::make_unique<GatewayClient>(
        rpc::CreateChannel(StrCat("127.0.0.1:", gateway_port), grpc::InsecureChannelCredentials())
            .value(),
        GatewayClient::Options{});
    Start(&box_key_);
    // A match this node ran: two subjects, the first a hit at politie.
    exchange_.set_exchange_id(RandomId());
    exchange_.set_purpose_id(kPurpose);
    for (uint32_t i = 0; i < 2; ++i) {
      v1::LocalSubject* s = exchange_.add_subjects();
      s->set_subject_index(i);
      s->set_label(StrCat("regel ", i + 2));
    }
    auto batch = disclosures_->ExchangeBatch(exchange_);
    EXPECT_TRUE(batch.ok());
    EXPECT_TRUE(kv_.Write(*batch, store::Durability::kSynced).ok());
  }

  void Start(const crypto::BoxSecretKey* box_key) {
    server_.reset();
    service_.reset();
    disclosures_ = std::make_unique<OutgoingDisclosures>(
        &kv_, log_.get(), client_.get(),
        OutgoingDisclosures::Options{.own_org_id = kOwnOrg, .box_key = box_key, .now = {}});
    MatchingService::Options options;
    options.retry_wait = std::chrono::milliseconds(1);
    options.disclosures = disclosures_.get();
    service_ = std::make_unique<MatchingService>(client_.get(), authenticator_.get(), log_.get(),
                                                 options);
    int port = 0;
    server_ = Serve(service_.get(), &port);
    stub_ = v1::Matching::NewStub(
        rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()).value());
  }

  std::string Credential(const std::string& user, std::vector<v1::Role> roles) {
    auto issued = users_->CreateUser({}, user, user, std::move(roles));
    EXPECT_TRUE(issued.ok()) << issued.status();
    return std::string(issued->credential_view());
  }

  v1::AskDisclosureRequest Ask() const {
    v1::AskDisclosureRequest request;
    request.set_exchange_id(exchange_.exchange_id());
    request.set_responder_org_id(kResponder);
    request.add_subject_indices(0);
    request.mutable_ask()->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
    request.mutable_ask()->add_fields(v1::SIGNAL_FIELD_FREE_TEXT);
    request.mutable_ask()->set_reason("casusoverleg wijkteam Noord");
    return request;
  }

  absl::Status AskAs(const std::string& credential, const v1::AskDisclosureRequest& request,
                     v1::AskDisclosureResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", StrCat("Bearer ", credential));
    return rpc::FromGrpcStatus(stub_->AskDisclosure(&context, request, response));
  }

  absl::Status ShowAs(const std::string& credential, const std::string& id,
                      v1::ShowDisclosureResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", StrCat("Bearer ", credential));
    v1::ShowDisclosureRequest request;
    request.set_disclosure_id(id);
    return rpc::FromGrpcStatus(stub_->ShowDisclosure(&context, request, response));
  }

  absl::Status ListAs(const std::string& credential, const v1::ListDisclosuresRequest& request,
                      v1::ListDisclosuresResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", StrCat("Bearer ", credential));
    return rpc::FromGrpcStatus(stub_->ListDisclosures(&context, request, response));
  }

  // Asks with the gateway answering through `answer`; returns the response.
  v1::AskDisclosureResponse AskDelivered(
      std::function<v1::DisclosureStatus(v1::DisclosureStatus)> answer) {
    gateway_.answer = std::move(answer);
    v1::AskDisclosureResponse response;
    absl::Status s = AskAs(anna_, Ask(), &response);
    EXPECT_TRUE(s.ok()) << s;
    return response;
  }

  std::vector<v1::LocalLogRecord> Records(v1::LocalEventKind kind) const {
    std::vector<v1::LocalLogRecord> out;
    const std::vector<v1::LocalLogEntry> entries = log_->Read(1, 0).value();
    for (const v1::LocalLogEntry& e : entries) {
      if (e.record().kind() == kind) out.push_back(e.record());
    }
    return out;
  }

  bool StoreContains(std::string_view needle) const {
    const auto rows = kv_.Scan("", "\xff", 0).value();
    for (const auto& [key, value] : rows) {
      if (value.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  crypto::BoxSecretKey box_key_ = crypto::BoxSecretKey::Generate();
  FakeGateway gateway_;
  std::unique_ptr<grpc::Server> gateway_server_;
  store::MemoryStore kv_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<UserStore> users_;
  std::string anna_, bram_, fenna_;
  std::unique_ptr<LocalAuthenticator> authenticator_;
  std::unique_ptr<GatewayClient> client_;
  std::unique_ptr<OutgoingDisclosures> disclosures_;
  std::unique_ptr<MatchingService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Matching::Stub> stub_;
  v1::MatchResponse exchange_;
};

TEST_F(OutgoingDisclosuresTest, ADeliveredPayloadIsOpenedCheckedAndShown) {
  const Responder& responder = gateway_.responder;
  const crypto::BoxPublicKey to = box_key_.public_key();
  v1::AskDisclosureResponse response = AskDelivered([&](v1::DisclosureStatus s) {
    return responder.Deliver(s, Responder::Content(s), to);
  });
  ASSERT_EQ(gateway_.requests.size(), 1u);
  const v1::RequestDisclosureRequest& sent = gateway_.requests[0];
  EXPECT_EQ(sent.actor().user_id(), "anna");
  EXPECT_EQ(sent.actor().role(), v1::ROLE_ANALYST);
  EXPECT_EQ(sent.request_id().size(), 16u);
  EXPECT_THAT(sent.subject_indices(), ElementsAre(0u));

  const v1::OutgoingDisclosure& d = response.disclosure();
  EXPECT_EQ(d.status().state(), v1::DISCLOSURE_STATE_DELIVERED);
  EXPECT_EQ(d.verification_problem(), "");
  EXPECT_EQ(d.requested_by_user_id(), "anna");
  EXPECT_THAT(d.subject_labels(), ElementsAre("regel 2"));
  ASSERT_EQ(d.content().signals_size(), 1);
  EXPECT_EQ(d.content().signals(0).contact().name(), "J. de Boer");
  EXPECT_EQ(d.content().signals(0).free_text(), kFreeText);
  EXPECT_EQ(response.receipts_size(), 1);

  // Logged without content; the plaintext is not stored, the box is.
  const auto asked = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_ASKED);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].user_id(), "anna");
  EXPECT_EQ(asked[0].role(), v1::ROLE_ANALYST);
  EXPECT_EQ(asked[0].counterpart_org_id(), kResponder);
  EXPECT_EQ(asked[0].disclosure_id(), d.status().disclosure_id());
  EXPECT_EQ(asked[0].receipts_size(), 1);
  const auto received = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_RECEIVED);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].outcome(), v1::OUTCOME_GRANTED);
  EXPECT_FALSE(StoreContains(kFreeText));
  EXPECT_FALSE(StoreContains("J. de Boer"));

  // Shown again: opened again from the stored box.
  v1::ShowDisclosureResponse shown;
  ASSERT_TRUE(ShowAs(anna_, d.status().disclosure_id(), &shown).ok());
  EXPECT_EQ(shown.disclosure().content().signals(0).free_text(), kFreeText);
  EXPECT_TRUE(gateway_.gets.empty());  // decided: nothing to ask
}

struct Tampering {
  const char* name;
  std::function<void(v1::DisclosureStatus&, const Responder&)> tamper;
  const char* problem;
};

TEST_F(OutgoingDisclosuresTest, ATamperedPayloadIsNotShown) {
  const crypto::BoxPublicKey to = box_key_.public_key();
  const crypto::BoxSecretKey other = crypto::BoxSecretKey::Generate();
  const crypto::SigningKey stranger = crypto::SigningKey::Generate();
  const std::vector<Tampering> cases = {
      {"a byte of the box changed",
       [](v1::DisclosureStatus& s, const Responder&) {
         std::string* box = s.mutable_sealed()->mutable_sealed_box();
         (*box)[box->size() / 2] ^= 0x01;
       },
       "payload hash mismatch"},
      {"box and hash replaced, signature kept",
       [&](v1::DisclosureStatus& s, const Responder&) {
         const crypto::Bytes box = crypto::Seal(to, crypto::AsBytes(std::string("x")));
         s.mutable_sealed()->set_sealed_box(AsString(box));
         const auto hash = crypto::Blake2b256Hash(box);
         s.mutable_sealed()->mutable_statement()->set_payload_hash(
             std::string(hash.begin(), hash.end()));
       },
       "node signature does not verify"},
      {"signed by another key",
       [&](v1::DisclosureStatus& s, const Responder&) {
         *s.mutable_sealed()->mutable_node_signature() =
             canonical::Sign(stranger, canonical::kDisclosureContext, s.sealed().statement())
                 .value();
       },
       "node signature does not verify"},
      {"sealed to another key",
       [&](v1::DisclosureStatus& s, const Responder& r) {
         const crypto::Bytes box = crypto::Seal(
             other.public_key(), crypto::AsBytes(Responder::Content(s).SerializeAsString()));
         s.mutable_sealed()->set_sealed_box(AsString(box));
         const auto hash = crypto::Blake2b256Hash(box);
         s.mutable_sealed()->mutable_statement()->set_payload_hash(
             std::string(hash.begin(), hash.end()));
         r.Sign(s);
       },
       "sealed box does not open"},
      {"a field not disclosed inside",
       [&](v1::DisclosureStatus& s, const Responder& r) {
         v1::DisclosedContent content = Responder::Content(s);
         content.mutable_signals(0)->mutable_contact()->set_phone("+31 6 12345678");
         s = r.Deliver(s, content, to);
       },
       "carries contact_phone, which is not disclosed"},
      {"another disclosure's content",
       [&](v1::DisclosureStatus& s, const Responder& r) {
         v1::DisclosedContent content = Responder::Content(s);
         content.set_disclosure_id(RandomId());
         s = r.Deliver(s, content, to);
       },
       "names another exchange, disclosure or organisation"},
      {"addressed to another requester",
       [&](v1::DisclosureStatus& s, const Responder& r) {
         s.mutable_sealed()->mutable_statement()->set_requester_org_id("gemeente");
         r.Sign(s);
       },
       "names another requesting organisation"},
  };
  for (const Tampering& c : cases) {
    SCOPED_TRACE(c.name);
    const Responder& responder = gateway_.responder;
    v1::AskDisclosureResponse response = AskDelivered([&](v1::DisclosureStatus s) {
      s = responder.Deliver(s, Responder::Content(s), to);
      c.tamper(s, responder);
      return s;
    });
    const v1::OutgoingDisclosure& d = response.disclosure();
    EXPECT_EQ(d.status().state(), v1::DISCLOSURE_STATE_DELIVERED);
    EXPECT_FALSE(d.has_content());
    EXPECT_THAT(d.verification_problem(), HasSubstr(c.problem));
    // The failure is logged, and the view stays refused.
    const auto received = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_RECEIVED);
    ASSERT_FALSE(received.empty());
    EXPECT_EQ(received.back().outcome(), v1::OUTCOME_FAILED);
    EXPECT_THAT(received.back().detail(), HasSubstr(c.problem));
    v1::ShowDisclosureResponse shown;
    ASSERT_TRUE(ShowAs(anna_, d.status().disclosure_id(), &shown).ok());
    EXPECT_FALSE(shown.disclosure().has_content());
    EXPECT_THAT(shown.disclosure().verification_problem(), HasSubstr(c.problem));
  }
  EXPECT_FALSE(StoreContains(kFreeText));
}

TEST_F(OutgoingDisclosuresTest, WithoutABoxKeyNothingIsAsked) {
  Start(nullptr);
  v1::AskDisclosureResponse response;
  absl::Status s = AskAs(anna_, Ask(), &response);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("box_key_file"));
  EXPECT_TRUE(gateway_.requests.empty());
}

TEST_F(OutgoingDisclosuresTest, ABoxKeyTheDirectoryDoesNotListIsRefused) {
  const crypto::BoxSecretKey stray = crypto::BoxSecretKey::Generate();
  Start(&stray);
  v1::AskDisclosureResponse response;
  absl::Status s = AskAs(anna_, Ask(), &response);
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("box_key_file"));
  EXPECT_TRUE(gateway_.requests.empty());
}

TEST_F(OutgoingDisclosuresTest, BadRequestsAreRefusedWithEveryFieldNamed) {
  v1::AskDisclosureResponse response;
  v1::AskDisclosureRequest bad = Ask();
  bad.clear_subject_indices();
  bad.add_subject_indices(0);
  bad.add_subject_indices(7);
  bad.add_subject_indices(0);
  bad.mutable_ask()->clear_fields();
  bad.mutable_ask()->clear_reason();
  bad.set_responder_org_id("Politie!");
  absl::Status s = AskAs(anna_, bad, &response);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("responder_org_id: not an organisation id"));
  EXPECT_THAT(s.message(), HasSubstr("subject_indices[1]: unknown subject index 7"));
  EXPECT_THAT(s.message(), HasSubstr("subject_indices[2]: subject index 0 named twice"));
  EXPECT_THAT(s.message(), HasSubstr("ask.fields: no field"));
  EXPECT_THAT(s.message(), HasSubstr("ask.reason: missing"));

  v1::AskDisclosureRequest unknown = Ask();
  unknown.set_exchange_id(RandomId());
  s = AskAs(anna_, unknown, &response);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("was not run by this node"));

  unknown.set_exchange_id("short");
  s = AskAs(anna_, unknown, &response);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("exchange_id: 5 bytes; exactly 16"));
  EXPECT_TRUE(gateway_.requests.empty());
  EXPECT_TRUE(Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_ASKED).empty());
}

TEST_F(OutgoingDisclosuresTest, AGatewayRefusalIsPassedThroughAndLogged) {
  v1::ErrorDetail detail;
  detail.set_reason(v1::DENIAL_REASON_FIELD_NOT_ALLOWED);
  detail.mutable_receipt()->mutable_payload()->set_sequence(99);
  gateway_.error = rpc::ToGrpcStatus(rpc::WithErrorDetail(
      absl::PermissionDeniedError("free_text may not be disclosed to wijkteam"), detail));
  v1::AskDisclosureResponse response;
  absl::Status s = AskAs(anna_, Ask(), &response);
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_EQ(rpc::ErrorDetailOf(s)->reason(), v1::DENIAL_REASON_FIELD_NOT_ALLOWED);
  const auto asked = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_ASKED);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].outcome(), v1::OUTCOME_REFUSED);
  EXPECT_THAT(asked[0].denial_reasons(), ElementsAre(v1::DENIAL_REASON_FIELD_NOT_ALLOWED));
  EXPECT_EQ(asked[0].receipts(0).payload().sequence(), 99u);
  v1::ListDisclosuresResponse listed;
  ASSERT_TRUE(ListAs(anna_, {}, &listed).ok());
  EXPECT_THAT(listed.disclosures(), IsEmpty());
}

TEST_F(OutgoingDisclosuresTest, APendingDisclosureIsCompletedByShowAndSeenOnlyByItsOwner) {
  v1::AskDisclosureResponse response = AskDelivered(nullptr);  // pending
  const std::string id = response.disclosure().status().disclosure_id();
  EXPECT_EQ(response.disclosure().status().state(), v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  EXPECT_FALSE(response.disclosure().has_content());

  // Still pending: Show asks the gateway, which has nothing new.
  v1::ShowDisclosureResponse shown;
  ASSERT_TRUE(ShowAs(anna_, id, &shown).ok());
  EXPECT_EQ(shown.disclosure().status().state(), v1::DISCLOSURE_STATE_PENDING_APPROVAL);
  ASSERT_EQ(gateway_.gets.size(), 1u);
  EXPECT_EQ(gateway_.gets[0].actor().user_id(), "anna");

  // An approver decided at politie.
  {
    std::lock_guard lock(gateway_.mu);
    gateway_.current = gateway_.responder.Deliver(
        gateway_.current, Responder::Content(gateway_.current), box_key_.public_key());
  }
  ASSERT_TRUE(ShowAs(anna_, id, &shown).ok());
  EXPECT_EQ(shown.disclosure().status().state(), v1::DISCLOSURE_STATE_DELIVERED);
  EXPECT_EQ(shown.disclosure().content().signals(0).free_text(), kFreeText);
  const auto received = Records(v1::LOCAL_EVENT_KIND_DISCLOSURE_RECEIVED);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].user_id(), "anna");

  // Another analyst may not see it; an auditor may, and that is logged.
  absl::Status s = ShowAs(bram_, id, &shown);
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  const size_t queries = Records(v1::LOCAL_EVENT_KIND_AUDIT_QUERY).size();
  ASSERT_TRUE(ShowAs(fenna_, id, &shown).ok());
  EXPECT_EQ(shown.disclosure().content().signals(0).free_text(), kFreeText);
  EXPECT_EQ(Records(v1::LOCAL_EVENT_KIND_AUDIT_QUERY).size(), queries + 1);

  s = ShowAs(anna_, RandomId(), &shown);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
}

TEST_F(OutgoingDisclosuresTest, ListsOwnDisclosuresNewestFirstInPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(AskDelivered(nullptr).disclosure().status().disclosure_id());
  }
  // bram asks one too.
  v1::AskDisclosureResponse bram;
  ASSERT_TRUE(AskAs(bram_, Ask(), &bram).ok());

  v1::ListDisclosuresRequest request;
  request.set_page_size(2);
  v1::ListDisclosuresResponse page;
  ASSERT_TRUE(ListAs(anna_, request, &page).ok());
  ASSERT_EQ(page.disclosures_size(), 2);
  ASSERT_FALSE(page.next_page_token().empty());
  std::vector<std::string> seen;
  for (const auto& d : page.disclosures()) seen.push_back(d.status().disclosure_id());
  request.set_page_token(page.next_page_token());
  ASSERT_TRUE(ListAs(anna_, request, &page).ok());
  ASSERT_EQ(page.disclosures_size(), 1);
  EXPECT_TRUE(page.next_page_token().empty());
  seen.push_back(page.disclosures(0).status().disclosure_id());
  // All asked in the same millisecond or later: each of anna's exactly once.
  std::vector<std::string> sorted_seen = seen, sorted_ids = ids;
  std::sort(sorted_seen.begin(), sorted_seen.end());
  std::sort(sorted_ids.begin(), sorted_ids.end());
  EXPECT_EQ(sorted_seen, sorted_ids);

  // The auditor sees all four; a state filter narrows.
  v1::ListDisclosuresResponse all;
  ASSERT_TRUE(ListAs(fenna_, {}, &all).ok());
  EXPECT_EQ(all.disclosures_size(), 4);
  v1::ListDisclosuresRequest delivered;
  delivered.add_states(v1::DISCLOSURE_STATE_DELIVERED);
  ASSERT_TRUE(ListAs(fenna_, delivered, &all).ok());
  EXPECT_THAT(all.disclosures(), IsEmpty());

  v1::ListDisclosuresRequest bad;
  bad.set_page_token("zz");
  absl::Status s = ListAs(anna_, bad, &page);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("page_token"));
}

TEST_F(OutgoingDisclosuresTest, NothingIsShownWhenTheOutcomeCannotBeRecorded) {
  store::FaultyStore refusing(&kv_);
  auto log = LocalLog::Open(&refusing).value();
  OutgoingDisclosures disclosures(
      &refusing, log.get(), client_.get(),
      OutgoingDisclosures::Options{.own_org_id = kOwnOrg, .box_key = &box_key_, .now = {}});
  refusing.FailAllWrites();
  v1::RequestDisclosureResponse answer;
  v1::DisclosureStatus status;
  status.set_disclosure_id(RandomId());
  status.set_exchange_id(exchange_.exchange_id());
  status.set_responder_org_id(kResponder);
  status.set_purpose_id(kPurpose);
  status.add_subject_indices(0);
  *answer.mutable_status() =
      gateway_.responder.Deliver(status, Responder::Content(status), box_key_.public_key());
  auto recorded = disclosures.RecordAsked({"anna", v1::ROLE_ANALYST}, exchange_, Ask(), answer);
  EXPECT_TRUE(absl::IsUnavailable(recorded.status())) << recorded.status();
  EXPECT_FALSE(disclosures.Find(status.disclosure_id()).value().has_value());
}

}  // namespace
}  // namespace schakel::nodes
