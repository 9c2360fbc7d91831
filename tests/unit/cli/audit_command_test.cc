// `schakel audit log|stats|export|subject|reconcile` against a fake node
// over TLS: what each sends, what it prints, its exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "common/strings.h"
#include "tests/support/test_support.h"
#include "tests/unit/cli/fake_node.h"

namespace schakel::cli {
namespace {

using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;
using ::schakel::cli::testing::TestEnvironment;
using ::testing::HasSubstr;
using ::testing::Not;
namespace v1 = schakel::v1;

class AuditCommandTest : public ::schakel::cli::testing::FakeNodeTest {};

v1::LogEntry Entry(uint64_t sequence, v1::Outcome outcome) {
  v1::LogEntry e;
  e.set_sequence(sequence);
  v1::LogRecord& r = *e.mutable_record();
  r.set_kind(v1::RECORD_KIND_EXCHANGE_REQUESTED);
  r.mutable_recorded_at()->set_seconds(1772366400);
  r.set_purpose_id("riec.ondermijning");
  r.mutable_requester()->set_org_id("riec-zwb");
  r.mutable_requester()->set_user_id("anna");
  r.add_answering_org_ids("politie-zwb");
  r.set_outcome(outcome);
  if (outcome == v1::OUTCOME_REFUSED) r.add_denial_reasons(v1::DENIAL_REASON_QUOTA_EXCEEDED);
  return e;
}

TEST_F(AuditCommandTest, LogSendsTheFilterAndPrintsATable) {
  v1::ListEntriesRequest seen;
  node_.audit.list = [&seen](const v1::ListEntriesRequest& request,
                             grpc::ServerWriter<v1::ListEntriesResponse>* writer) {
    seen = request;
    v1::ListEntriesResponse m;
    *m.add_entries() = Entry(7, v1::OUTCOME_GRANTED);
    *m.add_entries() = Entry(9, v1::OUTCOME_REFUSED);
    writer->Write(m);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"audit", "log", "--since", "2026-03-01", "--purpose", "riec.ondermijning",
                         "--outcome", "refused", "--reason", "quota_exceeded", "--tag",
                         "politie-zwb:riec.ondermijning:000102030405060708090a0b0c0d0e0f",
                         "--limit", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("riec-zwb/anna"));
  EXPECT_THAT(r.out, HasSubstr("quota_exceeded"));
  EXPECT_EQ(seen.limit(), 10u);
  EXPECT_EQ(seen.filter().purpose_ids(0), "riec.ondermijning");
  EXPECT_EQ(seen.filter().outcomes(0), v1::OUTCOME_REFUSED);
  EXPECT_EQ(seen.filter().denial_reasons(0), v1::DENIAL_REASON_QUOTA_EXCEEDED);
  ASSERT_EQ(seen.filter().tag_sets_size(), 1);
  EXPECT_EQ(seen.filter().tag_sets(0).org_id(), "politie-zwb");
  EXPECT_EQ(seen.filter().tag_sets(0).tags(0).size(), 16u);
  EXPECT_EQ(seen.filter().time().from().seconds(), 1772323200);

  const Outcome bad = Run({"audit", "log", "--outcome", "maybe", "--tag", "x"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(bad.err, HasSubstr("--outcome"));
  EXPECT_THAT(bad.err, HasSubstr("--tag x"));
}

TEST_F(AuditCommandTest, StatsGroupsAndPrintsRows) {
  v1::GetStatsRequest seen;
  node_.audit.stats = [&seen](const v1::GetStatsRequest& request, v1::GetStatsResponse* response) {
    seen = request;
    v1::StatsRow& row = *response->add_rows();
    row.set_purpose_id("riec.ondermijning");
    row.set_answerer_org_id("politie-zwb");
    row.set_exchanges(1200);
    row.set_hits(3);
    v1::ReasonCount& rc = *row.add_by_reason();
    rc.set_reason(v1::DENIAL_REASON_QUOTA_EXCEEDED);
    rc.set_count(2);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"audit", "stats", "--by", "purpose,answerer", "--period", "week"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(seen.group_by_size(), 2);
  EXPECT_EQ(seen.group_by(1), v1::STATS_DIMENSION_ANSWERER);
  EXPECT_EQ(seen.period(), v1::STATS_PERIOD_WEEK);
  EXPECT_THAT(r.out, HasSubstr("1,200"));
  EXPECT_THAT(r.out, HasSubstr("quota_exceeded 2"));
  EXPECT_THAT(r.out, HasSubstr("politie-zwb"));
}

TEST_F(AuditCommandTest, ExportWritesTheFileWholeOrNotAtAll) {
  v1::ExportRequest seen;
  node_.audit.exp = [&seen](const v1::ExportRequest& request,
                            grpc::ServerWriter<v1::ExportResponse>* writer) {
    seen = request;
    v1::ExportResponse m;
    m.set_data("sequence,recorded_at\r\n1,2026-03-01T12:00:00Z\r\n");
    m.set_entries(1);
    writer->Write(m);
    m.set_data("2,2026-03-01T12:00:01Z\r\n");
    writer->Write(m);
    return grpc::Status::OK;
  };
  const std::filesystem::path out = std::filesystem::path(dir_.path()) / "export.csv";
  const Outcome r =
      Run({"audit", "export", "--format", "csv", "--policy-text", "--output", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.format(), v1::EXPORT_FORMAT_CSV);
  EXPECT_TRUE(seen.include_policy_text());
  EXPECT_EQ(testing::ReadText(out),
            "sequence,recorded_at\r\n1,2026-03-01T12:00:00Z\r\n2,2026-03-01T12:00:01Z\r\n");
  EXPECT_THAT(r.err, HasSubstr("exported 2 entries to"));

  node_.audit.exp = [](const v1::ExportRequest&, grpc::ServerWriter<v1::ExportResponse>* writer) {
    v1::ExportResponse m;
    m.set_data("{}\n");
    writer->Write(m);
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway unreachable");
  };
  const std::filesystem::path failed = std::filesystem::path(dir_.path()) / "failed.jsonl";
  const Outcome f = Run({"audit", "export", "--format", "jsonl", "--output", failed.string()});
  EXPECT_EQ(f.exit_code, ToInt(ExitCode::kUnavailable));
  EXPECT_FALSE(std::filesystem::exists(failed));
  EXPECT_FALSE(std::filesystem::exists(failed.string() + ".partial"));
  EXPECT_EQ(Run({"audit", "export", "--format", "xml"}).exit_code, ToInt(ExitCode::kUsageError));
}

TEST_F(AuditCommandTest, SubjectSendsTheIdentifiersToTheNodeOnlyAndPrintsTheRecords) {
  v1::AuditSubjectRequest seen;
  node_.log.subject = [&seen](const v1::AuditSubjectRequest& request,
                              v1::AuditSubjectResponse* response) {
    seen = request;
    response->add_purposes_checked("riec.ondermijning");
    v1::KeyTypeCount& k = *response->add_keys();
    k.set_key_type(v1::MATCH_KEY_TYPE_BSN);
    k.set_count(1);
    v1::SubjectAccessRecord& a = *response->add_records();
    a.set_sequence(42);
    a.set_kind(v1::RECORD_KIND_EXCHANGE_RESOLVED);
    a.set_requester_org_id("riec-zwb");
    a.set_requester_role(v1::ROLE_ANALYST);
    a.set_purpose_id("riec.ondermijning");
    a.mutable_lawful_basis()->set_reference("Wpg art. 20");
    a.set_case_id("2026-0001");
    a.set_outcome(v1::OUTCOME_GRANTED);
    a.set_hit(true);
    response->mutable_receipt()->mutable_payload()->set_sequence(43);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"audit", "subject", "--bsn", "111222333", "--purpose", "riec.ondermijning"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.subject().bsn(), "111222333");
  EXPECT_EQ(seen.purpose_ids(0), "riec.ondermijning");
  EXPECT_THAT(r.out, HasSubstr("riec-zwb (analyst)"));
  EXPECT_THAT(r.out, HasSubstr("Wpg art. 20"));
  EXPECT_THAT(r.out, HasSubstr("2026-0001"));
  EXPECT_THAT(r.out, HasSubstr("1 record(s)"));

  const Outcome none = Run({"audit", "subject"});
  EXPECT_EQ(none.exit_code, ToInt(ExitCode::kUsageError));
  // The node checks the identifiers; its error names the field, not the value.
  node_.log.subject = [](const v1::AuditSubjectRequest&, v1::AuditSubjectResponse*) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "subject.bsn: fails the elfproef");
  };
  const Outcome bad = Run({"audit", "subject", "--bsn", "123456789"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(bad.err, HasSubstr("subject.bsn"));
  EXPECT_THAT(bad.err, Not(HasSubstr("123456789")));
}

TEST_F(AuditCommandTest, ReconcileReportsFindingsWithExitFive) {
  bool consistent = true;
  node_.log.reconcile = [&consistent](const v1::ReconcileReceiptsRequest&,
                                      grpc::ServerWriter<v1::ReconcileReceiptsResponse>* writer) {
    v1::ReconcileReceiptsResponse m;
    m.mutable_progress()->set_receipts_total(3);
    writer->Write(m);
    v1::ReconcileReceiptsResponse last;
    v1::ReconcileReport& report = *last.mutable_report();
    report.set_receipts_checked(3);
    report.mutable_checkpoint()->mutable_payload()->set_sequence(100);
    report.set_consistent(consistent);
    if (!consistent) {
      v1::ReconcileFinding& f = *report.add_findings();
      f.mutable_receipt()->mutable_payload()->set_sequence(17);
      f.set_problem(v1::RECONCILE_PROBLEM_ENTRY_CHANGED);
      f.set_detail("entry 17 no longer hashes to the entry hash of the receipt");
    }
    writer->Write(last);
    return grpc::Status::OK;
  };
  Outcome r = Run({"audit", "reconcile"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "all 3 receipts match the gateway's log (chain checked up to the checkpoint at entry "
            "100)\n");
  consistent = false;
  r = Run({"audit", "reconcile", "--since", "2026-01-01"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kVerificationFailed));
  EXPECT_THAT(r.out, HasSubstr("entry changed"));
  EXPECT_THAT(r.out, HasSubstr("1 finding(s) in 3 receipts"));
  EXPECT_THAT(r.err, HasSubstr("1 receipt(s) do not match the gateway's log"));
}

TEST_F(AuditCommandTest, EverySubcommandHasHelpWithAnExample) {
  for (const char* sub : {"log", "stats", "export", "subject", "reconcile", "verify"}) {
    SCOPED_TRACE(sub);
    const Outcome r = RunCli({"audit", sub, "--help"}, TestEnvironment({}));
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out, HasSubstr(StrCat("schakel audit ", sub)));
  }
}

}  // namespace
}  // namespace schakel::cli
