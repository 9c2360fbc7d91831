#include "nodes/gateway_client.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/hash.h"
#include "crypto/signing.h"
#include "rpc/channel.h"
#include "rpc/identity.h"
#include "rpc/status.h"
#include "tests/unit/rpc/rpc_test_support.h"

namespace schakel::nodes {
namespace {

using ::testing::HasSubstr;

v1::PublicKey KeyOf(const crypto::VerifyKey& key) {
  v1::PublicKey k;
  const crypto::Bytes raw = key.ToBytes();
  k.set_key(std::string(raw.begin(), raw.end()));
  const auto digest = crypto::Blake2b256Hash(raw);
  k.set_key_id(std::string(reinterpret_cast<const char*>(digest.data()), 8));
  return k;
}

// Directory and purposes, counting the calls; the caller's organisation as
// its certificate names it (over TLS).
class DirectoryGateway final : public v1::Gateway::Service {
 public:
  grpc::Status GetDirectory(grpc::ServerContext* context, const v1::GetDirectoryRequest*,
                            v1::GetDirectoryResponse* response) override {
    std::lock_guard lock(mu);
    ++directory_calls;
    if (auto peer = rpc::PeerIdentityFrom(*context); peer.ok()) caller = peer->org_id;
    *response = directory;
    return grpc::Status::OK;
  }
  grpc::Status ListPurposes(grpc::ServerContext*, const v1::ListPurposesRequest*,
                            v1::ListPurposesResponse* response) override {
    std::lock_guard lock(mu);
    ++purpose_calls;
    if (!purposes_error.ok()) return purposes_error;
    response->set_policy_version(policy_version);
    response->add_purposes()->mutable_purpose()->set_purpose_id("zvh.zorg");
    return grpc::Status::OK;
  }

  void AddOrg(const std::string& org_id, const crypto::VerifyKey& key, bool active = true) {
    std::lock_guard lock(mu);
    v1::Organisation* org = directory.add_organisations();
    org->set_org_id(org_id);
    org->set_active(active);
    *org->add_signing_keys() = KeyOf(key);
    directory.set_directory_version(directory.directory_version() + 1);
  }

  std::mutex mu;
  v1::GetDirectoryResponse directory;
  std::string policy_version = "v1";
  grpc::Status purposes_error = grpc::Status::OK;
  int directory_calls = 0;
  int purpose_calls = 0;
  std::string caller;
};

class GatewayClientTest : public ::testing::Test {
 protected:
  GatewayClientTest() {
    grpc::ServerBuilder builder;
    rpc::ConfigureServer(builder);
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&gateway_);
    server_ = builder.BuildAndStart();
    GatewayClient::Options options;
    options.now = [this] { return now_.load(); };
    client_ = std::make_unique<GatewayClient>(
        rpc::CreateChannel(StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()).value(),
        options);
  }

  int DirectoryCalls() {
    std::lock_guard lock(gateway_.mu);
    return gateway_.directory_calls;
  }

  DirectoryGateway gateway_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<absl::Time> now_{absl::FromUnixSeconds(1'750'000'000)};
  std::unique_ptr<GatewayClient> client_;
  crypto::SigningKey politie_ = crypto::SigningKey::Generate();
};

TEST_F(GatewayClientTest, CachesTheDirectoryAndRefreshesWhenStale) {
  gateway_.AddOrg("politie", politie_.verify_key());
  auto first = client_->Directory();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->organisations_size(), 1);
  ASSERT_TRUE(client_->Directory().ok());
  ASSERT_TRUE(client_->FindOrganisation("politie").ok());
  EXPECT_EQ(DirectoryCalls(), 1);

  gateway_.AddOrg("zorg", crypto::SigningKey::Generate().verify_key());
  now_ = now_.load() + absl::Seconds(61);
  auto second = client_->Directory();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->organisations_size(), 2);
  EXPECT_EQ(DirectoryCalls(), 2);
}

TEST_F(GatewayClientTest, AnUnknownOrganisationOrKeyRefreshesOnceThenIsNotFound) {
  gateway_.AddOrg("politie", politie_.verify_key());
  ASSERT_TRUE(client_->Directory().ok());
  // A partner registered since: found after one forced refresh.
  gateway_.AddOrg("woonstad", crypto::SigningKey::Generate().verify_key());
  ASSERT_TRUE(client_->FindOrganisation("woonstad").ok());
  EXPECT_EQ(DirectoryCalls(), 2);

  // Unknown ones cannot make the node hammer the gateway.
  now_ = now_.load() + absl::Seconds(1);
  auto missing = client_->FindOrganisation("onbekend");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr("onbekend"));
  const crypto::Bytes other_id(8, 0xab);
  auto key = client_->NodeSigningKey("politie", other_id);
  EXPECT_TRUE(absl::IsNotFound(key.status()));
  EXPECT_THAT(key.status().message(), HasSubstr("abababababababab"));
  EXPECT_EQ(DirectoryCalls(), 2);
  now_ = now_.load() + absl::Seconds(5);
  EXPECT_TRUE(absl::IsNotFound(client_->FindOrganisation("onbekend").status()));
  EXPECT_EQ(DirectoryCalls(), 3);

  // The right key id gives the key.
  const v1::PublicKey published = KeyOf(politie_.verify_key());
  auto found = client_->NodeSigningKey("politie", crypto::AsBytes(published.key_id()));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(*found == politie_.verify_key());
}

TEST_F(GatewayClientTest, DeactivatedOrganisationsAreNotFound) {
  gateway_.AddOrg("opgeheven", politie_.verify_key(), /*active=*/false);
  EXPECT_TRUE(absl::IsNotFound(client_->FindOrganisation("opgeheven").status()));
}

TEST_F(GatewayClientTest, PurposesAreCachedAndServedWhileTheGatewayIsDown) {
  auto purposes = client_->ListPurposes(/*prefer_cache=*/true);
  ASSERT_TRUE(purposes.ok()) << purposes.status();
  ASSERT_TRUE(client_->ListPurposes(true).ok());
  ASSERT_TRUE(client_->CachedPurpose("zvh.zorg").has_value());
  EXPECT_FALSE(client_->CachedPurpose("other").has_value());
  {
    std::lock_guard lock(gateway_.mu);
    EXPECT_EQ(gateway_.purpose_calls, 1);
    gateway_.policy_version = "v2";
  }
  auto fresh = client_->ListPurposes(/*prefer_cache=*/false);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->policy_version(), "v2");

  server_->Shutdown(std::chrono::system_clock::now());
  auto cached = client_->ListPurposes(false);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->policy_version(), "v2");
}

TEST_F(GatewayClientTest, GatewayErrorsPassThroughAndUnreachableIsUnavailable) {
  v1::ErrorDetail detail;
  detail.set_reason(v1::DENIAL_REASON_UNKNOWN_ORGANISATION);
  {
    std::lock_guard lock(gateway_.mu);
    gateway_.purposes_error = rpc::ToGrpcStatus(rpc::WithErrorDetail(
        absl::UnauthenticatedError("certificate names no active organisation"), detail));
  }
  auto refused = client_->ListPurposes(false);
  EXPECT_TRUE(absl::IsUnauthenticated(refused.status()));
  EXPECT_EQ(refused.status().message(), "certificate names no active organisation");
  EXPECT_EQ(rpc::ErrorDetailOf(refused.status())->reason(), v1::DENIAL_REASON_UNKNOWN_ORGANISATION);

  server_->Shutdown(std::chrono::system_clock::now());
  auto unreachable = client_->Directory();
  EXPECT_TRUE(absl::IsUnavailable(unreachable.status()));
  EXPECT_THAT(unreachable.status().message(), HasSubstr("gateway unreachable: GetDirectory"));
  EXPECT_TRUE(absl::IsUnavailable(client_->ListPurposes(false).status()));

  const absl::Status late = GatewayClient::FromGateway(
      grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"), "OpenExchange");
  EXPECT_TRUE(absl::IsUnavailable(late));
  EXPECT_THAT(late.message(), HasSubstr("OpenExchange got no answer in time"));
}

TEST(GatewayClientTlsTest, ConnectsWithTheNodesCertificate) {
  rpc::testing::TestPki pki;
  ASSERT_TRUE(pki.ok());
  DirectoryGateway gateway;
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0",
                           rpc::ServerCredentialsFromFiles(pki.Files(rpc::testing::kServerOrg)).value(),
                           &port);
  builder.RegisterService(&gateway);
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  auto client = GatewayClient::Connect(pki.Files(rpc::testing::kOrg), StrCat("127.0.0.1:", port),
                                       "localhost", {});
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->Directory().ok());
  {
    std::lock_guard lock(gateway.mu);
    EXPECT_EQ(gateway.caller, rpc::testing::kOrg);
  }

  // A gateway whose certificate does not carry the configured name.
  auto wrong = GatewayClient::Connect(pki.Files(rpc::testing::kOrg), StrCat("127.0.0.1:", port),
                                      "gateway.example", {});
  ASSERT_TRUE(wrong.ok());
  EXPECT_TRUE(absl::IsUnavailable((*wrong)->Directory().status()));

  // Bad TLS files are named when connecting.
  rpc::TlsFiles missing = pki.Files(rpc::testing::kOrg);
  missing.private_key = pki.dir() / "nope.key";
  auto refused = GatewayClient::Connect(missing, "127.0.0.1:1", "", {});
  EXPECT_TRUE(absl::IsNotFound(refused.status()));
  EXPECT_THAT(refused.status().message(), HasSubstr("nope.key"));
  server->Shutdown();
}

}  // namespace
}  // namespace schakel::nodes
