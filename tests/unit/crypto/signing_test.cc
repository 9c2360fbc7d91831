// Ed25519 signing and verification (crypto/signing.h).
#include "crypto/signing.h"

#include <algorithm>
#include <array>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/bytes.h"

namespace schakel::crypto {
namespace {

using ::testing::HasSubstr;

Bytes Hex(std::string_view hex) { return FromHex(hex).value(); }

std::array<uint8_t, kSigningSeedSize> Seed(std::string_view hex) {
  const Bytes bytes = Hex(hex);
  std::array<uint8_t, kSigningSeedSize> seed{};
  EXPECT_EQ(bytes.size(), seed.size());
  std::copy_n(bytes.begin(), std::min(bytes.size(), seed.size()), seed.begin());
  return seed;
}

void ExpectInvalid(const absl::Status& status, std::string_view fragment) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(std::string(fragment)));
}

// RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte).
struct Rfc8032Vector {
  std::string_view secret_key;
  std::string_view public_key;
  std::string_view message;
  std::string_view signature;
};
constexpr Rfc8032Vector kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

TEST(SigningTest, Rfc8032Vectors) {
  for (const Rfc8032Vector& v : kRfc8032) {
    SCOPED_TRACE(v.public_key);
    const SigningKey key = SigningKey::FromSeed(Seed(v.secret_key));
    EXPECT_EQ(ToHex(key.verify_key().bytes()), v.public_key);
    const Bytes message = Hex(v.message);
    const Signature signature = key.Sign(message);
    EXPECT_EQ(ToHex(signature), v.signature);

    auto verify_key = VerifyKey::FromBytes(Hex(v.public_key));
    ASSERT_TRUE(verify_key.ok()) << verify_key.status();
    EXPECT_TRUE(verify_key->Verify(message, Hex(v.signature)).ok());
  }
}

TEST(SigningTest, SignVerifyRoundTrip) {
  const SigningKey key = SigningKey::Generate();
  const ByteView message = AsBytes("exchange 42, purpose zorg-en-veiligheid, expires 10:00:05Z");
  const Signature signature = key.Sign(message);
  EXPECT_TRUE(key.verify_key().Verify(message, signature).ok());
  // Ed25519 is deterministic: the same key signs the same message identically.
  EXPECT_EQ(key.Sign(message), signature);
  EXPECT_NE(key.Sign(AsBytes("another message")), signature);
}

TEST(SigningTest, VerifyKeyRoundTripsThroughBytes) {
  const SigningKey key = SigningKey::Generate();
  auto parsed = VerifyKey::FromBytes(key.verify_key().ToBytes());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, key.verify_key());
  EXPECT_FALSE(*parsed == SigningKey::Generate().verify_key());
}

TEST(SigningTest, TamperedMessageIsRefused) {
  const SigningKey key = SigningKey::Generate();
  Bytes message = {'h', 'i', 't', ':', ' ', '1'};
  const Signature signature = key.Sign(message);
  message[5] ^= 0x01;
  ExpectInvalid(key.verify_key().Verify(message, signature), "signature does not verify");
  message.push_back('!');
  ExpectInvalid(key.verify_key().Verify(message, signature), "signature does not verify");
}

TEST(SigningTest, TamperedSignatureIsRefused) {
  const SigningKey key = SigningKey::Generate();
  const ByteView message = AsBytes("checkpoint 17");
  const Signature signature = key.Sign(message);
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    SCOPED_TRACE(i);
    Signature tampered = signature;
    tampered[i] ^= 0x80;
    ExpectInvalid(key.verify_key().Verify(message, tampered), "signature does not verify");
  }
}

TEST(SigningTest, SignatureOfAnotherKeyIsRefused) {
  const SigningKey key = SigningKey::Generate();
  const SigningKey other = SigningKey::Generate();
  const ByteView message = AsBytes("receipt");
  ExpectInvalid(other.verify_key().Verify(message, key.Sign(message)),
                "signature does not verify");
}

TEST(SigningTest, WrongLengthSignatureIsRefused) {
  const SigningKey key = SigningKey::Generate();
  const ByteView message = AsBytes("m");
  const Signature signature = key.Sign(message);
  ExpectInvalid(key.verify_key().Verify(message, ByteView(signature).first(63)),
                "Ed25519 signature: has 63 bytes; it must have 64");
  Bytes longer(signature.begin(), signature.end());
  longer.push_back(0);
  ExpectInvalid(key.verify_key().Verify(message, longer),
                "Ed25519 signature: has 65 bytes; it must have 64");
  ExpectInvalid(key.verify_key().Verify(message, Bytes{}), "has 0 bytes");
}

TEST(SigningTest, WrongLengthVerifyKeyIsRefused) {
  const Bytes key = SigningKey::Generate().verify_key().ToBytes();
  ExpectInvalid(VerifyKey::FromBytes(ByteView(key).first(31)).status(),
                "Ed25519 public key: has 31 bytes; it must have 32");
  Bytes longer = key;
  longer.push_back(0);
  ExpectInvalid(VerifyKey::FromBytes(longer).status(), "has 33 bytes; it must have 32");
}

TEST(SigningTest, SmallOrderAndNonCanonicalVerifyKeysAreRefused) {
  // The identity (y = 1), a point of order 4 (y = 0), the point of order 2
  // (y = -1), and y = 2^255 - 1, which is not below p (not canonical).
  for (std::string_view hex :
       {"0100000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"}) {
    SCOPED_TRACE(hex);
    ExpectInvalid(VerifyKey::FromBytes(Hex(hex)).status(),
                  "not a canonical encoding of a point of prime order");
  }
}

TEST(SigningTest, MovedFromKeyIsWiped) {
  const auto seed = Seed(kRfc8032[0].secret_key);
  SigningKey key = SigningKey::FromSeed(seed);
  SigningKey moved = std::move(key);
  // NOLINTNEXTLINE(bugprone-use-after-move): checking what the move left behind.
  const auto left = key.seed();
  EXPECT_TRUE(std::all_of(left.begin(), left.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_TRUE(std::equal(moved.seed().begin(), moved.seed().end(), seed.begin()));
  EXPECT_EQ(ToHex(moved.verify_key().bytes()), kRfc8032[0].public_key);

  SigningKey assigned = SigningKey::Generate();
  assigned = std::move(moved);
  // NOLINTNEXTLINE(bugprone-use-after-move)
  const auto left_by_assignment = moved.seed();
  EXPECT_TRUE(std::all_of(left_by_assignment.begin(), left_by_assignment.end(),
                          [](uint8_t b) { return b == 0; }));
  EXPECT_TRUE(std::equal(assigned.seed().begin(), assigned.seed().end(), seed.begin()));
}

}  // namespace
}  // namespace schakel::crypto
