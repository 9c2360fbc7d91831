// `schakel approvals` against a fake node: listing and showing incoming
// disclosure requests (never the subjects' identifiers in the table),
// approving with narrowed fields and signals, denying with a required
// reason, and the node's refusals with their exit codes.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "tests/unit/cli/fake_disclosure_node.h"

namespace schakel::cli {
namespace {

using ::schakel::cli::testing::FakeDisclosureNodeTest;
using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;
using ::schakel::cli::testing::WithDetail;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
namespace fs = std::filesystem;
namespace v1 = schakel::v1;

const std::string kDisclosure(16, '\x0c');
const std::string kDisclosureHex = "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c";

v1::Approval Pending() {
  v1::Approval a;
  a.set_disclosure_id(kDisclosure);
  a.set_exchange_id(std::string(16, '\x5f'));
  a.set_state(v1::APPROVAL_STATE_PENDING);
  a.mutable_requester()->set_org_id("riec");
  a.mutable_requester()->set_user_id("a.bakker");
  a.mutable_requester()->set_role(v1::ROLE_ANALYST);
  a.set_purpose_id("riec.ondermijning");
  a.mutable_lawful_basis()->set_reference("Wpg art. 20");
  a.set_case_id("2025-0042");
  a.mutable_ask()->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
  a.mutable_ask()->add_fields(v1::SIGNAL_FIELD_FREE_TEXT);
  a.mutable_ask()->set_reason("afstemming aanpak");
  a.add_fields_allowed(v1::SIGNAL_FIELD_CONTACT_NAME);
  a.mutable_received_at()->set_seconds(1740830400);  // 2025-03-01T12:00:00Z
  a.mutable_decide_by()->set_seconds(1740916800);    // 2025-03-02T12:00:00Z
  return a;
}

v1::Signal OwnSignal(const std::string& id) {
  v1::Signal signal;
  signal.set_signal_id(id);
  signal.set_category("overlast");
  signal.set_domain(v1::DOMAIN_CARE);
  signal.mutable_subject()->set_bsn("111222333");
  signal.mutable_subject()->set_surname("Verhoeven");
  signal.mutable_subject()->set_birth_date("1990-02-01");
  signal.set_owner_user_id("p.devries");
  signal.mutable_registered_at()->set_seconds(1735689600);  // 2025-01-01
  signal.mutable_expires_at()->set_seconds(1798761600);     // 2027-01-01
  return signal;
}

v1::Approval Decided(v1::Approval a, v1::ApprovalState state, v1::DisclosureDecision decision,
                     const std::string& reason, bool delivered) {
  a.set_state(state);
  a.set_decision(decision);
  a.set_decided_by_user_id("j.jansen");
  a.set_decision_reason(reason);
  a.mutable_decided_at()->set_seconds(1740834000);  // 2025-03-01T13:00:00Z
  a.set_delivered_to_gateway(delivered);
  return a;
}

class ApprovalsCommandTest : public FakeDisclosureNodeTest {
 protected:
  ApprovalsCommandTest() : FakeDisclosureNodeTest("approvals", "approver") {}
};

TEST_F(ApprovalsCommandTest, ListTabulatesAndFiltersByState) {
  v1::ListApprovalsRequest seen;
  node_.approvals.list = [&seen](const v1::ListApprovalsRequest& request,
                                 v1::ListApprovalsResponse* response) {
    seen = request;
    *response->add_approvals() = Pending();
    *response->add_approvals() = Decided(Pending(), v1::APPROVAL_STATE_APPROVED,
                                         v1::DISCLOSURE_DECISION_APPROVED_BY_MANDATE, "", true);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"list", "--state", "pending", "--state", "Approved"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(seen.states(), ElementsAre(v1::APPROVAL_STATE_PENDING, v1::APPROVAL_STATE_APPROVED));
  EXPECT_THAT(r.out, HasSubstr(StrCat(kDisclosureHex, "  pending   riec/a.bakker (analyst)  "
                                      "riec.ondermijning  2025-0042  contact_name,free_text  "
                                      "2025-03-01T12:00:00Z  2025-03-02T12:00:00Z\n")));
  EXPECT_THAT(r.out, HasSubstr("approved  riec/a.bakker (analyst)"));
  EXPECT_EQ(node_.calls()[0].role, "approver");

  node_.approvals.list = [](const v1::ListApprovalsRequest&, v1::ListApprovalsResponse*) {
    return grpc::Status::OK;
  };
  const Outcome none = Run({"list"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "no disclosure requests match\n");

  const Outcome bad = Run({"list", "--state", "waiting"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(bad.err, HasSubstr("--state: not one of: pending, approved, denied, expired"));
}

TEST_F(ApprovalsCommandTest, ShowListsTheSignalsWithoutIdentifiers) {
  node_.approvals.get = [](const v1::GetApprovalRequest& request,
                           v1::GetApprovalResponse* response) {
    if (request.disclosure_id() != kDisclosure) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such disclosure request");
    }
    *response->mutable_approval() = Pending();
    *response->mutable_approval()->add_signals() = OwnSignal("z-1");
    *response->mutable_approval()->add_signals() = OwnSignal("z-7");
    return grpc::Status::OK;
  };
  const Outcome r = Run({"show", kDisclosureHex});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("requester:        riec/a.bakker (analyst)\n"));
  EXPECT_THAT(r.out, HasSubstr("lawful basis:     Wpg art. 20\n"));
  EXPECT_THAT(r.out, HasSubstr("fields asked:     contact_name, free_text\n"));
  EXPECT_THAT(r.out, HasSubstr("fields allowed:   contact_name\n"));
  EXPECT_THAT(r.out, HasSubstr("signal_id  category  domain  owner      registered  expires\n"
                               "z-1        overlast  care    p.devries  2025-01-01  2027-01-01\n"
                               "z-7 "));
  EXPECT_THAT(r.out, HasSubstr(StrCat("'schakel approvals deny ", kDisclosureHex)));
  for (const char* identifier : {"111222333", "Verhoeven", "1990-02-01"}) {
    EXPECT_THAT(r.out, Not(HasSubstr(identifier)));
  }

  const Outcome unknown = Run({"show", "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d"});
  EXPECT_EQ(unknown.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(unknown.err, HasSubstr("cannot show the disclosure request: no such disclosure "
                                     "request"));
  const Outcome bad = Run({"show", "zaak-12"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(bad.err, HasSubstr("ID: not a disclosure id (32 hex digits)"));
}

TEST_F(ApprovalsCommandTest, ApproveNarrowedToFewerFieldsAndSignals) {
  v1::ApproveRequest seen;
  node_.approvals.approve = [&seen](const v1::ApproveRequest& request,
                                    v1::ApproveResponse* response) {
    seen = request;
    *response->mutable_approval() =
        Decided(Pending(), v1::APPROVAL_STATE_APPROVED,
                v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER, request.reason(), true);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"approve", kDisclosureHex, "--fields", "contact_name", "--signals",
                         "z-1,z-7", "--reason", "binnen mandaat"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.disclosure_id(), kDisclosure);
  EXPECT_THAT(seen.fields(), ElementsAre(v1::SIGNAL_FIELD_CONTACT_NAME));
  EXPECT_THAT(seen.signal_ids(), ElementsAre("z-1", "z-7"));
  EXPECT_EQ(seen.reason(), "binnen mandaat");
  EXPECT_THAT(r.out, HasSubstr(StrCat("approved: ", kDisclosureHex, "\n")));
  EXPECT_THAT(r.out, HasSubstr("the decision was sent to the gateway"));
  EXPECT_THAT(r.out, HasSubstr("decision:         approved_by_approver\n"));
  EXPECT_THAT(r.out, HasSubstr("decided by:       j.jansen\n"));

  // Without flags everything allowed; the gateway unreachable: kept.
  node_.approvals.approve = [&seen](const v1::ApproveRequest& request,
                                    v1::ApproveResponse* response) {
    seen = request;
    *response->mutable_approval() =
        Decided(Pending(), v1::APPROVAL_STATE_APPROVED,
                v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER, "", false);
    return grpc::Status::OK;
  };
  const Outcome all = Run({"approve", kDisclosureHex});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(seen.fields(), IsEmpty());
  EXPECT_THAT(seen.signal_ids(), IsEmpty());
  EXPECT_THAT(all.out, HasSubstr("your node is sending the decision to the gateway; it keeps it "
                                 "and sends it when the gateway is back"));

  const Outcome json = Run({"approve", kDisclosureHex, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  v1::Approval parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok()) << json.out;
  EXPECT_EQ(parsed.state(), v1::APPROVAL_STATE_APPROVED);
}

TEST_F(ApprovalsCommandTest, ApproveRefusalsFromTheNode) {
  node_.approvals.approve = [](const v1::ApproveRequest& request, v1::ApproveResponse*) {
    if (request.fields_size() > 0) {
      v1::ErrorDetail detail;
      v1::FieldProblem* p = detail.add_problems();
      p->set_field("fields[0]");
      p->set_problem("not among the fields allowed");
      p->set_allowed("contact_name");
      return WithDetail(grpc::StatusCode::INVALID_ARGUMENT, "a field not in the request",
                        detail);
    }
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "the request is not pending: it expired");
  };
  const Outcome field = Run({"approve", kDisclosureHex, "--fields", "free_text"});
  EXPECT_EQ(field.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(field.err, HasSubstr("fields[0]: not among the fields allowed (allowed: "
                                   "contact_name)"));
  const Outcome expired = Run({"approve", kDisclosureHex});
  EXPECT_EQ(expired.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(expired.err, HasSubstr("cannot approve the disclosure: the request is not "
                                     "pending: it expired"));
  const Outcome bad = Run({"approve", kDisclosureHex, "--fields", "bsn"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kUsageError));
}

TEST_F(ApprovalsCommandTest, DenyNeedsAReasonAndSendsIt) {
  const Outcome missing = Run({"deny", kDisclosureHex});
  EXPECT_EQ(missing.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(missing.err, HasSubstr("--reason is required"));
  const Outcome blank = Run({"deny", kDisclosureHex, "--reason", " "});
  EXPECT_EQ(blank.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(blank.err, HasSubstr("--reason is empty"));
  const Outcome long_reason = Run({"deny", kDisclosureHex, "--reason", std::string(2001, 'x')});
  EXPECT_EQ(long_reason.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(long_reason.err, HasSubstr("--reason is longer than 2000 characters"));
  EXPECT_THAT(node_.calls(), IsEmpty());

  v1::DenyRequest seen;
  node_.approvals.deny = [&seen](const v1::DenyRequest& request, v1::DenyResponse* response) {
    seen = request;
    *response->mutable_approval() =
        Decided(Pending(), v1::APPROVAL_STATE_DENIED, v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER,
                request.reason(), true);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"deny", kDisclosureHex, "--reason", "geen betrokkenheid"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.disclosure_id(), kDisclosure);
  EXPECT_EQ(seen.reason(), "geen betrokkenheid");
  EXPECT_THAT(r.out, HasSubstr(StrCat("denied: ", kDisclosureHex, "\n")));
  EXPECT_THAT(r.out, HasSubstr("decision reason:  geen betrokkenheid\n"));
}

TEST_F(ApprovalsCommandTest, NotAnApproverIsRefusedWithTheRoleNeeded) {
  node_.approvals.deny = [](const v1::DenyRequest&, v1::DenyResponse*) {
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_ROLE_NOT_ALLOWED);
    return WithDetail(grpc::StatusCode::PERMISSION_DENIED, "user a.bakker does not hold approver",
                      detail);
  };
  const Outcome r = Run({"deny", kDisclosureHex, "--reason", "nee"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_THAT(r.err, HasSubstr("not allowed to deny the disclosure: user a.bakker does not hold "
                               "approver (reason: role_not_allowed); this needs the role "
                               "approver"));
}

TEST(ApprovalsHelpTest, EveryCommandHasAnExample) {
  for (const char* command : {"list", "show", "approve", "deny"}) {
    const Outcome r = RunCli({"approvals", command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_THAT(r.out, HasSubstr(StrCat("schakel approvals ", command))) << command;
    EXPECT_THAT(r.out, HasSubstr("Exit codes:")) << command;
  }
}

}  // namespace
}  // namespace schakel::cli
