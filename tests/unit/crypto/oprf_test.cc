// Properties of the RFC 9497 implementation beyond the test vectors: proofs
// that must fail, batch handling, mode separation.
#include "crypto/oprf.h"

#include <gtest/gtest.h>

#include "tests/unit/crypto/oprf_test_peer.h"
#include "tests/unit/crypto/test_util.h"

namespace schakel::crypto::oprf {
namespace {

using ::schakel::crypto::testing::StatusIs;

struct PoprfRound {
  std::vector<Bytes> inputs;
  std::vector<ByteView> views;
  std::vector<Scalar> blinds;
  std::vector<Element> blinded;
};

PoprfRound BlindAll(const PoprfClient& client, size_t n) {
  PoprfRound r;
  for (size_t i = 0; i < n; ++i) {
    Bytes in;
    Append(in, "schakel:v1:bsn:" + std::to_string(111222333 + i));
    r.inputs.push_back(in);
  }
  for (const auto& in : r.inputs) {
    r.views.push_back(in);
    auto b = client.Blind(in).value();
    r.blinds.push_back(std::move(b.blind));
    r.blinded.push_back(b.blinded_element);
  }
  return r;
}

Bytes Info(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(PoprfTest, BlindedRoundEqualsDirectEvaluation) {
  PoprfServer server(PrivateKey::Generate());
  const Bytes info = Info("schakel:v1:purpose:test");
  auto client = PoprfClient::Create(server.public_key(), info).value();
  PoprfRound r = BlindAll(client, 70);
  for (int threads : {1, 2, 3}) {
    auto eval = server.BlindEvaluateBatch(r.blinded, info, threads);
    ASSERT_TRUE(eval.ok()) << eval.status();
    auto outs = client.Finalize(r.views, r.blinds, r.blinded, eval->evaluated_elements, eval->proof);
    ASSERT_TRUE(outs.ok()) << outs.status();
    for (size_t i = 0; i < r.inputs.size(); ++i) {
      EXPECT_EQ((*outs)[i], server.Evaluate(r.inputs[i], info).value()) << "element " << i;
    }
  }
}

TEST(PoprfTest, DifferentInfoGivesUnrelatedOutputs) {
  PoprfServer server(PrivateKey::Generate());
  const Bytes input = Info("schakel:v1:bsn:111222333");
  EXPECT_NE(server.Evaluate(input, Info("schakel:v1:purpose:a")).value(),
            server.Evaluate(input, Info("schakel:v1:purpose:b")).value());
}

TEST(PoprfTest, ProofFromAnotherKeyIsRefused) {
  PoprfServer honest(PrivateKey::Generate());
  PoprfServer other(PrivateKey::Generate());
  const Bytes info = Info("schakel:v1:purpose:test");
  auto client = PoprfClient::Create(honest.public_key(), info).value();
  PoprfRound r = BlindAll(client, 3);
  auto eval = other.BlindEvaluateBatch(r.blinded, info).value();
  EXPECT_THAT(client.Finalize(r.views, r.blinds, r.blinded, eval.evaluated_elements, eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
}

TEST(PoprfTest, ProofUnderAnotherInfoIsRefused) {
  PoprfServer server(PrivateKey::Generate());
  auto client = PoprfClient::Create(server.public_key(), Info("schakel:v1:purpose:a")).value();
  PoprfRound r = BlindAll(client, 2);
  auto eval = server.BlindEvaluateBatch(r.blinded, Info("schakel:v1:purpose:b")).value();
  EXPECT_THAT(client.Finalize(r.views, r.blinds, r.blinded, eval.evaluated_elements, eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
}

TEST(PoprfTest, TamperedOrReorderedEvaluationIsRefused) {
  PoprfServer server(PrivateKey::Generate());
  const Bytes info = Info("schakel:v1:purpose:test");
  auto client = PoprfClient::Create(server.public_key(), info).value();
  PoprfRound r = BlindAll(client, 4);
  auto eval = server.BlindEvaluateBatch(r.blinded, info).value();

  auto swapped = eval.evaluated_elements;
  std::swap(swapped[0], swapped[1]);
  EXPECT_THAT(client.Finalize(r.views, r.blinds, r.blinded, swapped, eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));

  auto replaced = eval.evaluated_elements;
  replaced[2] = ScalarMultBase(Scalar::Random()).value();
  EXPECT_THAT(client.Finalize(r.views, r.blinds, r.blinded, replaced, eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));

  Proof bent{eval.proof.c.Clone(), eval.proof.s + eval.proof.c};
  EXPECT_THAT(client.Finalize(r.views, r.blinds, r.blinded, eval.evaluated_elements, bent),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
}

TEST(PoprfTest, BatchShapeErrors) {
  PoprfServer server(PrivateKey::Generate());
  const Bytes info = Info("schakel:v1:purpose:test");
  auto client = PoprfClient::Create(server.public_key(), info).value();
  EXPECT_THAT(server.BlindEvaluateBatch({}, info),
              StatusIs(absl::StatusCode::kInvalidArgument, "the batch is empty"));
  PoprfRound r = BlindAll(client, 3);
  auto eval = server.BlindEvaluateBatch(r.blinded, info).value();
  std::vector<Element> fewer(eval.evaluated_elements.begin(), eval.evaluated_elements.end() - 1);
  EXPECT_THAT(client.Finalize(r.views, r.blinds, r.blinded, fewer, eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "batch sizes differ"));
  EXPECT_THAT(PoprfClient::Create(server.public_key(), Bytes(65536, 'i')),
              StatusIs(absl::StatusCode::kInvalidArgument, "info: 65536 bytes is longer"));
  EXPECT_THAT(client.Blind(Bytes(65536, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, "input: 65536 bytes is longer"));
}

TEST(ProofTest, ParseRefusesMalformedProofs) {
  EXPECT_THAT(Proof::Parse(Bytes(63, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof: must be 64 bytes, got 63"));
  Bytes bad_c(64, 0);
  std::fill(bad_c.begin(), bad_c.begin() + 32, 0xff);
  EXPECT_THAT(Proof::Parse(bad_c),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof.c: not a canonical scalar"));
  Bytes bad_s(64, 0);
  std::fill(bad_s.begin() + 32, bad_s.end(), 0xff);
  EXPECT_THAT(Proof::Parse(bad_s),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof.s: not a canonical scalar"));
}

TEST(ProofTest, ZeroProofIsRefused) {
  PoprfServer server(PrivateKey::Generate());
  const Bytes info = Info("schakel:v1:purpose:test");
  auto client = PoprfClient::Create(server.public_key(), info).value();
  PoprfRound r = BlindAll(client, 1);
  auto eval = server.BlindEvaluateBatch(r.blinded, info).value();
  auto zero = Proof::Parse(Bytes(64, 0)).value();
  EXPECT_THAT(client.Finalize(r.views, r.blinds, r.blinded, eval.evaluated_elements, zero),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
}

TEST(VoprfTest, RoundTripAndWrongKey) {
  VoprfServer server(PrivateKey::Generate());
  VoprfClient client(server.public_key());
  VoprfClient fooled(PrivateKey::Generate().public_key());
  Bytes input = Info("hello");
  auto b = client.Blind(input).value();
  std::vector<Element> blinded{b.blinded_element};
  auto eval = server.BlindEvaluateBatch(blinded).value();
  std::vector<ByteView> inputs{input};
  std::vector<Scalar> blinds;
  blinds.push_back(b.blind.Clone());
  auto out = client.Finalize(inputs, blinds, blinded, eval.evaluated_elements, eval.proof);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0], server.Evaluate(input).value());
  EXPECT_THAT(fooled.Finalize(inputs, blinds, blinded, eval.evaluated_elements, eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
}

TEST(OprfTest, ModesAreDomainSeparated) {
  const Bytes seed(32, 0xa3);
  const Bytes info = Info("k");
  auto k0 = PrivateKey::Derive(Mode::kOprf, std::span<const uint8_t, 32>(seed.data(), 32), info).value();
  auto k1 = PrivateKey::Derive(Mode::kVoprf, std::span<const uint8_t, 32>(seed.data(), 32), info).value();
  EXPECT_NE(ToHex(k0.scalar().bytes()), ToHex(k1.scalar().bytes()));
  EXPECT_NE(ToHex(HashToGroup(Mode::kOprf, info).value().bytes()),
            ToHex(HashToGroup(Mode::kPoprf, info).value().bytes()));
}

TEST(PrivateKeyTest, FromBytesRefusesZeroAndNonCanonical) {
  EXPECT_THAT(PrivateKey::FromBytes(Bytes(32, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument, "OPRF private key: must not be zero"));
  EXPECT_THAT(PrivateKey::FromBytes(Bytes(32, 0xff)),
              StatusIs(absl::StatusCode::kInvalidArgument, "OPRF private key: not a canonical scalar"));
  EXPECT_THAT(PrivateKey::FromBytes(Bytes(16, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "OPRF private key: a scalar is 32 bytes"));
  auto k = PrivateKey::Generate();
  auto again = PrivateKey::FromBytes(k.scalar().bytes()).value();
  EXPECT_EQ(k.public_key(), again.public_key());
}

}  // namespace
}  // namespace schakel::crypto::oprf

namespace schakel::crypto::oprf {
namespace {

using ::schakel::crypto::testing::HexOrDie;
using ::schakel::crypto::testing::StatusIs;

TEST(MovedFromTest, MovedFromKeyRefusesToServe) {
  PrivateKey key = PrivateKey::Generate();
  PrivateKey taken = std::move(key);
  EXPECT_THAT(key.CheckUsable(),  // NOLINT(bugprone-use-after-move): the point of the test
              StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));
  PoprfServer poprf(std::move(key));  // NOLINT(bugprone-use-after-move)
  const Bytes info = {'p'};
  EXPECT_THAT(poprf.ForInfo(info), StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));
  EXPECT_THAT(poprf.Evaluate(info, info), StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));
  PrivateKey k2 = PrivateKey::Generate();
  PrivateKey k2b = std::move(k2);
  OprfServer oprf(std::move(k2));  // NOLINT(bugprone-use-after-move)
  EXPECT_THAT(oprf.Evaluate(info), StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));
  PrivateKey k3 = PrivateKey::Generate();
  PrivateKey k3b = std::move(k3);
  VoprfServer voprf(std::move(k3));  // NOLINT(bugprone-use-after-move)
  EXPECT_THAT(voprf.Evaluate(info), StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));
  // The key that was moved into still works.
  PoprfServer good(std::move(taken));
  EXPECT_TRUE(good.Evaluate(info, info).ok());
}

TEST(MovedFromTest, MovedFromInfoKeyAndClientRefuse) {
  PoprfServer server(PrivateKey::Generate());
  const Bytes info = {'p'};
  PoprfInfoKey key = server.ForInfo(info).value();
  PoprfInfoKey other = std::move(key);
  EXPECT_THAT(key.Evaluate(info), StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));  // NOLINT
  EXPECT_TRUE(other.Evaluate(info).ok());

  PoprfClient client = PoprfClient::Create(server.public_key(), info).value();
  auto b = PoprfClient::Blind(info).value();
  std::vector<Element> blinded{b.blinded_element};
  auto eval = other.BlindEvaluateBatch(blinded).value();
  PoprfClient moved = std::move(client);
  std::vector<ByteView> inputs{info};
  std::vector<Scalar> blinds;
  blinds.push_back(std::move(b.blind));
  EXPECT_THAT(client.Finalize(inputs, blinds, blinded, eval.evaluated_elements, eval.proof),  // NOLINT
              StatusIs(absl::StatusCode::kFailedPrecondition, "moved from"));
  EXPECT_TRUE(moved.Finalize(inputs, blinds, blinded, eval.evaluated_elements, eval.proof).ok());
}

// The parallel split must not change a single byte: same nonce, same proof,
// for batch sizes that divide unevenly and any requested thread count.
TEST(ParallelTest, ProofBytesIndependentOfThreads) {
  PoprfServer server(PrivateKey::Generate());
  const Bytes info = {'p'};
  const PoprfInfoKey key = server.ForInfo(info).value();
  auto client = PoprfClient::Create(server.public_key(), info).value();
  const Scalar nonce = Scalar::Random();
  for (size_t n : {64u, 65u, 97u, 130u}) {
    std::vector<Element> blinded;
    std::vector<Scalar> blinds;
    std::vector<Bytes> inputs;
    for (size_t i = 0; i < n; ++i) inputs.push_back(Bytes{static_cast<uint8_t>(i), 'x'});
    for (const auto& in : inputs) {
      auto b = PoprfClient::Blind(in).value();
      blinded.push_back(b.blinded_element);
      blinds.push_back(std::move(b.blind));
    }
    auto base = OprfTestPeer::BlindEvaluateBatchWith(key, blinded, nonce, 1).value();
    for (int threads : {2, 3, 0, -1, 1000}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " threads=" + std::to_string(threads));
      auto eval = OprfTestPeer::BlindEvaluateBatchWith(key, blinded, nonce, threads);
      ASSERT_TRUE(eval.ok()) << eval.status();
      EXPECT_EQ(ToHex(eval->proof.Serialize()), ToHex(base.proof.Serialize()));
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(eval->evaluated_elements[i], base.evaluated_elements[i]);
    }
    std::vector<ByteView> views(inputs.begin(), inputs.end());
    EXPECT_TRUE(client.Finalize(views, blinds, blinded, base.evaluated_elements, base.proof).ok());
  }
}

TEST(ParallelTest, BadEncodingInALaterChunkIsNamedByItsIndex) {
  PoprfServer server(PrivateKey::Generate());
  const PoprfInfoKey key = server.ForInfo(Bytes{'p'}).value();
  std::vector<Bytes> wire;
  for (int i = 0; i < 100; ++i) wire.push_back(PoprfClient::Blind(Bytes{static_cast<uint8_t>(i)}).value().blinded_element.ToBytes());
  wire[77][31] |= 0x80;
  std::vector<ByteView> views(wire.begin(), wire.end());
  EXPECT_THAT(key.BlindEvaluateEncoded(views, "blinded_elements", 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "blinded_elements[77]: not a canonical"));
}

TEST(LimitsTest, BatchOfMoreThan65535IsRefused) {
  PoprfServer server(PrivateKey::Generate());
  const std::vector<Element> blinded(kMaxBatch + 1, Element::Generator());
  EXPECT_THAT(server.BlindEvaluateBatch(blinded, Bytes{'p'}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "batch of 65536 elements is larger than the 65535 allowed"));
  const Bytes seed(32, 1);
  EXPECT_THAT(PrivateKey::Derive(Mode::kPoprf, std::span<const uint8_t, 32>(seed.data(), 32),
                                 Bytes(65536, 'i')),
              StatusIs(absl::StatusCode::kInvalidArgument, "key info: 65536 bytes is longer"));
}

TEST(ModeSeparationTest, VoprfProofIsRefusedByPoprfClient) {
  // A VOPRF answer (mode 1 transcripts, untweaked key) cannot pass as POPRF.
  PrivateKey key = PrivateKey::Generate();
  const Element pk = key.public_key();
  VoprfServer voprf(std::move(key));
  auto client = PoprfClient::Create(pk, Bytes{'p'}).value();
  auto b = PoprfClient::Blind(Bytes{'x'}).value();
  std::vector<Element> blinded{b.blinded_element};
  auto eval = voprf.BlindEvaluateBatch(blinded).value();
  std::vector<ByteView> inputs{ByteView(reinterpret_cast<const uint8_t*>("x"), 1)};
  std::vector<Scalar> blinds;
  blinds.push_back(std::move(b.blind));
  EXPECT_THAT(client.Finalize(inputs, blinds, blinded, eval.evaluated_elements, eval.proof),
              StatusIs(absl::StatusCode::kInvalidArgument, "proof does not verify"));
}

TEST(TweakTest, KeyWhoseTweakCancelsIsRefused) {
  // sk = -m makes t = sk + m = 0: the server must refuse (InverseError) and
  // a client given pk = -m·G must refuse the identity tweaked key.
  const Bytes info = {'p'};
  Bytes framed = {'I', 'n', 'f', 'o', 0, 1, 'p'};
  const Scalar m = HashToScalar(Mode::kPoprf, framed);
  const Scalar minus_m = Scalar() - m;
  auto key = PrivateKey::FromBytes(minus_m.bytes()).value();
  const Element pk = key.public_key();
  PoprfServer server(std::move(key));
  EXPECT_THAT(server.ForInfo(info), StatusIs(absl::StatusCode::kInvalidArgument, "tweaked key is zero"));
  EXPECT_THAT(PoprfClient::Create(pk, info),
              StatusIs(absl::StatusCode::kInvalidArgument, "tweaked key is the identity"));
}

}  // namespace
}  // namespace schakel::crypto::oprf
