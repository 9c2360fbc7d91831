#include "nodes/node_config.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nodes/node_secret.h"
#include "tests/support/test_support.h"

namespace schakel::nodes {
namespace {

using ::testing::HasSubstr;

constexpr char kGatewayKey[] = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

std::string Config(std::string extra) {
  return std::string(R"({
    "org_id": "politie", "listen": "127.0.0.1:0", "data_dir": "data",
    "tls": {"ca": "ca.pem", "cert": "n.pem", "key": "n.key"},
    "oprf_key_file": "oprf.key", "signing_key_file": "signing.key",
    "local_policy": "policy.json",
    "gateway": {"org_id": "gateway", "signing_public_key": ")") +
         kGatewayKey + "\"" + extra;
}

TEST(NodeConfigTest, NewFieldsAreOptionalWithDefaults) {
  auto config = ParseNodeConfig(Config("}}"), "/etc/schakel");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->gateway_endpoint.empty());
  EXPECT_TRUE(config->local_listen.empty());
  EXPECT_EQ(config->retention_interval_s, 3600);
  EXPECT_EQ(config->publish_batch_max_changes, 10000u);
  EXPECT_EQ(config->publish_retry_ms, 1000);
  EXPECT_EQ(config->node_secret_file, "/etc/schakel/data/node-secret.key");
  EXPECT_TRUE(config->bootstrap_admin_credential_file.empty());
}

TEST(NodeConfigTest, ParsesEveryNewField) {
  auto config =
      ParseNodeConfig(Config(R"(, "endpoint": "gw.example:8443", "server_name": "gateway"},
      "local": {"listen": "127.0.0.1:9443"}, "retention_interval_s": 60,
      "publish": {"batch_max_changes": 500, "retry_ms": 250},
      "node_secret_file": "/keys/secret.key",
      "bootstrap_admin_credential_file": "admin.credential"})"),
                      "/etc/schakel");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->gateway_endpoint, "gw.example:8443");
  EXPECT_EQ(config->gateway_server_name, "gateway");
  EXPECT_EQ(config->local_listen, "127.0.0.1:9443");
  EXPECT_EQ(config->retention_interval_s, 60);
  EXPECT_EQ(config->publish_batch_max_changes, 500u);
  EXPECT_EQ(config->publish_retry_ms, 250);
  EXPECT_EQ(config->node_secret_file, "/keys/secret.key");
  EXPECT_EQ(config->bootstrap_admin_credential_file, "/etc/schakel/admin.credential");
}

TEST(NodeConfigTest, NamesEveryProblemOfTheNewFields) {
  auto config = ParseNodeConfig(Config(R"(, "endpoint": "no-port"},
      "local": {"listen": "x", "tls": 1}, "retention_interval_s": 0,
      "publish": {"batch_max_changes": "many", "retry_ms": 1}})"),
                                "/etc/schakel");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("6 problems"));
  EXPECT_THAT(message, HasSubstr("gateway.endpoint: must be host:port"));
  EXPECT_THAT(message, HasSubstr("local.listen: must be host:port"));
  EXPECT_THAT(message, HasSubstr("local.tls: unknown field"));
  EXPECT_THAT(message, HasSubstr("retention_interval_s: 0 is out of range"));
  EXPECT_THAT(message, HasSubstr("publish.batch_max_changes: must be a whole number"));
  EXPECT_THAT(message, HasSubstr("publish.retry_ms: 1 is out of range"));
}

TEST(NodeConfigTest, BoxKeyAndNotificationPolling) {
  auto config = ParseNodeConfig(Config("}}"), "/etc/schakel");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->box_key_file.empty());  // asking for disclosure is then refused
  EXPECT_EQ(config->notification_poll_s, 30);
  config = ParseNodeConfig(Config(R"(}, "box_key_file": "keys/box.key",
      "notification_poll_s": 5})"),
                           "/etc/schakel");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->box_key_file, "/etc/schakel/keys/box.key");
  EXPECT_EQ(config->notification_poll_s, 5);
  config = ParseNodeConfig(Config(R"(}, "box_key_file": "", "notification_poll_s": 0})"),
                           "/etc/schakel");
  ASSERT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("box_key_file"));
  EXPECT_THAT(config.status().message(), HasSubstr("notification_poll_s: 0 is out of range"));
}

TEST(NodeConfigTest, ShutdownGraceAndMetricsAreOptional) {
  auto config = ParseNodeConfig(Config("}}"), "/etc/schakel");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->shutdown_grace_ms, 10'000);
  EXPECT_EQ(config->metrics_listen, "");
  config = ParseNodeConfig(
      Config(R"(}, "shutdown_grace_ms": 0, "metrics": {"listen": "127.0.0.1:9465"}})"), "/etc/schakel");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->shutdown_grace_ms, 0);
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:9465");
  config = ParseNodeConfig(Config(R"(}, "shutdown_grace_ms": 400000, "metrics": {}})"), "/etc/schakel");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("shutdown_grace_ms: "));
  EXPECT_THAT(config.status().message(), HasSubstr("metrics.listen: "));
}

TEST(NodeConfigTest, ExampleConfigurationParses) {
  auto config = LoadNodeConfig(std::filesystem::path(SCHAKEL_TEST_DATA_DIR) /
                               "../../deploy/examples/node.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->local_listen.empty());
  EXPECT_FALSE(config->gateway_endpoint.empty());
}

TEST(NodeSecretTest, CreatedOnceWithMode0600AndStable) {
  testing::TempDir dir;
  const std::filesystem::path path = dir / "node-secret.key";
  bool created = false;
  auto first = NodeSecret::LoadOrCreate(path, &created);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = NodeSecret::LoadOrCreate(path, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(first->Digest("ctx", std::string_view("data")),
            second->Digest("ctx", std::string_view("data")));
  EXPECT_NE(first->Digest("ctx", std::string_view("data")),
            first->Digest("other", std::string_view("data")));

  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(NodeSecret::LoadOrCreate(path).status().code(), absl::StatusCode::kFailedPrecondition);
  ::chmod(path.c_str(), 0600);
  testing::WriteFile(dir / "bad.key", "schakel-node-secret-v1\nsecret: 12\n");
  ::chmod((dir / "bad.key").c_str(), 0600);
  auto bad = NodeSecret::LoadOrCreate(dir / "bad.key");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("not 64 hex digits"));
}

}  // namespace
}  // namespace schakel::nodes
