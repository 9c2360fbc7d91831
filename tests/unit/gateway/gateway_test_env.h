// Test environment for the gateway server in-process: a PKI made by
// deploy/pki.sh, a policy and a directory, fake partner nodes (real
// schakel.v1.Node servers over mutual TLS in this process, evaluating with
// real OPRF keys), the GatewayServer on 127.0.0.1:0, and clients of it as
// any organisation, plus the requester's side of the protocol (blind,
// finalise) and a node's (publish tags).
//
// Ownership: GatewayTestEnv owns everything and stops it on destruction.
// Thread safety: the fake nodes are called from gRPC threads (their state is
// atomic); everything else belongs to the test's thread.
#ifndef SCHAKEL_TESTS_UNIT_GATEWAY_GATEWAY_TEST_ENV_H_
#define SCHAKEL_TESTS_UNIT_GATEWAY_GATEWAY_TEST_ENV_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "crypto/oprf.h"
#include "crypto/pseudonym.h"
#include "crypto/random.h"
#include "crypto/sealed_box.h"
#include "crypto/signing.h"
#include "gateway/gateway_config.h"
#include "gateway/gateway_server.h"
#include "proto/canonical.h"
#include "rpc/channel.h"
#include "rpc/deadline.h"
#include "rpc/status.h"
#include "rpc/tls.h"
#include "schakel/v1/gateway.grpc.pb.h"
#include "schakel/v1/node.grpc.pb.h"
#include "store/faulty_store.h"
#include "tests/support/test_support.h"

namespace schakel::gateway::testing {

namespace fs = std::filesystem;

inline constexpr char kRiec[] = "riec-zwb";             // asks; no node
inline constexpr char kPolitie[] = "politie-zwb";       // answers (safety)
inline constexpr char kGemeente[] = "gemeente-tilburg";  // answers (social)
inline constexpr char kWoning[] = "woningcorporatie-tilburg";  // answers (housing); node down
inline constexpr char kStranger[] = "stranger";          // a valid certificate, not in the directory
inline constexpr char kGatewayOrg[] = "gateway";

inline constexpr char kRiecPurpose[] = "riec-ondermijning";  // no case; bsn, name_dob, address
inline constexpr char kCasePurpose[] = "zvh-casusoverleg";   // case required; bsn
inline constexpr char kOldPurpose[] = "oud-convenant";       // ended in 2021
inline constexpr char kYouthPurpose[] = "verwijsindex-jeugd";  // riec may not ask

inline std::string PolicyText() {
  return R"json({
  "version": "test-1",
  "parties": [
    {"org_id": "riec-zwb", "name": "RIEC"}, {"org_id": "politie-zwb", "name": "Politie"},
    {"org_id": "gemeente-tilburg", "name": "Gemeente"},
    {"org_id": "woningcorporatie-tilburg", "name": "Woningcorporatie"}
  ],
  "supervisor_org_ids": ["riec-zwb"],
  "purposes": [
    { "purpose_id": "riec-ondermijning", "title": "Ondermijning", "description": "Test.",
      "lawful_basis": {"reference": "Wpg art. 20", "text": "Verstrekking aan samenwerkingsverbanden."},
      "valid_from": "2024-01-01",
      "may_ask": [{"org_id": "riec-zwb", "roles": ["analyst"]}],
      "may_answer_org_ids": ["politie-zwb", "gemeente-tilburg", "woningcorporatie-tilburg"],
      "case_required": false, "key_types": ["bsn", "name_dob", "address"],
      "max_subjects_per_exchange": 4, "max_keys_per_subject": 3,
      "daily_subject_quota": 12, "notify_on_hit": false,
      "disclosure_rules": [
        { "responder_org_id": "politie-zwb", "requester_org_ids": ["riec-zwb"],
          "fields": ["category", "contact_name", "contact_phone", "free_text"],
          "categories": ["ondermijning", "bibob"] } ],
      "approval_timeout": "1h", "disclosure_window": "2d" },
    { "purpose_id": "zvh-casusoverleg", "title": "Casusoverleg", "description": "Test.",
      "lawful_basis": {"reference": "AVG art. 6(1)(e)"},
      "valid_from": "2024-01-01",
      "may_ask": [{"org_id": "riec-zwb", "roles": ["analyst", "director"]}],
      "may_answer_org_ids": ["politie-zwb", "gemeente-tilburg"],
      "case_required": true, "case_director_org_ids": ["riec-zwb"], "key_types": ["bsn"],
      "max_subjects_per_exchange": 4, "max_keys_per_subject": 2,
      "daily_subject_quota": 100, "notify_on_hit": true },
    { "purpose_id": "oud-convenant", "title": "Oud", "description": "Test.",
      "lawful_basis": {"reference": "Oud"}, "valid_from": "2020-01-01", "valid_until": "2021-01-01",
      "may_ask": [{"org_id": "riec-zwb", "roles": ["analyst"]}],
      "may_answer_org_ids": ["politie-zwb"], "case_required": false, "key_types": ["bsn"],
      "max_subjects_per_exchange": 4, "daily_subject_quota": 10, "notify_on_hit": false },
    { "purpose_id": "verwijsindex-jeugd", "title": "Verwijsindex", "description": "Test.",
      "lawful_basis": {"reference": "Jeugdwet art. 7.1.4.1"}, "valid_from": "2024-01-01",
      "may_ask": [{"org_id": "gemeente-tilburg", "roles": ["professional"]}],
      "may_answer_org_ids": ["politie-zwb", "gemeente-tilburg"], "case_required": false,
      "key_types": ["bsn"], "max_subjects_per_exchange": 4, "daily_subject_quota": 10,
      "notify_on_hit": true }
  ]
})json";
}

// The clock the gateway reads; tests move it forward.
class TestClock {
 public:
  absl::Time Now() const { return absl::Now() + absl::Milliseconds(offset_ms_.load()); }
  void Advance(absl::Duration d) { offset_ms_ += absl::ToInt64Milliseconds(d); }

 private:
  std::atomic<int64_t> offset_ms_{0};
};

// A partner node in this process: schakel.v1.Node over mutual TLS with a real
// OPRF key and signing key.
class FakeNode final : public v1::Node::Service {
 public:
  // kRefuseNotUtf8 refuses with a message that is not UTF-8 (as a
  // misbehaving node might).
  enum class Mode { kAnswer, kRefuse, kRefuseNotUtf8, kHang, kBadSignature, kWrongCount };

  FakeNode(std::string org, const rpc::TlsFiles& tls)
      : org_(std::move(org)), server_(crypto::oprf::PrivateKey::Generate()),
        signing_(crypto::SigningKey::Generate()) {
    auto credentials = rpc::ServerCredentialsFromFiles(tls);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    grpc::ServerBuilder builder;
    rpc::ConfigureServer(builder);
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
    builder.RegisterService(this);
    grpc_server_ = builder.BuildAndStart();
    EXPECT_NE(port_, 0);
  }
  ~FakeNode() override { Stop(); }

  void Stop() {
    if (grpc_server_ != nullptr) {
      grpc_server_->Shutdown(std::chrono::system_clock::now());
      grpc_server_.reset();
    }
  }

  grpc::Status Evaluate(grpc::ServerContext* context, const v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) override {
    ++calls_;
    {
      std::lock_guard lock(mu_);
      last_request_ = *request;
    }
    switch (mode_.load()) {
      case Mode::kRefuse: {
        v1::ErrorDetail detail;
        detail.set_reason(v1::DENIAL_REASON_NODE_POLICY);
        return rpc::ToGrpcStatus(rpc::WithErrorDetail(
            absl::PermissionDeniedError("purpose not answered by local policy"), detail));
      }
      case Mode::kRefuseNotUtf8:
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "node says \xc3\x28 no \xff");
      case Mode::kHang: {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!context->IsCancelled() && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return grpc::Status(grpc::StatusCode::CANCELLED, "gave up");
      }
      default:
        break;
    }
    const std::string& purpose = request->authorisation().payload().purpose_id();
    auto key = crypto::PurposeKey::Create(server_, purpose);
    if (!key.ok()) return rpc::ToGrpcStatus(key.status());
    std::vector<crypto::ByteView> blinded;
    for (const std::string& e : request->blinded_elements()) blinded.push_back(crypto::AsBytes(e));
    auto evaluation = key->EvaluateBlinded(blinded);
    if (!evaluation.ok()) return rpc::ToGrpcStatus(evaluation.status());
    for (const crypto::Bytes& z : evaluation->evaluated_elements) {
      response->add_evaluated_elements(std::string(z.begin(), z.end()));
    }
    if (mode_ == Mode::kWrongCount) response->mutable_evaluated_elements()->RemoveLast();
    response->set_proof(std::string(evaluation->proof.begin(), evaluation->proof.end()));
    v1::EvaluationStatement statement;
    statement.set_authorisation_digest(
        DigestString(canonical::Digest(canonical::kAuthorisationContext, request->authorisation().payload()).value()));
    statement.set_responder_org_id(org_);
    *statement.mutable_evaluated_elements() = response->evaluated_elements();
    statement.set_proof(response->proof());
    const crypto::SigningKey other = crypto::SigningKey::Generate();
    *response->mutable_signature() =
        canonical::Sign(mode_ == Mode::kBadSignature ? other : signing_, canonical::kEvaluationContext,
                        statement).value();
    return grpc::Status::OK;
  }

  // How Disclose answers: approve under a mandate (sealed payload), queue
  // for an approver, deny by policy, approve with a wrong payload hash, or
  // refuse the call.
  enum class DiscloseMode { kMandate, kPending, kDeny, kBadHash, kRefuse };

  // What node-ans does, in short: a signed decision on the order of
  // `request`, with the payload (a signal whose free text and contact name
  // are `marker`) sealed to the order's box key when approved.
  v1::SealedDisclosure Decide(const v1::DiscloseRequest& request, v1::DisclosureDecision decision,
                              const std::string& marker) const {
    const v1::AuthorisationPayload& auth = request.authorisation().payload();
    v1::SealedDisclosure sealed;
    v1::DisclosureStatement& st = *sealed.mutable_statement();
    st.set_exchange_id(auth.exchange_id());
    st.set_disclosure_id(request.order().disclosure_id());
    st.set_responder_org_id(org_);
    st.set_requester_org_id(request.order().requester().org_id());
    st.set_purpose_id(auth.purpose_id());
    st.set_order_digest(DigestString(canonical::Digest(canonical::kDisclosureOrderContext, request.order()).value()));
    st.set_decision(decision);
    st.mutable_decided_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    const bool approved = decision == v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE ||
                          decision == v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER;
    if (decision == v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER || decision == v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER) {
      st.set_decided_by_user_id("approver.1");
    } else {
      st.set_rule(approved ? "mandaat-riec" : "geen-verstrekking");
    }
    if (approved) {
      v1::DisclosedContent content;
      content.set_exchange_id(auth.exchange_id());
      content.set_disclosure_id(request.order().disclosure_id());
      content.set_responder_org_id(org_);
      v1::DisclosedSignal* signal = content.add_signals();
      signal->set_subject_index(request.order().targets(0).subject_index());
      signal->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
      signal->add_fields(v1::SIGNAL_FIELD_FREE_TEXT);
      signal->set_category("ondermijning");
      signal->mutable_contact()->set_name(marker);
      signal->set_free_text(marker);
      const std::string plaintext = content.SerializeAsString();
      auto key = crypto::BoxPublicKey::FromBytes(crypto::AsBytes(request.order().requester_box_key()));
      EXPECT_TRUE(key.ok()) << key.status();
      if (key.ok()) {
        const crypto::Bytes box = crypto::Seal(*key, crypto::AsBytes(plaintext));
        sealed.set_sealed_box(std::string(box.begin(), box.end()));
      }
      const crypto::Blake2b256Digest hash = crypto::Blake2b256Hash(crypto::AsBytes(sealed.sealed_box()));
      st.set_payload_hash(DigestString(hash));
      for (int f : request.order().ask().fields()) st.add_fields_disclosed(static_cast<v1::SignalField>(f));
      st.add_categories_disclosed("ondermijning");
      st.set_signal_count(1);
    } else {
      st.set_reason(decision == v1::DISCLOSURE_DECISION_EXPIRED ? "not decided in time" : "niet onder dit convenant");
    }
    *sealed.mutable_node_signature() = Sign(st);
    return sealed;
  }
  v1::Signature Sign(const v1::DisclosureStatement& st) const {
    return canonical::Sign(signing_, canonical::kDisclosureContext, st).value();
  }

  grpc::Status Disclose(grpc::ServerContext*, const v1::DiscloseRequest* request,
                        v1::DiscloseResponse* response) override {
    ++disclose_calls_;
    {
      std::lock_guard lock(mu_);
      last_disclose_ = *request;
    }
    switch (disclose_mode_.load()) {
      case DiscloseMode::kRefuse: {
        v1::ErrorDetail detail;
        detail.set_reason(v1::DENIAL_REASON_AUTHORISATION_INVALID);
        return rpc::ToGrpcStatus(rpc::WithErrorDetail(absl::PermissionDeniedError("authorisation invalid"), detail));
      }
      case DiscloseMode::kPending:
        response->set_state(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
        return grpc::Status::OK;
      case DiscloseMode::kDeny:
        response->set_state(v1::DISCLOSURE_STATE_DENIED);
        *response->mutable_sealed() = Decide(*request, v1::DISCLOSURE_DECISION_DENIED_BY_POLICY, "");
        return grpc::Status::OK;
      default:
        break;
    }
    response->set_state(v1::DISCLOSURE_STATE_DELIVERED);
    *response->mutable_sealed() = Decide(*request, v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE, marker_);
    if (disclose_mode_ == DiscloseMode::kBadHash) {
      v1::DisclosureStatement& st = *response->mutable_sealed()->mutable_statement();
      st.set_payload_hash(std::string(32, 'x'));
      *response->mutable_sealed()->mutable_node_signature() = Sign(st);
    }
    return grpc::Status::OK;
  }

  // Stores notifications in sequence (repeats ignored) while online.
  grpc::Status DeliverNotifications(grpc::ServerContext*, const v1::DeliverNotificationsRequest* request,
                                    v1::DeliverNotificationsResponse* response) override {
    ++deliver_calls_;
    if (!accept_notifications_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "offline for notifications");
    std::lock_guard lock(mu_);
    for (const v1::Notification& n : request->notifications()) {
      if (n.sequence() == notifications_.size() + 1) notifications_.push_back(n);
    }
    response->set_acknowledged_through(notifications_.size());
    return grpc::Status::OK;
  }

  void set_disclose_mode(DiscloseMode mode) { disclose_mode_ = mode; }
  void set_marker(const std::string& marker) { marker_ = marker; }
  void set_accept_notifications(bool accept) { accept_notifications_ = accept; }
  int disclose_calls() const { return disclose_calls_; }
  int deliver_calls() const { return deliver_calls_; }
  v1::DiscloseRequest last_disclose() const {
    std::lock_guard lock(mu_);
    return last_disclose_;
  }
  std::vector<v1::Notification> notifications() const {
    std::lock_guard lock(mu_);
    return notifications_;
  }

  // The tag this node's own signal with `input` has under `purpose`.
  crypto::Tag TagFor(const std::string& purpose, const std::string& input) const {
    return crypto::PurposeKey::Create(server_, purpose).value().TagFor(crypto::AsBytes(input)).value();
  }

  void set_mode(Mode mode) { mode_ = mode; }
  int calls() const { return calls_; }
  v1::EvaluateRequest last_request() const {
    std::lock_guard lock(mu_);
    return last_request_;
  }
  const std::string& org() const { return org_; }
  int port() const { return port_; }
  const crypto::Element& oprf_public_key() const { return server_.public_key(); }
  const crypto::VerifyKey& signing_public_key() const { return signing_.verify_key(); }

  static std::string DigestString(const canonical::DigestBytes& d) {
    return std::string(reinterpret_cast<const char*>(d.data()), d.size());
  }

 private:
  const std::string org_;
  crypto::oprf::PoprfServer server_;
  crypto::SigningKey signing_;
  std::atomic<Mode> mode_{Mode::kAnswer};
  std::atomic<int> calls_{0};
  std::atomic<DiscloseMode> disclose_mode_{DiscloseMode::kMandate};
  std::atomic<int> disclose_calls_{0};
  std::atomic<int> deliver_calls_{0};
  std::atomic<bool> accept_notifications_{true};
  std::string marker_ = "PLAINTEXT-MARKER-5f1e";
  mutable std::mutex mu_;
  v1::EvaluateRequest last_request_;
  v1::DiscloseRequest last_disclose_;             // guarded by mu_
  std::vector<v1::Notification> notifications_;  // guarded by mu_
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
};

// The PKI, made once per test binary (key generation takes a while).
class SharedPki {
 public:
  static const SharedPki& Get() {
    static const SharedPki* pki = new SharedPki();
    return *pki;
  }
  bool ok() const { return ok_; }
  rpc::TlsFiles Files(const std::string& org) const {
    return {dir_ / "ca.pem", dir_ / (org + ".pem"), dir_ / (org + ".key")};
  }

 private:
  SharedPki() {
    dir_ = fs::temp_directory_path() / StrCat("schakel-gw-pki-", ::getpid());
    fs::remove_all(dir_);
    const fs::path script =
        fs::path(SCHAKEL_TEST_DATA_DIR).parent_path().parent_path() / "deploy" / "pki.sh";
    auto run = [&](const std::string& args) {
      const std::string command = StrCat("'", script.string(), "' '", dir_.string(), "' ", args, " >/dev/null 2>&1");
      return std::system(command.c_str()) == 0;
    };
    ok_ = run("ca");
    for (const char* org : {kGatewayOrg, kRiec, kPolitie, kGemeente, kWoning, kStranger}) {
      ok_ = ok_ && run(StrCat("org ", org));
    }
    std::atexit([] { std::error_code ignored; fs::remove_all(Get().dir_, ignored); });
  }
  fs::path dir_;
  bool ok_ = false;
};

// One subject as the requester sees it: its inputs ("schakel:v1:<type>:<value>")
// with their types, and its family.
struct TestSubject {
  std::vector<std::pair<v1::MatchKeyType, std::string>> keys;
  uint32_t family = 0;
  v1::Relation relation = v1::RELATION_UNSPECIFIED;
};

inline std::string Bsn(const std::string& digits) { return "schakel:v1:bsn:" + digits; }
inline std::string NameDob(const std::string& v) { return "schakel:v1:name_dob:" + v; }

// How a GatewayTestEnv is set up.
struct GatewayTestSettings {
  int64_t partner_deadline_ms = 3000;
  // 1 ms per element, so that a timed-out partner's detail shows the growth.
  int64_t partner_deadline_per_element_us = 1000;
  // The gateway's store is wrapped in a store::FaultyStore (faulty()).
  bool faulty_store = false;
  // The RocksDB Env of the gateway's store (e.g. a failing disk); default
  // when null.
  std::shared_ptr<rocksdb::Env> rocksdb_env = nullptr;
};

class GatewayTestEnv {
 public:
  using Settings = GatewayTestSettings;

  GatewayTestEnv() : GatewayTestEnv(Settings()) {}
  explicit GatewayTestEnv(Settings settings) : settings_(settings) {}
  ~GatewayTestEnv() { Stop(); }

  // Makes the nodes, the files and the gateway, and starts it.
  void SetUp() {
    ASSERT_TRUE(SharedPki::Get().ok()) << "deploy/pki.sh failed";
    const SharedPki& pki = SharedPki::Get();
    for (const char* org : {kPolitie, kGemeente}) {
      nodes_[org] = std::make_unique<FakeNode>(org, pki.Files(org));
    }
    gateway_key_ = std::make_unique<crypto::SigningKey>(crypto::SigningKey::Generate());
    ASSERT_TRUE(crypto::SaveSigningKey(dir_ / "gateway-signing.key", *gateway_key_, crypto::Overwrite::kRefuse).ok());
    ::schakel::testing::WriteFile(dir_ / "policy.json", PolicyText());
    ::schakel::testing::WriteFile(dir_ / "directory.json", DirectoryText());
    const rpc::TlsFiles tls = pki.Files(kGatewayOrg);
    ::schakel::testing::WriteFile(dir_ / "gateway.json", StrCat(R"({
      "org_id": "gateway", "listen": "127.0.0.1:0", "data_dir": "data",
      "tls": {"ca": ")", tls.ca_certificates.string(), R"(", "cert": ")", tls.certificate_chain.string(),
      R"(", "key": ")", tls.private_key.string(), R"("},
      "signing_key_file": "gateway-signing.key", "policy": "policy.json", "directory": "directory.json",
      "partner_deadline_ms": )", settings_.partner_deadline_ms, R"(,
      "partner_deadline_per_element_us": )", settings_.partner_deadline_per_element_us, R"(,
      "resolve_window_seconds": 300,
      "checkpoint": {"every_entries": 5, "every_seconds": 0}
    })"));
    Start();
  }

  // (Re)starts the gateway on the same data directory.
  void Start() {
    auto config = LoadGatewayConfig(dir_ / "gateway.json");
    ASSERT_TRUE(config.ok()) << config.status();
    GatewayServer::Options options;
    options.now = [this] { return clock_.Now(); };
    options.log_line = [this](std::string_view line) {
      std::lock_guard lock(lines_mu_);
      lines_.emplace_back(line);
    };
    options.rocksdb_env = settings_.rocksdb_env;
    if (settings_.faulty_store) {
      options.wrap_store = [this](store::KvStore* base) {
        auto f = std::make_unique<store::FaultyStore>(base);
        faulty_ = f.get();
        return std::unique_ptr<store::KvStore>(std::move(f));
      };
    }
    auto server = GatewayServer::Create(*config, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status();
    address_ = StrCat("127.0.0.1:", *port);
    stubs_.clear();
  }

  void Stop() {
    stubs_.clear();
    if (server_ != nullptr) {
      server_->Shutdown(absl::ZeroDuration());
      server_.reset();
    }
  }

  std::string DirectoryText() const {
    std::string out = R"({"organisations": [)";
    auto add = [&](const std::string& org, const std::string& domain, const std::string& endpoint,
                   const FakeNode* node) {
      const crypto::SigningKey placeholder = crypto::SigningKey::Generate();
      const crypto::Bytes sign = node ? node->signing_public_key().ToBytes() : placeholder.verify_key().ToBytes();
      out += StrCat(out.back() == '[' ? "" : ",", R"({"org_id": ")", org, R"(", "display_name": ")", org,
                    R"(", "domain": ")", domain, R"(", "signing_public_key": ")", crypto::ToHex(sign), "\"");
      if (!endpoint.empty()) {
        const crypto::Bytes oprf =
            node ? node->oprf_public_key().ToBytes() : crypto::oprf::PrivateKey::Generate().public_key().ToBytes();
        out += StrCat(R"(, "endpoint": ")", endpoint, R"(", "oprf_public_key": ")", crypto::ToHex(oprf), "\"");
      }
      out += "}";
    };
    add(kRiec, "safety", "", nullptr);
    {  // the requester's box key, so that disclosures can be sealed to it
      const crypto::Bytes box = riec_box_.public_key().ToBytes();
      out.insert(out.size() - 1, StrCat(R"(, "box_public_key": ")", crypto::ToHex(box), "\""));
    }
    add(kPolitie, "safety", StrCat("127.0.0.1:", nodes_.at(kPolitie)->port()), nodes_.at(kPolitie).get());
    add(kGemeente, "social", StrCat("127.0.0.1:", nodes_.at(kGemeente)->port()), nodes_.at(kGemeente).get());
    add(kWoning, "housing", "127.0.0.1:1", nullptr);  // nothing listens there
    return out + "]}";
  }

  // Safe to call from several test threads at once (the concurrency test
  // does): the stub is made once under a lock, then shared (stubs are
  // thread-safe).
  v1::Gateway::Stub& As(const std::string& org) {
    std::lock_guard lock(stubs_mu_);
    auto& stub = stubs_[org];
    if (stub == nullptr) {
      auto credentials = rpc::ClientCredentialsFromFiles(SharedPki::Get().Files(org));
      EXPECT_TRUE(credentials.ok()) << credentials.status();
      auto channel = rpc::CreateChannel(address_, *credentials);
      EXPECT_TRUE(channel.ok()) << channel.status();
      stub = v1::Gateway::NewStub(*channel);
    }
    return *stub;
  }

  // The requester's side: blinded subjects for one exchange. Keeps what
  // Finalize needs.
  struct Blinded {
    v1::OpenExchangeRequest request;
    std::unique_ptr<crypto::MatchRequester> requester;
    std::unique_ptr<crypto::PendingMatch> pending;
  };
  static Blinded Blind(const std::string& purpose, const std::vector<TestSubject>& subjects,
                       v1::Role role = v1::ROLE_ANALYST) {
    Blinded b;
    b.requester = std::make_unique<crypto::MatchRequester>(crypto::MatchRequester::Create(purpose).value());
    std::vector<crypto::ByteView> inputs;
    for (const TestSubject& s : subjects) {
      for (const auto& [type, input] : s.keys) inputs.push_back(crypto::AsBytes(input));
    }
    b.pending = std::make_unique<crypto::PendingMatch>(b.requester->Blind(inputs).value());
    const std::vector<crypto::Bytes> encodings = b.pending->BlindedEncodings();
    v1::OpenExchangeRequest& r = b.request;
    r.mutable_actor()->set_user_id("analist.1");
    r.mutable_actor()->set_role(role);
    std::string request_id(16, '\0');
    crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(request_id.data()), 16));
    r.set_request_id(request_id);
    r.set_purpose_id(purpose);
    size_t e = 0;
    for (const TestSubject& s : subjects) {
      v1::BlindedSubject* bs = r.add_subjects();
      bs->set_family(s.family);
      bs->set_relation(s.relation);
      for (const auto& [type, input] : s.keys) {
        v1::BlindedKey* k = bs->add_keys();
        k->set_key_type(type);
        k->set_blinded_element(std::string(encodings[e].begin(), encodings[e].end()));
        ++e;
      }
    }
    return b;
  }

  // The requester's side: verify each OK partner's proof and compute tags.
  std::vector<v1::PartnerTags> Finalize(const Blinded& b, const v1::OpenExchangeResponse& response) const {
    std::vector<v1::PartnerTags> out;
    for (const v1::PartnerEvaluation& e : response.evaluations()) {
      if (e.outcome().status() != v1::PARTNER_STATUS_OK) continue;
      const FakeNode& node = *nodes_.at(e.outcome().org_id());
      std::vector<crypto::ByteView> evaluated;
      for (const std::string& z : e.evaluated_elements()) evaluated.push_back(crypto::AsBytes(z));
      auto tags = b.requester->Finalize(*b.pending, node.oprf_public_key(), evaluated, crypto::AsBytes(e.proof()));
      EXPECT_TRUE(tags.ok()) << tags.status();
      v1::PartnerTags p;
      p.set_org_id(e.outcome().org_id());
      p.set_check(v1::EVALUATION_CHECK_VERIFIED);
      if (tags.ok()) {
        for (const crypto::Tag& t : *tags) p.add_tags(std::string(t.begin(), t.end()));
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  grpc::Status Open(const std::string& org, const v1::OpenExchangeRequest& request,
                    v1::OpenExchangeResponse* response,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(15000)) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    rpc::SetDeadline(context, timeout);
    return As(org).OpenExchange(&context, request, response);
  }

  grpc::Status Resolve(const std::string& org, const v1::ResolveMatchesRequest& request,
                       v1::ResolveMatchesResponse* response) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    rpc::SetDeadline(context, std::chrono::milliseconds(15000));
    return As(org).ResolveMatches(&context, request, response);
  }

  v1::ResolveMatchesRequest ResolveRequest(const Blinded& b, const v1::OpenExchangeResponse& response) const {
    v1::ResolveMatchesRequest r;
    *r.mutable_actor() = b.request.actor();
    r.set_exchange_id(response.exchange_id());
    for (v1::PartnerTags& p : Finalize(b, response)) *r.add_partners() = std::move(p);
    return r;
  }

  // A node publishing the tags of its own signals' `inputs` under `purpose`
  // as one batch on a fresh stream; returns the final status and the acks.
  grpc::Status Publish(const std::string& org, const std::vector<v1::IndexBatch>& batches,
                       std::vector<v1::IndexAck>* acks = nullptr) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    rpc::SetDeadline(context, std::chrono::milliseconds(15000));
    auto stream = As(org).PublishIndex(&context);
    for (const v1::IndexBatch& b : batches) {
      if (!stream->Write(b)) break;
      v1::IndexAck ack;
      if (!stream->Read(&ack)) break;
      if (acks != nullptr) acks->push_back(ack);
    }
    stream->WritesDone();
    v1::IndexAck extra;
    while (stream->Read(&extra)) {
    }
    return stream->Finish();
  }

  v1::IndexBatch Batch(uint64_t sequence, const std::string& org, const std::string& purpose,
                       const std::vector<std::string>& inputs) const {
    v1::IndexBatch b;
    b.set_sequence(sequence);
    v1::PurposeTagChanges* c = b.add_changes();
    c->set_purpose_id(purpose);
    for (const std::string& input : inputs) {
      const crypto::Tag t = nodes_.at(org)->TagFor(purpose, input);
      c->add_added(std::string(t.begin(), t.end()));
    }
    return b;
  }

  // The log entry a receipt names (checking the receipt on the way).
  v1::LogEntry EntryOf(const v1::Receipt& receipt) {
    EXPECT_TRUE(VerifyReceipt(receipt, gateway_key_->verify_key()).ok());
    auto entries = server_->log().Read(receipt.payload().sequence(), 1);
    EXPECT_TRUE(entries.ok() && entries->size() == 1);
    if (!entries.ok() || entries->empty()) return v1::LogEntry();
    EXPECT_EQ((*entries)[0].entry_hash(), receipt.payload().entry_hash());
    return (*entries)[0];
  }

  std::vector<v1::LogEntry> AllEntries() { return server_->log().Read(1, 0).value(); }

  std::vector<std::string> lines() const {
    std::lock_guard lock(lines_mu_);
    return lines_;
  }

  GatewayServer& server() { return *server_; }
  FakeNode& node(const std::string& org) { return *nodes_.at(org); }
  TestClock& clock() { return clock_; }
  store::FaultyStore* faulty() { return faulty_; }
  const crypto::VerifyKey& gateway_key() const { return gateway_key_->verify_key(); }
  // The requesting organisation's (riec's) X25519 key; its public half is
  // in the directory.
  const crypto::BoxSecretKey& riec_box() const { return riec_box_; }
  const ::schakel::testing::TempDir& dir() const { return dir_; }

 private:
  Settings settings_;
  ::schakel::testing::TempDir dir_{"schakel-gw"};
  std::map<std::string, std::unique_ptr<FakeNode>> nodes_;
  std::unique_ptr<crypto::SigningKey> gateway_key_;
  crypto::BoxSecretKey riec_box_ = crypto::BoxSecretKey::Generate();
  TestClock clock_;
  std::unique_ptr<GatewayServer> server_;
  std::string address_;
  std::mutex stubs_mu_;
  std::map<std::string, std::unique_ptr<v1::Gateway::Stub>> stubs_;
  store::FaultyStore* faulty_ = nullptr;
  mutable std::mutex lines_mu_;
  std::vector<std::string> lines_;
};

// A client context that waits for the channel to connect, with a deadline.
inline std::unique_ptr<grpc::ClientContext> Ctx(std::chrono::milliseconds timeout = std::chrono::milliseconds(15000)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_wait_for_ready(true);
  rpc::SetDeadline(*context, timeout);
  return context;
}

// The ErrorDetail of a failed call (default when none).
inline v1::ErrorDetail DetailOf(const grpc::Status& status) {
  return rpc::ErrorDetailOf(rpc::FromGrpcStatus(status)).value_or(v1::ErrorDetail());
}

}  // namespace schakel::gateway::testing

#endif  // SCHAKEL_TESTS_UNIT_GATEWAY_GATEWAY_TEST_ENV_H_
