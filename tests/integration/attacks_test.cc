// Attacks and bad input against the real programs (issue 6): a
// schakel-gateway and five schakel-node processes over mutual TLS on
// loopback (federation.h), called directly over gRPC as an attacker would:
//   - the mutual-TLS matrix: every kind of credential against an rpc of each
//     kind of caller (organisation, auditor, operator admin, gateway), and
//     metadata that claims another identity;
//   - group elements that are not valid (bad encoding, the identity, the
//     high bit set) at the gateway and at a node;
//   - enumeration: a requester over its quota refused at the gateway and,
//     when the gateway's quota is higher, again by the node itself.
// docs/security.md names these tests next to the claims they check.
//
// ctest names: attacks.<Suite>.<Test>; label "attack".
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "crypto/random.h"
#include "crypto/ristretto.h"
#include "rpc/status.h"
#include "schakel/v1/admin.grpc.pb.h"
#include "schakel/v1/audit.grpc.pb.h"
#include "schakel/v1/gateway.grpc.pb.h"
#include "schakel/v1/node.grpc.pb.h"
#include "tests/integration/federation.h"
#include "tests/integration/gateway_authorisation.h"

namespace schakel::integration {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

// A valid blinded element (a random point: the gateway and nodes cannot
// tell it from a blinded identifier).
std::string RandomElement() {
  const crypto::Element e = crypto::ScalarMultBase(crypto::Scalar::Random()).value();
  return std::string(e.bytes().begin(), e.bytes().end());
}

// The bad classes of element: each is refused, wherever it arrives.
struct BadElement {
  const char* name;
  std::string bytes;
};
std::vector<BadElement> BadElements() {
  std::string high_bit = RandomElement();
  high_bit[31] = static_cast<char>(static_cast<uint8_t>(high_bit[31]) | 0x80);
  std::string negative(32, '\0');
  negative[0] = 1;  // RFC 9496 A.2: a negative field element
  return {{"bad encoding", negative}, {"identity", std::string(32, '\0')}, {"high bit", high_bit}};
}

class AttacksTest : public ::testing::Test {
 protected:
  void Boot(const FederationOptions& options) {
    fed_.reset();
    std::string error;
    fed_ = Federation::StartForTest("schakel-attacks", options, &root_, &error);
    ASSERT_NE(fed_, nullptr) << error;
  }

  void TearDown() override {
    fed_.reset();
    if (!HasFailure()) fs::remove_all(root_);
  }

  static std::unique_ptr<grpc::ClientContext> Context(
      const std::multimap<std::string, std::string>& metadata = {}) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + 10s);
    for (const auto& [k, v] : metadata) context->AddMetadata(k, v);
    return context;
  }

  // gemeente's analyst asks under zorg-signalering about one subject whose
  // keys carry `elements`.
  static v1::OpenExchangeRequest Exchange(const std::vector<std::string>& elements,
                                          v1::Role role = v1::ROLE_ANALYST) {
    v1::OpenExchangeRequest request;
    request.mutable_actor()->set_user_id("g.analist");
    request.mutable_actor()->set_role(role);
    std::string id(16, '\0');
    crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(id.data()), id.size()));
    request.set_request_id(id);
    request.set_purpose_id(kZorgPurpose);
    v1::BlindedSubject* subject = request.add_subjects();
    const v1::MatchKeyType types[] = {v1::MATCH_KEY_TYPE_BSN, v1::MATCH_KEY_TYPE_NAME_DOB,
                                      v1::MATCH_KEY_TYPE_ADDRESS};
    for (size_t i = 0; i < elements.size(); ++i) {
      v1::BlindedKey* key = subject->add_keys();
      key->set_key_type(types[i % 3]);
      key->set_blinded_element(elements[i]);
    }
    return request;
  }

  // The gateway's authorisation for politie to evaluate `elements` for the
  // RIEC, signed with the gateway's own key.
 public:
  v1::EvaluateRequest Evaluation(const std::vector<std::string>& elements) const {
    const crypto::SigningKey key =
        crypto::LoadSigningKey(fed_->gateway_signing_key_file()).value();
    return SignedEvaluateRequest(key, elements);
  }

 protected:
  fs::path root_;
  std::unique_ptr<Federation> fed_;
};

// ---- the mutual-TLS matrix

// Who calls.
enum class Credential {
  kAuthorised,    // the organisation this rpc is for, with its own certificate
  kNoCertificate, // TLS without a client certificate
  kSelfSigned,    // the authorised organisation's name, signed by its own key
  kOtherCa,       // the authorised organisation's name, signed by another CA
  kExpired,       // the authorised organisation's name, by our CA, expired
  kNotInDirectory,// a valid certificate of our CA for an unknown organisation
  kWrongRole,     // a valid organisation of the directory that may not use it
};
constexpr Credential kCredentials[] = {
    Credential::kAuthorised, Credential::kNoCertificate, Credential::kSelfSigned,
    Credential::kOtherCa,    Credential::kExpired,       Credential::kNotInDirectory,
    Credential::kWrongRole};

const char* Name(Credential c) {
  switch (c) {
    case Credential::kAuthorised: return "authorised";
    case Credential::kNoCertificate: return "no client certificate";
    case Credential::kSelfSigned: return "self-signed";
    case Credential::kOtherCa: return "other CA";
    case Credential::kExpired: return "expired";
    case Credential::kNotInDirectory: return "not in the directory";
    case Credential::kWrongRole: return "organisation or role not allowed";
  }
  return "?";
}

// One rpc of each kind of caller: `authorised` is the organisation whose
// certificate it needs, `wrong` a valid organisation that may not call it
// (`wrong_role` the role its user claims), `call` makes the call on a
// channel with the given actor role and metadata.
struct Endpoint {
  const char* name;
  std::string authorised;
  std::string wrong;
  bool to_node;  // Node.Evaluate at politie; otherwise the gateway
  std::function<grpc::Status(AttacksTest&, const std::shared_ptr<grpc::Channel>&, bool wrong_role,
                             const std::multimap<std::string, std::string>&)>
      call;
  // The code for a valid organisation of the directory that may not call it,
  // and for one that is not in the directory.
  grpc::StatusCode wrong_code;
  grpc::StatusCode unknown_code;
};

class MtlsMatrixTest : public AttacksTest {
 protected:
  std::vector<Endpoint> Endpoints() {
    std::vector<Endpoint> out;
    out.push_back(
        {"Gateway.OpenExchange", "gemeente", "zorg", false,
         [](AttacksTest&, const std::shared_ptr<grpc::Channel>& channel, bool,
            const std::multimap<std::string, std::string>& metadata) {
           // zorg may not ask under zorg-signalering (may_ask: gemeente).
           v1::OpenExchangeResponse response;
           return v1::Gateway::NewStub(channel)->OpenExchange(
               Context(metadata).get(), Exchange({RandomElement()}), &response);
         },
         grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::UNAUTHENTICATED});
    out.push_back(
        {"Audit.ListEntries", "beheer", "gemeente", false,
         [](AttacksTest&, const std::shared_ptr<grpc::Channel>& channel, bool wrong_role,
            const std::multimap<std::string, std::string>& metadata) {
           // A party's analyst may not read the log; an auditor may.
           v1::ListEntriesRequest request;
           request.mutable_actor()->set_user_id(wrong_role ? "g.analist" : "b.auditor");
           request.mutable_actor()->set_role(wrong_role ? v1::ROLE_ANALYST : v1::ROLE_AUDITOR);
           request.set_limit(5);
           auto context = Context(metadata);
           auto reader = v1::Audit::NewStub(channel)->ListEntries(context.get(), request);
           v1::ListEntriesResponse response;
           while (reader->Read(&response)) {
           }
           return reader->Finish();
         },
         grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::UNAUTHENTICATED});
    out.push_back(
        {"GatewayAdmin.ReloadPolicy", "beheer", "gemeente", false,
         [](AttacksTest&, const std::shared_ptr<grpc::Channel>& channel, bool,
            const std::multimap<std::string, std::string>& metadata) {
           // An admin of an organisation that is not an operator.
           v1::ReloadPolicyRequest request;
           request.mutable_actor()->set_user_id("admin");
           request.mutable_actor()->set_role(v1::ROLE_ADMIN);
           v1::ReloadPolicyResponse response;
           return v1::GatewayAdmin::NewStub(channel)->ReloadPolicy(Context(metadata).get(),
                                                                   request, &response);
         },
         grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::UNAUTHENTICATED});
    out.push_back(
        {"Node.Evaluate", "gateway", "riec", true,
         [](AttacksTest& test, const std::shared_ptr<grpc::Channel>& channel, bool,
            const std::multimap<std::string, std::string>& metadata) {
           // Even with a valid authorisation of the gateway: only the
           // gateway's certificate may call (node.proto: UNAUTHENTICATED).
           v1::EvaluateResponse response;
           return v1::Node::NewStub(channel)->Evaluate(
               Context(metadata).get(), test.Evaluation({RandomElement()}), &response);
         },
         grpc::StatusCode::UNAUTHENTICATED, grpc::StatusCode::UNAUTHENTICATED});
    return out;
  }

  // The certificate file stem for `c` at `endpoint` ("" for none).
  static std::string Stem(Credential c, const Endpoint& endpoint) {
    switch (c) {
      case Credential::kAuthorised: return endpoint.authorised;
      case Credential::kNoCertificate: return "";
      case Credential::kSelfSigned: return endpoint.authorised + "-self-signed";
      case Credential::kOtherCa: return endpoint.authorised + "-other-ca";
      case Credential::kExpired: return endpoint.authorised + "-expired";
      case Credential::kNotInDirectory: return "onbekend";
      case Credential::kWrongRole: return endpoint.wrong;
    }
    return "";
  }

  static grpc::StatusCode Expected(Credential c, const Endpoint& endpoint) {
    switch (c) {
      case Credential::kAuthorised: return grpc::StatusCode::OK;
      case Credential::kNoCertificate:
      case Credential::kSelfSigned:
      case Credential::kOtherCa:
      case Credential::kExpired: return grpc::StatusCode::UNAVAILABLE;  // the handshake fails
      case Credential::kNotInDirectory: return endpoint.unknown_code;
      case Credential::kWrongRole: return endpoint.wrong_code;
    }
    return grpc::StatusCode::UNKNOWN;
  }

  // Certificates that claim each authorised organisation's name but are not
  // good, an unknown organisation's good one, and another CA.
  void MakeBadCertificates() {
    const std::string pki = fed_->pki_dir().string();
    const std::string other = (root_ / "other-ca").string();
    std::vector<std::vector<std::string>> runs = {{other, "ca"}, {pki, "org", "onbekend"}};
    for (const char* org : {"gemeente", "beheer", "gateway"}) {
      runs.push_back({pki, "org", org, "--self-signed", "--name", StrCat(org, "-self-signed")});
      runs.push_back({pki, "org", org, "--other-ca", other, "--name", StrCat(org, "-other-ca")});
      runs.push_back({pki, "org", org, "--expired", "--name", StrCat(org, "-expired")});
    }
    for (const auto& args : runs) {
      const ProcessResult r = RunProcess(SCHAKEL_PKI_SCRIPT, args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
};

// Every credential against every kind of rpc: only the valid and authorised
// caller gets an answer; TLS refuses bad certificates before any handler
// runs (UNAVAILABLE), an organisation the directory does not know is
// UNAUTHENTICATED, and a known one without the right is PERMISSION_DENIED
// (UNAUTHENTICATED at the node, which answers only the gateway). Each call
// is made again with metadata naming the authorised organisation in every
// way a handler might be tempted to read it: the answer does not change.
TEST_F(MtlsMatrixTest, OnlyTheValidAndAuthorisedCallerGetsThrough) {
  Boot(FederationOptions{});
  MakeBadCertificates();
  ASSERT_FALSE(HasFailure());
  int cells = 0;
  for (const Endpoint& endpoint : Endpoints()) {
    const std::string address =
        endpoint.to_node ? fed_->node_address("politie") : fed_->gateway_address();
    const std::multimap<std::string, std::string> spoof = {
        {"x509_common_name", endpoint.authorised},
        {"x-schakel-org", endpoint.authorised},
        {"org_id", endpoint.authorised},
        {"x-forwarded-client-cert", StrCat("URI=schakel://org/", endpoint.authorised)},
        {"x-schakel-role", "auditor"}};
    for (Credential c : kCredentials) {
      SCOPED_TRACE(StrCat(endpoint.name, " as ", Name(c)));
      const std::string stem = Stem(c, endpoint);
      const bool wrong_role = c == Credential::kWrongRole;
      for (bool spoofed : {false, true}) {
        SCOPED_TRACE(spoofed ? "with metadata claiming the authorised organisation" : "plain");
        // A fresh channel each time: no connection is reused between cells.
        const auto channel = fed_->ChannelAs(stem, address);
        ASSERT_NE(channel, nullptr);
        const grpc::Status status =
            endpoint.call(*this, channel, wrong_role, spoofed ? spoof : decltype(spoof){});
        EXPECT_EQ(status.error_code(), Expected(c, endpoint)) << status.error_message();
        ++cells;
      }
    }
  }
  EXPECT_EQ(cells, 4 * 7 * 2);

  // The refusals by identity are in the node's and the gateway's logs with
  // the identity the certificate presented.
  EXPECT_THAT(Federation::ReadText(fed_->node_stderr("politie")),
              HasSubstr("the caller is not the gateway"));
  const std::set<std::string> reasons = LoggedReasons(fed_->ReadGatewayLog());
  for (const char* expected :
       {"DENIAL_REASON_UNKNOWN_ORGANISATION", "DENIAL_REASON_ORGANISATION_NOT_ALLOWED",
        "DENIAL_REASON_ROLE_NOT_ALLOWED"}) {
    EXPECT_TRUE(reasons.count(expected)) << expected << " not logged; logged: "
                                         << ::testing::PrintToString(reasons);
  }
}

// ---- group elements

// Each bad class of element (RFC 9496's bad encodings, the identity that
// libsodium accepts, the high bit that libsodium ignores) is refused with
// INVALID_ARGUMENT naming the element, by the gateway's OpenExchange and by
// a node's Evaluate even under a valid authorisation; nothing is forwarded
// or answered, and neither program falls over.
TEST_F(AttacksTest, EveryBadElementIsRefusedByTheGatewayAndTheNodeNamingIt) {
  Boot(FederationOptions{});
  auto gateway = fed_->GatewayAs("gemeente");
  auto node = v1::Node::NewStub(fed_->ChannelAs("gateway", fed_->node_address("politie")));
  ASSERT_NE(gateway, nullptr);
  for (const BadElement& bad : BadElements()) {
    SCOPED_TRACE(bad.name);
    // The second key of the subject is the bad one.
    v1::OpenExchangeResponse opened;
    grpc::Status status = gateway->OpenExchange(
        Context().get(), Exchange({RandomElement(), bad.bytes, RandomElement()}), &opened);
    ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    auto detail = rpc::ErrorDetailOf(rpc::FromGrpcStatus(status));
    ASSERT_TRUE(detail.has_value());
    ASSERT_EQ(detail->problems_size(), 1);
    EXPECT_EQ(detail->problems(0).field(), "subjects[0].keys[1].blinded_element");

    // The node, called as the gateway with the gateway's signature over the
    // batch: the third element of four is the bad one.
    v1::EvaluateResponse evaluated;
    status = node->Evaluate(
        Context().get(),
        Evaluation({RandomElement(), RandomElement(), bad.bytes, RandomElement()}), &evaluated);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("blinded_elements[2]"));
    EXPECT_EQ(evaluated.evaluated_elements_size(), 0);
  }
  // Both still serve: a good batch is evaluated, a good exchange opened.
  v1::EvaluateResponse evaluated;
  grpc::Status status =
      node->Evaluate(Context().get(), Evaluation({RandomElement()}), &evaluated);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(evaluated.evaluated_elements_size(), 1);
  v1::OpenExchangeResponse opened;
  status = gateway->OpenExchange(Context().get(), Exchange({RandomElement()}), &opened);
  EXPECT_TRUE(status.ok()) << status.error_message();

  // Logged as refusals only: the gateway's log has one malformed request per
  // class and exactly one accepted exchange (the good one).
  const std::vector<v1::LogEntry> log = fed_->ReadGatewayLog();
  int malformed = 0, requested = 0;
  for (const v1::LogEntry& e : log) {
    if (e.record().kind() != v1::RECORD_KIND_EXCHANGE_REQUESTED) continue;
    if (e.record().outcome() == v1::OUTCOME_GRANTED) ++requested;
    for (int r : e.record().denial_reasons()) malformed += r == v1::DENIAL_REASON_MALFORMED_REQUEST;
  }
  EXPECT_EQ(malformed, 3);
  EXPECT_EQ(requested, 1);
  // politie's own log: the three bad batches refused, and two answered: the
  // good batch above and the good exchange's (the bad ones never reached it).
  const auto node_entries = [&](const char* kind) {
    const ProcessResult r = fed_->Cli("politie", "admin", {"log", "--kind", kind, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::count(r.out.begin(), r.out.end(), '\n');
  };
  EXPECT_EQ(node_entries("evaluation_refused"), 3);
  EXPECT_EQ(node_entries("evaluation_answered"), 2);
  const std::string node_log = Federation::ReadText(fed_->node_stderr("politie"));
  EXPECT_THAT(node_log, HasSubstr("Evaluate refused: INVALID_ARGUMENT"));
  EXPECT_EQ(fed_->node("politie").running(), true);
}

// ---- enumeration

// A requester that exceeds its quota is refused with RESOURCE_EXHAUSTED by
// the gateway; and with a gateway quota above a node's own daily quota, the
// node refuses too (RESOURCE_EXHAUSTED, QUOTA_EXCEEDED), which the requester
// sees as that partner's status and the gateway logs with the cause.
TEST_F(AttacksTest, OverQuotaIsRefusedByTheGatewayAndByTheNode) {
  // Gateway: 4 exchanges a day under zorg-signalering; each node: 2
  // subjects a day per requester and purpose.
  Boot(FederationOptions{.zorg_daily_exchange_quota = 4, .node_daily_subject_quota = 2});
  auto gateway = fed_->GatewayAs("gemeente");
  ASSERT_NE(gateway, nullptr);
  std::vector<v1::OpenExchangeResponse> answers;
  for (int i = 0; i < 4; ++i) {
    v1::OpenExchangeResponse opened;
    const grpc::Status status =
        gateway->OpenExchange(Context().get(), Exchange({RandomElement()}), &opened);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    answers.push_back(opened);
  }
  // The partners that answer gemeente under zorg-signalering.
  for (size_t i = 0; i < answers.size(); ++i) {
    for (const v1::PartnerEvaluation& e : answers[i].evaluations()) {
      SCOPED_TRACE(StrCat("exchange ", i + 1, ", ", e.outcome().org_id()));
      if (i < 2) {
        EXPECT_EQ(e.outcome().status(), v1::PARTNER_STATUS_OK) << e.outcome().detail();
      } else {
        EXPECT_EQ(e.outcome().status(), v1::PARTNER_STATUS_REFUSED_BY_NODE);
        EXPECT_EQ(e.outcome().reason(), v1::DENIAL_REASON_QUOTA_EXCEEDED);
        EXPECT_THAT(e.outcome().detail(), HasSubstr("RESOURCE_EXHAUSTED"));
      }
    }
    EXPECT_GE(answers[i].evaluations_size(), 2);
  }
  // The fifth: refused by the gateway itself.
  v1::OpenExchangeResponse opened;
  const grpc::Status status =
      gateway->OpenExchange(Context().get(), Exchange({RandomElement()}), &opened);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("quota"));

  // Both causes are in the gateway's log: its own refusal, and the partners'.
  int gateway_refusals = 0, partner_refusals = 0;
  for (const v1::LogEntry& e : fed_->ReadGatewayLog()) {
    bool quota = false;
    for (int r : e.record().denial_reasons()) quota |= r == v1::DENIAL_REASON_QUOTA_EXCEEDED;
    if (!quota) continue;
    if (e.record().kind() == v1::RECORD_KIND_EXCHANGE_REQUESTED) ++gateway_refusals;
    else ++partner_refusals;
  }
  EXPECT_EQ(gateway_refusals, 1);
  EXPECT_EQ(partner_refusals, 2);
  for (const char* org : {"politie", "zorg"}) {
    EXPECT_THAT(Federation::ReadText(fed_->node_stderr(org)),
                HasSubstr("Evaluate refused: RESOURCE_EXHAUSTED"))
        << org;
  }
}

}  // namespace
}  // namespace schakel::integration
