// `schakel init gateway|node` and `schakel partners register|list|deactivate`,
// run in-process through RunSchakel: the files they write load with the
// servers' own parsers and key loaders, secrets are mode 0600, nothing is
// replaced or half-written, and a refused partner entry leaves the
// directory as it was.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "gateway/directory.h"
#include "gateway/gateway_config.h"
#include "nodes/local_policy.h"
#include "nodes/node_config.h"
#include "tests/support/test_support.h"
#include "tests/unit/cli/cli_test_util.h"

namespace schakel::cli {
namespace {

namespace fs = std::filesystem;
using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

unsigned Mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

// Every regular file under `dir`, relative, sorted.
std::vector<std::string> Files(const fs::path& dir) {
  std::vector<std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class AdminCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("schakel-admin-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `init gateway` in dir_/gateway; returns its signing public key.
  std::string InitGateway() {
    const Outcome r = RunCli({"init", "gateway", "--dir", (dir_ / "gateway").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ::schakel::testing::OutputField(r.out, "signing_public_key");
  }

  Outcome InitNode(const std::string& org, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"init", "node", "--org", org, "--domain", "safety",
                                     "--dir", (dir_ / org).string(),
                                     "--gateway-endpoint", "gateway.example:8443",
                                     "--gateway-signing-key", gateway_key_};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCli(args);
  }

  fs::path directory() const { return dir_ / "gateway" / "directory.json"; }

  fs::path dir_;
  std::string gateway_key_;
};

TEST_F(AdminCommandTest, InitGatewayWritesConfigsTheGatewayAcceptsAndASecretKey) {
  const std::string key = InitGateway();
  ASSERT_EQ(key.size(), 64u);
  const fs::path gw = dir_ / "gateway";
  EXPECT_THAT(Files(gw), ::testing::ElementsAre("directory.json", "gateway.json", "keys/signing.key"));
  EXPECT_EQ(Mode(gw / "keys" / "signing.key"), 0600u);
  EXPECT_EQ(Mode(gw / "keys"), 0700u);

  auto config = gateway::LoadGatewayConfig(gw / "gateway.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->org_id, "gateway");
  EXPECT_EQ(config->listen, "0.0.0.0:8443");
  EXPECT_EQ(config->signing_key_file, gw / "keys" / "signing.key");
  EXPECT_EQ(config->tls_cert, gw / "pki" / "gateway.pem");
  auto info = crypto::ReadKeyFilePublic(config->signing_key_file);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(crypto::ToHex(info->public_key), key);
  auto loaded = gateway::Directory::Load(directory());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT((*loaded)->organisations(), IsEmpty());
}

TEST_F(AdminCommandTest, InitGatewayChecksAndCopiesAGivenConvenant) {
  const fs::path bad = dir_ / "bad-policy.json";
  std::ofstream(bad) << "{ \"version\": \"1\" }";
  Outcome r = RunCli({"init", "gateway", "--dir", (dir_ / "gateway").string(), "--policy",
                      bad.string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.err, HasSubstr("policy refused"));
  EXPECT_THAT(Files(dir_ / "gateway"), IsEmpty()) << "nothing is written for a refused policy";

  const fs::path good = fs::path(SCHAKEL_TEST_DATA_DIR).parent_path().parent_path() / "deploy" / "demo" / "policy.json";
  r = RunCli({"init", "gateway", "--dir", (dir_ / "gateway").string(), "--policy", good.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadAll(dir_ / "gateway" / "policy.json"), ReadAll(good));
}

TEST_F(AdminCommandTest, InitNodeWritesWhatTheNodeAndTheGatewayAccept) {
  gateway_key_ = InitGateway();
  const Outcome r = InitNode("politie-zwb", {"--advertise", "10.1.0.2:8443", "--display-name",
                                             "Politie, eenheid Zeeland-West-Brabant"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path node = dir_ / "politie-zwb";
  EXPECT_THAT(Files(node), ::testing::ElementsAre("cli-admin.json", "keys/box.key",
                                                  "keys/oprf.key", "keys/signing.key",
                                                  "local-policy.json", "node.json",
                                                  "partner.json"));
  for (const char* key : {"oprf.key", "signing.key", "box.key"}) {
    EXPECT_EQ(Mode(node / "keys" / key), 0600u) << key;
  }
  auto config = nodes::LoadNodeConfig(node / "node.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->org_id, "politie-zwb");
  EXPECT_EQ(config->gateway_endpoint, "gateway.example:8443");
  ASSERT_EQ(config->gateway_signing_public_keys.size(), 1u);
  EXPECT_EQ(crypto::ToHex(config->gateway_signing_public_keys[0]), gateway_key_);
  EXPECT_EQ(config->local_listen, "127.0.0.1:9443");
  EXPECT_EQ(config->data_dir, node / "data");
  auto local = nodes::LoadLocalPolicy(config->local_policy);
  ASSERT_TRUE(local.ok()) << local.status();

  // partner.json carries the public halves of the key files, nothing secret.
  const auto entry = nlohmann::json::parse(ReadAll(node / "partner.json"));
  EXPECT_EQ(entry["endpoint"], "10.1.0.2:8443");
  EXPECT_EQ(entry["display_name"], "Politie, eenheid Zeeland-West-Brabant");
  for (const auto& [field, file] : std::vector<std::pair<std::string, fs::path>>{
           {"oprf_public_key", config->oprf_key_file},
           {"signing_public_key", config->signing_key_file},
           {"box_public_key", config->box_key_file}}) {
    auto info = crypto::ReadKeyFilePublic(file);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(entry[field], crypto::ToHex(info->public_key)) << field;
    EXPECT_EQ(::schakel::testing::OutputField(r.out, field), crypto::ToHex(info->public_key));
  }
  EXPECT_THAT(ReadAll(node / "partner.json"), Not(HasSubstr("secret")));
}

TEST_F(AdminCommandTest, WithADataDirTheAdminCredentialIsWrittenThere) {
  gateway_key_ = InitGateway();
  const fs::path data = dir_ / "var-lib";
  ASSERT_EQ(InitNode("politie", {"--advertise", "n:1", "--data-dir", data.string()}).exit_code, 0);
  auto config = nodes::LoadNodeConfig(dir_ / "politie" / "node.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data_dir, data);
  EXPECT_EQ(config->bootstrap_admin_credential_file, data / "admin.credential");
  EXPECT_THAT(ReadAll(dir_ / "politie" / "cli-admin.json"),
              HasSubstr((data / "admin.credential").string()));
}

TEST_F(AdminCommandTest, InitNodeAskOnlyHasNoEndpointOrOprfKeyInItsEntry) {
  gateway_key_ = InitGateway();
  const Outcome r = InitNode("riec-zwb", {"--ask-only"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto entry = nlohmann::json::parse(ReadAll(dir_ / "riec-zwb" / "partner.json"));
  EXPECT_FALSE(entry.contains("endpoint"));
  EXPECT_FALSE(entry.contains("oprf_public_key"));
  EXPECT_TRUE(entry.contains("box_public_key"));
}

TEST_F(AdminCommandTest, InitNodeRefusesBadValuesAndWritesNothing) {
  gateway_key_ = InitGateway();
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"init", "node", "--org", "Politie", "--domain", "safety", "--dir", (dir_ / "n").string(),
        "--gateway-endpoint", "g:1", "--gateway-signing-key", gateway_key_, "--advertise", "n:1"},
       ToInt(ExitCode::kUsageError), "--org \"Politie\" is not an organisation id"},
      {{"init", "node", "--org", "politie", "--domain", "police", "--dir", (dir_ / "n").string(),
        "--gateway-endpoint", "g:1", "--gateway-signing-key", gateway_key_, "--advertise", "n:1"},
       ToInt(ExitCode::kUsageError), "--domain \"police\" is not a domain"},
      {{"init", "node", "--org", "politie", "--domain", "safety", "--dir", (dir_ / "n").string(),
        "--gateway-endpoint", "g:1", "--gateway-signing-key", gateway_key_},
       ToInt(ExitCode::kUsageError), "does not say where the gateway can reach this node"},
      {{"init", "node", "--org", "politie", "--domain", "safety", "--dir", (dir_ / "n").string(),
        "--gateway-endpoint", "g:1", "--gateway-signing-key", "abcd", "--advertise", "n:1"},
       ToInt(ExitCode::kInvalidInput), "gateway.signing_public_key"},
      {{"init", "node", "--org", "politie", "--domain", "safety", "--dir", (dir_ / "n").string(),
        "--gateway-endpoint", "no-port", "--gateway-signing-key", gateway_key_, "--advertise",
        "n:1"},
       ToInt(ExitCode::kInvalidInput), "gateway.endpoint"},
      {{"init", "node", "--org", "politie", "--domain", "safety", "--dir", (dir_ / "n").string(),
        "--gateway-endpoint", "g:1", "--gateway-signing-key", gateway_key_, "--advertise",
        "no-port"},
       ToInt(ExitCode::kInvalidInput), "endpoint"},
  };
  for (const Case& c : cases) {
    const Outcome r = RunCli(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.says));
    EXPECT_THAT(Files(dir_ / "n"), IsEmpty()) << c.says;
  }
}

TEST_F(AdminCommandTest, InitNeverReplacesWhatExists) {
  gateway_key_ = InitGateway();
  ASSERT_EQ(InitNode("politie", {"--advertise", "n:1"}).exit_code, 0);
  const fs::path node = dir_ / "politie";
  const std::string key_before = ReadAll(node / "keys" / "oprf.key");
  const std::string partner_before = ReadAll(node / "partner.json");

  const Outcome again = InitNode("politie", {"--advertise", "n:1"});
  EXPECT_EQ(again.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(again.err, HasSubstr("already set up here"));
  EXPECT_THAT(again.err, HasSubstr("oprf.key"));
  EXPECT_EQ(ReadAll(node / "keys" / "oprf.key"), key_before);
  EXPECT_EQ(ReadAll(node / "partner.json"), partner_before);

  // One file of the set is enough to refuse, and nothing else appears.
  const fs::path other = dir_ / "other";
  fs::create_directories(other);
  std::ofstream(other / "node.json") << "mine";
  const Outcome partial = InitNode("other", {"--advertise", "n:1"});
  EXPECT_EQ(partial.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(Files(other), ::testing::ElementsAre("node.json"));
  EXPECT_EQ(ReadAll(other / "node.json"), "mine");

  EXPECT_EQ(RunCli({"init", "gateway", "--dir", (dir_ / "gateway").string()}).exit_code,
            ToInt(ExitCode::kConflict));
}

TEST_F(AdminCommandTest, RegisterAddsEntriesTheGatewayAcceptsAndRefusesDuplicates) {
  gateway_key_ = InitGateway();
  ASSERT_EQ(InitNode("politie", {"--advertise", "10.1.0.2:8443"}).exit_code, 0);
  ASSERT_EQ(InitNode("riec", {"--ask-only"}).exit_code, 0);
  for (const char* org : {"politie", "riec"}) {
    const Outcome r = RunCli({"partners", "register", (dir_ / org / "partner.json").string(),
                              "--directory", directory().string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("systemctl reload schakel-gateway"));
  }
  auto loaded = gateway::Directory::Load(directory());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ((*loaded)->organisations().size(), 2u);
  const gateway::DirectoryOrg* politie = (*loaded)->Find("politie");
  ASSERT_NE(politie, nullptr);
  EXPECT_EQ(politie->endpoint, "10.1.0.2:8443");
  EXPECT_EQ(politie->oprf_keys.size(), 1u);
  EXPECT_TRUE((*loaded)->Find("riec")->endpoint.empty());

  const std::string before = ReadAll(directory());
  const Outcome twice = RunCli({"partners", "register", (dir_ / "politie" / "partner.json").string(),
                                "--directory", directory().string()});
  EXPECT_EQ(twice.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(twice.err, HasSubstr("--replace"));
  EXPECT_EQ(ReadAll(directory()), before);

  const Outcome list = RunCli({"partners", "list", "--directory", directory().string(), "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const auto doc = nlohmann::json::parse(list.out);
  ASSERT_EQ(doc["organisations"].size(), 2u);
  EXPECT_EQ(doc["organisations"][0]["org_id"], "politie");
  EXPECT_EQ(doc["organisations"][0]["answers"], true);
  EXPECT_EQ(doc["organisations"][1]["answers"], false);
}

TEST_F(AdminCommandTest, ARefusedEntryChangesNothingAndNamesEveryProblem) {
  gateway_key_ = InitGateway();
  ASSERT_EQ(InitNode("politie", {"--advertise", "10.1.0.2:8443"}).exit_code, 0);
  ASSERT_EQ(RunCli({"partners", "register", (dir_ / "politie" / "partner.json").string(),
                    "--directory", directory().string()})
                .exit_code,
            0);
  const std::string before = ReadAll(directory());

  const fs::path bad = dir_ / "bad.json";
  std::ofstream(bad) << R"({"org_id": "gemeente", "display_name": "G", "domain": "town",
                           "signing_public_key": "00", "endpoint": "nohost"})";
  Outcome r = RunCli({"partners", "register", bad.string(), "--directory", directory().string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.err, HasSubstr("domain"));
  EXPECT_THAT(r.err, HasSubstr("signing_public_key"));
  EXPECT_THAT(r.err, HasSubstr("endpoint"));
  EXPECT_EQ(ReadAll(directory()), before);

  std::ofstream(bad, std::ios::trunc) << "[1, 2";
  r = RunCli({"partners", "register", bad.string(), "--directory", directory().string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.err, HasSubstr("not a directory entry"));
  EXPECT_EQ(ReadAll(directory()), before);

  r = RunCli({"partners", "register", (dir_ / "missing.json").string(), "--directory",
              directory().string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_EQ(ReadAll(directory()), before);
}

TEST_F(AdminCommandTest, ReplaceAndDeactivateKeepThePreviousFile) {
  gateway_key_ = InitGateway();
  ASSERT_EQ(InitNode("politie", {"--advertise", "10.1.0.2:8443"}).exit_code, 0);
  const std::string entry = (dir_ / "politie" / "partner.json").string();
  ASSERT_EQ(RunCli({"partners", "register", entry, "--directory", directory().string()}).exit_code, 0);

  // The gateway's user reads the file through its group: it stays so.
  ASSERT_EQ(::chmod(directory().c_str(), 0640), 0);

  // A new endpoint, e.g. after a move to another host.
  auto doc = nlohmann::json::parse(ReadAll(entry));
  doc["endpoint"] = "10.1.0.9:8443";
  std::ofstream(entry, std::ios::trunc) << doc.dump();
  const std::string before = ReadAll(directory());
  Outcome r = RunCli({"partners", "register", entry, "--directory", directory().string(),
                      "--replace"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("replaced politie"));
  EXPECT_EQ(ReadAll(directory().string() + ".previous"), before);
  EXPECT_EQ((*gateway::Directory::Load(directory()))->Find("politie")->endpoint, "10.1.0.9:8443");
  EXPECT_EQ(Mode(directory()), 0640u);
  EXPECT_EQ(Mode(directory().string() + ".previous"), 0640u);

  r = RunCli({"partners", "deactivate", "politie", "--directory", directory().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto loaded = gateway::Directory::Load(directory());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->FindActive("politie"), nullptr);
  EXPECT_NE((*loaded)->Find("politie"), nullptr);

  r = RunCli({"partners", "deactivate", "gemeente", "--directory", directory().string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(r.err, HasSubstr("no organisation \"gemeente\""));

  r = RunCli({"partners", "list", "--directory", (dir_ / "nope.json").string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kConfigError));
  EXPECT_THAT(r.err, HasSubstr("nope.json"));
}

}  // namespace
}  // namespace schakel::cli
