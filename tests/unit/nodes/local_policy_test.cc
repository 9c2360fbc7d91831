#include "nodes/local_policy.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kDataDir = std::string(SCHAKEL_TEST_DATA_DIR) + "/nodes/";

std::string Message(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

TEST(LocalPolicyTest, LoadsTheExample) {
  auto policy = LoadLocalPolicy(kDataDir + "local-policy.json");
  ASSERT_TRUE(policy.ok()) << policy.status();
  const LocalPolicy& p = **policy;
  EXPECT_THAT(p.version(), testing::StartsWith("2025-01+"));
  EXPECT_EQ(p.version().size(), std::string("2025-01+").size() + 8);

  const CategoryPolicy* care = p.FindCategory("huiselijk-geweld");
  ASSERT_NE(care, nullptr);
  EXPECT_EQ(care->domain, v1::DOMAIN_CARE);
  EXPECT_EQ(care->retention, absl::Hours(24 * 730));
  const CategoryPolicy* debts = p.FindCategory("schuldenproblematiek");
  ASSERT_NE(debts, nullptr);
  EXPECT_EQ(debts->domain, v1::DOMAIN_SOCIAL);
  EXPECT_EQ(debts->retention, absl::Hours(24 * 365));
  EXPECT_EQ(p.FindCategory("onbekend"), nullptr);

  EXPECT_THAT(p.PurposesMatching("huiselijk-geweld"), ElementsAre("zvh-gezinsaanpak"));
  EXPECT_THAT(p.PurposesMatching("overlast"), ElementsAre("riec-ondermijning"));
  EXPECT_TRUE(p.PurposesMatching("onbekend").empty());
  ASSERT_NE(p.FindPurpose("riec-ondermijning"), nullptr);
  EXPECT_EQ(p.FindPurpose("riec-ondermijning")->daily_element_quota, 5000u);

  // Canonicalised: "1011 AB", 1 and "1011ac", "12-A".
  EXPECT_TRUE(p.IsExcludedAddress("1011AB|1"));
  EXPECT_TRUE(p.IsExcludedAddress("1011AC|12A"));
  EXPECT_FALSE(p.IsExcludedAddress("1011AB|2"));
  EXPECT_EQ(p.excluded_address_count(), 2u);
  EXPECT_EQ(p.max_persons_per_address(), 3u);
  EXPECT_FALSE(p.ExceedsPersonsPerAddress(3));
  EXPECT_TRUE(p.ExceedsPersonsPerAddress(4));

  const v1::LocalPolicyInfo info = p.ToProto();
  EXPECT_EQ(info.local_policy_version(), p.version());
  ASSERT_EQ(info.categories_size(), 3);
  EXPECT_EQ(info.categories(0).category(), "huiselijk-geweld");
  EXPECT_EQ(info.categories(0).retention().seconds(), 730 * 86400);
  ASSERT_EQ(info.purposes_size(), 2);
  EXPECT_EQ(info.purposes(0).purpose_id(), "riec-ondermijning");
  EXPECT_EQ(info.excluded_address_count(), 2u);
  EXPECT_EQ(info.max_persons_per_address(), 3u);
}

TEST(LocalPolicyTest, VersionChangesWithTheFile) {
  const std::string a = R"({"version": "1", "categories": [{"category": "ab", "domain": "care"}],
                            "purposes": []})";
  const std::string b = R"({"version": "1", "categories": [{"category": "ab", "domain": "social"}],
                            "purposes": []})";
  auto pa = ParseLocalPolicy(a);
  auto pb = ParseLocalPolicy(b);
  ASSERT_TRUE(pa.ok()) << pa.status();
  ASSERT_TRUE(pb.ok()) << pb.status();
  EXPECT_NE((*pa)->version(), (*pb)->version());
  EXPECT_EQ((*pa)->max_persons_per_address(), 0u);
  EXPECT_FALSE((*pa)->ExceedsPersonsPerAddress(1000));
}

TEST(LocalPolicyTest, BadFileNamesEveryProblem) {
  auto policy = LoadLocalPolicy(kDataDir + "bad-local-policy.json");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m = Message(policy.status());
  EXPECT_THAT(m, HasSubstr("bad-local-policy.json: local policy refused, 7 problems:"));
  EXPECT_THAT(m, HasSubstr("\n  colour: unknown field"));
  EXPECT_THAT(m, HasSubstr("\n  version: missing"));
  EXPECT_THAT(m, HasSubstr("\n  categories[0].domain: \"zorg\" is not a domain; use safety, "
                           "care, social or housing"));
  EXPECT_THAT(m, HasSubstr("\n  categories[1].retention: \"2y\" is not a duration; use days, "
                           "e.g. \"730d\""));
  EXPECT_THAT(m, HasSubstr("\n  categories[2].category: \"overlast\" is configured twice"));
  EXPECT_THAT(m, HasSubstr("\n  purposes[0].matchable_categories[0]: \"schulden\" is not a "
                           "configured category"));
  EXPECT_THAT(m, HasSubstr("\n  excluded_addresses[0]: postcode:"));
  // An excluded address is a household's identifier: never repeated.
  EXPECT_THAT(m, Not(HasSubstr("0123")));
}

TEST(LocalPolicyTest, SyntaxErrorIsNamed) {
  auto policy = ParseLocalPolicy("{\"version\": \"1\",, }", "p.json");
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(Message(policy.status()),
              HasSubstr("p.json: local policy refused, 1 problem:\n  JSON syntax error at line 1"));
}

// Found by fuzz/policy_fuzzer.cc: a number beyond a double ended the
// process (nlohmann throws out_of_range, not parse_error).
TEST(LocalPolicyTest, NumberOutOfRangeIsAProblemNotACrash) {
  auto policy = ParseLocalPolicy(R"({"version": "1", "categories": 1e400})", "p.json");
  ASSERT_FALSE(policy.ok());
  const std::string m = Message(policy.status());
  EXPECT_THAT(m, HasSubstr("p.json: local policy refused, 1 problem:\n  JSON number out of range"));
  EXPECT_THAT(m, Not(HasSubstr("1e400")));
}

TEST(LocalPolicyTest, SyntaxErrorDoesNotQuoteTheFile) {
  // A broken string inside an excluded address: the error names the place
  // but never repeats the text.
  auto policy = ParseLocalPolicy("{\"excluded_addresses\": [{\"postcode\": \"3011 AB\n\"}]}", "p.json");
  ASSERT_FALSE(policy.ok());
  const std::string m = Message(policy.status());
  EXPECT_THAT(m, HasSubstr("JSON syntax error at line 2, column 0 (the text there is not shown)"));
  EXPECT_THAT(m, Not(HasSubstr("3011")));
}

TEST(LocalPolicyTest, TypesAndRangesAreChecked) {
  auto policy = ParseLocalPolicy(R"({
    "version": "1",
    "categories": [{"category": "Bad Id", "domain": "care", "retention": "0d"},
                   {"category": "ok", "domain": "care", "retention": "4000d"}, 7],
    "purposes": [{"purpose_id": "zvh", "matchable_categories": []},
                 {"purpose_id": "zvh2"}],
    "max_persons_per_address": -1,
    "excluded_addresses": [{"postcode": "1234AB"}]
  })");
  ASSERT_FALSE(policy.ok());
  const std::string m = Message(policy.status());
  EXPECT_THAT(m, HasSubstr("8 problems"));
  EXPECT_THAT(m, HasSubstr("categories[0].category: must be 2 to 63 characters"));
  EXPECT_THAT(m, HasSubstr("categories[0].retention: must be from 1d to 3650d"));
  EXPECT_THAT(m, HasSubstr("categories[1].retention: must be from 1d to 3650d"));
  EXPECT_THAT(m, HasSubstr("categories[2]: must be an object, not an integer"));
  EXPECT_THAT(m, HasSubstr("purposes[0].matchable_categories: must name at least one category"));
  EXPECT_THAT(m, HasSubstr("purposes[1].matchable_categories: missing"));
  EXPECT_THAT(m, HasSubstr("max_persons_per_address: must be an integer from 0 to 100000"));
  EXPECT_THAT(m, HasSubstr("excluded_addresses[0].house_number: missing"));
  EXPECT_THAT(m, Not(HasSubstr("1234AB")));
}

TEST(LocalPolicyTest, UnreadableFileIsFailedPrecondition) {
  auto policy = LoadLocalPolicy(kDataDir + "does-not-exist.json");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace schakel::nodes
