// gateway/gateway_config.h: a good file with defaults and relative paths,
// the directory as a file or inline, and every problem of a bad file named.
#include "gateway/gateway_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace schakel::gateway {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMinimal[] = R"({
  // comments are allowed
  "org_id": "gateway",
  "listen": "127.0.0.1:0",
  "data_dir": "data",
  "tls": {"ca": "pki/ca.pem", "cert": "pki/gateway.pem", "key": "/etc/schakel/gateway.key"},
  "signing_key_file": "keys/gateway.key",
  "policy": "policy.json",
  "directory": "directory.json"
})";

TEST(GatewayConfigTest, MinimalFileGetsDefaultsAndResolvesRelativePaths) {
  auto config = ParseGatewayConfig(kMinimal, "/srv/gw");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->org_id, "gateway");
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->data_dir, "/srv/gw/data");
  EXPECT_EQ(config->tls_ca, "/srv/gw/pki/ca.pem");
  EXPECT_EQ(config->tls_key, "/etc/schakel/gateway.key");
  EXPECT_EQ(config->signing_key_file, "/srv/gw/keys/gateway.key");
  EXPECT_EQ(config->policy_file, "/srv/gw/policy.json");
  EXPECT_EQ(config->directory_file, "/srv/gw/directory.json");
  EXPECT_TRUE(config->directory_inline.empty());
  EXPECT_EQ(config->partner_deadline_ms, 5000);
  EXPECT_EQ(config->partner_deadline_per_element_us, 500);
  EXPECT_EQ(config->resolve_window_seconds, 300);
  EXPECT_EQ(config->authorisation_lifetime_ms, 30000);
  EXPECT_EQ(config->max_message_bytes, 64 << 20);
  EXPECT_EQ(config->max_tags_per_set, 50'000'000u);
  EXPECT_EQ(config->checkpoint_every_entries, 1000u);
  EXPECT_EQ(config->checkpoint_every_seconds, 600);
  EXPECT_EQ(config->timezone, "Europe/Amsterdam");
  // The quota day is Amsterdam's: 23:30 UTC on 1 July is 2 July there.
  EXPECT_EQ(absl::ToCivilDay(absl::FromCivil(absl::CivilSecond(2025, 7, 1, 23, 30, 0), absl::UTCTimeZone()),
                             config->zone),
            absl::CivilDay(2025, 7, 2));
}

TEST(GatewayConfigTest, EveryOptionalSettingIsRead) {
  auto config = ParseGatewayConfig(R"({
    "org_id": "schakel-gw", "listen": "0.0.0.0:8443", "data_dir": "/d",
    "tls": {"ca": "c", "cert": "e", "key": "k"}, "signing_key_file": "s", "policy": "p",
    "directory": {"organisations": []},
    "partner_deadline_ms": 2500, "partner_deadline_per_element_us": 0, "resolve_window_seconds": 60, "authorisation_lifetime_ms": 10000,
    "max_message_bytes": 8388608, "max_tags_per_set": 1000,
    "checkpoint": {"every_entries": 0, "every_seconds": 30}, "timezone": "UTC"
  })", "/x", "gw.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->partner_deadline_ms, 2500);
  EXPECT_EQ(config->partner_deadline_per_element_us, 0);
  EXPECT_EQ(config->resolve_window_seconds, 60);
  EXPECT_EQ(config->authorisation_lifetime_ms, 10000);
  EXPECT_EQ(config->max_message_bytes, 8388608);
  EXPECT_EQ(config->max_tags_per_set, 1000u);
  EXPECT_EQ(config->checkpoint_every_entries, 0u);
  EXPECT_EQ(config->checkpoint_every_seconds, 30);
  EXPECT_EQ(config->timezone, "UTC");
  EXPECT_TRUE(config->directory_file.empty());
  EXPECT_EQ(config->directory_inline, R"({"organisations":[]})");
  EXPECT_EQ(config->directory_source, "gw.json (directory)");
}

TEST(GatewayConfigTest, ShutdownGraceAndMetricsAreOptional) {
  auto config = ParseGatewayConfig(kMinimal, "/x");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->shutdown_grace_ms, 10'000);
  EXPECT_EQ(config->metrics_listen, "");  // off

  std::string text = kMinimal;
  text.replace(text.rfind('}'), 1, R"(, "shutdown_grace_ms": 2500, "metrics": {"listen": "127.0.0.1:9464"}})");
  config = ParseGatewayConfig(text, "/x");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->shutdown_grace_ms, 2500);
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:9464");

  text = kMinimal;
  text.replace(text.rfind('}'), 1, R"(, "shutdown_grace_ms": -1, "metrics": {"listen": "nowhere", "path": "/m"}})");
  config = ParseGatewayConfig(text, "/x");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("3 problems"));
  EXPECT_THAT(config.status().message(), HasSubstr("shutdown_grace_ms: "));
  EXPECT_THAT(config.status().message(), HasSubstr("metrics.listen: "));
  EXPECT_THAT(config.status().message(), HasSubstr("metrics.path: "));

  text = kMinimal;
  text.replace(text.rfind('}'), 1, R"(, "metrics": "127.0.0.1:9464"})");
  EXPECT_THAT(ParseGatewayConfig(text, "/x").status().message(), HasSubstr("metrics: must be an object"));
}

TEST(GatewayConfigTest, InlineDirectoryMayBeAList) {
  std::string text = kMinimal;
  text.replace(text.find("\"directory.json\""), 16, "[]");
  auto config = ParseGatewayConfig(text, "/x");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->directory_inline, "[]");
}

TEST(GatewayConfigTest, EveryProblemIsNamed) {
  auto config = ParseGatewayConfig(R"({
    "org_id": "Gateway", "listen": "localhost", "data_dir": "",
    "tls": {"ca": "c", "cert": 3}, "signing_key_file": "s",
    "directory": 7, "partner_deadline_ms": 0, "resolve_window_seconds": "300",
    "partner_deadline_per_element_us": 20000,
    "max_tags_per_set": -1, "checkpoint": {"every_hours": 1}, "timezone": "Mars/Olympus",
    "colour": "blue"
  })", "/x", "gw.json");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(config.status().message());
  EXPECT_THAT(m, HasSubstr("gw.json: gateway configuration refused, 14 problems:"));
  EXPECT_THAT(m, HasSubstr("\norg_id: \"Gateway\" is not an organisation id"));
  EXPECT_THAT(m, HasSubstr("\nlisten: must be host:port"));
  EXPECT_THAT(m, HasSubstr("\ndata_dir: is empty"));
  EXPECT_THAT(m, HasSubstr("\ntls.cert: must be a string, not number"));
  EXPECT_THAT(m, HasSubstr("\ntls.key: missing; this field is required"));
  EXPECT_THAT(m, HasSubstr("\npolicy: missing; this field is required"));
  EXPECT_THAT(m, HasSubstr("\ndirectory: must be a file name, an object or a list, not number"));
  EXPECT_THAT(m, HasSubstr("\npartner_deadline_ms: 0 is out of range; allowed: 100 to 60000"));
  EXPECT_THAT(m, HasSubstr("\npartner_deadline_per_element_us: 20000 is out of range; allowed: 0 to 10000"));
  EXPECT_THAT(m, HasSubstr("\nresolve_window_seconds: must be a whole number, not string"));
  EXPECT_THAT(m, HasSubstr("\nmax_tags_per_set: -1 is out of range"));
  EXPECT_THAT(m, HasSubstr("\ncheckpoint.every_hours: unknown field; allowed: every_entries, every_seconds"));
  EXPECT_THAT(m, HasSubstr("\ntimezone: \"Mars/Olympus\" cannot be loaded"));
  EXPECT_THAT(m, HasSubstr("\ncolour: unknown field"));
}

TEST(GatewayConfigTest, SyntaxErrorNamesLineAndColumn) {
  auto config = ParseGatewayConfig("{\n  \"org_id\": \"gateway\",\n  oops\n}", "/x", "gw.json");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              AllOf(HasSubstr("gw.json: gateway configuration refused, 1 problem:"),
                    HasSubstr("(json): not valid JSON at line 3")));
  auto not_object = ParseGatewayConfig("[1, 2]", "/x", "gw.json");
  ASSERT_FALSE(not_object.ok());
  EXPECT_THAT(not_object.status().message(), HasSubstr("(top level): must be a JSON object"));
}

// Found by fuzz/policy_fuzzer.cc: a number beyond a double made nlohmann
// throw out_of_range, which JsonChecker (every config and the directory)
// did not catch: the process ended.
TEST(GatewayConfigTest, NumberOutOfRangeIsAProblemNotACrash) {
  auto config = ParseGatewayConfig(R"({"org_id": "gateway", "partner_deadline_ms": 71e320})", "/x", "gw.json");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("(json): not valid JSON: a number is out of range"));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("71e320")));
}

TEST(GatewayConfigTest, LoadResolvesAgainstTheFilesDirectory) {
  testing::TempDir dir("gw-config");
  testing::WriteFile(dir / "gateway.json", kMinimal);
  auto config = LoadGatewayConfig(dir / "gateway.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->policy_file, std::filesystem::path(dir.path()) / "policy.json");

  auto missing = LoadGatewayConfig(dir / "nope.json");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.json does not exist"));
  auto a_directory = LoadGatewayConfig(dir.path());
  EXPECT_EQ(a_directory.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(a_directory.status().message(), Not(HasSubstr("{")));
}

TEST(GatewayConfigTest, TheDeployExampleIsValid) {
  const std::filesystem::path examples =
      std::filesystem::path(SCHAKEL_TEST_DATA_DIR).parent_path().parent_path() / "deploy" / "examples";
  auto config = LoadGatewayConfig(examples / "gateway.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->directory_file, examples / "directory.json");
  EXPECT_EQ(config->partner_deadline_ms, 5000);
}

}  // namespace
}  // namespace schakel::gateway
