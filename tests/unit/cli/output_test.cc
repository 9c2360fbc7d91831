// Output for people and scripts: the family-grouped match table, the JSON
// of a MatchResponse, tables with UTF-8, enum short names, times, and the
// progress bar.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "cli/audit_command.h"
#include "cli/match_command.h"
#include "cli/progress.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "schakel/v1/local.pb.h"

namespace schakel::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace v1 = schakel::v1;

void AddKey(v1::PartnerMatch* partner, v1::MatchKeyType type, bool hit) {
  v1::KeyTypeMatch* key = partner->add_key_types();
  key->set_key_type(type);
  key->set_hit(hit);
  key->set_keys_sent(1);
  key->set_keys_hit(hit ? 1 : 0);
  if (hit) partner->set_hit(true);
}

// Three subjects: two of family "fam-1" (the second a child), one alone;
// politie and zorg answered, gemeente timed out, woco refused by policy.
v1::MatchResponse SampleResponse() {
  v1::MatchResponse response;
  response.set_exchange_id(std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16));
  response.set_purpose_id("riec.ondermijning");
  response.set_case_id("2025-0042");
  response.set_policy_version("v3+0badf00d");
  response.mutable_lawful_basis()->set_reference("Wpg art. 20");
  const struct {
    const char* label;
    const char* family;
    v1::Relation relation;
  } subjects[] = {{"vader", "fam-1", v1::RELATION_UNSPECIFIED},
                  {"kind", "fam-1", v1::RELATION_CHILD},
                  {"buurman", "", v1::RELATION_UNSPECIFIED}};
  for (uint32_t i = 0; i < 3; ++i) {
    v1::LocalSubject* local = response.add_subjects();
    local->set_subject_index(i);
    local->set_label(subjects[i].label);
    local->set_family_id(subjects[i].family);
    local->set_relation(subjects[i].relation);
  }
  v1::LocalFamily* family = response.add_families();
  family->set_family(1);
  family->set_family_id("fam-1");

  v1::MatchResult& result = *response.mutable_result();
  auto partner = [&result](const char* org, v1::Domain domain, v1::PartnerStatus status,
                           uint32_t hit, const char* detail) {
    v1::PartnerOutcome* p = result.add_partners();
    p->set_org_id(org);
    p->set_domain(domain);
    p->set_status(status);
    p->set_subjects_hit(hit);
    p->set_detail(detail);
    if (status == v1::PARTNER_STATUS_REFUSED_BY_POLICY) {
      p->set_reason(v1::DENIAL_REASON_PARTNER_NOT_PERMITTED);
    }
  };
  partner("politie", v1::DOMAIN_SAFETY, v1::PARTNER_STATUS_OK, 1, "");
  partner("zorg", v1::DOMAIN_CARE, v1::PARTNER_STATUS_OK, 1, "");
  partner("gemeente", v1::DOMAIN_SOCIAL, v1::PARTNER_STATUS_TIMED_OUT, 0,
          "deadline of 5 s passed");
  partner("woco", v1::DOMAIN_HOUSING, v1::PARTNER_STATUS_REFUSED_BY_POLICY, 0, "");

  for (uint32_t i = 0; i < 3; ++i) {
    v1::SubjectMatch* match = result.add_subjects();
    match->set_subject_index(i);
    match->set_family(i < 2 ? 1 : 0);
    for (const char* org : {"politie", "zorg"}) {
      v1::PartnerMatch* p = match->add_partners();
      p->set_org_id(org);
      const bool politie = std::string(org) == "politie";
      AddKey(p, v1::MATCH_KEY_TYPE_BSN, politie && i == 0);
      AddKey(p, v1::MATCH_KEY_TYPE_NAME_DOB, politie && i == 0);
      AddKey(p, v1::MATCH_KEY_TYPE_ADDRESS, !politie && i == 1);
    }
  }
  v1::FamilySummary* summary = result.add_families();
  summary->set_family(1);
  summary->set_member_count(2);
  summary->set_members_with_hit(2);
  v1::DomainKnowledge* safety = summary->add_domains();
  safety->set_domain(v1::DOMAIN_SAFETY);
  safety->add_org_ids("politie");
  safety->add_subject_indices(0);
  v1::DomainKnowledge* care = summary->add_domains();
  care->set_domain(v1::DOMAIN_CARE);
  care->add_org_ids("zorg");
  care->add_subject_indices(1);
  v1::MatchCounts& counts = *result.mutable_counts();
  counts.set_subjects(3);
  counts.set_subjects_hit(2);
  counts.set_partners_answered(2);
  counts.set_partners_failed(2);
  return response;
}

TEST(MatchTableTest, GroupedByFamilyWithHitKeyTypesPerPartner) {
  std::ostringstream out;
  PrintMatchTable(SampleResponse(), out);
  const std::string text = out.str();
  EXPECT_THAT(text, StartsWith("exchange:     0102030405060708090a0b0c0d0e0f10\n"
                               "purpose:      riec.ondermijning\n"
                               "case:         2025-0042\n"
                               "policy:       v3+0badf00d\n"
                               "lawful basis: Wpg art. 20\n"));
  EXPECT_THAT(text, HasSubstr("family  member   relation  politie       zorg\n"
                              "fam-1   vader    -         bsn,name_dob  -\n"
                              "fam-1   kind     child     -             address\n"
                              "-       buurman  -         -             -\n"));
  EXPECT_THAT(text, HasSubstr("family fam-1: 2 of 2 members known; safety (politie): vader; "
                              "care (zorg): kind\n"));
  EXPECT_THAT(text, HasSubstr("partner   domain   status             subjects hit  detail\n"
                              "politie   safety   OK                 1             -\n"
                              "zorg      care     OK                 1             -\n"
                              "gemeente  social   timed out          -             deadline of 5 "
                              "s passed\n"
                              "woco      housing  refused by policy  -             "
                              "partner_not_permitted\n"));
  EXPECT_THAT(text, HasSubstr("2 of 3 subjects known to a partner; 2 partners answered, 2 did not"));
  EXPECT_THAT(text, HasSubstr("exchange id: 0102030405060708090a0b0c0d0e0f10\n"));
}

TEST(MatchTableTest, OnePartnerIsSingular) {
  v1::MatchResponse response = SampleResponse();
  response.mutable_result()->mutable_counts()->set_partners_answered(1);
  std::ostringstream out;
  PrintMatchTable(response, out);
  EXPECT_THAT(out.str(), HasSubstr("; 1 partner answered, 2 did not"));
}

TEST(MatchTableTest, NoPartnerAnsweredSaysSo) {
  v1::MatchResponse response = SampleResponse();
  for (auto& partner : *response.mutable_result()->mutable_partners()) {
    partner.set_status(v1::PARTNER_STATUS_UNAVAILABLE);
  }
  std::ostringstream out;
  PrintMatchTable(response, out);
  EXPECT_THAT(out.str(), HasSubstr("no partner answered"));
  EXPECT_THAT(out.str(), HasSubstr("politie   safety   unavailable"));
}

TEST(MatchJsonTest, WholeResponseRoundTripsWithProtoFieldNames) {
  const v1::MatchResponse response = SampleResponse();
  const std::string json = ToJson(response, /*pretty=*/true);
  EXPECT_THAT(json, HasSubstr("\"purpose_id\": \"riec.ondermijning\""));
  EXPECT_THAT(json, HasSubstr("\"status\": \"PARTNER_STATUS_TIMED_OUT\""));
  EXPECT_THAT(json, HasSubstr("\"hit\": false"));
  v1::MatchResponse back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  EXPECT_EQ(back.SerializeAsString(), response.SerializeAsString());
}

TEST(TableTest, AlignsByDisplayWidth) {
  Table table({"naam", "x"});
  table.AddRow({"Çelik", "1"});
  table.AddRow({"de Vries", "2"});
  table.AddRow({"李", "3"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "naam      x\n"
            "Çelik     1\n"
            "de Vries  2\n"
            "李        3\n");
  EXPECT_EQ(DisplayWidth("e\xCC\x81"), 1u);  // e + combining acute
}

TEST(TableTest, FieldsAndLists) {
  std::ostringstream out;
  PrintFields({{"a", "1"}, {"long key", "2"}}, out);
  EXPECT_EQ(out.str(), "a:        1\nlong key: 2\n");
  EXPECT_EQ(JoinList({}), "-");
  EXPECT_EQ(JoinList({"a", "b"}), "a, b");
}

TEST(ProtoTextTest, EnumShortNames) {
  EXPECT_EQ(EnumName(v1::ROLE_ANALYST), "analyst");
  EXPECT_EQ(EnumName(v1::LOCAL_EVENT_KIND_MATCH_RUN), "match_run");
  EXPECT_EQ(EnumName(v1::ROLE_UNSPECIFIED), "unspecified");
  EXPECT_EQ(*ParseEnumName<v1::Role>("Auditor", "role"), v1::ROLE_AUDITOR);
  EXPECT_EQ(*ParseEnumName<v1::LocalEventKind>("login-failed", "kind"),
            v1::LOCAL_EVENT_KIND_LOGIN_FAILED);
  EXPECT_FALSE(ParseEnumName<v1::Role>("unspecified", "role").ok());
  EXPECT_EQ(ParseEnumName<v1::Role>("boss", "--role").status().message(),
            "--role: not one of: professional, analyst, approver, director, auditor, admin");
}

TEST(ProtoTextTest, Times) {
  auto day = ParseTime("2025-03-01", "t");
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(FormatTime(*day), "2025-03-01T00:00:00Z");
  EXPECT_EQ(FormatDate(*day), "2025-03-01");
  auto exact = ParseTime("2025-03-01T13:00:00+01:00", "t");
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(FormatTime(*exact), "2025-03-01T12:00:00Z");
  EXPECT_EQ(ParseTime("2025-02-29", "--since").status().message(),
            "--since: not a date (YYYY-MM-DD) or an RFC 3339 time (2025-03-01T12:00:00Z)");
  EXPECT_FALSE(ParseTime("01-03-2025", "t").ok());
  EXPECT_EQ(FormatTime(google::protobuf::Timestamp()), "-");
}

TEST(ProgressTest, BarOnTerminalIsErasedWhenDone) {
  std::ostringstream err;
  {
    Progress progress(err, Progress::Mode::kBar, std::chrono::milliseconds(0));
    progress.Update(0.5, "5 rows");
    EXPECT_EQ(err.str(), "\r[###############...............]  50%  5 rows");
  }
  EXPECT_THAT(err.str(), testing::EndsWith("\r"));
}

TEST(ProgressTest, ThePercentageNeverGoesBack) {
  std::ostringstream lines;
  Progress progress(lines, Progress::Mode::kLines, std::chrono::milliseconds(0));
  progress.Update(0.5, "read");
  progress.Update(0.3, "a lower estimate");
  progress.Update(-1, "unknown");
  progress.Update(0.75, "stored");
  EXPECT_EQ(lines.str(),
            "progress: 50% read\nprogress: 50% a lower estimate\nprogress: unknown\n"
            "progress: 75% stored\n");
}

TEST(ProgressTest, LinesAndNone) {
  std::ostringstream lines;
  Progress plain(lines, Progress::Mode::kLines, std::chrono::milliseconds(0));
  plain.Update(0.25, "a");
  plain.Update(-1, "b");
  plain.Done();
  EXPECT_EQ(lines.str(), "progress: 25% a\nprogress: b\n");

  std::ostringstream none;
  Progress quiet(none, Progress::Mode::kNone);
  quiet.Update(0.5, "x");
  quiet.Done();
  EXPECT_EQ(none.str(), "");
  EXPECT_EQ(Progress::ModeFor(Environment{.err_is_terminal = true, .getenv = nullptr}, false),
            Progress::Mode::kBar);
  EXPECT_EQ(Progress::ModeFor(Environment{}, true), Progress::Mode::kLines);
  EXPECT_EQ(Progress::ModeFor(Environment{}, false), Progress::Mode::kNone);
  EXPECT_EQ(GroupThousands(1234567), "1,234,567");
  EXPECT_EQ(GroupThousands(999), "999");
}

TEST(AuditTextTest, ChainProblems) {
  EXPECT_EQ(ChainProblemText(v1::CHAIN_PROBLEM_ENTRY_HASH_MISMATCH), "entry hash does not match");
}

}  // namespace
}  // namespace schakel::cli
