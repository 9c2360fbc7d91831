// The client config and the credential file: where the config comes from,
// what it must hold, mode 0600 for the credential, and that the secret never
// appears in a message.
#include "cli/client_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <utility>

#include "common/strings.h"
#include "tests/support/test_support.h"
#include "tests/unit/cli/cli_test_util.h"

namespace schakel::cli {
namespace {

namespace fs = std::filesystem;
using ::schakel::testing::TempDir;
using ::schakel::testing::WriteFile;
using ::schakel::cli::testing::TestEnvironment;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I";

// Overrides by name (aggregate initialisation with omitted members warns).
ConfigOverrides Overrides(std::string config_file, std::string endpoint = "",
                          std::string ca = "", std::string credential_file = "",
                          std::string role = "") {
  ConfigOverrides overrides;
  overrides.config_file = std::move(config_file);
  overrides.endpoint = std::move(endpoint);
  overrides.ca = std::move(ca);
  overrides.credential_file = std::move(credential_file);
  overrides.role = std::move(role);
  return overrides;
}

TEST(ConfigPathTest, FlagThenEnvironmentThenXdgThenHome) {
  const Environment all = TestEnvironment(
      {{"SCHAKEL_CONFIG", "/env/cli.json"}, {"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}});
  EXPECT_EQ(ConfigPath(Overrides("/flag.json"), all), fs::path("/flag.json"));
  EXPECT_EQ(ConfigPath({}, all), fs::path("/env/cli.json"));
  EXPECT_EQ(ConfigPath({}, TestEnvironment({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/h"}})),
            fs::path("/xdg/schakel/cli.json"));
  EXPECT_EQ(ConfigPath({}, TestEnvironment({{"HOME", "/home/u"}})),
            fs::path("/home/u/.config/schakel/cli.json"));
  EXPECT_EQ(ConfigPath({}, TestEnvironment({})), fs::path());
}

TEST(ClientConfigTest, ParsesAndAnchorsRelativePaths) {
  auto config = ParseClientConfig(
      R"({"endpoint": "127.0.0.1:7443", "ca": "tls/ca.pem", "server_name": "politie",
          "credential_file": "/abs/me.cred", "role": "analyst"})",
      "/etc/schakel/cli.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->endpoint, "127.0.0.1:7443");
  EXPECT_EQ(config->ca, fs::path("/etc/schakel/tls/ca.pem"));
  EXPECT_EQ(config->server_name, "politie");
  EXPECT_EQ(config->credential_file, fs::path("/abs/me.cred"));
  EXPECT_EQ(config->role, "analyst");
}

TEST(ClientConfigTest, BadFilesAreNamedWithEveryProblem) {
  auto not_json = ParseClientConfig("{endpoint: 1", "/c.json");
  EXPECT_EQ(not_json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_json.status().message(), HasSubstr("config file /c.json is not valid JSON"));

  auto array = ParseClientConfig("[1]", "/c.json");
  EXPECT_THAT(array.status().message(), HasSubstr("must hold one JSON object"));

  auto problems = ParseClientConfig(R"({"endpont": "x", "ca": 5})", "/c.json");
  EXPECT_THAT(problems.status().message(), HasSubstr("unknown key \"endpont\""));
  EXPECT_THAT(problems.status().message(), HasSubstr("\"ca\" must be a string"));
}

TEST(ClientConfigTest, LoadNamesMissingKeysAndAppliesOverrides) {
  TempDir dir;
  WriteFile(dir / "cli.json", R"({"endpoint": "127.0.0.1:7443"})");
  auto missing = LoadClientConfig(Overrides(dir / "cli.json"), TestEnvironment({}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("lacks \"ca\" (or --ca)"));
  EXPECT_THAT(missing.status().message(),
              HasSubstr("\"credential_file\" (or --credential-file)"));
  EXPECT_THAT(missing.status().message(), Not(HasSubstr("\"endpoint\"")));

  auto overridden = LoadClientConfig(
      Overrides(dir / "cli.json", "10.0.0.1:1", "/ca.pem", "/me.cred", "AUDITOR"),
      TestEnvironment({}));
  ASSERT_TRUE(overridden.ok()) << overridden.status();
  EXPECT_EQ(overridden->endpoint, "10.0.0.1:1");
  EXPECT_EQ(overridden->role, "auditor");

  auto bad_role = LoadClientConfig(Overrides(dir / "cli.json", "", "/ca.pem", "/c", "boss"),
                                   TestEnvironment({}));
  EXPECT_THAT(bad_role.status().message(), HasSubstr("role: not one of: professional, analyst"));
}

TEST(ClientConfigTest, MissingFiles) {
  TempDir dir;
  auto named = LoadClientConfig(Overrides(dir / "none.json"), TestEnvironment({}));
  EXPECT_EQ(named.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(named.status().message(), HasSubstr("none.json does not exist"));

  auto from_env =
      LoadClientConfig({}, TestEnvironment({{"SCHAKEL_CONFIG", dir / "env.json"}}));
  EXPECT_EQ(from_env.status().code(), absl::StatusCode::kNotFound);

  // The default file may be missing when the flags give everything.
  auto flags_only = LoadClientConfig(Overrides("", "127.0.0.1:1", "/ca.pem", "/c"),
                                     TestEnvironment({{"HOME", dir.path()}}));
  EXPECT_TRUE(flags_only.ok()) << flags_only.status();
  auto no_home = LoadClientConfig({}, TestEnvironment({}));
  EXPECT_EQ(no_home.status().code(), absl::StatusCode::kNotFound);
}

TEST(CredentialTest, ParsesUserAndSecret) {
  auto credential = Credential::Parse(StrCat("a.bakker.", kSecret, "\n"), "credential file x");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->user_id(), "a.bakker");
  EXPECT_EQ(credential->AuthorizationValue(), StrCat("Bearer a.bakker.", kSecret));
}

TEST(CredentialTest, MalformedCredentialsNeverEchoTheSecret) {
  for (const std::string& text :
       {std::string(""), std::string(kSecret), StrCat(".", kSecret), std::string("user."),
        StrCat("User.", kSecret), StrCat("a.b.", kSecret, "!"), StrCat("a b.", kSecret)}) {
    auto credential = Credential::Parse(text, "credential file /x.cred");
    ASSERT_FALSE(credential.ok()) << text;
    EXPECT_EQ(credential.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(credential.status().message(), HasSubstr("credential file /x.cred"));
    EXPECT_THAT(credential.status().message(), Not(HasSubstr(kSecret)));
  }
}

TEST(CredentialTest, FileMustBeMode0600) {
  TempDir dir;
  const fs::path path = dir / "me.cred";
  WriteFile(path, StrCat("a.bakker.", kSecret, "\n"));
  ::chmod(path.c_str(), 0644);
  auto open = LoadCredential(path);
  EXPECT_EQ(open.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(open.status().message(), HasSubstr("chmod"));
  EXPECT_THAT(open.status().message(), Not(HasSubstr(kSecret)));

  ::chmod(path.c_str(), 0600);
  auto ok = LoadCredential(path);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->user_id(), "a.bakker");

  fs::create_symlink(path, dir / "link.cred");
  EXPECT_EQ(LoadCredential(dir / "link.cred").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LoadCredential(dir / "none.cred").status().code(), absl::StatusCode::kNotFound);
}

TEST(NewCredentialFileTest, WritesMode0600AndNeverOverwrites) {
  TempDir dir;
  const fs::path path = dir / "new.cred";
  {
    auto file = NewCredentialFile::Create(path);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE(file->Write(StrCat("u.", kSecret)).ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = LoadCredential(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->user_id(), "u");

  auto again = NewCredentialFile::Create(path);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(NewCredentialFile::Create(fs::path(dir.path()) / "no" / "dir.cred").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(NewCredentialFileTest, UnwrittenFileIsRemoved) {
  TempDir dir;
  const fs::path path = dir / "abandoned.cred";
  {
    auto file = NewCredentialFile::Create(path);
    ASSERT_TRUE(file.ok());
    EXPECT_TRUE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace schakel::cli
