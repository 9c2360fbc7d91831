#include "crypto/public_point_sum.h"

#include <gtest/gtest.h>

#include "crypto/random.h"
#include "tests/unit/crypto/test_util.h"

namespace schakel::crypto {
namespace {

using ::schakel::crypto::testing::StatusIs;

Element RandomElement() { return ScalarMultBase(Scalar::Random()).value(); }

TEST(PublicPointSumTest, MatchesLibsodiumOnRandomSums) {
  for (int round = 0; round < 200; ++round) {
    const int n = 1 + round % 7;
    PublicPointSum fast;
    Element reference = RandomElement();
    fast.Add(reference);
    for (int i = 1; i < n; ++i) {
      const Element e = RandomElement();
      fast.Add(e);
      reference = crypto::Add(reference, e).value();
    }
    auto sum = fast.Sum();
    ASSERT_TRUE(sum.ok()) << sum.status();
    EXPECT_EQ(ToHex(sum->bytes()), ToHex(reference.bytes())) << "round " << round;
  }
}

TEST(PublicPointSumTest, DoublingAndMergeMatchLibsodium) {
  const Element a = RandomElement();
  PublicPointSum twice;
  twice.Add(a);
  twice.Add(a);  // P + P: the addition law is complete
  EXPECT_EQ(twice.Sum().value(), crypto::Add(a, a).value());

  const Element b = RandomElement(), c = RandomElement();
  PublicPointSum left, right;
  left.Add(a);
  right.Add(b);
  right.Add(c);
  left.Merge(right);
  EXPECT_EQ(left.Sum().value(), crypto::Add(crypto::Add(a, b).value(), c).value());
}

TEST(PublicPointSumTest, GeneratorMultiplesMatchRfc9496) {
  // RFC 9496 A.1: 2·G.
  PublicPointSum s;
  s.Add(Element::Generator());
  s.Add(Element::Generator());
  EXPECT_EQ(ToHex(s.Sum()->bytes()),
            "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919");
}

TEST(PublicPointSumTest, IdentitySumIsRefused) {
  PublicPointSum empty;
  EXPECT_THAT(empty.Sum(), StatusIs(absl::StatusCode::kInternal, "identity"));
  // P + (-P) = identity.
  const Scalar k = Scalar::Random();
  const Element p = ScalarMultBase(k).value();
  const Element minus_p = ScalarMultBase(Scalar() - k).value();
  PublicPointSum cancel;
  cancel.Add(p);
  cancel.Add(minus_p);
  EXPECT_THAT(cancel.Sum(), StatusIs(absl::StatusCode::kInternal, "identity"));
}

}  // namespace
}  // namespace schakel::crypto
