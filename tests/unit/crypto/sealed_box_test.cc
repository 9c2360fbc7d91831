// Sealed boxes (crypto/sealed_box.h).
#include "crypto/sealed_box.h"

#include <algorithm>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/bytes.h"

namespace schakel::crypto {
namespace {

using ::testing::HasSubstr;

Bytes Hex(std::string_view hex) { return FromHex(hex).value(); }

std::string Text(const SecretBuffer& buffer) {
  return std::string(reinterpret_cast<const char*>(buffer.data()), buffer.size());
}

void ExpectInvalid(const absl::Status& status, std::string_view fragment) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(std::string(fragment)));
}

constexpr std::string_view kPayload = "signaal: zorgmelding 2026-11-02, categorie huiselijk geweld";

TEST(SealedBoxTest, RoundTrip) {
  const BoxSecretKey key = BoxSecretKey::Generate();
  const Bytes sealed = Seal(key.public_key(), AsBytes(kPayload));
  EXPECT_EQ(sealed.size(), kPayload.size() + 48);
  auto opened = Open(key, sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(Text(*opened), kPayload);
}

TEST(SealedBoxTest, EmptyPlaintextRoundTrips) {
  const BoxSecretKey key = BoxSecretKey::Generate();
  const Bytes sealed = Seal(key.public_key(), ByteView());
  EXPECT_EQ(sealed.size(), 48u);
  auto opened = Open(key, sealed);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->empty());
}

TEST(SealedBoxTest, EverySealIsDifferent) {
  const BoxSecretKey key = BoxSecretKey::Generate();
  const Bytes a = Seal(key.public_key(), AsBytes(kPayload));
  const Bytes b = Seal(key.public_key(), AsBytes(kPayload));
  EXPECT_NE(a, b);
  // Nothing of the plaintext shows in the box.
  const std::string as_text(a.begin(), a.end());
  EXPECT_EQ(as_text.find("zorgmelding"), std::string::npos);
}

TEST(SealedBoxTest, AnyTamperedByteIsRefused) {
  const BoxSecretKey key = BoxSecretKey::Generate();
  const Bytes sealed = Seal(key.public_key(), AsBytes(kPayload));
  for (size_t i = 0; i < sealed.size(); ++i) {
    SCOPED_TRACE(i);
    Bytes tampered = sealed;
    tampered[i] ^= 0x01;
    ExpectInvalid(Open(key, tampered).status(), "sealed box does not open with this key");
  }
}

TEST(SealedBoxTest, TruncatedOrExtendedBoxIsRefused) {
  const BoxSecretKey key = BoxSecretKey::Generate();
  const Bytes sealed = Seal(key.public_key(), AsBytes(kPayload));
  ExpectInvalid(Open(key, ByteView(sealed).first(sealed.size() - 1)).status(),
                "sealed box does not open with this key");
  Bytes extended = sealed;
  extended.push_back(0);
  ExpectInvalid(Open(key, extended).status(), "sealed box does not open with this key");
}

TEST(SealedBoxTest, ShortBoxIsRefused) {
  const BoxSecretKey key = BoxSecretKey::Generate();
  const Bytes sealed = Seal(key.public_key(), ByteView());
  ExpectInvalid(Open(key, ByteView(sealed).first(47)).status(),
                "sealed box: has 47 bytes; it must have at least 48");
  ExpectInvalid(Open(key, ByteView()).status(), "has 0 bytes; it must have at least 48");
}

TEST(SealedBoxTest, WrongKeyIsRefused) {
  const BoxSecretKey key = BoxSecretKey::Generate();
  const BoxSecretKey other = BoxSecretKey::Generate();
  const Bytes sealed = Seal(key.public_key(), AsBytes(kPayload));
  ExpectInvalid(Open(other, sealed).status(), "sealed box does not open with this key");
}

TEST(SealedBoxTest, SecretKeyFromBytesDerivesRfc7748PublicKey) {
  // RFC 7748 section 6.1, Alice's key pair.
  auto key = BoxSecretKey::FromBytes(
      Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(ToHex(key->public_key().bytes()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  // A key rebuilt from its bytes opens what was sealed to the original.
  const BoxSecretKey generated = BoxSecretKey::Generate();
  auto rebuilt = BoxSecretKey::FromBytes(generated.secret_bytes());
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_EQ(rebuilt->public_key(), generated.public_key());
  auto opened = Open(*rebuilt, Seal(generated.public_key(), AsBytes(kPayload)));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(Text(*opened), kPayload);
}

TEST(SealedBoxTest, BadSecretKeyBytesAreRefused) {
  ExpectInvalid(BoxSecretKey::FromBytes(Bytes(31, 7)).status(),
                "X25519 secret key: has 31 bytes; it must have 32");
  ExpectInvalid(BoxSecretKey::FromBytes(Bytes(32, 0)).status(),
                "X25519 secret key: must not be all zero");
}

TEST(SealedBoxTest, PublicKeyFromBytes) {
  const BoxSecretKey key = BoxSecretKey::Generate();
  auto parsed = BoxPublicKey::FromBytes(key.public_key().ToBytes());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, key.public_key());
  auto opened = Open(key, Seal(*parsed, AsBytes(kPayload)));
  ASSERT_TRUE(opened.ok()) << opened.status();

  ExpectInvalid(BoxPublicKey::FromBytes(Bytes(33, 9)).status(),
                "X25519 public key: has 33 bytes; it must have 32");
  // u = 0 and u = 1 are points of small order.
  ExpectInvalid(BoxPublicKey::FromBytes(Bytes(32, 0)).status(), "small order");
  ExpectInvalid(
      BoxPublicKey::FromBytes(
          Hex("0100000000000000000000000000000000000000000000000000000000000000"))
          .status(),
      "small order");
}

TEST(SealedBoxTest, MovedFromSecretKeyIsWiped) {
  BoxSecretKey key = BoxSecretKey::Generate();
  const Bytes original(key.secret_bytes().begin(), key.secret_bytes().end());
  BoxSecretKey moved = std::move(key);
  // NOLINTNEXTLINE(bugprone-use-after-move): checking what the move left behind.
  const auto left = key.secret_bytes();
  EXPECT_TRUE(std::all_of(left.begin(), left.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_TRUE(std::equal(original.begin(), original.end(), moved.secret_bytes().begin()));
}

}  // namespace
}  // namespace schakel::crypto
