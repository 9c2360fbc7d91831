// An in-process stand-in for a node's local API, for testing the CLI's
// commands end to end over real TLS: a gRPC server on 127.0.0.1 (an
// ephemeral port) with a certificate from a test PKI (deploy/pki.sh), not
// asking for a client certificate, like the node's local listener. It
// serves schakel.v1.Signals, Matching, Cases, Audit, LocalLog, Users and
// NodeAdmin; each rpc runs the handler the test set (std::function
// members), or answers UNIMPLEMENTED. Every call's "authorization" and "x-schakel-role"
// metadata is recorded.
//
// Also: a client config and credential file pointing at the server
// (WriteClientConfig), RunCli with an explicit environment, and
// FakeNodeTest, a test fixture with a node and its client config.
//
// Thread safety: set handlers before running a command; the server calls
// them from its own threads. calls() may be read after the command.
#ifndef SCHAKEL_TESTS_UNIT_CLI_FAKE_NODE_H_
#define SCHAKEL_TESTS_UNIT_CLI_FAKE_NODE_H_

#include <gmock/gmock.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "common/strings.h"
#include "rpc/channel.h"
#include "schakel/v1/audit.grpc.pb.h"
#include "schakel/v1/cases.grpc.pb.h"
#include "schakel/v1/local.grpc.pb.h"
#include "schakel/v1/node_admin.grpc.pb.h"
#include "schakel/v1/signals.grpc.pb.h"
#include "tests/support/test_support.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/rpc/rpc_test_support.h"

namespace schakel::cli::testing {

namespace fs = std::filesystem;
namespace v1 = schakel::v1;

// A CA and a certificate for "node" (SANs DNS:localhost, IP:127.0.0.1),
// made once per test program and removed when it exits (a static object,
// not a leaked pointer: every test case is its own process under ctest, and
// each used to leave a directory behind in /tmp).
class CliPki {
 public:
  static const CliPki& Get() {
    static const CliPki pki;
    return pki;
  }
  bool ok() const { return ok_; }
  fs::path Ca() const { return dir_.path() / "ca.pem"; }
  fs::path NodeCert() const { return dir_.path() / "node.pem"; }
  fs::path NodeKey() const { return dir_.path() / "node.key"; }
  // A CA that did not sign the node's certificate.
  fs::path OtherCa() const { return dir_.path() / "other" / "ca.pem"; }

 private:
  CliPki() {
    const std::string d = StrCat("'", dir_.path().string(), "'");
    const std::string other = StrCat("'", (dir_.path() / "other").string(), "'");
    ok_ = rpc::testing::RunPki(StrCat(d, " ca")) == 0 &&
          rpc::testing::RunPki(StrCat(d, " org node")) == 0 &&
          rpc::testing::RunPki(StrCat(other, " ca")) == 0;
  }
  rpc::testing::TempDir dir_;
  bool ok_ = false;
};

inline std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// What one call carried.
struct RecordedCall {
  std::string method;
  std::string authorization;  // empty when absent
  std::string role;           // empty when absent
};

class CallRecorder {
 public:
  void Record(grpc::ServerContext* context, std::string method) {
    RecordedCall call;
    call.method = std::move(method);
    const auto& metadata = context->client_metadata();
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      call.authorization.assign(it->second.data(), it->second.size());
    }
    if (auto it = metadata.find("x-schakel-role"); it != metadata.end()) {
      call.role.assign(it->second.data(), it->second.size());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back(std::move(call));
  }
  std::vector<RecordedCall> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<RecordedCall> calls_;
};

inline grpc::Status NotScripted() {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not scripted in this test");
}

template <typename Req, typename Resp>
using Unary = std::function<grpc::Status(const Req&, Resp*)>;
template <typename Req, typename Resp>
using ServerStream = std::function<grpc::Status(const Req&, grpc::ServerWriter<Resp>*)>;

#define SCHAKEL_FAKE_UNARY(Rpc, Req, Resp, member)                                   \
  Unary<v1::Req, v1::Resp> member;                                                   \
  grpc::Status Rpc(grpc::ServerContext* context, const v1::Req* request,             \
                   v1::Resp* response) override {                                    \
    recorder_->Record(context, #Rpc);                                                \
    return member ? member(*request, response) : NotScripted();                      \
  }
#define SCHAKEL_FAKE_STREAM(Rpc, Req, Resp, member)                                  \
  ServerStream<v1::Req, v1::Resp> member;                                            \
  grpc::Status Rpc(grpc::ServerContext* context, const v1::Req* request,             \
                   grpc::ServerWriter<v1::Resp>* writer) override {                  \
    recorder_->Record(context, #Rpc);                                                \
    return member ? member(*request, writer) : NotScripted();                        \
  }

class FakeSignals final : public v1::Signals::Service {
 public:
  explicit FakeSignals(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_UNARY(AddSignal, AddSignalRequest, AddSignalResponse, add)
  SCHAKEL_FAKE_UNARY(GetSignal, GetSignalRequest, GetSignalResponse, get)
  SCHAKEL_FAKE_STREAM(ListSignals, ListSignalsRequest, ListSignalsResponse, list)
  SCHAKEL_FAKE_UNARY(UpdateSignal, UpdateSignalRequest, UpdateSignalResponse, update)
  SCHAKEL_FAKE_UNARY(DeleteSignal, DeleteSignalRequest, DeleteSignalResponse, del)

  std::function<grpc::Status(
      grpc::ServerReaderWriter<v1::ImportSignalsResponse, v1::ImportSignalsRequest>*)>
      import;
  grpc::Status ImportSignals(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ImportSignalsResponse, v1::ImportSignalsRequest>* stream)
      override {
    recorder_->Record(context, "ImportSignals");
    return import ? import(stream) : NotScripted();
  }

 private:
  CallRecorder* recorder_;
};

class FakeMatching final : public v1::Matching::Service {
 public:
  explicit FakeMatching(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_UNARY(Match, MatchRequest, MatchResponse, match)

 private:
  CallRecorder* recorder_;
};

class FakeCases final : public v1::Cases::Service {
 public:
  explicit FakeCases(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_UNARY(OpenCase, OpenCaseRequest, OpenCaseResponse, open)
  SCHAKEL_FAKE_UNARY(CloseCase, CloseCaseRequest, CloseCaseResponse, close)
  SCHAKEL_FAKE_UNARY(GetCase, GetCaseRequest, GetCaseResponse, get)
  SCHAKEL_FAKE_UNARY(ListCases, ListCasesRequest, ListCasesResponse, list)

 private:
  CallRecorder* recorder_;
};

class FakeAudit final : public v1::Audit::Service {
 public:
  explicit FakeAudit(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_STREAM(VerifyChain, VerifyChainRequest, VerifyChainResponse, verify)
  SCHAKEL_FAKE_STREAM(ListEntries, ListEntriesRequest, ListEntriesResponse, list)
  SCHAKEL_FAKE_UNARY(GetStats, GetStatsRequest, GetStatsResponse, stats)
  SCHAKEL_FAKE_STREAM(Export, ExportRequest, ExportResponse, exp)

 private:
  CallRecorder* recorder_;
};

class FakeLocalLog final : public v1::LocalLog::Service {
 public:
  explicit FakeLocalLog(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_STREAM(ListLocalLog, ListLocalLogRequest, ListLocalLogResponse, list)
  SCHAKEL_FAKE_UNARY(AuditSubject, AuditSubjectRequest, AuditSubjectResponse, subject)
  SCHAKEL_FAKE_STREAM(ReconcileReceipts, ReconcileReceiptsRequest, ReconcileReceiptsResponse,
                      reconcile)

 private:
  CallRecorder* recorder_;
};

class FakeUsers final : public v1::Users::Service {
 public:
  explicit FakeUsers(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_UNARY(WhoAmI, WhoAmIRequest, WhoAmIResponse, whoami)
  SCHAKEL_FAKE_UNARY(CreateUser, CreateUserRequest, CreateUserResponse, create)
  SCHAKEL_FAKE_UNARY(ListUsers, ListUsersRequest, ListUsersResponse, list)
  SCHAKEL_FAKE_UNARY(RotateCredential, RotateCredentialRequest, RotateCredentialResponse,
                     rotate)

 private:
  CallRecorder* recorder_;
};

class FakeNodeAdmin final : public v1::NodeAdmin::Service {
 public:
  explicit FakeNodeAdmin(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_UNARY(GetLocalPolicy, GetLocalPolicyRequest, GetLocalPolicyResponse, policy)
  SCHAKEL_FAKE_UNARY(GetIndexStatus, GetIndexStatusRequest, GetIndexStatusResponse, status)

 private:
  CallRecorder* recorder_;
};

#undef SCHAKEL_FAKE_UNARY
#undef SCHAKEL_FAKE_STREAM

// The credential the fake's client config carries.
inline constexpr char kUserId[] = "a.bakker";
inline constexpr char kSecret[] = "S3cr3t-S3cr3t_S3cr3t-S3cr3t_S3cr3t-S3cr3t_x";

class FakeNode {
 public:
  FakeNode() {
    grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    options.pem_key_cert_pairs.push_back(
        {ReadText(CliPki::Get().NodeKey()), ReadText(CliPki::Get().NodeCert())});
    grpc::ServerBuilder builder;
    rpc::ConfigureServer(builder);
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(options), &port_);
    builder.RegisterService(&signals);
    builder.RegisterService(&matching);
    builder.RegisterService(&cases);
    builder.RegisterService(&audit);
    builder.RegisterService(&log);
    builder.RegisterService(&users);
    builder.RegisterService(&node_admin);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) port_ = 0;
  }
  FakeNode(const FakeNode&) = delete;
  FakeNode& operator=(const FakeNode&) = delete;
  ~FakeNode() {
    if (server_ != nullptr) server_->Shutdown();
  }

  bool ok() const { return port_ != 0 && CliPki::Get().ok(); }
  std::string endpoint() const { return StrCat("127.0.0.1:", port_); }
  std::vector<RecordedCall> calls() const { return recorder_.calls(); }

  // Writes dir/cli.json and dir/me.cred (mode 0600) for this node; returns
  // the config's path. `role` is the config's "role" ("" leaves it out).
  fs::path WriteClientConfig(const fs::path& dir, const std::string& role = "") const {
    const fs::path credential = dir / "me.cred";
    schakel::testing::WriteFile(credential, StrCat(kUserId, ".", kSecret, "\n"));
    ::chmod(credential.c_str(), 0600);
    std::string json = StrCat("{\"endpoint\": \"", endpoint(), "\", \"ca\": \"",
                              CliPki::Get().Ca().string(), "\", \"credential_file\": \"me.cred\"");
    if (!role.empty()) json += StrCat(", \"role\": \"", role, "\"");
    json += "}\n";
    const fs::path config = dir / "cli.json";
    schakel::testing::WriteFile(config, json);
    return config;
  }

 private:
  CallRecorder recorder_;

 public:
  FakeSignals signals{&recorder_};
  FakeMatching matching{&recorder_};
  FakeCases cases{&recorder_};
  FakeAudit audit{&recorder_};
  FakeLocalLog log{&recorder_};
  FakeUsers users{&recorder_};
  FakeNodeAdmin node_admin{&recorder_};

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A fake node and a client config for it. Run runs `schakel` with the
// config and checks that the credential's secret is never printed.
class FakeNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(node_.ok()) << "fake node or test PKI did not start";
    config_ = node_.WriteClientConfig(dir_.path());
  }

  Outcome Run(std::vector<std::string> args) {
    args.push_back("--config");
    args.push_back(config_.string());
    Outcome outcome = RunCli(args, TestEnvironment({}));
    EXPECT_THAT(outcome.out, ::testing::Not(::testing::HasSubstr(kSecret)));
    EXPECT_THAT(outcome.err, ::testing::Not(::testing::HasSubstr(kSecret)));
    return outcome;
  }

  FakeNode node_;
  schakel::testing::TempDir dir_;
  fs::path config_;
};

// A failed status with an ErrorDetail, as the node's services return them.
inline grpc::Status WithDetail(grpc::StatusCode code, const std::string& message,
                               const v1::ErrorDetail& detail) {
  return rpc::ToGrpcStatus(rpc::WithErrorDetail(
      absl::Status(static_cast<absl::StatusCode>(code), message), detail));
}

}  // namespace schakel::cli::testing

#endif  // SCHAKEL_TESTS_UNIT_CLI_FAKE_NODE_H_
