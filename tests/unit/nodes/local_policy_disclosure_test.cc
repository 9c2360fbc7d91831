// The local policy's disclosure rules (nodes/local_policy.h,
// docs/node-policy.md "Disclosure").
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nodes/local_policy.h"

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string Message(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

// A policy with `rules` as its disclosure_rules array.
std::string PolicyWith(const std::string& rules) {
  return R"({
    "version": "t",
    "categories": [
      {"category": "huiselijk-geweld", "domain": "care"},
      {"category": "schulden", "domain": "social"},
      {"category": "intern", "domain": "care"}
    ],
    "purposes": [
      {"purpose_id": "zvh", "matchable_categories": ["huiselijk-geweld", "schulden"]},
      {"purpose_id": "riec", "matchable_categories": ["schulden"]}
    ],
    "disclosure_rules": )" +
         rules + "}";
}

TEST(LocalPolicyDisclosureTest, ParsesRulesAndFindsTheFirstThatCovers) {
  auto policy = ParseLocalPolicy(PolicyWith(R"([
    {"rule": "mandaat-politie", "purpose_id": "zvh", "requester_org_ids": ["politie-oost-nl"],
     "fields": ["category", "contact_name"], "categories": ["huiselijk-geweld"], "mandate": true},
    {"rule": "fg-toets", "purpose_id": "zvh", "fields": ["free_text", "contact_phone"]}
  ])"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const LocalPolicy& p = **policy;
  ASSERT_EQ(p.disclosure_rules().size(), 2u);

  const DisclosureRulePolicy* police = p.FindDisclosureRule("zvh", "politie-oost-nl");
  ASSERT_NE(police, nullptr);
  EXPECT_EQ(police->rule, "mandaat-politie");
  EXPECT_TRUE(police->mandate);
  EXPECT_THAT(police->fields, ElementsAre(v1::SIGNAL_FIELD_CATEGORY, v1::SIGNAL_FIELD_CONTACT_NAME));
  EXPECT_THAT(p.DisclosableCategories(*police), ElementsAre("huiselijk-geweld"));

  const DisclosureRulePolicy* other = p.FindDisclosureRule("zvh", "gemeente-tilburg");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->rule, "fg-toets");
  EXPECT_FALSE(other->mandate);  // the default: an approver decides
  EXPECT_THAT(p.DisclosableCategories(*other), ElementsAre("huiselijk-geweld", "schulden"));

  EXPECT_EQ(p.FindDisclosureRule("riec", "politie-oost-nl"), nullptr);

  const v1::LocalPolicyInfo info = p.ToProto();
  ASSERT_EQ(info.disclosure_rules_size(), 2);
  EXPECT_EQ(info.disclosure_rules(0).rule(), "mandaat-politie");
  EXPECT_EQ(info.disclosure_rules(0).purpose_id(), "zvh");
  EXPECT_THAT(info.disclosure_rules(0).requester_org_ids(), ElementsAre("politie-oost-nl"));
  EXPECT_THAT(info.disclosure_rules(0).fields(),
              ElementsAre(v1::SIGNAL_FIELD_CATEGORY, v1::SIGNAL_FIELD_CONTACT_NAME));
  EXPECT_THAT(info.disclosure_rules(0).categories(), ElementsAre("huiselijk-geweld"));
  EXPECT_TRUE(info.disclosure_rules(0).mandate());
  EXPECT_THAT(info.disclosure_rules(1).requester_org_ids(), IsEmpty());
  EXPECT_THAT(info.disclosure_rules(1).categories(), IsEmpty());
  EXPECT_FALSE(info.disclosure_rules(1).mandate());
}

TEST(LocalPolicyDisclosureTest, WithoutRulesNothingIsCovered) {
  auto policy = ParseLocalPolicy(PolicyWith("[]"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT((*policy)->disclosure_rules(), IsEmpty());
  EXPECT_EQ((*policy)->FindDisclosureRule("zvh", "politie-oost-nl"), nullptr);
}

TEST(LocalPolicyDisclosureTest, NamesEveryProblemOfEveryField) {
  auto policy = ParseLocalPolicy(PolicyWith(R"([
    {"rule": "a", "purpose_id": "zvh", "fields": ["category"], "colour": 1},
    {"purpose_id": "onbekend", "fields": ["category"]},
    {"rule": "dubbel", "purpose_id": "zvh", "fields": ["category"]},
    {"rule": "dubbel", "purpose_id": "zvh", "fields": ["category"]},
    {"rule": "orgs", "purpose_id": "zvh", "requester_org_ids": ["Politie!", "x", "gemeente", "gemeente"],
     "fields": ["category"]},
    {"rule": "velden", "purpose_id": "zvh", "fields": ["bsn", 7, "category", "category"]},
    {"rule": "leeg", "purpose_id": "zvh", "fields": []},
    {"rule": "geen-velden", "purpose_id": "zvh"},
    {"rule": "cats", "purpose_id": "riec", "fields": ["category"],
     "categories": ["huiselijk-geweld", 3, "schulden", "schulden"]},
    {"rule": "mandaat", "purpose_id": "zvh", "fields": ["category"], "mandate": "ja"},
    {"rule": "types", "purpose_id": 5, "fields": "category", "requester_org_ids": "politie",
     "categories": "schulden"},
    "geen object"
  ])"));
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m = Message(policy.status());
  EXPECT_THAT(m, HasSubstr("disclosure_rules[0].rule: must be 2 to 63 characters"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[0].colour: unknown field"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[1].rule: missing"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[1].purpose_id: \"onbekend\" is not a purpose this "
                           "node answers"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[3].rule: \"dubbel\" names two rules"));
  EXPECT_THAT(m, Not(HasSubstr("disclosure_rules[2].rule")));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[4].requester_org_ids[0]: must be an organisation id"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[4].requester_org_ids[1]: must be an organisation id"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[4].requester_org_ids[3]: \"gemeente\" is listed twice"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[5].fields[0]: \"bsn\" is not a signal field; use "
                           "category, domain, registered_at"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[5].fields[1]: must be a string, not an integer"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[5].fields[3]: \"category\" is listed twice"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[6].fields: must name at least one field"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[7].fields: missing"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[8].categories[0]: \"huiselijk-geweld\" is not "
                           "matchable under purpose \"riec\""));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[8].categories[1]: must be a string, not an integer"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[8].categories[3]: \"schulden\" is listed twice"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[9].mandate: must be true or false, not a string"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[10].purpose_id: must be a string, not an integer"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[10].fields: must be an array, not a string"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[10].requester_org_ids: must be an array, not a string"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[10].categories: must be an array, not a string"));
  EXPECT_THAT(m, HasSubstr("disclosure_rules[11]: must be an object, not a string"));
  auto not_array = ParseLocalPolicy(PolicyWith("{}"));
  ASSERT_FALSE(not_array.ok());
  EXPECT_THAT(Message(not_array.status()),
              HasSubstr("disclosure_rules: must be an array, not an object"));
}

}  // namespace
}  // namespace schakel::nodes
