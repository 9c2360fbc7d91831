// gateway/directory.h: the directory file (keys, ids, endpoints, every
// problem named), the caller check, node signatures, and the changes the
// gateway records between runs.
#include "gateway/directory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/bytes.h"
#include "crypto/oprf.h"
#include "crypto/signing.h"
#include "proto/canonical.h"
#include "store/memory_store.h"

namespace schakel::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string SigningHex(const crypto::SigningKey& k) { return crypto::ToHex(k.verify_key().ToBytes()); }
std::string OprfHex(const crypto::oprf::PrivateKey& k) { return crypto::ToHex(k.public_key().ToBytes()); }

class DirectoryTest : public ::testing::Test {
 protected:
  std::string Text(bool police_active = true, const std::string& police_endpoint = "127.0.0.1:7001") {
    return R"({ "organisations": [
      { "org_id": "politie-zwb", "display_name": "Politie ZWB", "domain": "safety",
        "endpoint": ")" + police_endpoint + R"(", "oprf_public_key": ")" + OprfHex(police_oprf_) + R"(",
        "signing_public_key": [")" + SigningHex(police_sign_) + R"(",
          {"key": ")" + SigningHex(police_old_) + R"(", "valid_until": "2020-01-01T00:00:00Z"}],
        "box_public_key": ")" + std::string(64, 'a') + R"(",
        "active": )" + (police_active ? "true" : "false") + R"( },
      { "org_id": "gemeente-tilburg", "display_name": "Gemeente Tilburg", "domain": "social",
        "certificate_identity": "gemeente-tilburg",
        "signing_public_key": ")" + SigningHex(gemeente_sign_) + R"(",
        "registered_at": "2025-01-01T10:00:00.123456Z" }
    ] })";
  }

  crypto::oprf::PrivateKey police_oprf_ = crypto::oprf::PrivateKey::Generate();
  crypto::SigningKey police_sign_ = crypto::SigningKey::Generate();
  crypto::SigningKey police_old_ = crypto::SigningKey::Generate();
  crypto::SigningKey gemeente_sign_ = crypto::SigningKey::Generate();
};

TEST_F(DirectoryTest, ParsesOrganisationsInIdOrder) {
  auto dir = Directory::Parse(Text(), "directory.json");
  ASSERT_TRUE(dir.ok()) << dir.status();
  ASSERT_EQ((*dir)->organisations().size(), 2u);
  EXPECT_EQ((*dir)->organisations()[0].org_id, "gemeente-tilburg");
  EXPECT_EQ((*dir)->organisations()[1].org_id, "politie-zwb");

  const DirectoryOrg* police = (*dir)->Find("politie-zwb");
  ASSERT_NE(police, nullptr);
  EXPECT_EQ(police->domain, v1::DOMAIN_SAFETY);
  EXPECT_EQ(police->certificate_identity, "schakel://org/politie-zwb");  // the default
  EXPECT_EQ(police->endpoint, "127.0.0.1:7001");
  EXPECT_TRUE(police->active);
  ASSERT_EQ(police->signing_keys.size(), 2u);
  EXPECT_FALSE(police->signing_keys[1].ValidAt(absl::Now()));
  EXPECT_TRUE(police->signing_keys[0].ValidAt(absl::Now()));

  const v1::Organisation proto = (*dir)->ToProto(*police);
  EXPECT_EQ(proto.org_id(), "politie-zwb");
  ASSERT_EQ(proto.oprf_keys_size(), 1);
  const crypto::Bytes oprf = police_oprf_.public_key().ToBytes();
  EXPECT_EQ(proto.oprf_keys(0).key(), std::string(oprf.begin(), oprf.end()));
  const canonical::KeyIdBytes id = canonical::KeyId(police_sign_.verify_key());
  EXPECT_EQ(proto.signing_keys(0).key_id(), std::string(id.begin(), id.end()));
  EXPECT_EQ(proto.box_keys_size(), 1);
  EXPECT_TRUE(proto.signing_keys(1).has_valid_until());
  EXPECT_FALSE(proto.has_registered_at());

  // Times are whole milliseconds (they are signed and hashed).
  const v1::Organisation gemeente = (*dir)->ToProto(*(*dir)->Find("gemeente-tilburg"));
  EXPECT_EQ(gemeente.registered_at().nanos(), 123000000);
  EXPECT_TRUE(gemeente.endpoint().empty());
}

TEST_F(DirectoryTest, AListAloneIsADirectory) {
  auto dir = Directory::Parse(R"([{"org_id": "riec-zwb", "display_name": "RIEC", "domain": "safety",
                                   "signing_public_key": ")" + SigningHex(police_sign_) + R"("}])",
                              "inline");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_NE((*dir)->FindActive("riec-zwb"), nullptr);
}

TEST_F(DirectoryTest, EveryProblemIsNamed) {
  const std::string good = SigningHex(police_sign_);
  auto dir = Directory::Parse(R"({ "organisations": [
      { "org_id": "politie-zwb", "display_name": "P", "domain": "police", "endpoint": "nohost",
        "oprf_public_key": ")" + std::string(64, '0') + R"(", "signing_public_key": "abc",
        "active": "yes", "colour": 1 },
      { "org_id": "politie-zwb", "display_name": "", "domain": "safety",
        "signing_public_key": [")" + good + R"(", ")" + good + R"("],
        "certificate_identity": "schakel://org/other" },
      { "org_id": "riec-zwb", "domain": "safety", "endpoint": "127.0.0.1:9",
        "signing_public_key": {"key": ")" + good + R"(", "valid_from": "yesterday"} },
      "x"
  ] })", "directory.json");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(dir.status().message());
  EXPECT_THAT(m, HasSubstr("directory.json: directory refused, 14 problems:"));
  EXPECT_THAT(m, HasSubstr("\norganisations[0].colour: unknown field"));
  EXPECT_THAT(m, HasSubstr("\norganisations[0].domain: \"police\" is not a domain; allowed: safety, care, social, housing"));
  EXPECT_THAT(m, HasSubstr("\norganisations[0].endpoint: must be host:port"));
  EXPECT_THAT(m, HasSubstr("\norganisations[0].oprf_public_key: is not an OPRF public key"));
  EXPECT_THAT(m, HasSubstr("\norganisations[0].signing_public_key: must be 64 hex digits"));
  EXPECT_THAT(m, HasSubstr("\norganisations[0].active: must be true or false, not string"));
  EXPECT_THAT(m, HasSubstr("\norganisations[1].org_id: \"politie-zwb\" is listed twice"));
  EXPECT_THAT(m, HasSubstr("\norganisations[1].display_name: is empty"));
  EXPECT_THAT(m, HasSubstr("\norganisations[1].certificate_identity: must be \"schakel://org/politie-zwb\""));
  EXPECT_THAT(m, HasSubstr("\norganisations[1].signing_public_key[1]: repeats a key listed before"));
  EXPECT_THAT(m, HasSubstr("\norganisations[2].display_name: missing"));
  EXPECT_THAT(m, HasSubstr("\norganisations[2].signing_public_key.valid_from: is not an RFC 3339 time"));
  EXPECT_THAT(m, HasSubstr("\norganisations[2].oprf_public_key: missing: an organisation with an endpoint answers"));
  EXPECT_THAT(m, HasSubstr("\norganisations[3]: must be an object, not string"));
}

TEST_F(DirectoryTest, CallerMustBeAnActiveOrganisationWithTheRightIdentity) {
  auto dir = Directory::Parse(Text(/*police_active=*/false), "d");
  ASSERT_TRUE(dir.ok()) << dir.status();
  using Source = rpc::PeerIdentity::Source;
  EXPECT_EQ((*dir)->CheckCaller({"gemeente-tilburg", Source::kUriSan, "gemeente-tilburg"}).value(),
            "gemeente-tilburg");
  // certificate_identity "gemeente-tilburg": a common name is enough.
  EXPECT_TRUE((*dir)->CheckCaller({"gemeente-tilburg", Source::kCommonName, "gemeente-tilburg"}).ok());

  auto inactive = (*dir)->CheckCaller({"politie-zwb", Source::kUriSan, "politie-zwb"});
  EXPECT_EQ(inactive.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(inactive.status().message(), "certificate names no active organisation");
  auto unknown = (*dir)->CheckCaller({"stranger", Source::kUriSan, "stranger"});
  EXPECT_EQ(unknown.status().message(), "certificate names no active organisation");

  auto active = Directory::Parse(Text(), "d");
  ASSERT_TRUE(active.ok());
  // The default identity is the URI SAN: a certificate with only a CN is refused.
  auto cn_only = (*active)->CheckCaller({"politie-zwb", Source::kCommonName, "politie-zwb"});
  EXPECT_EQ(cn_only.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(cn_only.status().message(), HasSubstr("schakel://org/politie-zwb"));
}

TEST_F(DirectoryTest, NodeSignaturesVerifyWithAValidDirectoryKey) {
  auto dir = Directory::Parse(Text(), "d");
  ASSERT_TRUE(dir.ok());
  v1::EvaluationStatement statement;
  statement.set_responder_org_id("politie-zwb");
  statement.set_proof(std::string(64, 'p'));
  const auto good = canonical::Sign(police_sign_, canonical::kEvaluationContext, statement).value();
  EXPECT_TRUE((*dir)->VerifyNodeSignature("politie-zwb", canonical::kEvaluationContext, statement, good,
                                          absl::Now()).ok());
  // Another context, another key, an expired key, an unknown organisation.
  EXPECT_FALSE((*dir)->VerifyNodeSignature("politie-zwb", canonical::kDisclosureContext, statement, good,
                                           absl::Now()).ok());
  const auto foreign = canonical::Sign(gemeente_sign_, canonical::kEvaluationContext, statement).value();
  EXPECT_THAT((*dir)->VerifyNodeSignature("politie-zwb", canonical::kEvaluationContext, statement, foreign,
                                          absl::Now()).message(),
              HasSubstr("does not list"));
  const auto old = canonical::Sign(police_old_, canonical::kEvaluationContext, statement).value();
  EXPECT_THAT((*dir)->VerifyNodeSignature("politie-zwb", canonical::kEvaluationContext, statement, old,
                                          absl::Now()).message(),
              HasSubstr("not valid now"));
  EXPECT_FALSE((*dir)->VerifyNodeSignature("riec-zwb", canonical::kEvaluationContext, statement, good,
                                           absl::Now()).ok());
}

TEST_F(DirectoryTest, ChangesAreRecordedAgainstTheStoredDirectory) {
  store::MemoryStore kv;
  const absl::Time t0 = absl::FromUnixMillis(1'750'000'000'000);
  auto apply = [&](const std::string& text, absl::Time now) {
    auto dir = Directory::Parse(text, "d");
    EXPECT_TRUE(dir.ok()) << dir.status();
    auto changes = CompareWithStored(**dir, kv, now);
    EXPECT_TRUE(changes.ok()) << changes.status();
    EXPECT_TRUE(kv.Write(changes->writes, store::Durability::kSynced).ok());
    (*dir)->RecordHistory(changes->version, changes->first_seen);
    return std::make_pair(*std::move(changes), *std::move(dir));
  };
  auto [first, dir1] = apply(Text(), t0);
  ASSERT_EQ(first.records.size(), 2u);
  EXPECT_EQ(first.records[0].change(), v1::DIRECTORY_CHANGE_REGISTERED);
  EXPECT_EQ(first.version, 2u);
  EXPECT_EQ(dir1->version(), 2u);
  // First seen now, unless the file says when it was registered.
  EXPECT_EQ(dir1->Find("politie-zwb")->registered_at, t0);
  EXPECT_NE(dir1->Find("gemeente-tilburg")->registered_at, t0);

  auto [same, dir2] = apply(Text(), t0 + absl::Hours(1));
  EXPECT_TRUE(same.records.empty());
  EXPECT_EQ(same.version, 2u);
  EXPECT_EQ(dir2->Find("politie-zwb")->registered_at, t0);  // remembered

  auto [moved, dir3] = apply(Text(true, "10.0.0.1:8443"), t0 + absl::Hours(2));
  ASSERT_EQ(moved.records.size(), 1u);
  EXPECT_EQ(moved.records[0].change(), v1::DIRECTORY_CHANGE_UPDATED);
  EXPECT_EQ(moved.records[0].organisation().endpoint(), "10.0.0.1:8443");
  EXPECT_EQ(moved.version, 3u);

  auto [off, dir4] = apply(Text(false, "10.0.0.1:8443"), t0 + absl::Hours(3));
  ASSERT_EQ(off.records.size(), 1u);
  EXPECT_EQ(off.records[0].change(), v1::DIRECTORY_CHANGE_DEACTIVATED);

  // Removed from the file: recorded as deactivated, once.
  const std::string only_police = R"([{"org_id": "politie-zwb", "display_name": "Politie ZWB", "domain": "safety",
      "endpoint": "10.0.0.1:8443", "oprf_public_key": ")" + OprfHex(police_oprf_) + R"(",
      "signing_public_key": [")" + SigningHex(police_sign_) + R"(",
        {"key": ")" + SigningHex(police_old_) + R"(", "valid_until": "2020-01-01T00:00:00Z"}],
      "box_public_key": ")" + std::string(64, 'a') + R"(", "active": false }])";
  auto [removed, dir5] = apply(only_police, t0 + absl::Hours(4));
  ASSERT_EQ(removed.records.size(), 1u);
  EXPECT_EQ(removed.records[0].organisation().org_id(), "gemeente-tilburg");
  EXPECT_EQ(removed.records[0].change(), v1::DIRECTORY_CHANGE_DEACTIVATED);
  EXPECT_FALSE(removed.records[0].organisation().active());
  auto [again, dir6] = apply(only_police, t0 + absl::Hours(5));
  EXPECT_TRUE(again.records.empty());
}

TEST(DirectoryExampleTest, TheDeployExampleIsValid) {
  auto dir = Directory::Load(std::filesystem::path(SCHAKEL_TEST_DATA_DIR).parent_path().parent_path() /
                             "deploy" / "examples" / "directory.json");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ((*dir)->organisations().size(), 3u);
  EXPECT_EQ((*dir)->Find("politie-zwb")->signing_keys.size(), 2u);
}

TEST(DirectoryNamesTest, DomainNames) {
  EXPECT_EQ(DomainName(v1::DOMAIN_CARE), "care");
  EXPECT_EQ(DomainName(v1::DOMAIN_UNSPECIFIED), "unspecified");
  EXPECT_EQ(OrgUri("riec-zwb"), "schakel://org/riec-zwb");
}

}  // namespace
}  // namespace schakel::gateway
