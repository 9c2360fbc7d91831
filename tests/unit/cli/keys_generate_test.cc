// `schakel keys generate`, run in-process through RunSchakel: the file it
// writes (mode 0600, loadable, matching the printed public key and key id),
// refusal to overwrite without --force, and usage errors.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/cli/cli_test_util.h"
#include "cli/app.h"
#include "cli/exit_codes.h"
#include "cli/keys_command.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "tests/support/test_support.h"

namespace schakel::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;

std::string Field(const std::string& out, const std::string& field) {
  return ::schakel::testing::OutputField(out, field);
}

class KeysGenerateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("schakel-keys-generate-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(KeysGenerateTest, WritesEachKindPrintingOnlyPublicKeyAndKeyId) {
  for (const auto& [flag, kind] :
       std::vector<std::pair<std::string, crypto::KeyKind>>{
           {"oprf", crypto::KeyKind::kOprfRistretto255Sha512},
           {"ed25519", crypto::KeyKind::kEd25519},
           {"x25519", crypto::KeyKind::kX25519}}) {
    const std::filesystem::path file = dir_ / (flag + ".key");
    const Outcome r = RunCli({"keys", "generate", "--kind", flag, "--out", file.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.err, IsEmpty());

    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << flag;

    auto info = crypto::ReadKeyFilePublic(file);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->kind, kind);
    EXPECT_EQ(Field(r.out, "kind"), crypto::KeyKindName(kind));
    EXPECT_EQ(Field(r.out, "public"), crypto::ToHex(info->public_key));
    EXPECT_EQ(Field(r.out, "key_id"), KeyIdHex(info->public_key));
    EXPECT_EQ(Field(r.out, "key_id").size(), 16u);

    // The secret never reaches the output.
    const std::string content = ReadAll(file);
    const std::string secret = Field(content, "secret");
    ASSERT_EQ(secret.size(), 64u);
    EXPECT_THAT(r.out, Not(HasSubstr(secret)));
  }
  EXPECT_TRUE(crypto::LoadOprfKey(dir_ / "oprf.key").ok());
  EXPECT_TRUE(crypto::LoadSigningKey(dir_ / "ed25519.key").ok());
  EXPECT_TRUE(crypto::LoadBoxSecretKey(dir_ / "x25519.key").ok());
}

TEST_F(KeysGenerateTest, RefusesToOverwriteWithoutForce) {
  const std::string file = (dir_ / "signing.key").string();
  const Outcome first = RunCli({"keys", "generate", "--kind", "ed25519", "--out", file});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string before = ReadAll(file);

  const Outcome again = RunCli({"keys", "generate", "--kind", "ed25519", "--out", file});
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_THAT(again.out, IsEmpty());
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  EXPECT_THAT(again.err, HasSubstr("--force"));
  EXPECT_EQ(ReadAll(file), before);

  const Outcome forced =
      RunCli({"keys", "generate", "--kind", "ed25519", "--out", file, "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(ReadAll(file), before);
  EXPECT_NE(Field(forced.out, "public"), Field(first.out, "public"));
}

TEST_F(KeysGenerateTest, MissingDirectoryIsInvalidInput) {
  const Outcome r = RunCli({"keys", "generate", "--kind", "oprf", "--out",
                            (dir_ / "no-such-dir" / "k.key").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("no-such-dir"));
}

TEST_F(KeysGenerateTest, UsageErrors) {
  const Outcome bad_kind =
      RunCli({"keys", "generate", "--kind", "rsa", "--out", (dir_ / "k").string()});
  EXPECT_EQ(bad_kind.exit_code, 2);
  EXPECT_THAT(bad_kind.err, HasSubstr("--kind \"rsa\""));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "k"));

  const Outcome no_out = RunCli({"keys", "generate", "--kind", "oprf"});
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_THAT(no_out.err, HasSubstr("--out"));
}

}  // namespace
}  // namespace schakel::cli
