#include "gateway/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/strings.h"
#include "crypto/bytes.h"

namespace schakel::gateway {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
namespace v1 = schakel::v1;

const std::string kDataDir = std::string(SCHAKEL_TEST_DATA_DIR) + "/policy/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

void ReplaceOnce(std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

absl::CivilDay Day(int y, int m, int d) { return absl::CivilDay(y, m, d); }

class ExamplePolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = LoadPolicy(kDataDir + "example.json");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    policy_ = std::make_unique<Policy>(*std::move(loaded));
  }
  const Purpose& Get(std::string_view id) {
    const Purpose* purpose = policy_->Find(id);
    EXPECT_NE(purpose, nullptr) << id;
    return *purpose;
  }
  std::unique_ptr<Policy> policy_;
};

// ---------------------------------------------------------------------------
// The example loads with the values it states.

TEST_F(ExamplePolicyTest, LoadsWithTheExpectedValues) {
  const Policy& p = *policy_;
  EXPECT_EQ(p.declared_version(), "2025.3");
  EXPECT_THAT(p.version(), MatchesRegex("2025\\.3\\+[0-9a-f]{8}"));
  EXPECT_EQ(p.version().substr(7), crypto::ToHex(crypto::ByteView(p.digest()).first(4)));
  EXPECT_EQ(p.title(), "Convenant gegevensdeling Schakel Zeeland-West-Brabant");
  EXPECT_EQ(p.parties().size(), 12u);
  EXPECT_EQ(p.parties()[0].org_id, "riec-zwb");
  EXPECT_EQ(p.parties()[0].name, "RIEC Zeeland-West-Brabant");
  EXPECT_THAT(p.supervisor_org_ids(), ElementsAre("schakel-beheer"));
  EXPECT_TRUE(p.IsSupervisor("schakel-beheer"));
  EXPECT_FALSE(p.IsSupervisor("riec-zwb"));
  EXPECT_TRUE(p.IsOperator("schakel-beheer"));
  EXPECT_TRUE(p.IsParty("ggz-breburg"));
  EXPECT_FALSE(p.IsParty("ggz-elders"));
  ASSERT_EQ(p.purposes().size(), 3u);
  EXPECT_EQ(p.purposes()[0].purpose_id, "riec-ondermijning");
  EXPECT_EQ(p.purposes()[1].purpose_id, "zvh-casusoverleg");
  EXPECT_EQ(p.purposes()[2].purpose_id, "verwijsindex-jeugd");
  EXPECT_EQ(p.Find("no-such-purpose"), nullptr);
  EXPECT_EQ(p.text(), ReadFile(kDataDir + "example.json"));
  EXPECT_THAT(p.canonical_text(), Not(HasSubstr("//")));

  const Purpose& riec = Get("riec-ondermijning");
  EXPECT_EQ(riec.title, "Aanpak ondermijning (RIEC)");
  EXPECT_THAT(riec.description, HasSubstr("criminele familienetwerken"));
  EXPECT_EQ(riec.lawful_basis.reference,
            "Wpg art. 20; AVG art. 6(1)(e); Convenant RIEC Zeeland-West-Brabant 2025");
  EXPECT_THAT(riec.lawful_basis.text, HasSubstr("zwaarwegend algemeen belang"));
  EXPECT_EQ(riec.valid_from, Day(2025, 1, 1));
  EXPECT_EQ(riec.valid_until, Day(2029, 1, 1));
  ASSERT_EQ(riec.may_ask.size(), 2u);
  EXPECT_EQ(riec.may_ask[0].org_id, "riec-zwb");
  EXPECT_THAT(riec.may_ask[0].roles, ElementsAre(v1::ROLE_ANALYST));
  EXPECT_THAT(riec.may_answer_org_ids,
              ElementsAre("politie-zwb", "om-zwb", "belastingdienst", "gemeente-tilburg",
                          "gemeente-breda", "woningcorporatie-tilburg"));
  EXPECT_TRUE(riec.case_required);
  EXPECT_THAT(riec.case_director_org_ids, ElementsAre("riec-zwb"));
  EXPECT_THAT(riec.key_types, ElementsAre(v1::MATCH_KEY_TYPE_BSN, v1::MATCH_KEY_TYPE_NAME_DOB,
                                          v1::MATCH_KEY_TYPE_ADDRESS));
  EXPECT_EQ(riec.max_subjects_per_exchange, 1000u);
  EXPECT_EQ(riec.max_keys_per_subject, 6u);
  EXPECT_EQ(riec.daily_exchange_quota, 200u);
  EXPECT_EQ(riec.daily_subject_quota, 5000u);
  EXPECT_FALSE(riec.notify_on_hit);
  ASSERT_EQ(riec.disclosure_rules.size(), 3u);
  EXPECT_EQ(riec.disclosure_rules[1].responder_org_id, "gemeente-tilburg");
  EXPECT_THAT(riec.disclosure_rules[1].requester_org_ids, ElementsAre("riec-zwb", "politie-zwb"));
  EXPECT_THAT(riec.disclosure_rules[1].categories,
              ElementsAre("vergunningen", "bibob", "woonfraude"));
  EXPECT_EQ(riec.approval_timeout, absl::Hours(72));
  EXPECT_EQ(riec.disclosure_window, absl::Hours(24 * 30));

  const Purpose& zvh = Get("zvh-casusoverleg");
  EXPECT_TRUE(zvh.case_required);
  EXPECT_TRUE(zvh.notify_on_hit);
  EXPECT_EQ(zvh.max_keys_per_subject, kDefaultMaxKeysPerSubject);  // not in the file
  EXPECT_THAT(zvh.may_ask[1].roles, ElementsAre(v1::ROLE_ANALYST, v1::ROLE_PROFESSIONAL));
  EXPECT_EQ(zvh.disclosure_window, absl::Hours(24 * 90));

  const Purpose& vi = Get("verwijsindex-jeugd");
  EXPECT_EQ(vi.lawful_basis.reference, "Jeugdwet art. 7.1.4.1");
  EXPECT_FALSE(vi.case_required);
  EXPECT_THAT(vi.case_director_org_ids, IsEmpty());
  EXPECT_TRUE(vi.notify_on_hit);
  EXPECT_FALSE(vi.valid_until.has_value());
  EXPECT_EQ(vi.daily_exchange_quota, 0u);           // no limit on the count of exchanges
  EXPECT_EQ(vi.approval_timeout, absl::Hours(72));  // default
  EXPECT_TRUE(vi.AllowsKeyType(v1::MATCH_KEY_TYPE_BSN));
  EXPECT_FALSE(vi.AllowsKeyType(v1::MATCH_KEY_TYPE_ADDRESS));
  EXPECT_TRUE(vi.TakesPart("ggz-breburg"));
  EXPECT_FALSE(vi.TakesPart("politie-zwb"));
}

TEST_F(ExamplePolicyTest, MapsToTheApiView) {
  const v1::PolicyInfo info = ToProto(*policy_, absl::FixedTimeZone(3600));  // CET
  EXPECT_EQ(info.policy_version(), policy_->version());
  EXPECT_EQ(info.policy_hash().size(), 32u);
  EXPECT_THAT(info.supervisor_org_ids(), ElementsAre("schakel-beheer"));
  ASSERT_EQ(info.purposes_size(), 3);
  const v1::Purpose& riec = info.purposes(0);
  EXPECT_EQ(riec.purpose_id(), "riec-ondermijning");
  EXPECT_EQ(riec.lawful_basis().reference(), policy_->purposes()[0].lawful_basis.reference);
  EXPECT_EQ(riec.valid_from().seconds(), 1735686000);  // 2025-01-01T00:00+01:00
  EXPECT_TRUE(riec.has_valid_until());
  EXPECT_EQ(riec.may_ask(0).roles(0), v1::ROLE_ANALYST);
  EXPECT_EQ(riec.max_subjects_per_exchange(), 1000u);
  EXPECT_EQ(riec.daily_subject_quota(), 5000u);
  EXPECT_FALSE(riec.notify_on_hit());
  EXPECT_EQ(riec.disclosure_rules(0).fields(0), v1::SIGNAL_FIELD_CATEGORY);
  EXPECT_EQ(riec.approval_timeout().seconds(), 72 * 3600);
  EXPECT_FALSE(info.purposes(2).has_valid_until());
}

// ---------------------------------------------------------------------------
// The version identifies the meaning exactly.

TEST(PolicyVersionTest, CommentsAndLayoutDoNotChangeTheDigest) {
  std::string text = ReadFile(kDataDir + "example.json");
  auto original = ParsePolicy(text, "a");
  ASSERT_TRUE(original.ok()) << original.status();
  ReplaceOnce(text, "\"version\": \"2025.3\",", "/* reformatted */\n\n  \"version\":\"2025.3\" ,");
  text += "\n// a trailing comment\n";
  auto reformatted = ParsePolicy(text, "b");
  ASSERT_TRUE(reformatted.ok()) << reformatted.status();
  EXPECT_EQ(reformatted->digest(), original->digest());
  EXPECT_EQ(reformatted->version(), original->version());
  EXPECT_NE(reformatted->text(), original->text());
}

TEST(PolicyVersionTest, EveryChangeOfMeaningChangesTheDigest) {
  const std::string example = ReadFile(kDataDir + "example.json");
  auto original = ParsePolicy(example, "example");
  ASSERT_TRUE(original.ok()) << original.status();
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"\"max_subjects_per_exchange\": 1000", "\"max_subjects_per_exchange\": 999"},
      {"\"notify_on_hit\": false", "\"notify_on_hit\": true"},
      {"\"valid_until\": \"2029-01-01\"", "\"valid_until\": \"2029-01-02\""},
      {"\"valid_from\": \"2024-01-01\"", "\"valid_from\": \"2024-01-02\""},
      {"\"reference\": \"Jeugdwet art. 7.1.4.1\"", "\"reference\": \"Jeugdwet art. 7.1.4.2\""},
      {"zwaarwegend algemeen belang", "zwaarwegend  algemeen belang"},  // one more space
      {"\"daily_subject_quota\": 5000", "\"daily_subject_quota\": 5001"},
      {"\"roles\": [\"analyst\"] },\n        { \"org_id\": \"politie-zwb\"",
       "\"roles\": [\"analyst\", \"director\"] },\n        { \"org_id\": \"politie-zwb\""},
      {"\"approval_timeout\": \"72h\"", "\"approval_timeout\": \"3d\""},  // same duration
      {"\"fields\": [\"category\", \"contact_name\", \"contact_phone\"]",
       "\"fields\": [\"contact_name\", \"category\", \"contact_phone\"]"},  // order
      {"\"title\": \"Verwijsindex risicojongeren\"", "\"title\": \"Verwijsindex Risicojongeren\""},
  };
  std::set<crypto::Blake2b256Digest> digests = {original->digest()};
  for (const auto& [from, to] : edits) {
    std::string text = example;
    ReplaceOnce(text, from, to);
    auto changed = ParsePolicy(text, "changed");
    ASSERT_TRUE(changed.ok()) << from << " -> " << to << ": " << changed.status();
    EXPECT_TRUE(digests.insert(changed->digest()).second) << from << " -> " << to;
    EXPECT_NE(changed->version(), original->version());
    EXPECT_EQ(changed->declared_version(), "2025.3");
  }
  // A new declared version is reported as such.
  std::string text = example;
  ReplaceOnce(text, "\"version\": \"2025.3\"", "\"version\": \"2025.4\"");
  auto bumped = ParsePolicy(text, "bumped");
  ASSERT_TRUE(bumped.ok()) << bumped.status();
  EXPECT_THAT(bumped->version(), MatchesRegex("2025\\.4\\+[0-9a-f]{8}"));
  EXPECT_NE(bumped->digest(), original->digest());
}

// ---------------------------------------------------------------------------
// Bad policies: each refused with INVALID_ARGUMENT naming path and problem.

// A small valid policy the cases below break one thing at a time.
json BasePolicy() {
  return json::parse(R"json({
    "version": "t1",
    "parties": [
      {"org_id": "riec-a", "name": "RIEC A"},
      {"org_id": "politie-a", "name": "Politie A"},
      {"org_id": "gemeente-a", "name": "Gemeente A"},
      {"org_id": "zorg-a", "name": "Zorg A"}
    ],
    "supervisor_org_ids": ["zorg-a"],
    "purposes": [
      {
        "purpose_id": "p-one", "title": "One", "description": "First purpose.",
        "lawful_basis": {"reference": "AVG art. 6(1)(e)"},
        "valid_from": "2025-01-01", "valid_until": "2026-01-01",
        "may_ask": [{"org_id": "riec-a", "roles": ["analyst"]}],
        "may_answer_org_ids": ["politie-a", "gemeente-a"],
        "case_required": false, "key_types": ["bsn"],
        "max_subjects_per_exchange": 10, "daily_subject_quota": 100,
        "notify_on_hit": false,
        "disclosure_rules": [
          {"responder_org_id": "politie-a", "requester_org_ids": ["riec-a"], "fields": ["category"]}
        ]
      },
      {
        "purpose_id": "p-two", "title": "Two", "description": "Second purpose.",
        "lawful_basis": {"reference": "Wpg art. 20", "text": "Art. 20."},
        "valid_from": "2025-01-01",
        "may_ask": [{"org_id": "gemeente-a", "roles": ["professional"]}],
        "may_answer_org_ids": ["zorg-a"],
        "case_required": true, "case_director_org_ids": ["gemeente-a"],
        "key_types": ["bsn", "name_dob"],
        "max_subjects_per_exchange": 5, "daily_subject_quota": 50,
        "notify_on_hit": true
      }
    ]
  })json");
}

struct BadCase {
  std::string name;
  std::function<void(json&)> mutate;  // applied to BasePolicy(), or
  std::string raw;                    // this text when not empty
  std::string expected;               // "<path>: <problem>" (a prefix of the line)
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

json& P(json& j, int i) { return j["purposes"][i]; }

const std::vector<BadCase>& BadCases() {
  static const auto* cases = new std::vector<BadCase>{
      {"SyntaxError", nullptr, "{\n  \"version\": \"1\",\n  \"parties\": [\n}\n",
       "JSON syntax error at line 4, column 1"},
      {"TrailingGarbage", nullptr, "{} x", "JSON syntax error at line 1, column 4"},
      {"Empty", nullptr, "  \n", "JSON syntax error at line 2, column 1"},
      // Found by fuzz/policy_fuzzer.cc: nlohmann throws out_of_range, not
      // parse_error, for a number beyond a double; it ended the process.
      {"NumberOutOfRange", nullptr, R"({"version": 1e400})", "JSON number out of range"},
      {"NotUtf8", nullptr, "{\"version\": \"t\xff\"}", "line 1: not valid UTF-8"},
      {"TooDeep", nullptr, std::string(40, '[') + std::string(40, ']'),
       "nested more than 32 levels deep"},
      {"NotAnObject", nullptr, "[]", "the policy must be a JSON object, got an array"},
      {"RepeatedKey", nullptr, R"({"version": "1", "version": "2"})",
       "version: appears twice in the same object"},
      {"RepeatedNestedKey", [](json&) {},
       R"({"purposes": [{}, {"lawful_basis": {"reference": "a", "reference": "b"}}]})",
       "purposes[1].lawful_basis.reference: appears twice"},
      {"UnknownTopLevelField", [](json& j) { j["purpose"] = json::array(); }, "",
       "purpose: unknown field (did you mean purposes?)"},
      {"UnknownPurposeField",
       [](json& j) {
         P(j, 0)["notfy_on_hit"] = true;
       },
       "", "purposes[0].notfy_on_hit: unknown field (did you mean notify_on_hit?)"},
      {"UnknownNestedField",
       [](json& j) {
         P(j, 1)["lawful_basis"]["url"] = "x";
       },
       "", "purposes[1].lawful_basis.url: unknown field"},
      {"MissingVersion", [](json& j) { j.erase("version"); }, "", "version: missing"},
      {"BadVersion", [](json& j) { j["version"] = "1+2"; }, "",
       "version: \"1+2\" is not a version"},
      {"MissingReference",
       [](json& j) {
         P(j, 1)["lawful_basis"].erase("reference");
       },
       "", "purposes[1].lawful_basis.reference: missing"},
      {"EmptyReference",
       [](json& j) {
         P(j, 1)["lawful_basis"]["reference"] = "";
       },
       "", "purposes[1].lawful_basis.reference: must not be empty"},
      {"LawfulBasisNotObject",
       [](json& j) {
         P(j, 0)["lawful_basis"] = "AVG";
       },
       "", "purposes[0].lawful_basis: expected an object, got a string"},
      {"MissingDescription", [](json& j) { P(j, 0).erase("description"); }, "",
       "purposes[0].description: missing"},
      {"LongTitle",
       [](json& j) {
         P(j, 0)["title"] = std::string(201, 'x');
       },
       "", "purposes[0].title: has 201 characters; at most 200"},
      {"TitleWithLineBreak",
       [](json& j) {
         P(j, 0)["title"] = "a\nb";
       },
       "", "purposes[0].title: contains a line break"},
      {"MissingNotify", [](json& j) { P(j, 1).erase("notify_on_hit"); }, "",
       "purposes[1].notify_on_hit: missing"},
      {"MissingCaseRequired", [](json& j) { P(j, 0).erase("case_required"); }, "",
       "purposes[0].case_required: missing"},
      {"MissingPurposes", [](json& j) { j.erase("purposes"); }, "", "purposes: missing"},
      {"EmptyPurposes", [](json& j) { j["purposes"] = json::array(); }, "",
       "purposes: must not be empty"},
      {"PurposeNotObject", [](json& j) { P(j, 1) = 7; }, "",
       "purposes[1]: expected an object, got a whole number"},
      {"MaxSubjectsAsString",
       [](json& j) {
         P(j, 0)["max_subjects_per_exchange"] = "10";
       },
       "",
       "purposes[0].max_subjects_per_exchange: expected a whole number from 1 to 10000, got a "
       "string"},
      {"MaxSubjectsFraction",
       [](json& j) {
         P(j, 0)["max_subjects_per_exchange"] = 2.5;
       },
       "",
       "purposes[0].max_subjects_per_exchange: expected a whole number from 1 to 10000, got a "
       "number with a fraction"},
      {"CaseRequiredAsString",
       [](json& j) {
         P(j, 0)["case_required"] = "yes";
       },
       "", "purposes[0].case_required: expected true or false, got a string"},
      {"RolesNotArray",
       [](json& j) {
         P(j, 0)["may_ask"][0]["roles"] = "analyst";
       },
       "", "purposes[0].may_ask[0].roles: expected an array, got a string"},
      {"DuplicatePurposeId",
       [](json& j) {
         P(j, 1)["purpose_id"] = "p-one";
       },
       "", "purposes[1].purpose_id: \"p-one\" is already used by purposes[0]"},
      {"PurposeIdWithSpace",
       [](json& j) {
         P(j, 0)["purpose_id"] = "P One";
       },
       "", "purposes[0].purpose_id: \"P One\" is not a purpose id"},
      {"PurposeIdStartsWithDigit",
       [](json& j) {
         P(j, 0)["purpose_id"] = "1-riec";
       },
       "", "purposes[0].purpose_id: \"1-riec\" is not a purpose id"},
      {"PurposeIdTooShort",
       [](json& j) {
         P(j, 0)["purpose_id"] = "p";
       },
       "", "purposes[0].purpose_id: \"p\" is not a purpose id"},
      {"UnknownAnsweringOrg",
       [](json& j) {
         P(j, 0)["may_answer_org_ids"][1] = "gemeente-b";
       },
       "",
       "purposes[0].may_answer_org_ids[1]: unknown organisation \"gemeente-b\" (not among "
       "parties) (did you mean gemeente-a?)"},
      {"UnknownAskingOrg",
       [](json& j) {
         P(j, 0)["may_ask"][0]["org_id"] = "riec-z";
       },
       "", "purposes[0].may_ask[0].org_id: unknown organisation \"riec-z\""},
      {"UnknownSupervisor", [](json& j) { j["supervisor_org_ids"][0] = "fg-x"; }, "",
       "supervisor_org_ids[0]: unknown organisation \"fg-x\""},
      {"UnknownOperator", [](json& j) { j["operator_org_ids"] = {"beheer"}; }, "",
       "operator_org_ids[0]: unknown organisation \"beheer\""},
      {"UnknownCaseDirector",
       [](json& j) {
         P(j, 1)["case_director_org_ids"][0] = "zvh";
       },
       "", "purposes[1].case_director_org_ids[0]: unknown organisation \"zvh\""},
      {"BadOrgIdSyntax",
       [](json& j) {
         P(j, 0)["may_answer_org_ids"][0] = "Politie A";
       },
       "", "purposes[0].may_answer_org_ids[0]: \"Politie A\" is not an organisation id"},
      {"DuplicateParty", [](json& j) { j["parties"][3]["org_id"] = "riec-a"; }, "",
       "parties[3].org_id: \"riec-a\" is listed twice"},
      {"PartyWithoutName", [](json& j) { j["parties"][0].erase("name"); }, "",
       "parties[0].name: missing"},
      {"DuplicateAnsweringOrg",
       [](json& j) {
         P(j, 0)["may_answer_org_ids"][1] = "politie-a";
       },
       "", "purposes[0].may_answer_org_ids[1]: \"politie-a\" is listed twice"},
      {"DuplicateGrant",
       [](json& j) {
         P(j, 0)["may_ask"].push_back({{"org_id", "riec-a"}, {"roles", {"director"}}});
       },
       "",
       "purposes[0].may_ask[1].org_id: \"riec-a\" already has a grant in purposes[0].may_ask[0]"},
      {"EmptyMayAsk",
       [](json& j) {
         P(j, 0)["may_ask"] = json::array();
       },
       "", "purposes[0].may_ask: must not be empty"},
      {"EmptyMayAnswer",
       [](json& j) {
         P(j, 1)["may_answer_org_ids"] = json::array();
       },
       "", "purposes[1].may_answer_org_ids: must not be empty"},
      {"MissingMayAnswer", [](json& j) { P(j, 1).erase("may_answer_org_ids"); }, "",
       "purposes[1].may_answer_org_ids: missing"},
      {"EmptyRoles",
       [](json& j) {
         P(j, 0)["may_ask"][0]["roles"] = json::array();
       },
       "", "purposes[0].may_ask[0].roles: must not be empty"},
      {"UntilBeforeFrom",
       [](json& j) {
         P(j, 0)["valid_until"] = "2024-12-31";
       },
       "", "purposes[0].valid_until: 2024-12-31 is not after valid_from 2025-01-01"},
      {"UntilEqualsFrom",
       [](json& j) {
         P(j, 0)["valid_until"] = "2025-01-01";
       },
       "", "purposes[0].valid_until: 2025-01-01 is not after valid_from 2025-01-01"},
      {"ImpossibleDate",
       [](json& j) {
         P(j, 0)["valid_from"] = "2025-02-30";
       },
       "", "purposes[0].valid_from: \"2025-02-30\" is not a date YYYY-MM-DD"},
      {"DutchDateOrder",
       [](json& j) {
         P(j, 0)["valid_from"] = "01-01-2025";
       },
       "", "purposes[0].valid_from: \"01-01-2025\" is not a date YYYY-MM-DD"},
      {"MissingValidFrom", [](json& j) { P(j, 1).erase("valid_from"); }, "",
       "purposes[1].valid_from: missing"},
      {"MaxSubjectsZero",
       [](json& j) {
         P(j, 0)["max_subjects_per_exchange"] = 0;
       },
       "", "purposes[0].max_subjects_per_exchange: must be a whole number from 1 to 10000, got 0"},
      {"MaxSubjectsNegative",
       [](json& j) {
         P(j, 0)["max_subjects_per_exchange"] = -5;
       },
       "", "purposes[0].max_subjects_per_exchange: must be a whole number from 1 to 10000, got -5"},
      {"MaxSubjectsAboveCeiling",
       [](json& j) {
         P(j, 0)["max_subjects_per_exchange"] = 10001;
       },
       "",
       "purposes[0].max_subjects_per_exchange: 10001 is above 10000, the ceiling of the format"},
      {"MaxKeysAboveCeiling",
       [](json& j) {
         P(j, 0)["max_keys_per_subject"] = 17;
       },
       "", "purposes[0].max_keys_per_subject: must be a whole number from 1 to 16, got 17"},
      {"BatchTooLarge",
       [](json& j) {
         P(j, 0)["max_subjects_per_exchange"] = 10000;
         P(j, 0)["daily_subject_quota"] = 10000;
         P(j, 0)["max_keys_per_subject"] = 7;
       },
       "",
       "purposes[0].max_keys_per_subject: max_subjects_per_exchange x max_keys_per_subject = "
       "70000 elements, more than one evaluation can carry (65535)"},
      {"SubjectQuotaZero",
       [](json& j) {
         P(j, 0)["daily_subject_quota"] = 0;
       },
       "", "purposes[0].daily_subject_quota: must be a whole number from 1 to 100000, got 0"},
      {"SubjectQuotaMissing", [](json& j) { P(j, 0).erase("daily_subject_quota"); }, "",
       "purposes[0].daily_subject_quota: missing"},
      {"SubjectQuotaAboveCeiling",
       [](json& j) {
         P(j, 0)["daily_subject_quota"] = 100001;
       },
       "", "purposes[0].daily_subject_quota: 100001 is above 100000"},
      {"ExchangeQuotaZero",
       [](json& j) {
         P(j, 0)["daily_exchange_quota"] = 0;
       },
       "", "purposes[0].daily_exchange_quota: must be a whole number from 1 to 100000, got 0"},
      {"QuotaBelowMaxSubjects",
       [](json& j) {
         P(j, 0)["daily_subject_quota"] = 9;
       },
       "", "purposes[0].daily_subject_quota: 9 is below max_subjects_per_exchange (10)"},
      {"UnknownRoleTypo",
       [](json& j) {
         P(j, 0)["may_ask"][0]["roles"][0] = "analist";
       },
       "", "purposes[0].may_ask[0].roles[0]: unknown role \"analist\" (did you mean analyst?)"},
      {"UnknownRole",
       [](json& j) {
         P(j, 0)["may_ask"][0]["roles"][0] = "superuser";
       },
       "",
       "purposes[0].may_ask[0].roles[0]: unknown role \"superuser\" (one of: professional, "
       "analyst, approver, director, auditor, admin)"},
      {"RoleUpperCase",
       [](json& j) {
         P(j, 0)["may_ask"][0]["roles"][0] = "ROLE_ANALYST";
       },
       "", "purposes[0].may_ask[0].roles[0]: unknown role \"ROLE_ANALYST\""},
      {"DuplicateRole",
       [](json& j) {
         P(j, 0)["may_ask"][0]["roles"] = {"analyst", "analyst"};
       },
       "", "purposes[0].may_ask[0].roles[1]: \"analyst\" is listed twice"},
      {"AuditorMayNotAsk",
       [](json& j) {
         P(j, 0)["may_ask"][0]["roles"] = {"analyst", "auditor"};
       },
       "", "purposes[0].may_ask[0].roles: role auditor may not ask"},
      {"AdminMayNotAsk",
       [](json& j) {
         P(j, 0)["may_ask"][0]["roles"] = {"admin"};
       },
       "", "purposes[0].may_ask[0].roles: role admin may not ask"},
      {"UnknownKeyType",
       [](json& j) {
         P(j, 0)["key_types"] = {"bsn", "email"};
       },
       "", "purposes[0].key_types[1]: unknown key type \"email\""},
      {"EmptyKeyTypes",
       [](json& j) {
         P(j, 0)["key_types"] = json::array();
       },
       "", "purposes[0].key_types: must not be empty"},
      {"UnknownDisclosureField",
       [](json& j) {
         P(j, 0)["disclosure_rules"][0]["fields"] = {"category", "bsn"};
       },
       "",
       "purposes[0].disclosure_rules[0].fields[1]: unknown signal field \"bsn\" (one of: "
       "category, domain, registered_at, expires_at, contact_name, contact_phone, "
       "contact_email, free_text)"},
      {"DisclosureFieldTypo",
       [](json& j) {
         P(j, 0)["disclosure_rules"][0]["fields"] = {"free-text"};
       },
       "",
       "purposes[0].disclosure_rules[0].fields[0]: unknown signal field \"free-text\" (did you "
       "mean free_text?)"},
      {"EmptyDisclosureFields",
       [](json& j) {
         P(j, 0)["disclosure_rules"][0]["fields"] = json::array();
       },
       "", "purposes[0].disclosure_rules[0].fields: must not be empty"},
      {"DisclosureFromNonAnswering",
       [](json& j) {
         P(j, 0)["disclosure_rules"][0]["responder_org_id"] = "zorg-a";
       },
       "",
       "purposes[0].disclosure_rules[0].responder_org_id: \"zorg-a\" is not in "
       "may_answer_org_ids"},
      {"DisclosureToNonAsking",
       [](json& j) {
         P(j, 0)["disclosure_rules"][0]["requester_org_ids"] = {"gemeente-a"};
       },
       "", "purposes[0].disclosure_rules[0].requester_org_ids: \"gemeente-a\" is not in may_ask"},
      {"DisclosurePairTwice",
       [](json& j) {
         P(j, 0)
         ["disclosure_rules"].push_back({{"responder_org_id", "politie-a"},
                                         {"requester_org_ids", {"riec-a"}},
                                         {"fields", {"free_text"}}});
       },
       "",
       "purposes[0].disclosure_rules[1].requester_org_ids: \"politie-a\" -> \"riec-a\" is "
       "already covered by purposes[0].disclosure_rules[0]"},
      {"EmptyCategory",
       [](json& j) {
         P(j, 0)["disclosure_rules"][0]["categories"] = {""};
       },
       "", "purposes[0].disclosure_rules[0].categories[0]: must not be empty"},
      {"CaseRequiredWithoutDirectors", [](json& j) { P(j, 1).erase("case_director_org_ids"); }, "",
       "purposes[1].case_director_org_ids: missing: case_required is true"},
      {"CaseRequiredEmptyDirectors",
       [](json& j) {
         P(j, 1)["case_director_org_ids"] = json::array();
       },
       "", "purposes[1].case_director_org_ids: must not be empty when case_required is true"},
      {"BadDuration",
       [](json& j) {
         P(j, 0)["approval_timeout"] = "3 days";
       },
       "", "purposes[0].approval_timeout: \"3 days\" is not a duration"},
      {"DurationOutOfRange",
       [](json& j) {
         P(j, 0)["disclosure_window"] = "400d";
       },
       "", "purposes[0].disclosure_window: \"400d\" is outside 1h to 365d"},
  };
  return *cases;
}

class BadPolicyTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadPolicyTest, IsRefusedNamingPathAndProblem) {
  const BadCase& c = GetParam();
  std::string text = c.raw;
  if (text.empty()) {
    json j = BasePolicy();
    c.mutate(j);
    text = j.dump(2);
  }
  std::vector<PolicyProblem> problems;
  const auto policy = ParsePolicy(text, "inline.json", &problems);
  ASSERT_FALSE(policy.ok()) << text;
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(policy.status().message()), HasSubstr("inline.json: policy refused"));
  EXPECT_THAT(std::string(policy.status().message()), HasSubstr("\n  " + c.expected))
      << policy.status();
  ASSERT_FALSE(problems.empty());
  bool found = false;
  for (const auto& problem : problems) {
    found = found || problem.ToString().starts_with(c.expected);
  }
  EXPECT_TRUE(found) << policy.status();
}

INSTANTIATE_TEST_SUITE_P(Cases, BadPolicyTest, ::testing::ValuesIn(BadCases()),
                         [](const auto& test) { return test.param.name; });

TEST(PolicyRefusalTest, TheBaseOfTheCasesIsValid) {
  std::vector<PolicyProblem> problems = {{"stale", "entry"}};
  const auto policy = ParsePolicy(BasePolicy().dump(), "base", &problems);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT(problems, IsEmpty());
}

TEST(BadPolicyFileTest, ThreeProblemsAreAllListed) {
  const std::string path = kDataDir + "bad-three-problems.json";
  std::vector<PolicyProblem> problems;
  const auto policy = LoadPolicy(path, &problems);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(policy.status().message()),
            path +
                ": policy refused, 3 problems:\n"
                "  purposes[0].daily_exchange_qouta: unknown field (did you mean "
                "daily_exchange_quota?)\n"
                "  purposes[0].lawful_basis.reference: missing\n"
                "  purposes[0].may_answer_org_ids[1]: unknown organisation "
                "\"gemeente-tlburg\" (not among parties) (did you mean gemeente-tilburg?)");
  ASSERT_EQ(problems.size(), 3u);
}

TEST(BadPolicyFileTest, SyntaxErrorNamesLineAndColumn) {
  const auto policy = LoadPolicy(kDataDir + "bad-syntax.json");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(policy.status().message()),
              HasSubstr("JSON syntax error at line 7, column 3: unexpected ']'"));
}

TEST(BadPolicyFileTest, EveryWrongLimitIsNamed) {
  std::vector<PolicyProblem> problems;
  const auto policy = LoadPolicy(kDataDir + "bad-limits.json", &problems);
  ASSERT_FALSE(policy.ok());
  std::vector<std::string> paths;
  for (const auto& problem : problems) paths.push_back(problem.path);
  EXPECT_THAT(paths,
              ::testing::UnorderedElementsAre(
                  "purposes[0].valid_until", "purposes[0].may_ask[0].roles[0]",
                  "purposes[0].may_ask[0].roles", "purposes[0].may_answer_org_ids",
                  "purposes[0].case_director_org_ids", "purposes[0].max_subjects_per_exchange",
                  "purposes[0].daily_subject_quota"))
      << policy.status();
}

TEST(PolicyRefusalTest, AtMostAHundredProblemsAreSpelledOut) {
  json j = BasePolicy();
  for (int i = 0; i < 150; ++i) j[StrCat("extra_", i)] = i;
  std::vector<PolicyProblem> problems;
  const auto policy = ParsePolicy(j.dump(), "many", &problems);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(problems.size(), 150u);
  EXPECT_THAT(std::string(policy.status().message()), HasSubstr("150 problems:"));
  EXPECT_THAT(std::string(policy.status().message()), HasSubstr("\n  ... and 50 more"));
}

TEST(PolicyRefusalTest, TooLargeIsRefused) {
  const auto policy = ParsePolicy(std::string(kMaxPolicyBytes + 1, ' '), "big");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(policy.status().message()), HasSubstr("at most 1048576"));
}

// ---------------------------------------------------------------------------
// The file itself.

TEST(LoadPolicyTest, MissingFileIsNotFound) {
  const auto policy = LoadPolicy(kDataDir + "no-such-file.json");
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(policy.status().message()), HasSubstr("no-such-file.json"));
}

TEST(LoadPolicyTest, DirectoryIsRefused) {
  const auto policy = LoadPolicy(kDataDir);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LoadPolicyTest, UnreadableFileIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
  const std::string path = ::testing::TempDir() + "/unreadable-policy.json";
  { std::ofstream(path) << "{}"; }
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  const auto policy = LoadPolicy(path);
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kPermissionDenied);
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------
// Queries.

TEST_F(ExamplePolicyTest, MayAskAllowsTheGrantedOrganisationAndRole) {
  const AskDecision d =
      policy_->MayAsk("riec-ondermijning", "riec-zwb", v1::ROLE_ANALYST, Day(2025, 6, 1));
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, v1::DENIAL_REASON_UNSPECIFIED);
  EXPECT_THAT(d.message, IsEmpty());
  EXPECT_TRUE(
      policy_
          ->MayAsk("zvh-casusoverleg", "gemeente-tilburg", v1::ROLE_PROFESSIONAL, Day(2026, 1, 1))
          .allowed());
}

TEST_F(ExamplePolicyTest, MayAskRefusesAnUnknownPurpose) {
  const AskDecision d =
      policy_->MayAsk("riec-ondermijnen", "riec-zwb", v1::ROLE_ANALYST, Day(2025, 6, 1));
  EXPECT_EQ(d.reason, v1::DENIAL_REASON_PURPOSE_UNKNOWN);
  EXPECT_THAT(d.message, Not(HasSubstr("riec")));
}

TEST_F(ExamplePolicyTest, MayAskRespectsTheValidityPeriod) {
  struct DayCase {
    absl::CivilDay day;
    bool in_force;
  };
  // riec-ondermijning: from 2025-01-01 (inclusive) until 2029-01-01 (exclusive).
  for (const auto& [day, in_force] : std::vector<DayCase>{{Day(2024, 12, 31), false},
                                                          {Day(2025, 1, 1), true},
                                                          {Day(2028, 12, 31), true},
                                                          {Day(2029, 1, 1), false},
                                                          {Day(2035, 1, 1), false}}) {
    const AskDecision d = policy_->MayAsk("riec-ondermijning", "riec-zwb", v1::ROLE_ANALYST, day);
    EXPECT_EQ(d.allowed(), in_force) << day;
    if (!in_force) {
      EXPECT_EQ(d.reason, v1::DENIAL_REASON_PURPOSE_NOT_IN_FORCE) << day;
      EXPECT_THAT(d.message, HasSubstr("from 2025-01-01 until 2029-01-01"));
    }
  }
  // verwijsindex-jeugd has no end.
  EXPECT_TRUE(
      policy_->MayAsk("verwijsindex-jeugd", "ggz-breburg", v1::ROLE_PROFESSIONAL, Day(2099, 1, 1))
          .allowed());
  EXPECT_EQ(
      policy_->MayAsk("verwijsindex-jeugd", "ggz-breburg", v1::ROLE_PROFESSIONAL, Day(2023, 12, 31))
          .reason,
      v1::DENIAL_REASON_PURPOSE_NOT_IN_FORCE);
}

TEST_F(ExamplePolicyTest, MayAskRefusesAnOrganisationWithoutGrant) {
  // The municipality answers under riec-ondermijning but may not ask.
  const AskDecision d =
      policy_->MayAsk("riec-ondermijning", "gemeente-tilburg", v1::ROLE_ANALYST, Day(2025, 6, 1));
  EXPECT_EQ(d.reason, v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);
  EXPECT_THAT(d.message, Not(HasSubstr("gemeente")));
  EXPECT_THAT(d.message, Not(HasSubstr("riec")));
  EXPECT_EQ(
      policy_->MayAsk("riec-ondermijning", "no-such-org", v1::ROLE_ANALYST, Day(2025, 6, 1)).reason,
      v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);
}

TEST_F(ExamplePolicyTest, MayAskRefusesARoleWithoutGrant) {
  for (const v1::Role role : {v1::ROLE_PROFESSIONAL, v1::ROLE_DIRECTOR, v1::ROLE_AUDITOR,
                              v1::ROLE_ADMIN, v1::ROLE_UNSPECIFIED}) {
    const AskDecision d = policy_->MayAsk("riec-ondermijning", "riec-zwb", role, Day(2025, 6, 1));
    EXPECT_EQ(d.reason, v1::DENIAL_REASON_ROLE_NOT_ALLOWED) << RoleName(role);
    EXPECT_THAT(d.message, HasSubstr("allowed: analyst"));
    EXPECT_THAT(d.message, Not(HasSubstr("riec")));
  }
}

TEST_F(ExamplePolicyTest, MayAskChecksValidityBeforeOrganisation) {
  EXPECT_EQ(
      policy_
          ->MayAsk("riec-ondermijning", "gemeente-tilburg", v1::ROLE_PROFESSIONAL, Day(2030, 1, 1))
          .reason,
      v1::DENIAL_REASON_PURPOSE_NOT_IN_FORCE);
}

TEST_F(ExamplePolicyTest, AnsweringOrgsWithoutTargetsAreAllButTheRequester) {
  const PartnerSelection s = Get("riec-ondermijning").AnsweringOrgs("politie-zwb", {});
  EXPECT_THAT(s.permitted, ElementsAre("om-zwb", "belastingdienst", "gemeente-tilburg",
                                       "gemeente-breda", "woningcorporatie-tilburg"));
  EXPECT_THAT(s.refused, IsEmpty());
}

TEST_F(ExamplePolicyTest, AnsweringOrgsIntersectsAndListsTheRefused) {
  const std::vector<std::string> requested = {"belastingdienst", "ggz-breburg", "riec-zwb",
                                              "belastingdienst", "no-such-org", "om-zwb"};
  const PartnerSelection s = Get("riec-ondermijning").AnsweringOrgs("riec-zwb", requested);
  EXPECT_THAT(s.permitted, ElementsAre("belastingdienst", "om-zwb"));
  EXPECT_THAT(s.refused, ElementsAre("ggz-breburg", "riec-zwb", "no-such-org"));

  // The requester is refused when it names itself, even where it may answer.
  const std::vector<std::string> self = {"ggz-breburg", "gemeente-tilburg"};
  const PartnerSelection v = Get("verwijsindex-jeugd").AnsweringOrgs("ggz-breburg", self);
  EXPECT_THAT(v.permitted, ElementsAre("gemeente-tilburg"));
  EXPECT_THAT(v.refused, ElementsAre("ggz-breburg"));
}

TEST_F(ExamplePolicyTest, MayDiscloseAllowsGrantedFields) {
  const Purpose& riec = Get("riec-ondermijning");
  const std::vector<v1::SignalField> fields = {v1::SIGNAL_FIELD_CATEGORY,
                                               v1::SIGNAL_FIELD_CONTACT_PHONE};
  const DisclosureDecision d = riec.MayDisclose("politie-zwb", "riec-zwb", fields);
  EXPECT_TRUE(d.allowed()) << d.message;
  EXPECT_EQ(d.rule, &riec.disclosure_rules[0]);
  EXPECT_THAT(d.rule->categories, IsEmpty());

  const std::vector<std::string> categories = {"bibob"};
  const DisclosureDecision g =
      riec.MayDisclose("gemeente-tilburg", "politie-zwb", {&fields[0], 1}, categories);
  EXPECT_TRUE(g.allowed()) << g.message;
  EXPECT_THAT(g.rule->categories, ElementsAre("vergunningen", "bibob", "woonfraude"));
}

TEST_F(ExamplePolicyTest, MayDiscloseNamesTheFirstFieldNotAllowed) {
  const Purpose& riec = Get("riec-ondermijning");
  const std::vector<v1::SignalField> fields = {v1::SIGNAL_FIELD_CATEGORY,
                                               v1::SIGNAL_FIELD_FREE_TEXT, v1::SIGNAL_FIELD_DOMAIN};
  const DisclosureDecision d = riec.MayDisclose("politie-zwb", "riec-zwb", fields);
  EXPECT_EQ(d.reason, v1::DENIAL_REASON_FIELD_NOT_ALLOWED);
  EXPECT_EQ(d.refused_field, v1::SIGNAL_FIELD_FREE_TEXT);
  EXPECT_EQ(d.rule, nullptr);
  EXPECT_THAT(d.message, HasSubstr("free_text"));
  EXPECT_THAT(d.message, Not(HasSubstr("politie")));

  // The care partner under the ZVH purpose shares no free text either.
  const v1::SignalField free_text = v1::SIGNAL_FIELD_FREE_TEXT;
  EXPECT_EQ(Get("zvh-casusoverleg")
                .MayDisclose("ggz-breburg", "zvh-hart-van-brabant", {&free_text, 1})
                .refused_field,
            v1::SIGNAL_FIELD_FREE_TEXT);
}

TEST_F(ExamplePolicyTest, MayDiscloseNamesTheFirstCategoryNotAllowed) {
  const v1::SignalField category = v1::SIGNAL_FIELD_CATEGORY;
  const std::vector<std::string> categories = {"bibob", "huiselijk-geweld"};
  const DisclosureDecision d =
      Get("riec-ondermijning")
          .MayDisclose("gemeente-tilburg", "riec-zwb", {&category, 1}, categories);
  EXPECT_EQ(d.reason, v1::DENIAL_REASON_FIELD_NOT_ALLOWED);
  EXPECT_EQ(d.refused_category, "huiselijk-geweld");
  EXPECT_FALSE(d.refused_field.has_value());
  EXPECT_THAT(d.message, Not(HasSubstr("huiselijk")));
}

TEST_F(ExamplePolicyTest, MayDiscloseRefusesPairsWithoutRule) {
  const Purpose& riec = Get("riec-ondermijning");
  const v1::SignalField category = v1::SIGNAL_FIELD_CATEGORY;
  // No rule from the tax authority to the police, none from om-zwb at all,
  // and none between organisations outside the purpose.
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"belastingdienst", "politie-zwb"},
                                                        {"om-zwb", "riec-zwb"},
                                                        {"ggz-breburg", "riec-zwb"},
                                                        {"riec-zwb", "politie-zwb"}}) {
    const DisclosureDecision d = riec.MayDisclose(from, to, {&category, 1});
    EXPECT_EQ(d.reason, v1::DENIAL_REASON_DISCLOSURE_NOT_ALLOWED) << from << " -> " << to;
    EXPECT_THAT(d.message, Not(HasSubstr(from)));
  }
}

TEST_F(ExamplePolicyTest, MayDiscloseRefusesAnEmptyOrUnspecifiedRequest) {
  const Purpose& riec = Get("riec-ondermijning");
  EXPECT_EQ(riec.MayDisclose("politie-zwb", "riec-zwb", {}).reason,
            v1::DENIAL_REASON_MALFORMED_REQUEST);
  const v1::SignalField unspecified = v1::SIGNAL_FIELD_UNSPECIFIED;
  EXPECT_EQ(riec.MayDisclose("politie-zwb", "riec-zwb", {&unspecified, 1}).reason,
            v1::DENIAL_REASON_MALFORMED_REQUEST);
}

TEST(PolicyNamesTest, NamesOfTheFile) {
  EXPECT_EQ(RoleName(v1::ROLE_APPROVER), "approver");
  EXPECT_EQ(RoleName(v1::ROLE_UNSPECIFIED), "unspecified");
  EXPECT_EQ(KeyTypeName(v1::MATCH_KEY_TYPE_NAME_DOB), "name_dob");
  EXPECT_EQ(SignalFieldName(v1::SIGNAL_FIELD_CONTACT_EMAIL), "contact_email");
}

}  // namespace
}  // namespace schakel::gateway
