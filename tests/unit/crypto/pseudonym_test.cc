#include "crypto/pseudonym.h"

#include <gtest/gtest.h>

#include "tests/unit/crypto/test_util.h"

namespace schakel::crypto {
namespace {

using ::schakel::crypto::testing::DataPath;
using ::schakel::crypto::testing::ReadHexLines;
using ::schakel::crypto::testing::StatusIs;

std::vector<Bytes> Inputs(std::initializer_list<std::string_view> keys) {
  std::vector<Bytes> out;
  for (auto k : keys) out.emplace_back(k.begin(), k.end());
  return out;
}

std::vector<ByteView> Views(const std::vector<Bytes>& v) { return {v.begin(), v.end()}; }

struct Node {
  oprf::PoprfServer server{oprf::PrivateKey::Generate()};
};

TEST(PseudonymTest, RequesterTagsEqualNodeTags) {
  Node node;
  auto key = PurposeKey::Create(node.server, "riec-ondermijning").value();
  auto requester = MatchRequester::Create("riec-ondermijning").value();
  const auto inputs = Inputs({"schakel:v1:bsn:111222333", "schakel:v1:name_dob:vries|j|1990-02-01",
                              "schakel:v1:address:1234AB|12A"});
  auto pending = requester.Blind(Views(inputs)).value();
  auto blinded = pending.BlindedEncodings();
  auto eval = key.EvaluateBlinded(Views(blinded), 2).value();
  ASSERT_EQ(eval.evaluated_elements.size(), 3u);
  ASSERT_EQ(eval.proof.size(), 64u);
  auto tags = requester.Finalize(pending, node.server.public_key(), Views(eval.evaluated_elements), eval.proof);
  ASSERT_TRUE(tags.ok()) << tags.status();
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ((*tags)[i], key.TagFor(inputs[i]).value()) << "input " << i;
  }
  EXPECT_NE((*tags)[0], (*tags)[1]);
}

TEST(PseudonymTest, OneBlindingServesEveryPartner) {
  Node a, b;
  auto key_a = PurposeKey::Create(a.server, "test-purpose").value();
  auto key_b = PurposeKey::Create(b.server, "test-purpose").value();
  auto requester = MatchRequester::Create("test-purpose").value();
  const auto inputs = Inputs({"schakel:v1:bsn:111222333", "schakel:v1:bsn:123456782"});
  auto pending = requester.Blind(Views(inputs)).value();
  auto blinded = pending.BlindedEncodings();
  auto eval_a = key_a.EvaluateBlinded(Views(blinded)).value();
  auto eval_b = key_b.EvaluateBlinded(Views(blinded)).value();
  auto tags_a = requester.Finalize(pending, a.server.public_key(), Views(eval_a.evaluated_elements), eval_a.proof).value();
  auto tags_b = requester.Finalize(pending, b.server.public_key(), Views(eval_b.evaluated_elements), eval_b.proof).value();
  EXPECT_EQ(tags_a[1], key_a.TagFor(inputs[1]).value());
  EXPECT_EQ(tags_b[1], key_b.TagFor(inputs[1]).value());
  EXPECT_NE(tags_a[1], tags_b[1]);
  // A's answer presented as B's is refused.
  EXPECT_THAT(requester.Finalize(pending, b.server.public_key(), Views(eval_a.evaluated_elements), eval_a.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
}

// Finalize's two halves, as the requesting node runs them apart (the proof
// of each answer and each element's unblinding on whichever thread is free).
TEST(PseudonymTest, VerifyAnswerAndUnverifiedTagsAreFinalizeInTwoHalves) {
  Node a, b;
  auto key_a = PurposeKey::Create(a.server, "test-purpose").value();
  auto key_b = PurposeKey::Create(b.server, "test-purpose").value();
  auto requester = MatchRequester::Create("test-purpose").value();
  const auto inputs = Inputs({"schakel:v1:bsn:111222333", "schakel:v1:bsn:123456782",
                              "schakel:v1:address:1234AB|12A"});
  auto pending = requester.Blind(Views(inputs)).value();
  auto blinded = pending.BlindedEncodings();
  auto eval = key_a.EvaluateBlinded(Views(blinded)).value();
  const auto views = Views(eval.evaluated_elements);

  EXPECT_TRUE(requester.VerifyAnswer(pending, a.server.public_key(), views, eval.proof).ok());
  const auto tags = requester.Finalize(pending, a.server.public_key(), views, eval.proof).value();
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto tag = requester.UnverifiedTag(pending, i, views[i]);
    ASSERT_TRUE(tag.ok()) << tag.status();
    EXPECT_EQ(*tag, tags[i]) << "element " << i;
    EXPECT_EQ(*tag, key_a.TagFor(inputs[i]).value()) << "element " << i;
  }

  // What VerifyAnswer refuses, as Finalize does.
  EXPECT_THAT(requester.VerifyAnswer(pending, b.server.public_key(), views, eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
  auto swapped = eval.evaluated_elements;
  std::swap(swapped[0], swapped[2]);
  EXPECT_THAT(requester.VerifyAnswer(pending, a.server.public_key(), Views(swapped), eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
  auto eval_b = key_b.EvaluateBlinded(Views(blinded)).value();
  EXPECT_THAT(requester.VerifyAnswer(pending, a.server.public_key(), views, eval_b.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
  auto identity = eval.evaluated_elements;
  identity[2] = Bytes(32, 0);
  EXPECT_THAT(requester.VerifyAnswer(pending, a.server.public_key(), Views(identity), eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "evaluated_elements[2]: the identity element is not allowed"));
  EXPECT_THAT(requester.VerifyAnswer(pending, a.server.public_key(),
                                     std::span<const ByteView>(views).first(2), eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "evaluated_elements: expected 3 elements, got 2"));
  EXPECT_THAT(requester.VerifyAnswer(pending, a.server.public_key(), views, Bytes(63, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof: must be 64 bytes, got 63"));

  // UnverifiedTag checks its one element only; its tag under another
  // node's key is that node's (the key plays no part in unblinding).
  EXPECT_EQ(requester.UnverifiedTag(pending, 1, eval_b.evaluated_elements[1]).value(),
            key_b.TagFor(inputs[1]).value());
  EXPECT_THAT(requester.UnverifiedTag(pending, 0, identity[2]),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "evaluated_elements[0]: the identity element is not allowed"));
  EXPECT_THAT(requester.UnverifiedTag(pending, 3, views[0]),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "evaluated_elements[3]: the batch has only 3 elements"));
  MatchRequester moved = std::move(requester);
  EXPECT_THAT(requester.UnverifiedTag(pending, 0, views[0]),  // NOLINT(bugprone-use-after-move)
              StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));
  EXPECT_THAT(requester.VerifyAnswer(pending, a.server.public_key(), views, eval.proof),  // NOLINT
              StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));
}

TEST(PseudonymTest, TagsAreBoundToThePurposeAndTheNode) {
  Node a, b;
  const Bytes input = Inputs({"schakel:v1:bsn:111222333"})[0];
  auto a1 = PurposeKey::Create(a.server, "purpose-1").value().TagFor(input).value();
  auto a2 = PurposeKey::Create(a.server, "purpose-2").value().TagFor(input).value();
  auto b1 = PurposeKey::Create(b.server, "purpose-1").value().TagFor(input).value();
  EXPECT_NE(a1, a2);
  EXPECT_NE(a1, b1);
  // Deterministic for the same node, purpose and input.
  EXPECT_EQ(a1, PurposeKey::Create(a.server, "purpose-1").value().TagFor(input).value());
}

TEST(PseudonymTest, RequesterRefusesAnswerUnderAnotherPurpose) {
  Node node;
  auto wrong = PurposeKey::Create(node.server, "zvh-casusoverleg").value();
  auto requester = MatchRequester::Create("riec-ondermijning").value();
  const auto inputs = Inputs({"schakel:v1:bsn:111222333"});
  auto pending = requester.Blind(Views(inputs)).value();
  auto blinded = pending.BlindedEncodings();
  auto eval = wrong.EvaluateBlinded(Views(blinded)).value();
  EXPECT_THAT(requester.Finalize(pending, node.server.public_key(), Views(eval.evaluated_elements), eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
}

TEST(PseudonymTest, NodeRefusesBadEncodingsByIndex) {
  Node node;
  auto key = PurposeKey::Create(node.server, "test-purpose").value();
  auto requester = MatchRequester::Create("test-purpose").value();
  const auto inputs = Inputs({"schakel:v1:bsn:111222333", "schakel:v1:bsn:123456782"});
  auto blinded = requester.Blind(Views(inputs)).value().BlindedEncodings();
  for (const Bytes& bad : ReadHexLines(DataPath("ristretto255-invalid-encodings.txt"))) {
    auto batch = blinded;
    batch.push_back(bad);
    EXPECT_THAT(key.EvaluateBlinded(Views(batch)),
                StatusIs(absl::StatusCode::kInvalidArgument, "blinded_elements[2]: not a canonical"));
  }
  auto with_identity = blinded;
  with_identity[1] = Bytes(32, 0);
  EXPECT_THAT(key.EvaluateBlinded(Views(with_identity)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "blinded_elements[1]: the identity element is not allowed"));
  auto short_one = blinded;
  short_one[0].pop_back();
  EXPECT_THAT(key.EvaluateBlinded(Views(short_one)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "blinded_elements[0]: a ristretto255 element is 32 bytes, got 31"));
  EXPECT_THAT(key.EvaluateBlinded({}),
              StatusIs(absl::StatusCode::kInvalidArgument, "blinded_elements: the batch is empty"));
}

TEST(PseudonymTest, RequesterRefusesBadAnswers) {
  Node node;
  auto key = PurposeKey::Create(node.server, "test-purpose").value();
  auto requester = MatchRequester::Create("test-purpose").value();
  const auto inputs = Inputs({"schakel:v1:bsn:111222333", "schakel:v1:bsn:123456782"});
  auto pending = requester.Blind(Views(inputs)).value();
  auto blinded = pending.BlindedEncodings();
  auto eval = key.EvaluateBlinded(Views(blinded)).value();

  auto identity = eval.evaluated_elements;
  identity[1] = Bytes(32, 0);
  EXPECT_THAT(requester.Finalize(pending, node.server.public_key(), Views(identity), eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "evaluated_elements[1]: the identity element is not allowed"));
  auto one = std::vector<Bytes>{eval.evaluated_elements[0]};
  EXPECT_THAT(requester.Finalize(pending, node.server.public_key(), Views(one), eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "evaluated_elements: expected 2 elements, got 1"));
  EXPECT_THAT(requester.Finalize(pending, node.server.public_key(), Views(eval.evaluated_elements), Bytes(10, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof: must be 64 bytes, got 10"));
}

TEST(PseudonymTest, RequesterRefusesNonCanonicalAnswer) {
  Node node;
  auto key = PurposeKey::Create(node.server, "test-purpose").value();
  auto requester = MatchRequester::Create("test-purpose").value();
  const auto inputs = Inputs({"schakel:v1:bsn:111222333"});
  auto pending = requester.Blind(Views(inputs)).value();
  auto blinded = pending.BlindedEncodings();
  auto eval = key.EvaluateBlinded(Views(blinded)).value();
  auto high_bit = eval.evaluated_elements;
  high_bit[0][31] |= 0x80;  // libsodium 1.0.18 would decode this as the same element
  EXPECT_THAT(requester.Finalize(pending, node.server.public_key(), Views(high_bit), eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "evaluated_elements[0]: not a canonical"));
}

TEST(PseudonymTest, MovedFromObjectsRefuse) {
  Node node;
  auto key = PurposeKey::Create(node.server, "test-purpose").value();
  PurposeKey key2 = std::move(key);
  const Bytes input = Inputs({"schakel:v1:bsn:111222333"})[0];
  EXPECT_THAT(key.TagFor(input), StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));  // NOLINT
  EXPECT_TRUE(key2.TagFor(input).ok());
  auto requester = MatchRequester::Create("test-purpose").value();
  MatchRequester r2 = std::move(requester);
  std::vector<ByteView> views{input};
  EXPECT_THAT(requester.Blind(views), StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));  // NOLINT
  EXPECT_TRUE(r2.Blind(views).ok());
}

TEST(PseudonymTest, TooManyInputsAreRefused) {
  auto requester = MatchRequester::Create("test-purpose").value();
  const Bytes one = Inputs({"schakel:v1:bsn:111222333"})[0];
  std::vector<ByteView> views(oprf::kMaxBatch + 1, ByteView(one));
  EXPECT_THAT(requester.Blind(views),
              StatusIs(absl::StatusCode::kInvalidArgument, "65536 inputs is more than the 65535"));
}

TEST(PseudonymTest, PurposeIdsAreValidated) {
  Node node;
  for (std::string_view bad : {"", "r", "Riec", "riec ondermijning", "-x", "1riec", "riec/1",
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(PurposeKey::Create(node.server, bad),
                StatusIs(absl::StatusCode::kInvalidArgument, "purpose:"));
    EXPECT_THAT(MatchRequester::Create(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, "purpose:"));
  }
  EXPECT_EQ(ToHex(PurposeInfo("zvh.casus_1").value()), ToHex(Inputs({"schakel:v1:purpose:zvh.casus_1"})[0]));
}

}  // namespace
}  // namespace schakel::crypto
