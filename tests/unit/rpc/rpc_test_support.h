// Test support for rpc/: a temporary directory, a test PKI made by
// deploy/pki.sh, an in-process gRPC server whose Diagnostics.GetHealth
// answers with the caller's PeerIdentity, and a client call to it.
//
// Ownership: TempDir removes its directory (and everything in it) on
// destruction; TestServer shuts its server down on destruction.
// Thread safety: the service may be called from gRPC's threads; everything
// else is for the test's own thread.
#ifndef SCHAKEL_TESTS_UNIT_RPC_RPC_TEST_SUPPORT_H_
#define SCHAKEL_TESTS_UNIT_RPC_RPC_TEST_SUPPORT_H_

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "rpc/channel.h"
#include "rpc/deadline.h"
#include "rpc/identity.h"
#include "rpc/status.h"
#include "rpc/tls.h"
#include "schakel/v1/diagnostics.grpc.pb.h"

namespace schakel::rpc::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "schakel-rpc-test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// deploy/pki.sh, found from the test data directory (<repo>/tests/data).
inline fs::path PkiScript() {
  return fs::path(SCHAKEL_TEST_DATA_DIR).parent_path().parent_path() / "deploy" / "pki.sh";
}

// Runs `deploy/pki.sh <args>` quietly; returns its exit status.
inline int RunPki(const std::string& args) {
  const std::string command = StrCat("'", PkiScript().string(), "' ", args, " >/dev/null 2>&1");
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The organisation whose certificates the tests present, and the server's.
inline constexpr char kOrg[] = "politie-oost-nl";
inline constexpr char kServerOrg[] = "gateway";

// A test PKI in a temporary directory, removed on destruction. Making it
// takes a few hundred milliseconds (key generation), so a test suite makes
// one in SetUpTestSuite. In dir(): ca.*, gateway.*, politie-oost-nl.*,
// expired.* (an expired certificate of politie-oost-nl), self-signed.*
// (politie-oost-nl, signed by itself), foreign.* (politie-oost-nl, signed by
// another CA); in other_ca_dir(): ca.* of that other CA.
class TestPki {
 public:
  TestPki() {
    const std::string d = StrCat("'", dir().string(), "'");
    const std::string other = StrCat("'", other_ca_dir().string(), "'");
    ok_ = !dir().empty() && RunPki(StrCat(d, " ca")) == 0 && RunPki(StrCat(other, " ca")) == 0 &&
          RunPki(StrCat(d, " org ", kServerOrg)) == 0 && RunPki(StrCat(d, " org ", kOrg)) == 0 &&
          RunPki(StrCat(d, " org ", kOrg, " --expired --name expired")) == 0 &&
          RunPki(StrCat(d, " org ", kOrg, " --self-signed --name self-signed")) == 0 &&
          RunPki(StrCat(d, " org ", kOrg, " --other-ca ", other, " --name foreign")) == 0;
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // False when pki.sh failed (the test should stop).
  bool ok() const { return ok_; }
  const fs::path& dir() const { return dir_.path(); }
  fs::path other_ca_dir() const { return dir_.path() / "other"; }
  fs::path Cert(const std::string& stem) const { return dir() / (stem + ".pem"); }
  fs::path Key(const std::string& stem) const { return dir() / (stem + ".key"); }
  fs::path Ca() const { return Cert("ca"); }

  // Files of `stem` (e.g. kOrg, "expired"), trusting this PKI's CA.
  TlsFiles Files(const std::string& stem) const { return TlsFiles{Ca(), Cert(stem), Key(stem)}; }

 private:
  TempDir dir_;
  bool ok_ = false;
};

// Diagnostics.GetHealth answering with who called: org_id is the caller's
// PeerIdentity::org_id and server_kind says where it came from
// ("uri-san" or "common-name"). When the caller has no identity, the
// PeerIdentityFrom error is returned with an ErrorDetail (reason
// UNAUTHENTICATED), through ToGrpcStatus. When the request metadata has
// "test-response-bytes: N", software_version is N bytes long (to test
// message size limits); with "test-delay-ms: N" it answers after N ms, or as
// soon as the call is cancelled (to test deadlines).
class WhoAmIService final : public schakel::v1::Diagnostics::Service {
 public:
  grpc::Status GetHealth(grpc::ServerContext* context, const schakel::v1::GetHealthRequest*,
                         schakel::v1::GetHealthResponse* response) override {
    const auto& metadata = context->client_metadata();
    if (auto it = metadata.find("test-delay-ms"); it != metadata.end()) {
      const auto until =
          std::chrono::steady_clock::now() +
          std::chrono::milliseconds(std::stol(std::string(it->second.data(), it->second.size())));
      while (std::chrono::steady_clock::now() < until && !context->IsCancelled()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    absl::StatusOr<PeerIdentity> identity = PeerIdentityFrom(*context);
    if (!identity.ok()) {
      schakel::v1::ErrorDetail detail;
      detail.set_reason(schakel::v1::DENIAL_REASON_UNAUTHENTICATED);
      return ToGrpcStatus(WithErrorDetail(identity.status(), detail));
    }
    response->set_org_id(identity->org_id);
    response->set_server_kind(identity->source == PeerIdentity::Source::kUriSan ? "uri-san"
                                                                                : "common-name");
    if (auto it = metadata.find("test-response-bytes"); it != metadata.end()) {
      const std::string bytes(it->second.data(), it->second.size());
      response->set_software_version(std::string(std::stoul(bytes), 'x'));
    }
    return grpc::Status::OK;
  }
};

// A server on 127.0.0.1 (an ephemeral port) with ConfigureServer's settings
// and the WhoAmIService. port() is 0 when it did not start.
class TestServer {
 public:
  explicit TestServer(std::shared_ptr<grpc::ServerCredentials> credentials) {
    grpc::ServerBuilder builder;
    ConfigureServer(builder);
    builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) port_ = 0;
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  ~TestServer() {
    if (server_ != nullptr) server_->Shutdown();
  }
  int port() const { return port_; }
  std::string endpoint() const { return StrCat("127.0.0.1:", port_); }

 private:
  WhoAmIService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// How CallGetHealth calls.
struct CallOptions {
  std::string target_name_override;
  std::chrono::milliseconds timeout{5000};
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Calls Diagnostics.GetHealth at `endpoint` over a channel from
// CreateChannel with `credentials`; fills `response` on success.
inline grpc::Status CallGetHealth(const std::string& endpoint,
                                  std::shared_ptr<grpc::ChannelCredentials> credentials,
                                  schakel::v1::GetHealthResponse* response,
                                  const CallOptions& options = {}) {
  auto channel = CreateChannel(endpoint, std::move(credentials), options.target_name_override);
  if (!channel.ok()) return ToGrpcStatus(channel.status());
  auto stub = schakel::v1::Diagnostics::NewStub(*channel);
  grpc::ClientContext context;
  SetDeadline(context, options.timeout);
  for (const auto& [key, value] : options.metadata) context.AddMetadata(key, value);
  return stub->GetHealth(&context, schakel::v1::GetHealthRequest(), response);
}

}  // namespace schakel::rpc::testing

#endif  // SCHAKEL_TESTS_UNIT_RPC_RPC_TEST_SUPPORT_H_
