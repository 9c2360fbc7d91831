#include "nodes/forwarding_services.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/random.h"
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

v1::Receipt ReceiptNo(uint64_t sequence) {
  v1::Receipt r;
  r.mutable_payload()->set_sequence(sequence);
  return r;
}

// The gateway's Cases and Audit as far as forwarding needs them: they
// remember the actor they were called with and answer as told.
class FakeCases final : public v1::Cases::Service {
 public:
  grpc::Status OpenCase(grpc::ServerContext*, const v1::OpenCaseRequest* request,
                        v1::OpenCaseResponse* response) override {
    std::lock_guard lock(mu);
    actors.push_back(request->actor());
    response->mutable_case_info()->set_case_id("2025-0042");
    response->mutable_case_info()->set_purpose_id(request->purpose_id());
    response->mutable_case_info()->set_title(request->title());
    *response->add_receipts() = ReceiptNo(11);
    return grpc::Status::OK;
  }
  grpc::Status CloseCase(grpc::ServerContext*, const v1::CloseCaseRequest* request,
                         v1::CloseCaseResponse*) override {
    std::lock_guard lock(mu);
    actors.push_back(request->actor());
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_CASE_NOT_OPEN);
    *detail.mutable_receipt() = ReceiptNo(12);
    return rpc::ToGrpcStatus(
        rpc::WithErrorDetail(absl::FailedPreconditionError("case 2025-0042 is already closed"), detail));
  }
  grpc::Status GetCase(grpc::ServerContext*, const v1::GetCaseRequest* request,
                       v1::GetCaseResponse* response) override {
    std::lock_guard lock(mu);
    actors.push_back(request->actor());
    response->mutable_case_info()->set_case_id(request->case_id());
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::vector<v1::Actor> actors;
};

class FakeAudit final : public v1::Audit::Service {
 public:
  grpc::Status VerifyChain(grpc::ServerContext*, const v1::VerifyChainRequest* request,
                           grpc::ServerWriter<v1::VerifyChainResponse>* writer) override {
    {
      std::lock_guard lock(mu);
      actors.push_back(request->actor());
      if (!stream_error.ok()) return stream_error;
    }
    v1::VerifyChainResponse first;
    *first.mutable_receipt() = ReceiptNo(21);
    first.mutable_progress()->set_entries_checked(10000);
    writer->Write(first);
    v1::VerifyChainResponse second;
    second.mutable_progress()->set_entries_checked(20000);
    writer->Write(second);
    v1::VerifyChainResponse last;
    last.mutable_result()->set_intact(true);
    last.mutable_result()->set_entries_checked(25000);
    writer->Write(last);
    return grpc::Status::OK;
  }
  grpc::Status ListEntries(grpc::ServerContext*, const v1::ListEntriesRequest* request,
                           grpc::ServerWriter<v1::ListEntriesResponse>*) override {
    std::lock_guard lock(mu);
    actors.push_back(request->actor());
    return grpc::Status::OK;  // no message at all
  }
  grpc::Status GetEntries(grpc::ServerContext*, const v1::GetEntriesRequest* request,
                          v1::GetEntriesResponse* response) override {
    std::lock_guard lock(mu);
    actors.push_back(request->actor());
    response->add_missing_sequences(99);
    *response->mutable_receipt() = ReceiptNo(22);
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::vector<v1::Actor> actors;
  grpc::Status stream_error = grpc::Status::OK;
};

std::unique_ptr<grpc::Server> Serve(const std::vector<grpc::Service*>& services, int* port) {
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  for (grpc::Service* s : services) builder.RegisterService(s);
  return builder.BuildAndStart();
}

class ForwardingTest : public ::testing::Test {
 protected:
  ForwardingTest() {
    gateway_server_ = Serve({&cases_, &audit_}, &gateway_port_);
    log_ = LocalLog::Open(&kv_).value();
    crypto::SecretBytes<32> key;
    crypto::RandomBytes(key.mutable_bytes());
    users_ = UserStore::Create(&kv_, log_.get(), std::move(key)).value();
    director_ = Credential("dirk", {v1::ROLE_DIRECTOR});
    analyst_ = Credential("anna", {v1::ROLE_ANALYST});
    auditor_ = Credential("ada", {v1::ROLE_AUDITOR, v1::ROLE_ANALYST});
    authenticator_ = std::make_unique<LocalAuthenticator>(users_.get(), log_.get());
    Start(StrCat("127.0.0.1:", gateway_port_), log_.get());
  }

  void Start(const std::string& gateway, LocalLog* log) {
    server_.reset();
    client_ = std::make_unique<GatewayClient>(
        rpc::CreateChannel(gateway, grpc::InsecureChannelCredentials()).value(),
        GatewayClient::Options{});
    cases_service_ = std::make_unique<ForwardingCasesService>(client_.get(), authenticator_.get(), log);
    audit_service_ = std::make_unique<ForwardingAuditService>(client_.get(), authenticator_.get(), log);
    int port = 0;
    server_ = Serve({cases_service_.get(), audit_service_.get()}, &port);
    auto channel =
        rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()).value();
    cases_stub_ = v1::Cases::NewStub(channel);
    audit_stub_ = v1::Audit::NewStub(channel);
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

  std::vector<v1::LocalLogRecord> Records(v1::LocalEventKind kind) {
    std::vector<v1::LocalLogRecord> out;
    auto entries = log_->Read(1, 0);
    if (!entries.ok()) return out;
    for (const v1::LocalLogEntry& e : *entries) {
      if (e.record().kind() == kind) out.push_back(e.record());
    }
    return out;
  }

  FakeCases cases_;
  FakeAudit audit_;
  int gateway_port_ = 0;
  std::unique_ptr<grpc::Server> gateway_server_;
  store::MemoryStore kv_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<UserStore> users_;
  std::string director_, analyst_, auditor_;
  std::unique_ptr<LocalAuthenticator> authenticator_;
  std::unique_ptr<GatewayClient> client_;
  std::unique_ptr<ForwardingCasesService> cases_service_;
  std::unique_ptr<ForwardingAuditService> audit_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Cases::Stub> cases_stub_;
  std::unique_ptr<v1::Audit::Stub> audit_stub_;
};

TEST_F(ForwardingTest, OpenCaseIsForwardedAsTheAuthenticatedDirectorAndRecorded) {
  v1::OpenCaseRequest request;
  request.mutable_actor()->set_user_id("someone-else");  // overwritten by the node
  request.mutable_actor()->set_role(v1::ROLE_ADMIN);
  request.set_purpose_id("zvh.families");
  request.set_title("Wijk Noord");
  v1::OpenCaseResponse response;
  const grpc::Status status = cases_stub_->OpenCase(As(director_).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.case_info().case_id(), "2025-0042");
  EXPECT_EQ(response.case_info().title(), "Wijk Noord");
  ASSERT_EQ(cases_.actors.size(), 1u);
  EXPECT_EQ(cases_.actors[0].user_id(), "dirk");
  EXPECT_EQ(cases_.actors[0].role(), v1::ROLE_DIRECTOR);

  const auto records = Records(v1::LOCAL_EVENT_KIND_CASE_CHANGED);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].user_id(), "dirk");
  EXPECT_EQ(records[0].role(), v1::ROLE_DIRECTOR);
  EXPECT_EQ(records[0].case_id(), "2025-0042");
  EXPECT_EQ(records[0].purpose_id(), "zvh.families");
  EXPECT_EQ(records[0].outcome(), v1::OUTCOME_GRANTED);
  ASSERT_EQ(records[0].receipts_size(), 1);
  EXPECT_EQ(records[0].receipts(0).payload().sequence(), 11u);
}

TEST_F(ForwardingTest, CaseChangesNeedADirector) {
  v1::OpenCaseRequest request;
  request.set_purpose_id("zvh.families");
  v1::OpenCaseResponse response;
  EXPECT_EQ(cases_stub_->OpenCase(As(analyst_).get(), request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(cases_stub_->OpenCase(As("dirk.wrong").get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(cases_.actors.empty());
  EXPECT_THAT(Records(v1::LOCAL_EVENT_KIND_CASE_CHANGED), IsEmpty());
}

TEST_F(ForwardingTest, ReadsAreOpenToAnalystsAndAuditorsAndNotRecorded) {
  v1::GetCaseRequest request;
  request.set_case_id("2025-0042");
  v1::GetCaseResponse response;
  ASSERT_TRUE(cases_stub_->GetCase(As(analyst_).get(), request, &response).ok());
  ASSERT_TRUE(cases_stub_->GetCase(As(auditor_).get(), request, &response).ok());
  EXPECT_EQ(response.case_info().case_id(), "2025-0042");
  ASSERT_EQ(cases_.actors.size(), 2u);
  EXPECT_EQ(cases_.actors[0].role(), v1::ROLE_ANALYST);
  // ada holds analyst and auditor: without x-schakel-role the first in Role
  // order that the rpc accepts.
  EXPECT_EQ(cases_.actors[1].role(), v1::ROLE_ANALYST);
  EXPECT_THAT(Records(v1::LOCAL_EVENT_KIND_CASE_CHANGED), IsEmpty());
}

TEST_F(ForwardingTest, GatewayRefusalsPassThroughAndAreRecorded) {
  v1::CloseCaseRequest request;
  request.set_case_id("2025-0042");
  request.set_reason("doel bereikt");
  v1::CloseCaseResponse response;
  const grpc::Status status = cases_stub_->CloseCase(As(director_).get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "case 2025-0042 is already closed");
  auto detail = rpc::ErrorDetailOf(rpc::FromGrpcStatus(status));
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->reason(), v1::DENIAL_REASON_CASE_NOT_OPEN);
  EXPECT_EQ(detail->receipt().payload().sequence(), 12u);

  const auto records = Records(v1::LOCAL_EVENT_KIND_CASE_CHANGED);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome(), v1::OUTCOME_REFUSED);
  EXPECT_EQ(records[0].case_id(), "2025-0042");
  EXPECT_THAT(records[0].denial_reasons(), ElementsAre(v1::DENIAL_REASON_CASE_NOT_OPEN));
  ASSERT_EQ(records[0].receipts_size(), 1);
  EXPECT_EQ(records[0].receipts(0).payload().sequence(), 12u);
  EXPECT_THAT(records[0].detail(), HasSubstr("Cases.CloseCase"));
}

TEST_F(ForwardingTest, AuditStreamsAreRelayedInOrderAndRecordedWithTheirReceipt) {
  v1::VerifyChainRequest request;
  request.set_from_sequence(1);
  auto context = As(auditor_);
  context->AddMetadata("x-schakel-role", "auditor");
  auto reader = audit_stub_->VerifyChain(context.get(), request);
  std::vector<v1::VerifyChainResponse> got;
  v1::VerifyChainResponse message;
  while (reader->Read(&message)) got.push_back(message);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].receipt().payload().sequence(), 21u);
  EXPECT_EQ(got[1].progress().entries_checked(), 20000u);
  EXPECT_TRUE(got[2].result().intact());
  ASSERT_EQ(audit_.actors.size(), 1u);
  EXPECT_EQ(audit_.actors[0].user_id(), "ada");
  EXPECT_EQ(audit_.actors[0].role(), v1::ROLE_AUDITOR);

  const auto records = Records(v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].user_id(), "ada");
  EXPECT_EQ(records[0].outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(records[0].detail(), "Audit.VerifyChain");
  ASSERT_EQ(records[0].receipts_size(), 1);
  EXPECT_EQ(records[0].receipts(0).payload().sequence(), 21u);
}

TEST_F(ForwardingTest, AuditNeedsAnAuditor) {
  auto context = As(analyst_);
  auto reader = audit_stub_->VerifyChain(context.get(), v1::VerifyChainRequest());
  v1::VerifyChainResponse message;
  EXPECT_FALSE(reader->Read(&message));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::GetEntriesResponse entries;
  EXPECT_EQ(audit_stub_->GetEntries(As(director_).get(), v1::GetEntriesRequest(), &entries)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(audit_.actors.empty());
}

TEST_F(ForwardingTest, AuditErrorsAndEmptyStreamsPassThrough) {
  v1::ErrorDetail detail;
  detail.set_reason(v1::DENIAL_REASON_ROLE_NOT_ALLOWED);
  *detail.mutable_receipt() = ReceiptNo(30);
  audit_.stream_error = rpc::ToGrpcStatus(
      rpc::WithErrorDetail(absl::PermissionDeniedError("not an auditor at the gateway"), detail));
  auto context = As(auditor_);
  auto reader = audit_stub_->VerifyChain(context.get(), v1::VerifyChainRequest());
  v1::VerifyChainResponse message;
  EXPECT_FALSE(reader->Read(&message));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(rpc::ErrorDetailOf(rpc::FromGrpcStatus(status))->receipt().payload().sequence(), 30u);

  auto empty_context = As(auditor_);
  auto empty = audit_stub_->ListEntries(empty_context.get(), v1::ListEntriesRequest());
  v1::ListEntriesResponse entry;
  EXPECT_FALSE(empty->Read(&entry));
  EXPECT_TRUE(empty->Finish().ok());

  v1::GetEntriesRequest get;
  get.add_sequences(99);
  v1::GetEntriesResponse got;
  ASSERT_TRUE(audit_stub_->GetEntries(As(auditor_).get(), get, &got).ok());
  EXPECT_THAT(got.missing_sequences(), ElementsAre(99u));

  const auto records = Records(v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].outcome(), v1::OUTCOME_REFUSED);
  EXPECT_THAT(records[0].denial_reasons(), ElementsAre(v1::DENIAL_REASON_ROLE_NOT_ALLOWED));
  EXPECT_EQ(records[1].outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(records[1].detail(), "Audit.ListEntries");
  EXPECT_EQ(records[2].receipts(0).payload().sequence(), 22u);
}

TEST_F(ForwardingTest, NothingIsRelayedWhenTheQueryCannotBeRecorded) {
  store::MemoryStore memory;
  store::FaultyStore refusing(&memory);
  refusing.FailAllWrites();
  auto log = LocalLog::Open(&refusing).value();
  Start(StrCat("127.0.0.1:", gateway_port_), log.get());
  auto context = As(auditor_);
  auto reader = audit_stub_->VerifyChain(context.get(), v1::VerifyChainRequest());
  v1::VerifyChainResponse message;
  EXPECT_FALSE(reader->Read(&message));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("withheld"));

  v1::OpenCaseRequest open;
  open.set_purpose_id("zvh.families");
  v1::OpenCaseResponse opened;
  const grpc::Status case_status = cases_stub_->OpenCase(As(director_).get(), open, &opened);
  EXPECT_EQ(case_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(case_status.error_message(), HasSubstr("case 2025-0042"));
  EXPECT_THAT(case_status.error_message(), HasSubstr("could not record it"));
}

TEST_F(ForwardingTest, AnUnreachableGatewayGivesUnavailable) {
  gateway_server_->Shutdown(std::chrono::system_clock::now());
  v1::GetCaseResponse response;
  const grpc::Status status =
      cases_stub_->GetCase(As(analyst_).get(), v1::GetCaseRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("gateway unreachable"));
}

}  // namespace
}  // namespace schakel::nodes
