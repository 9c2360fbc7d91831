// RFC 9497 test vectors for ristretto255-SHA512, all three modes.
//
// Reads tests/data/rfc9497-ristretto255-sha512.json (a copy of the CFRG's
// file), or the file named by SCHAKEL_OPRF_VECTORS: any number of entries,
// modes and batch sizes; entries of other suites are skipped and counted.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "crypto/oprf.h"
#include "tests/unit/crypto/oprf_test_peer.h"

namespace schakel::crypto::oprf {
namespace {

using ::nlohmann::json;

std::string VectorsPath() {
  if (const char* env = std::getenv("SCHAKEL_OPRF_VECTORS"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::string(SCHAKEL_TEST_DATA_DIR) + "/rfc9497-ristretto255-sha512.json";
}

Bytes Hex(std::string_view s) {
  auto b = FromHex(s);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : Bytes{};
}

std::vector<Bytes> HexList(const json& v) {
  std::vector<Bytes> out;
  const std::string text = v.get<std::string>();
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    out.push_back(Hex(std::string_view(text).substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Element ElementOf(const Bytes& b) { return Element::FromBytes(b, "vector element").value(); }
Scalar ScalarOf(const Bytes& b) { return Scalar::FromCanonicalBytes(b, "vector scalar").value(); }

struct Counts {
  int entries = 0;
  int skipped_other_suites = 0;
  int vectors[3] = {0, 0, 0};
  int max_batch = 0;
};

// Checks one test vector of one entry; returns the batch size.
void CheckVector(Mode mode, const PrivateKey& key, const json& entry, const json& v,
                 const std::string& where) {
  SCOPED_TRACE(where);
  const std::vector<Bytes> inputs = HexList(v["Input"]);
  const std::vector<Bytes> blinds = HexList(v["Blind"]);
  const std::vector<Bytes> blinded_expected = HexList(v["BlindedElement"]);
  const std::vector<Bytes> evaluated_expected = HexList(v["EvaluationElement"]);
  const std::vector<Bytes> outputs_expected = HexList(v["Output"]);
  const size_t n = v["Batch"].get<size_t>();
  ASSERT_EQ(inputs.size(), n);
  ASSERT_EQ(blinds.size(), n);
  ASSERT_EQ(outputs_expected.size(), n);
  const Bytes info = v.contains("Info") ? Hex(v["Info"].get<std::string>()) : Bytes{};

  std::vector<ByteView> input_views(inputs.begin(), inputs.end());
  std::vector<Scalar> blind_scalars;
  std::vector<Element> blinded;
  std::vector<Element> evaluated;

  if (mode == Mode::kOprf) {
    OprfClient client;
    OprfServer server(PrivateKey::FromBytes(key.scalar().bytes()).value());
    for (size_t i = 0; i < n; ++i) {
      auto b = OprfTestPeer::BlindWith(client, inputs[i], ScalarOf(blinds[i]));
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(ToHex(b->blinded_element.bytes()), ToHex(blinded_expected[i]));
      auto e = server.BlindEvaluate(b->blinded_element);
      ASSERT_TRUE(e.ok()) << e.status();
      EXPECT_EQ(ToHex(e->bytes()), ToHex(evaluated_expected[i]));
      auto out = client.Finalize(inputs[i], b->blind, *e);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(ToHex(*out), ToHex(outputs_expected[i]));
      auto direct = server.Evaluate(inputs[i]);
      ASSERT_TRUE(direct.ok()) << direct.status();
      EXPECT_EQ(ToHex(*direct), ToHex(outputs_expected[i]));
    }
    return;
  }

  const Bytes proof_expected = Hex(v["Proof"]["proof"].get<std::string>());
  const Scalar nonce = ScalarOf(Hex(v["Proof"]["r"].get<std::string>()));
  ASSERT_TRUE(entry.contains("pkSm"));
  EXPECT_EQ(ToHex(key.public_key().bytes()), entry["pkSm"].get<std::string>());

  if (mode == Mode::kVoprf) {
    VoprfClient client(key.public_key());
    VoprfServer server(PrivateKey::FromBytes(key.scalar().bytes()).value());
    for (size_t i = 0; i < n; ++i) {
      auto b = OprfTestPeer::BlindWith(client, inputs[i], ScalarOf(blinds[i]));
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(ToHex(b->blinded_element.bytes()), ToHex(blinded_expected[i]));
      blinded.push_back(b->blinded_element);
      blind_scalars.push_back(std::move(b->blind));
    }
    auto eval = OprfTestPeer::BlindEvaluateBatchWith(server, blinded, nonce);
    ASSERT_TRUE(eval.ok()) << eval.status();
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(ToHex(eval->evaluated_elements[i].bytes()), ToHex(evaluated_expected[i]));
    }
    EXPECT_EQ(ToHex(eval->proof.Serialize()), ToHex(proof_expected));
    auto proof = Proof::Parse(proof_expected).value();
    auto outs = client.Finalize(input_views, blind_scalars, blinded, eval->evaluated_elements, proof);
    ASSERT_TRUE(outs.ok()) << outs.status();
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(ToHex((*outs)[i]), ToHex(outputs_expected[i]));
      EXPECT_EQ(ToHex(server.Evaluate(inputs[i]).value()), ToHex(outputs_expected[i]));
    }
    return;
  }

  // POPRF
  auto client = PoprfClient::Create(key.public_key(), info);
  ASSERT_TRUE(client.ok()) << client.status();
  PoprfServer server(PrivateKey::FromBytes(key.scalar().bytes()).value());
  for (size_t i = 0; i < n; ++i) {
    auto b = OprfTestPeer::PoprfBlindWith(inputs[i], ScalarOf(blinds[i]));
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(ToHex(b->blinded_element.bytes()), ToHex(blinded_expected[i]));
    blinded.push_back(b->blinded_element);
    blind_scalars.push_back(std::move(b->blind));
  }
  for (int threads : {1, 2}) {
    auto eval = OprfTestPeer::BlindEvaluateBatchWith(server.ForInfo(info).value(), blinded, nonce, threads);
    ASSERT_TRUE(eval.ok()) << eval.status();
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(ToHex(eval->evaluated_elements[i].bytes()), ToHex(evaluated_expected[i]));
    }
    EXPECT_EQ(ToHex(eval->proof.Serialize()), ToHex(proof_expected));
  }
  for (const auto& e : evaluated_expected) evaluated.push_back(ElementOf(e));
  auto proof = Proof::Parse(proof_expected).value();
  auto outs = client->Finalize(input_views, blind_scalars, blinded, evaluated, proof);
  ASSERT_TRUE(outs.ok()) << outs.status();
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(ToHex((*outs)[i]), ToHex(outputs_expected[i]));
    EXPECT_EQ(ToHex(server.Evaluate(inputs[i], info).value()), ToHex(outputs_expected[i]));
  }
}

TEST(OprfVectorsTest, AllEntriesOfTheSuitePass) {
  const std::string path = VectorsPath();
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "cannot open test vectors " << path;
  const json doc = json::parse(in);
  ASSERT_TRUE(doc.is_array()) << path << ": expected a JSON array of entries";

  Counts counts;
  for (const json& entry : doc) {
    if (entry.value("identifier", "") != kSuiteId) {
      ++counts.skipped_other_suites;
      continue;
    }
    ++counts.entries;
    const int mode_number = entry["mode"].get<int>();
    ASSERT_TRUE(mode_number >= 0 && mode_number <= 2) << "unknown mode " << mode_number;
    const Mode mode = static_cast<Mode>(mode_number);

    // The entry's group DST is ours.
    const Bytes dst = Hex(entry["groupDST"].get<std::string>());
    Bytes expected_dst;
    Append(expected_dst, std::string_view("HashToGroup-"));
    Append(expected_dst, ContextString(mode));
    EXPECT_EQ(ToHex(dst), ToHex(expected_dst));

    const Bytes seed = Hex(entry["seed"].get<std::string>());
    ASSERT_EQ(seed.size(), kSeedSize);
    auto key = PrivateKey::Derive(mode, std::span<const uint8_t, kSeedSize>(seed.data(), kSeedSize),
                                  Hex(entry["keyInfo"].get<std::string>()));
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(ToHex(key->scalar().bytes()), entry["skSm"].get<std::string>());

    int index = 0;
    for (const json& v : entry["vectors"]) {
      CheckVector(mode, *key, entry, v,
                  "mode " + std::to_string(mode_number) + " vector " + std::to_string(index++));
      ++counts.vectors[mode_number];
      counts.max_batch = std::max(counts.max_batch, v["Batch"].get<int>());
    }
  }
  std::printf("RFC 9497 vectors from %s: %d entries of %s, %d skipped (other suites); "
              "vectors per mode OPRF=%d VOPRF=%d POPRF=%d; largest batch %d\n",
              path.c_str(), counts.entries, kSuiteId, counts.skipped_other_suites,
              counts.vectors[0], counts.vectors[1], counts.vectors[2], counts.max_batch);
  EXPECT_GT(counts.entries, 0) << "no entry for " << kSuiteId << " in " << path;
  if (std::getenv("SCHAKEL_OPRF_VECTORS") == nullptr) {
    // The bundled file: all three modes, batch sizes 1 and 2.
    EXPECT_EQ(counts.vectors[0], 2);
    EXPECT_EQ(counts.vectors[1], 3);
    EXPECT_EQ(counts.vectors[2], 3);
    EXPECT_EQ(counts.max_batch, 2);
  }
}

}  // namespace
}  // namespace schakel::crypto::oprf
