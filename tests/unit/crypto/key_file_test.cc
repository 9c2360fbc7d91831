// Key files (crypto/key_file.h): round trips, file safety, and every way a
// file's content can be wrong, each with its status code and message.
#include "crypto/key_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/bytes.h"

namespace schakel::crypto {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// The OPRF private key of RFC 9497's ristretto255-SHA512 test vectors.
constexpr std::string_view kOprfSecretHex =
    "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e";
// RFC 8032 section 7.1, TEST 1.
constexpr std::string_view kEd25519SeedHex =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view kEd25519PublicHex =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
// RFC 7748 section 6.1, Alice.
constexpr std::string_view kX25519SecretHex =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr std::string_view kX25519PublicHex =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
// The group order ℓ, little-endian: the smallest non-canonical scalar.
constexpr std::string_view kGroupOrderHex =
    "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

Bytes Hex(std::string_view hex) { return FromHex(hex).value(); }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string OprfPublicHex() {
  return ToHex(oprf::PrivateKey::FromBytes(Hex(kOprfSecretHex)).value().public_key().bytes());
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "schakel-key-file-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  fs::path PathOf(std::string_view name) const { return dir_ / name; }

  // Writes `content` as a file with `mode`, bypassing the library.
  fs::path WriteFile(std::string_view name, std::string_view content, mode_t mode = 0600) {
    const fs::path path = PathOf(name);
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << content;
    }
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  std::vector<std::string> DirectoryEntries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

// A valid OPRF key file, with the lines given replacing the defaults.
struct Lines {
  std::string magic = "schakel-key-v1";
  std::string kind = "kind: oprf-ristretto255-sha512";
  std::string created = "created: 2026-11-23T10:00:00Z";
  std::string secret = "secret: " + std::string(kOprfSecretHex);
  std::string pub = "public: " + OprfPublicHex();
  std::string extra;  // appended after the other lines

  std::string Text() const {
    std::string text;
    for (const std::string* line : {&magic, &kind, &created, &secret, &pub, &extra}) {
      if (!line->empty()) text += *line + "\n";
    }
    return text;
  }
};

// --------------------------------------------------------------- round trips

// Checks a file written by a Save function: mode 0600, every line as the
// format says, created at the time of saving, and ReadKeyFilePublic agreeing.
void ExpectSavedKeyFile(const fs::path& path, KeyKind kind, std::string_view secret_hex,
                        std::string_view public_hex) {
  EXPECT_EQ(ModeOf(path), 0600u);
  const std::string text = ReadText(path);
  EXPECT_TRUE(text.starts_with("schakel-key-v1\n")) << text;
  EXPECT_THAT(text, HasSubstr(StrCat("\nkind: ", KeyKindName(kind), "\n")));
  EXPECT_THAT(text, HasSubstr(StrCat("\nsecret: ", secret_hex, "\n")));
  EXPECT_THAT(text, HasSubstr(StrCat("\npublic: ", public_hex, "\n")));

  const size_t created_at = text.find("\ncreated: ");
  ASSERT_NE(created_at, std::string::npos) << text;
  std::tm tm{};
  char zulu = 0;
  ASSERT_EQ(std::sscanf(text.c_str() + created_at, "\ncreated: %4d-%2d-%2dT%2d:%2d:%2d%c",
                        &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                        &tm.tm_sec, &zulu),
            7)
      << text;
  EXPECT_EQ(zulu, 'Z');
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  EXPECT_LE(std::abs(std::difftime(std::time(nullptr), ::timegm(&tm))), 60.0) << text;

  auto info = ReadKeyFilePublic(path);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, kind);
  EXPECT_EQ(ToHex(info->public_key), public_hex);
  EXPECT_THAT(text, HasSubstr("\ncreated: " + info->created + "\n"));
}

TEST_F(KeyFileTest, OprfKeyRoundTrip) {
  const oprf::PrivateKey key = oprf::PrivateKey::FromBytes(Hex(kOprfSecretHex)).value();
  const fs::path path = PathOf("node.oprf.key");
  ASSERT_TRUE(SaveOprfKey(path, key, Overwrite::kRefuse).ok());
  ExpectSavedKeyFile(path, KeyKind::kOprfRistretto255Sha512, kOprfSecretHex, OprfPublicHex());

  auto loaded = LoadOprfKey(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ToHex(loaded->scalar().bytes()), kOprfSecretHex);
  EXPECT_EQ(loaded->public_key(), key.public_key());
}

TEST_F(KeyFileTest, SigningKeyRoundTrip) {
  const Bytes seed = Hex(kEd25519SeedHex);
  const SigningKey key = SigningKey::FromSeed(std::span<const uint8_t, 32>(seed.data(), 32));
  const fs::path path = PathOf("gateway.ed25519.key");
  ASSERT_TRUE(SaveSigningKey(path, key, Overwrite::kRefuse).ok());
  ExpectSavedKeyFile(path, KeyKind::kEd25519, kEd25519SeedHex, kEd25519PublicHex);

  auto loaded = LoadSigningKey(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ToHex(loaded->verify_key().bytes()), kEd25519PublicHex);
  EXPECT_EQ(loaded->Sign(AsBytes("m")), key.Sign(AsBytes("m")));
}

TEST_F(KeyFileTest, BoxSecretKeyRoundTrip) {
  const BoxSecretKey key = BoxSecretKey::FromBytes(Hex(kX25519SecretHex)).value();
  const fs::path path = PathOf("node.x25519.key");
  ASSERT_TRUE(SaveBoxSecretKey(path, key, Overwrite::kRefuse).ok());
  ExpectSavedKeyFile(path, KeyKind::kX25519, kX25519SecretHex, kX25519PublicHex);

  auto loaded = LoadBoxSecretKey(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ToHex(loaded->public_key().bytes()), kX25519PublicHex);
  EXPECT_EQ(ToHex(loaded->secret_bytes()), kX25519SecretHex);
}

TEST_F(KeyFileTest, ReadKeyFilePublicReportsCreatedAsWritten) {
  auto info = ReadKeyFilePublic(WriteFile("oprf.key", Lines().Text()));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->kind, KeyKind::kOprfRistretto255Sha512);
  EXPECT_EQ(info->created, "2026-11-23T10:00:00Z");
  EXPECT_EQ(ToHex(info->public_key), OprfPublicHex());
}

TEST_F(KeyFileTest, ReadKeyFilePublicChecksThePublicAgainstTheSecret) {
  Lines lines;
  lines.pub = "public: " + ToHex(oprf::PrivateKey::Generate().public_key().bytes());
  const absl::Status status = ReadKeyFilePublic(WriteFile("k", lines.Text())).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("line 5: public does not match"));
}

TEST_F(KeyFileTest, KindNames) {
  for (KeyKind kind : {KeyKind::kOprfRistretto255Sha512, KeyKind::kEd25519, KeyKind::kX25519}) {
    EXPECT_EQ(ParseKeyKind(KeyKindName(kind)).value(), kind);
  }
  EXPECT_EQ(KeyKindName(KeyKind::kOprfRistretto255Sha512), "oprf-ristretto255-sha512");
  const absl::Status status = ParseKeyKind("rsa").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("\"rsa\" is not known; allowed: oprf-ristretto255-sha512, ed25519, x25519"));
}

// ------------------------------------------------------- what the reader allows

TEST_F(KeyFileTest, AcceptsCommentsBlankLinesCrlfUpperCaseHexAndAnyFieldOrder) {
  const std::string text = "schakel-key-v1\r\n# node Veilig Thuis\r\n\r\n  public:  " +
                           Upper(OprfPublicHex()) + "  \r\nsecret:" + Upper(kOprfSecretHex) +
                           "\r\ncreated: 2026-11-23T10:00:00Z\r\nkind: oprf-ristretto255-sha512";
  auto loaded = LoadOprfKey(WriteFile("k", text));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ToHex(loaded->scalar().bytes()), kOprfSecretHex);
}

TEST_F(KeyFileTest, AcceptsMode0400) {
  auto loaded = LoadOprfKey(WriteFile("k", Lines().Text(), 0400));
  EXPECT_TRUE(loaded.ok()) << loaded.status();
}

// ------------------------------------------------------------ file safety

TEST_F(KeyFileTest, SavedFileIsMode0600WhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    SCOPED_TRACE(mask);
    const mode_t old = ::umask(mask);
    const fs::path path = PathOf("k" + std::to_string(mask));
    const absl::Status saved = SaveOprfKey(path, oprf::PrivateKey::Generate(), Overwrite::kRefuse);
    ::umask(old);
    ASSERT_TRUE(saved.ok()) << saved;
    EXPECT_EQ(ModeOf(path), 0600u);
  }
}

TEST_F(KeyFileTest, RefusesToOverwriteUnlessAsked) {
  const fs::path path = PathOf("node.key");
  const oprf::PrivateKey first = oprf::PrivateKey::Generate();
  const oprf::PrivateKey second = oprf::PrivateKey::Generate();
  ASSERT_TRUE(SaveOprfKey(path, first, Overwrite::kRefuse).ok());

  const absl::Status refused = SaveOprfKey(path, second, Overwrite::kRefuse);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAlreadyExists) << refused;
  EXPECT_THAT(std::string(refused.message()),
              HasSubstr("key file " + path.string() + " already exists; refusing to overwrite"));
  EXPECT_TRUE(LoadOprfKey(path).value().scalar() == first.scalar());

  ASSERT_TRUE(SaveOprfKey(path, second, Overwrite::kReplace).ok());
  EXPECT_TRUE(LoadOprfKey(path).value().scalar() == second.scalar());
  EXPECT_EQ(ModeOf(path), 0600u);
  // No temporary files are left behind.
  EXPECT_EQ(DirectoryEntries(), std::vector<std::string>{"node.key"});
}

TEST_F(KeyFileTest, RefusesToSaveOverADanglingSymlink) {
  const fs::path path = PathOf("node.key");
  fs::create_symlink(PathOf("elsewhere"), path);
  const absl::Status refused = SaveOprfKey(path, oprf::PrivateKey::Generate(), Overwrite::kRefuse);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAlreadyExists) << refused;
  EXPECT_FALSE(fs::exists(PathOf("elsewhere")));
}

TEST_F(KeyFileTest, SaveIntoMissingDirectoryIsNotFound) {
  const fs::path path = PathOf("no-such-dir") / "node.key";
  const absl::Status status = SaveOprfKey(path, oprf::PrivateKey::Generate(), Overwrite::kRefuse);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr((PathOf("no-such-dir")).string()));
}

TEST_F(KeyFileTest, MissingFileIsNotFound) {
  const absl::Status status = LoadOprfKey(PathOf("absent.key")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("cannot open key file " + PathOf("absent.key").string()));
}

TEST_F(KeyFileTest, RefusesModesOpenToGroupOrOthers) {
  for (mode_t mode : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0601}, mode_t{0610}}) {
    SCOPED_TRACE(mode);
    const fs::path path = WriteFile("k", Lines().Text(), mode);
    const absl::Status status = LoadOprfKey(path).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    const std::string message(status.message());
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    EXPECT_THAT(message, HasSubstr("key file " + path.string() + " has mode " + octal +
                                   "; it must be 0600"));
    EXPECT_THAT(message, HasSubstr("(chmod 600 " + path.string() + ")"));
    EXPECT_THAT(message, Not(HasSubstr(std::string(kOprfSecretHex))));
    // The public-key reader applies the same checks.
    EXPECT_EQ(ReadKeyFilePublic(path).status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST_F(KeyFileTest, RefusesSymlink) {
  const fs::path target = WriteFile("real.key", Lines().Text());
  const fs::path link = PathOf("link.key");
  fs::create_symlink(target, link);
  const absl::Status status = LoadOprfKey(link).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("key file " + link.string() + " is a symbolic link; refusing to follow it"));
  EXPECT_TRUE(LoadOprfKey(target).ok());
}

TEST_F(KeyFileTest, RefusesDirectoryAndNamedPipe) {
  const fs::path directory = PathOf("keys.d");
  ASSERT_TRUE(fs::create_directory(directory));
  ::chmod(directory.c_str(), 0700);
  absl::Status status = LoadOprfKey(directory).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(directory.string() + " is not a regular file (it is a directory)"));

  const fs::path pipe = PathOf("pipe.key");
  ASSERT_EQ(::mkfifo(pipe.c_str(), 0600), 0);
  status = LoadOprfKey(pipe).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("(it is a named pipe)"));
}

// ------------------------------------------------------------ bad content

struct BadContent {
  std::string name;
  std::string text;
  std::string fragment;  // expected in the message, after "key file <path>"
};

// The text of a valid OPRF key file with one line replaced ("" drops it).
std::string With(std::string Lines::*line, std::string replacement) {
  Lines lines;
  lines.*line = std::move(replacement);
  return lines.Text();
}

std::vector<BadContent> BadContents() {
  const std::string secret = "secret: " + std::string(kOprfSecretHex);
  const std::string pub = "public: " + OprfPublicHex();
  std::string secret_with_g = secret;
  secret_with_g[20] = 'g';
  std::string pub_with_z = pub;
  pub_with_z[30] = 'z';  // hex digit 22
  const std::string not_canonical =
      ", line 4: secret is not a valid oprf-ristretto255-sha512 key (OPRF private key: not a "
      "canonical scalar (value is not below the group order))";
  const std::string hex_withheld = "(not shown: it may be key material)";
  return {
      {"empty", "", " is empty"},
      {"wrong magic", With(&Lines::magic, "schakel-key"),
       ", line 1: not a Schakel key file (the first line must be \"schakel-key-v1\")"},
      {"other version", With(&Lines::magic, "schakel-key-v2"),
       ", line 1: unsupported key file version; this program reads schakel-key-v1"},
      {"no magic line", With(&Lines::magic, ""), ", line 1: not a Schakel key file"},
      {"unknown kind", With(&Lines::kind, "kind: rsa-4096"),
       ", line 2: unknown kind \"rsa-4096\"; allowed: oprf-ristretto255-sha512, ed25519, x25519"},
      {"kind holding key material", With(&Lines::kind, "kind: " + std::string(kOprfSecretHex)),
       ", line 2: unknown kind " + hex_withheld},
      {"missing kind", With(&Lines::kind, ""),
       ": missing field \"kind\"; a key file has the fields kind, created, secret and public"},
      {"missing created", With(&Lines::created, ""), ": missing field \"created\""},
      {"missing secret", With(&Lines::secret, ""), ": missing field \"secret\""},
      {"missing public", With(&Lines::pub, ""), ": missing field \"public\""},
      {"duplicate kind", With(&Lines::extra, "kind: ed25519"),
       ", line 6: field \"kind\" appears again (first on line 2)"},
      {"duplicate secret", With(&Lines::extra, secret),
       ", line 6: field \"secret\" appears again (first on line 4)"},
      {"unknown field", With(&Lines::extra, "comment: node Veilig Thuis"),
       ", line 6: unknown field \"comment\"; allowed: kind, created, secret, public"},
      {"line without colon", With(&Lines::secret, "secret " + std::string(kOprfSecretHex)),
       ", line 4: expected \"<field>: <value>\""},
      {"secret as field name", With(&Lines::secret, std::string(kOprfSecretHex) + ": secret"),
       ", line 4: unknown field " + hex_withheld},
      {"bad created", With(&Lines::created, "created: yesterday"),
       ", line 3: created is \"yesterday\"; it must be a UTC time written as "
       "YYYY-MM-DDTHH:MM:SSZ"},
      {"created month 13", With(&Lines::created, "created: 2026-13-23T10:00:00Z"),
       ", line 3: created is \"2026-13-23T10:00:00Z\"; it must be a UTC time"},
      {"secret not hex", With(&Lines::secret, secret_with_g),
       ", line 4: secret is not hex (allowed: 0-9, a-f, A-F, no separators)"},
      {"secret too short", With(&Lines::secret, secret.substr(0, secret.size() - 2)),
       ", line 4: secret has 62 hex digits; it must have 64 (32 bytes)"},
      {"secret too long", With(&Lines::secret, secret + "00"),
       ", line 4: secret has 66 hex digits; it must have 64 (32 bytes)"},
      {"secret empty", With(&Lines::secret, "secret:"), ", line 4: secret has 0 hex digits"},
      {"zero scalar", With(&Lines::secret, "secret: " + std::string(64, '0')),
       ", line 4: secret is all zero, which is never a valid key"},
      {"scalar equal to the order", With(&Lines::secret, "secret: " + std::string(kGroupOrderHex)),
       not_canonical},
      {"scalar far above the order", With(&Lines::secret, "secret: " + std::string(64, 'f')),
       not_canonical},
      {"public not hex", With(&Lines::pub, pub_with_z),
       ", line 5: public: character at position 22 is not a hex digit"},
      {"public too short", With(&Lines::pub, pub.substr(0, pub.size() - 2)),
       ", line 5: public has 62 hex digits; it must have 64 (32 bytes)"},
      {"public of another key",
       With(&Lines::pub, "public: " + ToHex(oprf::PrivateKey::Generate().public_key().bytes())),
       ", line 5: public does not match the public key of secret (the file is damaged, or its "
       "lines come from different keys)"},
      {"too large", With(&Lines::extra, "#" + std::string(4096, 'x')),
       " is larger than 4096 bytes, the most a key file may have"},
  };
}

TEST_F(KeyFileTest, BadContentIsRefusedWithoutShowingTheSecret) {
  for (const BadContent& c : BadContents()) {
    SCOPED_TRACE(c.name);
    const fs::path path = WriteFile("bad.key", c.text);
    for (const absl::Status& status :
         {LoadOprfKey(path).status(), ReadKeyFilePublic(path).status()}) {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
      const std::string message(status.message());
      EXPECT_THAT(message, HasSubstr("key file " + path.string() + c.fragment));
      EXPECT_THAT(message, Not(HasSubstr(std::string(kOprfSecretHex))));
      EXPECT_THAT(message, Not(HasSubstr(std::string(kOprfSecretHex.substr(0, 16)))));
      EXPECT_THAT(message, Not(HasSubstr(std::string(kOprfSecretHex.substr(40, 16)))));
    }
  }
}

TEST_F(KeyFileTest, RefusesAKeyOfAnotherKind) {
  const fs::path oprf_path = WriteFile("oprf.key", Lines().Text());
  absl::Status status = LoadSigningKey(oprf_path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("key file " + oprf_path.string() +
                        ", line 2: kind is oprf-ristretto255-sha512; this needs a key of kind "
                        "ed25519"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(std::string(kOprfSecretHex))));

  status = LoadBoxSecretKey(oprf_path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("this needs a key of kind x25519"));

  const fs::path box_path = PathOf("box.key");
  ASSERT_TRUE(SaveBoxSecretKey(box_path, BoxSecretKey::Generate(), Overwrite::kRefuse).ok());
  status = LoadOprfKey(box_path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("line 3: kind is x25519; this needs a key of kind oprf-ristretto255-sha512"));
}

TEST_F(KeyFileTest, SigningAndBoxFilesCheckPublicAgainstSecret) {
  const std::string ed25519 = "schakel-key-v1\nkind: ed25519\ncreated: 2026-11-23T10:00:00Z\n"
                              "secret: " + std::string(kEd25519SeedHex) + "\npublic: " +
                              std::string(kX25519PublicHex) + "\n";
  absl::Status status = LoadSigningKey(WriteFile("sign.key", ed25519)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("line 5: public does not match"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(std::string(kEd25519SeedHex))));

  const std::string x25519 = "schakel-key-v1\nkind: x25519\ncreated: 2026-11-23T10:00:00Z\n"
                             "secret: " + std::string(64, '0') + "\npublic: " +
                             std::string(kX25519PublicHex) + "\n";
  status = LoadBoxSecretKey(WriteFile("box.key", x25519)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("line 4: secret is all zero"));
}

}  // namespace
}  // namespace schakel::crypto
