#include "nodes/local_log_service.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/match_keys.h"
#include "crypto/oprf.h"
#include "crypto/random.h"
#include "nodes/users.h"
#include "proto/canonical.h"
#include "rpc/channel.h"
#include "store/memory_store.h"

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kOrg[] = "politie-zwb";
constexpr char kBsn[] = "111222333";

std::string Str(const canonical::DigestBytes& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

// The gateway's Audit service over a log the test builds: FindSubjectEntries
// looks the tags up in the entries, the rest answers from them.
class FakeGatewayAudit final : public v1::Audit::Service {
 public:
  FakeGatewayAudit() : key_(crypto::SigningKey::Generate()) {}

  // Appends a record as the gateway would chain it; returns its receipt.
  v1::Receipt Append(v1::LogRecord record) {
    std::lock_guard lock(mu);
    v1::LogEntry e;
    e.set_sequence(entries.size() + 1);
    e.set_previous_hash(entries.empty() ? std::string(32, '\0') : entries.back().entry_hash());
    const auto rh = canonical::Digest(canonical::kLogRecordContext, record).value();
    e.set_record_hash(Str(rh));
    e.set_entry_hash(
        Str(canonical::EntryHash(e.sequence(), crypto::AsBytes(e.previous_hash()), rh)));
    *e.mutable_record() = std::move(record);
    entries.push_back(e);
    v1::Receipt r;
    r.mutable_payload()->set_sequence(e.sequence());
    r.mutable_payload()->set_entry_hash(e.entry_hash());
    r.mutable_payload()->set_recipient_org_id(kOrg);
    r.mutable_payload()->mutable_issued_at()->set_seconds(1772366400);
    *r.mutable_signature() = canonical::Sign(key_, canonical::kReceiptContext, r.payload()).value();
    return r;
  }
  void Checkpoint() {
    std::lock_guard lock(mu);
    v1::Checkpoint c;
    c.mutable_payload()->set_sequence(entries.size());
    c.mutable_payload()->set_head_hash(entries.back().entry_hash());
    *c.mutable_signature() =
        canonical::Sign(key_, canonical::kCheckpointContext, c.payload()).value();
    checkpoint = c;
  }
  // Recomputes every hash from entry `from` on (a forger hiding an edit).
  void Rehash(size_t from) {
    std::lock_guard lock(mu);
    for (size_t i = from - 1; i < entries.size(); ++i) {
      v1::LogEntry& e = entries[i];
      e.set_previous_hash(i == 0 ? std::string(32, '\0') : entries[i - 1].entry_hash());
      const auto rh = canonical::Digest(canonical::kLogRecordContext, e.record()).value();
      e.set_record_hash(Str(rh));
      e.set_entry_hash(
          Str(canonical::EntryHash(e.sequence(), crypto::AsBytes(e.previous_hash()), rh)));
    }
  }
  crypto::VerifyKey verify_key() const { return key_.verify_key(); }

  grpc::Status FindSubjectEntries(grpc::ServerContext*, const v1::FindSubjectEntriesRequest* request,
                                  v1::FindSubjectEntriesResponse* response) override {
    std::lock_guard lock(mu);
    finds.push_back(*request);
    for (const v1::LogEntry& e : entries) {
      for (const v1::OrgTags& t : e.record().tags()) {
        for (const v1::TagSet& set : request->tag_sets()) {
          if (t.org_id() != set.org_id() || t.purpose_id() != set.purpose_id()) continue;
          for (const std::string& tag : set.tags()) {
            if (std::find(t.tags().begin(), t.tags().end(), tag) == t.tags().end()) continue;
            v1::SubjectAccessRecord& a = *response->add_records();
            a.set_sequence(e.sequence());
            a.set_purpose_id(e.record().purpose_id());
            a.set_matched_purpose_id(set.purpose_id());
          }
        }
      }
    }
    response->mutable_receipt()->mutable_payload()->set_sequence(999);
    return grpc::Status::OK;
  }
  grpc::Status GetEntries(grpc::ServerContext*, const v1::GetEntriesRequest* request,
                          v1::GetEntriesResponse* response) override {
    std::lock_guard lock(mu);
    for (uint64_t s : request->sequences()) {
      if (s == 0 || s > entries.size() || hidden.contains(s)) {
        response->add_missing_sequences(s);
      } else {
        *response->add_entries() = entries[s - 1];
      }
    }
    return grpc::Status::OK;
  }
  grpc::Status ListCheckpoints(grpc::ServerContext*, const v1::ListCheckpointsRequest*,
                               v1::ListCheckpointsResponse* response) override {
    std::lock_guard lock(mu);
    if (checkpoint) *response->add_checkpoints() = *checkpoint;
    return grpc::Status::OK;
  }
  grpc::Status ListChainLinks(grpc::ServerContext*, const v1::ListChainLinksRequest* request,
                              grpc::ServerWriter<v1::ListChainLinksResponse>* writer) override {
    std::lock_guard lock(mu);
    v1::ListChainLinksResponse m;
    for (const v1::LogEntry& e : entries) {
      if (e.sequence() < request->from_sequence() || e.sequence() > request->to_sequence()) continue;
      v1::ChainLink& l = *m.add_links();
      l.set_sequence(e.sequence());
      l.set_previous_hash(e.previous_hash());
      l.set_record_hash(e.record_hash());
      l.set_entry_hash(e.entry_hash());
    }
    writer->Write(m);
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::vector<v1::LogEntry> entries;
  std::set<uint64_t> hidden;
  std::optional<v1::Checkpoint> checkpoint;
  std::vector<v1::FindSubjectEntriesRequest> finds;

 private:
  crypto::SigningKey key_;
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

class LocalLogServiceTest : public ::testing::Test {
 protected:
  LocalLogServiceTest() : oprf_(crypto::oprf::PrivateKey::Generate()) {
    int gateway_port = 0;
    gateway_server_ = Serve(&gateway_, &gateway_port);
    log_ = LocalLog::Open(&kv_).value();
    crypto::SecretBytes<32> key;
    crypto::RandomBytes(key.mutable_bytes());
    users_ = UserStore::Create(&kv_, log_.get(), std::move(key)).value();
    auditor_ = Credential("ada", {v1::ROLE_AUDITOR});
    analyst_ = Credential("anna", {v1::ROLE_ANALYST});
    authenticator_ = std::make_unique<LocalAuthenticator>(users_.get(), log_.get());
    client_ = std::make_unique<GatewayClient>(
        rpc::CreateChannel(StrCat("127.0.0.1:", gateway_port), grpc::InsecureChannelCredentials())
            .value(),
        GatewayClient::Options{});
    service_ = std::make_unique<LocalLogService>(log_.get(), authenticator_.get());
    LocalLogService::AuditOptions options;
    options.gateway = client_.get();
    options.own_org_id = kOrg;
    options.gateway_keys.push_back(gateway_.verify_key());
    for (const char* p : {"riec", "zvh"}) {
      options.purpose_keys.emplace(p, crypto::PurposeKey::Create(oprf_, p).value());
    }
    service_->EnableAudit(std::move(options));
    int port = 0;
    server_ = Serve(service_.get(), &port);
    stub_ = v1::LocalLog::NewStub(
        rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()).value());
  }

  std::string Credential(const std::string& user, std::vector<v1::Role> roles) {
    auto issued = users_->CreateUser({}, user, user, std::move(roles));
    EXPECT_TRUE(issued.ok()) << issued.status();
    return std::string(issued->credential_view());
  }
  static std::unique_ptr<grpc::ClientContext> As(const std::string& credential) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    context->AddMetadata("authorization", StrCat("Bearer ", credential));
    return context;
  }
  // This node's tag of a BSN under a purpose, as the signal store makes it.
  std::string BsnTag(const std::string& purpose, const std::string& bsn) {
    const crypto::MatchKey key{crypto::MatchKeyType::kBsn, bsn};
    const auto tag =
        crypto::PurposeKey::Create(oprf_, purpose).value().TagFor(crypto::AsBytes(key.OprfInput()));
    return std::string(reinterpret_cast<const char*>(tag->data()), tag->size());
  }
  v1::LogRecord ResolvedWith(const std::string& purpose, std::vector<std::string> tags) {
    v1::LogRecord r;
    r.set_kind(v1::RECORD_KIND_EXCHANGE_RESOLVED);
    r.mutable_recorded_at()->set_seconds(1772366400);
    r.set_purpose_id(purpose);
    r.mutable_requester()->set_org_id("riec-zwb");
    r.set_outcome(v1::OUTCOME_GRANTED);
    v1::OrgTags& t = *r.add_tags();
    t.set_org_id(kOrg);
    t.set_purpose_id(purpose);
    for (std::string& tag : tags) t.add_tags(std::move(tag));
    return r;
  }
  v1::ReconcileReport Reconcile(grpc::Status* status_out = nullptr) {
    auto context = As(auditor_);
    auto reader = stub_->ReconcileReceipts(context.get(), v1::ReconcileReceiptsRequest());
    v1::ReconcileReceiptsResponse m;
    v1::ReconcileReport report;
    while (reader->Read(&m)) {
      if (m.has_report()) report = m.report();
    }
    const grpc::Status status = reader->Finish();
    if (status_out != nullptr) *status_out = status;
    EXPECT_TRUE(status.ok()) << status.error_message();
    return report;
  }
  // Keeps receipts as the matching service does.
  void Keep(std::vector<v1::Receipt> receipts) {
    v1::LocalLogRecord record;
    record.set_kind(v1::LOCAL_EVENT_KIND_MATCH_RUN);
    record.set_outcome(v1::OUTCOME_GRANTED);
    for (v1::Receipt& r : receipts) *record.add_receipts() = std::move(r);
    ASSERT_TRUE(log_->Append(std::move(record)).ok());
  }
  std::vector<std::pair<uint64_t, v1::ReconcileProblem>> Findings(const v1::ReconcileReport& r) {
    std::vector<std::pair<uint64_t, v1::ReconcileProblem>> out;
    for (const auto& f : r.findings()) out.emplace_back(f.receipt().payload().sequence(), f.problem());
    return out;
  }

  crypto::oprf::PoprfServer oprf_;
  FakeGatewayAudit gateway_;
  std::unique_ptr<grpc::Server> gateway_server_;
  store::MemoryStore kv_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<UserStore> users_;
  std::string auditor_, analyst_;
  std::unique_ptr<LocalAuthenticator> authenticator_;
  std::unique_ptr<GatewayClient> client_;
  std::unique_ptr<LocalLogService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::LocalLog::Stub> stub_;
};

TEST_F(LocalLogServiceTest, AuditSubjectFindsExactlyTheExchangesAboutThePlantedPerson) {
  gateway_.Append(ResolvedWith("riec", {BsnTag("riec", "100000009"), BsnTag("riec", kBsn)}));
  gateway_.Append(ResolvedWith("riec", {BsnTag("riec", "100000009")}));
  gateway_.Append(ResolvedWith("zvh", {BsnTag("zvh", kBsn)}));
  gateway_.Append(ResolvedWith("zvh", {BsnTag("riec", kBsn)}));  // another purpose's tag

  v1::AuditSubjectRequest request;
  request.mutable_subject()->set_bsn(kBsn);
  v1::AuditSubjectResponse response;
  auto context = As(auditor_);
  const grpc::Status status = stub_->AuditSubject(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<uint64_t> sequences;
  for (const auto& r : response.records()) sequences.push_back(r.sequence());
  EXPECT_THAT(sequences, ElementsAre(1, 3));
  EXPECT_THAT(response.purposes_checked(), ElementsAre("riec", "zvh"));
  ASSERT_EQ(response.keys_size(), 1);
  EXPECT_EQ(response.keys(0).key_type(), v1::MATCH_KEY_TYPE_BSN);
  EXPECT_EQ(response.keys(0).count(), 1u);
  EXPECT_EQ(response.receipt().payload().sequence(), 999u);

  // Only this node's tags went to the gateway, as the auditor; never the BSN.
  ASSERT_EQ(gateway_.finds.size(), 1u);
  const v1::FindSubjectEntriesRequest& sent = gateway_.finds[0];
  EXPECT_EQ(sent.actor().user_id(), "ada");
  EXPECT_EQ(sent.actor().role(), v1::ROLE_AUDITOR);
  ASSERT_EQ(sent.tag_sets_size(), 2);
  EXPECT_EQ(sent.tag_sets(0).org_id(), kOrg);
  EXPECT_THAT(sent.SerializeAsString(), ::testing::Not(HasSubstr(kBsn)));
  // The query is in the local log, without the identifiers.
  const auto entries = log_->Read(1, 0).value();
  const v1::LocalLogRecord& last = entries.back().record();
  EXPECT_EQ(last.kind(), v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
  EXPECT_EQ(last.user_id(), "ada");
  EXPECT_THAT(last.detail(), HasSubstr("AuditSubject"));
  for (const auto& e : entries) {
    EXPECT_THAT(e.SerializeAsString(), ::testing::Not(HasSubstr(kBsn)));
  }

  // One purpose only.
  request.add_purpose_ids("zvh");
  context = As(auditor_);
  ASSERT_TRUE(stub_->AuditSubject(context.get(), request, &response).ok());
  ASSERT_EQ(response.records_size(), 1);
  EXPECT_EQ(response.records(0).sequence(), 3u);
}

TEST_F(LocalLogServiceTest, AuditSubjectRefusesBadInputAndOtherRoles) {
  v1::AuditSubjectRequest request;
  request.mutable_subject()->set_bsn("123456789");  // fails the elfproef
  v1::AuditSubjectResponse response;
  auto context = As(auditor_);
  grpc::Status status = stub_->AuditSubject(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("bsn"));
  EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr("123456789")));
  request.mutable_subject()->set_bsn(kBsn);
  request.add_purpose_ids("onbekend");
  context = As(auditor_);
  status = stub_->AuditSubject(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("purpose_ids[0]"));
  context = As(analyst_);
  EXPECT_EQ(stub_->AuditSubject(context.get(), request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(gateway_.finds, IsEmpty());  // nothing was asked
}

TEST_F(LocalLogServiceTest, ReconcileFindsEveryEditedMissingOrForgedEntry) {
  std::vector<v1::Receipt> receipts;
  for (int i = 0; i < 5; ++i) receipts.push_back(gateway_.Append(ResolvedWith("riec", {})));
  gateway_.Checkpoint();
  gateway_.Append(ResolvedWith("riec", {}));  // after the checkpoint
  Keep(receipts);

  v1::ReconcileReport report = Reconcile();
  EXPECT_TRUE(report.consistent());
  EXPECT_EQ(report.receipts_checked(), 5u);
  EXPECT_EQ(report.checkpoint().payload().sequence(), 5u);

  // Entry 2's content edited in place; entry 4 gone; a forged receipt kept.
  gateway_.entries[1].mutable_record()->set_outcome(v1::OUTCOME_REFUSED);
  gateway_.hidden.insert(4);
  v1::Receipt forged = receipts[2];
  forged.mutable_payload()->set_sequence(6);
  Keep({forged});
  report = Reconcile();
  EXPECT_FALSE(report.consistent());
  EXPECT_THAT(Findings(report),
              ElementsAre(std::pair(2u, v1::RECONCILE_PROBLEM_ENTRY_CHANGED),
                          std::pair(4u, v1::RECONCILE_PROBLEM_ENTRY_MISSING),
                          std::pair(6u, v1::RECONCILE_PROBLEM_RECEIPT_INVALID)));
  EXPECT_THAT(report.findings(0).detail(), HasSubstr("entry 2"));
}

TEST_F(LocalLogServiceTest, ReconcileFindsAnEditedAndReHashedChain) {
  std::vector<v1::Receipt> receipts;
  for (int i = 0; i < 4; ++i) receipts.push_back(gateway_.Append(ResolvedWith("riec", {})));
  gateway_.Checkpoint();
  Keep(receipts);
  gateway_.entries[2].mutable_record()->set_outcome(v1::OUTCOME_REFUSED);
  gateway_.Rehash(3);  // the chain alone now holds; the receipts and checkpoint do not
  const v1::ReconcileReport report = Reconcile();
  EXPECT_FALSE(report.consistent());
  EXPECT_THAT(Findings(report),
              ElementsAre(std::pair(1u, v1::RECONCILE_PROBLEM_NOT_IN_CHAIN),
                          std::pair(2u, v1::RECONCILE_PROBLEM_NOT_IN_CHAIN),
                          std::pair(3u, v1::RECONCILE_PROBLEM_ENTRY_CHANGED),
                          std::pair(3u, v1::RECONCILE_PROBLEM_NOT_IN_CHAIN),
                          std::pair(4u, v1::RECONCILE_PROBLEM_ENTRY_CHANGED),
                          std::pair(4u, v1::RECONCILE_PROBLEM_NOT_IN_CHAIN)));
  // The query is recorded locally.
  EXPECT_EQ(log_->Read(1, 0).value().back().record().kind(), v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
}

TEST_F(LocalLogServiceTest, WithoutTheGatewayAuditAnswersFailedPrecondition) {
  LocalLogService bare(log_.get(), authenticator_.get());
  int port = 0;
  auto server = Serve(&bare, &port);
  auto stub = v1::LocalLog::NewStub(
      rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()).value());
  v1::AuditSubjectRequest request;
  request.mutable_subject()->set_bsn(kBsn);
  v1::AuditSubjectResponse response;
  auto context = As(auditor_);
  EXPECT_EQ(stub->AuditSubject(context.get(), request, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace schakel::nodes
