// `schakel match` against a fake node: the request built from flags or a
// subjects CSV, the family table, --json, and problems by line.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "tests/unit/cli/fake_node.h"

namespace schakel::cli {
namespace {

using ::schakel::cli::testing::FakeNode;
using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;
using ::schakel::cli::testing::TestEnvironment;
using ::schakel::cli::testing::WithDetail;
using ::schakel::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
namespace fs = std::filesystem;
namespace v1 = schakel::v1;

// Answers like a node: every subject hits by BSN at "politie" when it has a
// BSN; "zorg" is unavailable.
grpc::Status AnswerMatch(const v1::MatchRequest& request, v1::MatchResponse* response) {
  response->set_exchange_id(std::string(16, '\xab'));
  response->set_purpose_id(request.purpose_id());
  response->set_case_id(request.case_id());
  response->set_policy_version("v1+12345678");
  v1::MatchResult& result = *response->mutable_result();
  v1::PartnerOutcome* politie = result.add_partners();
  politie->set_org_id("politie");
  politie->set_domain(v1::DOMAIN_SAFETY);
  politie->set_status(v1::PARTNER_STATUS_OK);
  v1::PartnerOutcome* zorg = result.add_partners();
  zorg->set_org_id("zorg");
  zorg->set_domain(v1::DOMAIN_CARE);
  zorg->set_status(v1::PARTNER_STATUS_UNAVAILABLE);
  std::map<std::string, uint32_t> families;
  for (int i = 0; i < request.subjects_size(); ++i) {
    const v1::MatchSubject& subject = request.subjects(i);
    v1::LocalSubject* local = response->add_subjects();
    local->set_subject_index(static_cast<uint32_t>(i));
    local->set_label(subject.label());
    local->set_family_id(subject.subject().family_id());
    local->set_relation(subject.subject().relation());
    v1::SubjectMatch* match = result.add_subjects();
    match->set_subject_index(static_cast<uint32_t>(i));
    v1::PartnerMatch* at = match->add_partners();
    at->set_org_id("politie");
    v1::KeyTypeMatch* key = at->add_key_types();
    key->set_key_type(v1::MATCH_KEY_TYPE_BSN);
    key->set_hit(!subject.subject().bsn().empty());
    at->set_hit(key->hit());
    if (!subject.subject().family_id().empty() && !families.count(subject.subject().family_id())) {
      const uint32_t number = static_cast<uint32_t>(families.size() + 1);
      families[subject.subject().family_id()] = number;
      v1::LocalFamily* family = response->add_families();
      family->set_family(number);
      family->set_family_id(subject.subject().family_id());
    }
  }
  return grpc::Status::OK;
}

class MatchCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(node_.ok());
    config_ = node_.WriteClientConfig(dir_.path(), "analyst");
    node_.matching.match = [this](const v1::MatchRequest& request, v1::MatchResponse* response) {
      seen_ = request;
      return AnswerMatch(request, response);
    };
  }
  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), "match");
    args.push_back("--config");
    args.push_back(config_.string());
    return RunCli(args, TestEnvironment({}));
  }
  fs::path Write(const std::string& name, const std::string& text) {
    const fs::path path = fs::path(dir_.path()) / name;
    schakel::testing::WriteFile(path, text);
    return path;
  }

  FakeNode node_;
  TempDir dir_;
  fs::path config_;
  v1::MatchRequest seen_;
};

TEST_F(MatchCommandTest, OnePersonFromFlags) {
  const Outcome r = Run({"--purpose", "riec.ondermijning", "--case", "2025-0042", "--partners",
                         "politie,zorg", "--bsn", "111222333", "--label", "verdachte"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen_.purpose_id(), "riec.ondermijning");
  EXPECT_EQ(seen_.case_id(), "2025-0042");
  EXPECT_THAT(seen_.partner_org_ids(), ElementsAre("politie", "zorg"));
  ASSERT_EQ(seen_.subjects_size(), 1);
  EXPECT_EQ(seen_.subjects(0).label(), "verdachte");
  EXPECT_EQ(seen_.subjects(0).subject().bsn(), "111222333");
  EXPECT_THAT(r.out, HasSubstr("family  member     relation  politie\n"
                               "-       verdachte  -         bsn\n"));
  EXPECT_THAT(r.out, HasSubstr("zorg     care    unavailable"));
  EXPECT_THAT(r.out, HasSubstr("exchange id: abababababababababababababababab\n"));
  EXPECT_EQ(node_.calls()[0].role, "analyst");
}

TEST_F(MatchCommandTest, FamilyFromCsvGroupedInTheTable) {
  const fs::path file = Write("gezin.csv",
                              "label,bsn,given_names,surname,birth_date,family_id,relation\n"
                              "vader,111222333,,,,fam-1,\n"
                              "kind,,Sem,de Vries,2010-05-04,fam-1,child\n"
                              "los,123456782,,,,,\n"
                              "moeder,,Anna,de Vries,1980-01-01,fam-1,partner\n");
  const Outcome r = Run({"--purpose", "riec.ondermijning", "--subjects", file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(seen_.subjects_size(), 4);
  EXPECT_EQ(seen_.subjects(1).subject().relation(), v1::RELATION_CHILD);
  EXPECT_EQ(seen_.subjects(1).subject().surname(), "de Vries");
  EXPECT_THAT(r.out, HasSubstr("family  member  relation  politie\n"
                               "fam-1   vader   -         bsn\n"
                               "fam-1   kind    child     -\n"
                               "fam-1   moeder  partner   -\n"
                               "-       los     -         bsn\n"));
}

TEST_F(MatchCommandTest, JsonIsTheWholeResponseAndNothingElse) {
  const Outcome r = Run({"--purpose", "p1", "--bsn", "111222333", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::MatchResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_EQ(parsed.purpose_id(), "p1");
  EXPECT_EQ(parsed.result().partners_size(), 2);
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(MatchCommandTest, BadSubjectsFileListsEveryLineAndSendsNothing) {
  const fs::path file = Write("lijst.csv",
                              "label,bsn,relation,house_number\n"
                              "a,111222333,uncle,\n"
                              "b,,,\n"
                              "c,123456782,,twaalf\n"
                              "d,123456782,,\n");
  const Outcome r = Run({"--purpose", "p1", "--subjects", file.string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.err, HasSubstr("lijst.csv: line 2: relation: not a relation"));
  EXPECT_THAT(r.err, HasSubstr("lijst.csv: line 3: no identifiers"));
  EXPECT_THAT(r.err, HasSubstr("lijst.csv: line 4: house_number: not a house number"));
  EXPECT_THAT(r.err, HasSubstr("3 problems in"));
  EXPECT_THAT(r.err, Not(HasSubstr("twaalf")));
  EXPECT_THAT(r.err, Not(HasSubstr("uncle")));
  EXPECT_THAT(node_.calls(), IsEmpty());

  const fs::path unknown = Write("x.csv", "label,bsn,telefoon\n");
  const Outcome header = Run({"--purpose", "p1", "--subjects", unknown.string()});
  EXPECT_EQ(header.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(header.err, HasSubstr("unknown column \"telefoon\""));
}

TEST_F(MatchCommandTest, NodeProblemsNameTheLineOfTheFile) {
  node_.matching.match = [](const v1::MatchRequest&, v1::MatchResponse*) {
    v1::ErrorDetail detail;
    v1::FieldProblem* p = detail.add_problems();
    p->set_field("subjects[1].subject.bsn");
    p->set_problem("fails the elfproef");
    return WithDetail(grpc::StatusCode::INVALID_ARGUMENT, "1 bad subject", detail);
  };
  const fs::path file = Write("s.csv", "bsn\n111222333\n123456789\n");
  const Outcome r = Run({"--purpose", "p1", "--subjects", file.string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.err, HasSubstr(StrCat(file.string(), " (line 3): bsn: fails the elfproef")));
  EXPECT_THAT(r.err, Not(HasSubstr("123456789")));
}

TEST_F(MatchCommandTest, RefusalsFromTheGateway) {
  node_.matching.match = [](const v1::MatchRequest&, v1::MatchResponse*) {
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_CASE_NOT_OPEN);
    return WithDetail(grpc::StatusCode::FAILED_PRECONDITION, "case 2025-0001 is closed", detail);
  };
  const Outcome r = Run({"--purpose", "p1", "--case", "2025-0001", "--bsn", "111222333"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(r.err, HasSubstr("cannot run the match: case 2025-0001 is closed (reason: "
                               "case_not_open)"));
}

TEST_F(MatchCommandTest, UsageErrors) {
  EXPECT_EQ(Run({"--bsn", "111222333"}).exit_code, ToInt(ExitCode::kUsageError));
  const Outcome none = Run({"--purpose", "p1"});
  EXPECT_EQ(none.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(none.err, HasSubstr("no subject given"));
  const Outcome both = Run({"--purpose", "p1", "--bsn", "111222333", "--subjects", "f.csv"});
  EXPECT_EQ(both.exit_code, ToInt(ExitCode::kUsageError));
  const Outcome half = Run({"--purpose", "p1", "--surname", "Smit"});
  EXPECT_EQ(half.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(half.err, HasSubstr("go together"));
  EXPECT_THAT(node_.calls(), IsEmpty());
}

}  // namespace
}  // namespace schakel::cli
