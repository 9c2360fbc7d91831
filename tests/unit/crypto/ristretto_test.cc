#include "crypto/ristretto.h"

#include <gtest/gtest.h>

#include <vector>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "tests/support/test_scale.h"
#include "tests/unit/crypto/test_util.h"

namespace schakel::crypto {
namespace {

using ::schakel::crypto::testing::DataPath;
using ::schakel::testing::EnvCount;
using ::schakel::testing::kSanitized;
using ::schakel::crypto::testing::HexOrDie;
using ::schakel::crypto::testing::ReadHexLines;
using ::schakel::crypto::testing::StatusIs;

// RFC 9496 Appendix A.1: multiples of the generator.
constexpr char kGenerator[] = "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76";
constexpr char kTwiceGenerator[] = "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919";

TEST(ElementTest, GeneratorMatchesRfc9496) {
  EXPECT_EQ(ToHex(Element::Generator().bytes()), kGenerator);
  auto twice = Add(Element::Generator(), Element::Generator());
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(ToHex(twice->bytes()), kTwiceGenerator);
  EXPECT_TRUE(Element::FromBytes(HexOrDie(kTwiceGenerator), "p").ok());
}

// RFC 9496's 29 and libsodium's one more (its test lists 30).
TEST(ElementTest, RefusesEveryInvalidEncodingOfRfc9496AndLibsodium) {
  const auto bad = ReadHexLines(DataPath("ristretto255-invalid-encodings.txt"));
  ASSERT_EQ(bad.size(), 30u);
  const Scalar k = Scalar::Random();
  for (const Bytes& b : bad) {
    SCOPED_TRACE(ToHex(b));
    EXPECT_THAT(Element::FromBytes(b, "blinded_elements[3]"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "blinded_elements[3]: not a canonical ristretto255 encoding"));
    EXPECT_THAT(ScalarMultUntrusted(k, b, "blinded_elements[3]"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "blinded_elements[3]: not a canonical ristretto255 encoding"));
  }
}

TEST(ElementTest, RefusesTheIdentityThatLibsodiumAccepts) {
  const Bytes identity(32, 0);
  // libsodium 1.0.18 accepts the identity as a valid point; we must not.
  ASSERT_EQ(crypto_core_ristretto255_is_valid_point(identity.data()), 1);
  EXPECT_THAT(Element::FromBytes(identity, "evaluated_elements[0]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "evaluated_elements[0]: the identity element is not allowed"));
  EXPECT_THAT(ScalarMultUntrusted(Scalar::Random(), identity, "blinded_elements[0]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "blinded_elements[0]: the identity element is not allowed"));
}

TEST(ElementTest, RefusesEncodingsWithTheHighBitSetThatLibsodiumAccepts) {
  // libsodium 1.0.18 ignores bit 255: the generator with that bit set decodes
  // as the generator. RFC 9496 makes such an encoding non-canonical.
  Bytes g = HexOrDie(kGenerator);
  g[31] |= 0x80;
  ASSERT_EQ(crypto_core_ristretto255_is_valid_point(g.data()), 1);
  EXPECT_THAT(Element::FromBytes(g, "blinded_elements[0]"),
              StatusIs(absl::StatusCode::kInvalidArgument, "blinded_elements[0]: not a canonical"));
  EXPECT_THAT(ScalarMultUntrusted(Scalar::Random(), g, "blinded_elements[0]"),
              StatusIs(absl::StatusCode::kInvalidArgument, "blinded_elements[0]: not a canonical"));
  // The identity with the high bit set (found by fuzz/element_fuzzer.cc).
  Bytes identity(32, 0);
  identity[31] = 0x80;
  EXPECT_THAT(Element::FromBytes(identity, "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, "x: not a canonical"));
  EXPECT_THAT(ScalarMultUntrusted(Scalar::Random(), identity, "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, "x: not a canonical"));
}

TEST(ElementTest, RefusesWrongLengths) {
  for (size_t len : {0u, 1u, 31u, 33u, 64u}) {
    Bytes b(len, 0x42);
    EXPECT_THAT(Element::FromBytes(b, "pk"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "pk: a ristretto255 element is 32 bytes, got " + std::to_string(len)));
    EXPECT_THAT(ScalarMultUntrusted(Scalar::Random(), b, "pk"),
                StatusIs(absl::StatusCode::kInvalidArgument, "pk: a ristretto255 element is 32 bytes"));
  }
}

// Random 32-byte strings: a million by default (SCHAKEL_RANDOM_ELEMENTS sets
// the count; 100,000 in the sanitizer build; the long form, ./tests/long.sh
// elements, runs 10^7). Each is refused with INVALID_ARGUMENT or is a valid
// point (about 1 in 16: bit 255 clear, a non-negative field element, and x^2
// a square, each about half), which round-trips; the decoder and the
// one-step multiplication (on the first 20,000, it is slower) agree; nothing
// crashes.
TEST(ElementTest, RandomStringsAreRefusedOrValidNeverCrash) {
  const int n = EnvCount("SCHAKEL_RANDOM_ELEMENTS", kSanitized ? 100'000 : 1'000'000);
  constexpr int kMultiplied = 20'000;
  int accepted = 0, refused = 0;
  const Scalar k = Scalar::Random();
  Bytes b(32);
  for (int i = 0; i < n; ++i) {
    RandomBytes(b);
    auto e = Element::FromBytes(b, "x");
    if (e.ok()) {
      ++accepted;
      if (ToHex(e->bytes()) != ToHex(b)) ADD_FAILURE() << "does not round-trip: " << ToHex(b);
    } else if (e.status().code() == absl::StatusCode::kInvalidArgument) {
      ++refused;
    } else {
      ADD_FAILURE() << ToHex(b) << ": " << e.status();
    }
    if (i < kMultiplied) {
      auto m = ScalarMultUntrusted(k, b, "x");
      EXPECT_EQ(e.ok(), m.ok()) << ToHex(b);
      if (m.ok()) {
        EXPECT_EQ(ToHex(m->input.bytes()), ToHex(b));
      }
    }
    if (HasFailure()) break;
  }
  EXPECT_EQ(accepted + refused, n);
  // 1/16 of n, within many standard deviations (for n = 10^6: 62,500 +- 242).
  EXPECT_GT(accepted, n / 20) << "of " << n;
  EXPECT_LT(accepted, n / 13) << "of " << n;
}

TEST(ElementTest, UntrustedMultiplicationEqualsTrustedOne) {
  const Scalar k = Scalar::Random();
  auto p = ScalarMultBase(Scalar::Random()).value();
  auto a = ScalarMult(k, p).value();
  auto b = ScalarMultUntrusted(k, p.bytes(), "p").value();
  EXPECT_EQ(a, b.product);
  EXPECT_EQ(p, b.input);
  EXPECT_THAT(ScalarMultUntrusted(Scalar(), p.bytes(), "p"),
              StatusIs(absl::StatusCode::kInvalidArgument, "scalar multiplication by zero"));
}

TEST(ScalarTest, CanonicalEncodingsOnly) {
  // ℓ itself and ℓ + 1 are not canonical; ℓ − 1 is.
  const Bytes order = HexOrDie("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  Bytes order_minus_one = order;
  order_minus_one[0] -= 1;
  Bytes order_plus_one = order;
  order_plus_one[0] += 1;
  EXPECT_TRUE(Scalar::FromCanonicalBytes(order_minus_one, "s").ok());
  EXPECT_THAT(Scalar::FromCanonicalBytes(order, "proof.s"),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof.s: not a canonical scalar"));
  EXPECT_THAT(Scalar::FromCanonicalBytes(order_plus_one, "proof.s"),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof.s: not a canonical scalar"));
  EXPECT_THAT(Scalar::FromCanonicalBytes(Bytes(32, 0xff), "proof.c"),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof.c: not a canonical scalar"));
  EXPECT_THAT(Scalar::FromCanonicalBytes(Bytes(31, 0), "proof.c"),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof.c: a scalar is 32 bytes, got 31"));
}

TEST(ScalarTest, Arithmetic) {
  const Scalar a = Scalar::Random();
  const Scalar b = Scalar::Random();
  EXPECT_EQ((a + b) - b, a);
  auto inv = a.Invert();
  ASSERT_TRUE(inv.ok());
  Bytes one(32, 0);
  one[0] = 1;
  EXPECT_EQ(ToHex((a * *inv).bytes()), ToHex(one));
  EXPECT_THAT(Scalar().Invert(), StatusIs(absl::StatusCode::kInvalidArgument, "zero"));
  // k·(m·G) = (k·m)·G
  auto lhs = ScalarMult(a, ScalarMultBase(b).value()).value();
  auto rhs = ScalarMultBase(a * b).value();
  EXPECT_EQ(lhs, rhs);
}

TEST(ScalarTest, InvertAllEqualsInvertingEachAndNamesAZeroScalar) {
  for (size_t n : {size_t{1}, size_t{2}, size_t{3}, size_t{17}}) {
    std::vector<Scalar> scalars;
    for (size_t i = 0; i < n; ++i) scalars.push_back(Scalar::Random());
    auto inverses = InvertAll(scalars);
    ASSERT_TRUE(inverses.ok()) << inverses.status();
    ASSERT_EQ(inverses->size(), n);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ((*inverses)[i], scalars[i].Invert().value()) << "scalar " << i << " of " << n;
    }
  }
  auto none = InvertAll({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  std::vector<Scalar> with_zero;
  with_zero.push_back(Scalar::Random());
  with_zero.push_back(Scalar::Random());
  with_zero.emplace_back();  // zero
  EXPECT_THAT(InvertAll(with_zero),
              StatusIs(absl::StatusCode::kInvalidArgument, "zero scalar (scalar 2)"));
}

TEST(ScalarTest, MovedFromScalarIsWiped) {
  Scalar a = Scalar::Random();
  Scalar b = std::move(a);
  EXPECT_FALSE(b.IsZero());
  EXPECT_TRUE(a.IsZero());  // NOLINT(bugprone-use-after-move): wiping is the point
}

TEST(SecretBytesTest, WipeAndMove) {
  SecretBytes<4> s;
  s.mutable_bytes()[0] = 7;
  SecretBytes<4> t = std::move(s);
  EXPECT_EQ(t.bytes()[0], 7);
  EXPECT_EQ(s.bytes()[0], 0);  // NOLINT(bugprone-use-after-move)
  static_assert(!std::is_copy_constructible_v<SecretBytes<4>>);
  static_assert(!std::is_copy_constructible_v<Scalar>);
  static_assert(!std::is_copy_constructible_v<SecretBuffer>);
}

TEST(HashTest, KnownDigests) {
  EXPECT_EQ(ToHex(Blake2b256Hash(AsBytes(""))),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(ToHex(Blake2b256Hash(AsBytes("abc"))),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  Blake2b256 incremental;
  incremental.Update("a").Update("bc");
  EXPECT_EQ(ToHex(incremental.Final()),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  EXPECT_EQ(ToHex(Sha512Hash(AsBytes("abc"))),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(HashTest, ExpandMessageXmdMatchesRfc9380AppendixK3) {
  const std::string_view dst = "QUUX-V01-CS02-with-expander-SHA512-256";
  struct Case {
    std::string_view msg;
    size_t length;
    std::string_view expected;
  } cases[] = {
      {"", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"},
      {"abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"},
      {"abcdef0123456789", 0x20, "087e45a86e2939ee8b91100af1583c4938e0f5fc6c9db4b107b83346bc967f58"},
      {"", 0x80,
       "41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921b052b62eaed99b46f72f2ef4cc96"
       "bfaf254ebbbec091e1a3b9e4fb5e5b619d2e0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842c"
       "f5d13d7eb00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.msg) + "/" + std::to_string(c.length));
    auto out = ExpandMessageXmdSha512(AsBytes(c.msg), AsBytes(dst), c.length);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(ToHex(*out), c.expected);
  }
}

TEST(HashTest, ExpandMessageXmdRefusesBadParameters) {
  EXPECT_THAT(ExpandMessageXmdSha512(AsBytes("m"), AsBytes(""), 64),
              StatusIs(absl::StatusCode::kInvalidArgument, "DST length 0"));
  EXPECT_THAT(ExpandMessageXmdSha512(AsBytes("m"), Bytes(256, 'd'), 64),
              StatusIs(absl::StatusCode::kInvalidArgument, "DST length 256"));
  EXPECT_THAT(ExpandMessageXmdSha512(AsBytes("m"), AsBytes("dst"), 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "output length 0"));
  EXPECT_THAT(ExpandMessageXmdSha512(AsBytes("m"), AsBytes("dst"), 255 * 64 + 1),
              StatusIs(absl::StatusCode::kInvalidArgument, "output length 16321"));
  auto long_out = ExpandMessageXmdSha512(AsBytes("m"), AsBytes("dst"), 200);
  ASSERT_TRUE(long_out.ok());
  EXPECT_EQ(long_out->size(), 200u);
  // A prefix property does not hold (the length is bound in), by design.
  auto short_out = ExpandMessageXmdSha512(AsBytes("m"), AsBytes("dst"), 64).value();
  EXPECT_NE(ToHex(short_out), ToHex(Bytes(long_out->begin(), long_out->begin() + 64)));
}

TEST(BytesTest, HexErrorsNameFieldAndPosition) {
  EXPECT_THAT(FromHex("abc", "seed"),
              StatusIs(absl::StatusCode::kInvalidArgument, "seed: hex string has odd length 3"));
  EXPECT_THAT(FromHex("zz", "seed"),
              StatusIs(absl::StatusCode::kInvalidArgument, "seed: character at position 0"));
  EXPECT_EQ(ToHex(FromHex("00FFaB").value()), "00ffab");
}

}  // namespace
}  // namespace schakel::crypto
