// An in-process stand-in for a node's local API serving what comes after a
// hit: schakel.v1.Matching (AskDisclosure, ShowDisclosure, ListDisclosures),
// Approvals and Inbox, over real TLS like FakeNode (fake_node.h), whose PKI,
// call recorder and client config it shares. Each rpc runs the handler the
// test set, or answers UNIMPLEMENTED; every call's metadata is recorded.
//
// Thread safety: set handlers before running a command; the server calls
// them from its own threads. calls() may be read after the command.
#ifndef SCHAKEL_TESTS_UNIT_CLI_FAKE_DISCLOSURE_NODE_H_
#define SCHAKEL_TESTS_UNIT_CLI_FAKE_DISCLOSURE_NODE_H_

#include <gtest/gtest.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "rpc/channel.h"
#include "schakel/v1/local.grpc.pb.h"
#include "tests/unit/cli/fake_node.h"

namespace schakel::cli::testing {

#define SCHAKEL_FAKE_UNARY(Rpc, Req, Resp, member)                       \
  Unary<v1::Req, v1::Resp> member;                                       \
  grpc::Status Rpc(grpc::ServerContext* context, const v1::Req* request, \
                   v1::Resp* response) override {                        \
    recorder_->Record(context, #Rpc);                                    \
    return member ? member(*request, response) : NotScripted();          \
  }

class FakeDisclosures final : public v1::Matching::Service {
 public:
  explicit FakeDisclosures(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_UNARY(AskDisclosure, AskDisclosureRequest, AskDisclosureResponse, ask)
  SCHAKEL_FAKE_UNARY(ShowDisclosure, ShowDisclosureRequest, ShowDisclosureResponse, show)
  SCHAKEL_FAKE_UNARY(ListDisclosures, ListDisclosuresRequest, ListDisclosuresResponse, list)

 private:
  CallRecorder* recorder_;
};

class FakeApprovals final : public v1::Approvals::Service {
 public:
  explicit FakeApprovals(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_UNARY(ListApprovals, ListApprovalsRequest, ListApprovalsResponse, list)
  SCHAKEL_FAKE_UNARY(GetApproval, GetApprovalRequest, GetApprovalResponse, get)
  SCHAKEL_FAKE_UNARY(Approve, ApproveRequest, ApproveResponse, approve)
  SCHAKEL_FAKE_UNARY(Deny, DenyRequest, DenyResponse, deny)

 private:
  CallRecorder* recorder_;
};

class FakeInbox final : public v1::Inbox::Service {
 public:
  explicit FakeInbox(CallRecorder* recorder) : recorder_(recorder) {}
  SCHAKEL_FAKE_UNARY(ListNotifications, ListNotificationsRequest, ListNotificationsResponse, list)
  SCHAKEL_FAKE_UNARY(MarkNotificationsRead, MarkNotificationsReadRequest,
                     MarkNotificationsReadResponse, mark)

 private:
  CallRecorder* recorder_;
};

#undef SCHAKEL_FAKE_UNARY

class FakeDisclosureNode {
 public:
  FakeDisclosureNode() {
    grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    options.pem_key_cert_pairs.push_back(
        {ReadText(CliPki::Get().NodeKey()), ReadText(CliPki::Get().NodeCert())});
    grpc::ServerBuilder builder;
    rpc::ConfigureServer(builder);
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(options), &port_);
    builder.RegisterService(&disclosures);
    builder.RegisterService(&approvals);
    builder.RegisterService(&inbox);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) port_ = 0;
  }
  FakeDisclosureNode(const FakeDisclosureNode&) = delete;
  FakeDisclosureNode& operator=(const FakeDisclosureNode&) = delete;
  ~FakeDisclosureNode() {
    if (server_ != nullptr) server_->Shutdown();
  }

  bool ok() const { return port_ != 0 && CliPki::Get().ok(); }
  std::string endpoint() const { return StrCat("127.0.0.1:", port_); }
  std::vector<RecordedCall> calls() const { return recorder_.calls(); }

  // Writes dir/cli.json and dir/me.cred (mode 0600) for this node, as
  // FakeNode::WriteClientConfig does; returns the config's path.
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
  FakeDisclosures disclosures{&recorder_};
  FakeApprovals approvals{&recorder_};
  FakeInbox inbox{&recorder_};

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A fixture: a started FakeDisclosureNode and a client config for it acting
// in `role` ("": the node's choice). Run(args) runs `schakel <command>
// <args...> --config <it>`.
class FakeDisclosureNodeTest : public ::testing::Test {
 protected:
  explicit FakeDisclosureNodeTest(std::string command, std::string role = "")
      : command_(std::move(command)), role_(std::move(role)) {}

  void SetUp() override {
    ASSERT_TRUE(node_.ok()) << "fake node or test PKI did not start";
    config_ = node_.WriteClientConfig(dir_.path(), role_);
  }
  Outcome Run(std::vector<std::string> args) {
    if (!command_.empty()) args.insert(args.begin(), command_);
    args.push_back("--config");
    args.push_back(config_.string());
    return RunCli(args, TestEnvironment({}));
  }

  FakeDisclosureNode node_;
  schakel::testing::TempDir dir_;
  fs::path config_;

 private:
  std::string command_, role_;
};

}  // namespace schakel::cli::testing

#endif  // SCHAKEL_TESTS_UNIT_CLI_FAKE_DISCLOSURE_NODE_H_
