// `schakel disclose` and `schakel disclosures` against a fake node: the
// request built from flags or from a saved match, the content as a table per
// signal, waiting for a decision, the exit code per state, refusals from the
// gateway and the partner with their reasons, and bad input that sends
// nothing.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/proto_text.h"
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

const std::string kExchange(16, '\x5f');
const std::string kExchangeHex = "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f";
const std::string kDisclosure(16, '\x0a');
const std::string kDisclosureHex = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";

// A disclosure in `state` about subject 0 ("vader") at politie.
v1::OutgoingDisclosure Disclosure(v1::DisclosureState state) {
  v1::OutgoingDisclosure d;
  v1::DisclosureStatus& s = *d.mutable_status();
  s.set_disclosure_id(kDisclosure);
  s.set_exchange_id(kExchange);
  s.set_responder_org_id("politie");
  s.set_purpose_id("zvh.casusoverleg");
  s.set_case_id("2025-0042");
  s.add_subject_indices(0);
  s.mutable_ask()->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
  s.mutable_ask()->add_fields(v1::SIGNAL_FIELD_CONTACT_PHONE);
  s.mutable_ask()->set_reason("afstemming aanpak");
  s.set_state(state);
  s.mutable_requested_at()->set_seconds(1740830400);  // 2025-03-01T12:00:00Z
  s.mutable_decide_by()->set_seconds(1740916800);     // 2025-03-02T12:00:00Z
  d.add_subject_labels("vader");
  d.set_requested_by_user_id("a.bakker");
  return d;
}

v1::OutgoingDisclosure Delivered() {
  v1::OutgoingDisclosure d = Disclosure(v1::DISCLOSURE_STATE_DELIVERED);
  v1::DisclosureStatement& statement = *d.mutable_status()->mutable_sealed()->mutable_statement();
  statement.set_decision(v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER);
  statement.set_decided_by_user_id("j.jansen");
  statement.add_fields_disclosed(v1::SIGNAL_FIELD_CONTACT_NAME);
  statement.add_fields_disclosed(v1::SIGNAL_FIELD_CONTACT_PHONE);
  statement.set_signal_count(2);
  statement.set_payload_hash(std::string(32, '\x01'));
  v1::DisclosedContent& content = *d.mutable_content();
  content.set_exchange_id(kExchange);
  content.set_disclosure_id(kDisclosure);
  content.set_responder_org_id("politie");
  v1::DisclosedSignal* first = content.add_signals();
  first->set_subject_index(0);
  first->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
  first->add_fields(v1::SIGNAL_FIELD_CONTACT_PHONE);
  first->mutable_contact()->set_name("J. de Boer");
  first->mutable_contact()->set_phone("+31 6 12345678");
  v1::DisclosedSignal* second = content.add_signals();
  second->set_subject_index(0);
  second->add_fields(v1::SIGNAL_FIELD_CATEGORY);
  second->add_fields(v1::SIGNAL_FIELD_FREE_TEXT);
  second->set_category("overlast");
  second->set_free_text("eerste regel\ntweede regel");
  return d;
}

class DiscloseCommandTest : public FakeDisclosureNodeTest {
 protected:
  DiscloseCommandTest() : FakeDisclosureNodeTest("", "analyst") {}

  // Answers AskDisclosure with `answer`, keeping the request.
  void AnswerAsk(const v1::OutgoingDisclosure& answer) {
    node_.disclosures.ask = [this, answer](const v1::AskDisclosureRequest& request,
                                           v1::AskDisclosureResponse* response) {
      asked_ = request;
      *response->mutable_disclosure() = answer;
      return grpc::Status::OK;
    };
  }
  std::vector<std::string> Methods() const {
    std::vector<std::string> methods;
    for (const auto& call : node_.calls()) methods.push_back(call.method);
    return methods;
  }

  v1::AskDisclosureRequest asked_;
};

TEST_F(DiscloseCommandTest, AsksAndPrintsTheContentAsATablePerSignal) {
  AnswerAsk(Delivered());
  const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                         "--subject", "0,2", "--fields", "contact_name,Contact-Phone",
                         "--categories", "overlast", "--reason", "afstemming aanpak"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(asked_.exchange_id(), kExchange);
  EXPECT_EQ(asked_.responder_org_id(), "politie");
  EXPECT_THAT(asked_.subject_indices(), ElementsAre(0u, 2u));
  EXPECT_THAT(asked_.ask().fields(),
              ElementsAre(v1::SIGNAL_FIELD_CONTACT_NAME, v1::SIGNAL_FIELD_CONTACT_PHONE));
  EXPECT_THAT(asked_.ask().categories(), ElementsAre("overlast"));
  EXPECT_EQ(asked_.ask().reason(), "afstemming aanpak");
  EXPECT_EQ(node_.calls()[0].role, "analyst");

  EXPECT_THAT(r.out, HasSubstr(StrCat("disclosure:        ", kDisclosureHex, "\n")));
  EXPECT_THAT(r.out, HasSubstr("subjects:          #0 vader\n"));
  EXPECT_THAT(r.out, HasSubstr("state:             delivered\n"));
  EXPECT_THAT(r.out, HasSubstr("decision:          approved_by_approver\n"));
  EXPECT_THAT(r.out, HasSubstr("decided by:        j.jansen\n"));
  EXPECT_THAT(r.out, HasSubstr("signal 1 of 2, subject #0 vader:\n"
                               "field          value\n"
                               "contact_name   J. de Boer\n"
                               "contact_phone  +31 6 12345678\n"));
  EXPECT_THAT(r.out, HasSubstr("signal 2 of 2, subject #0 vader:\n"
                               "field      value\n"
                               "category   overlast\n"
                               "free_text  (below)\n"
                               "free_text:\n"
                               "  eerste regel\n"
                               "  tweede regel\n"));
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(DiscloseCommandTest, JsonIsTheWholeResponseAndNothingElse) {
  AnswerAsk(Delivered());
  const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                         "--subject", "0", "--fields", "contact_name", "--reason", "r", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::AskDisclosureResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_EQ(parsed.disclosure().content().signals_size(), 2);
  EXPECT_THAT(r.out, HasSubstr("\"responder_org_id\": \"politie\""));
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(DiscloseCommandTest, PendingWithoutWaitSaysHowToFollowIt) {
  AnswerAsk(Disclosure(v1::DISCLOSURE_STATE_PENDING_APPROVAL));
  const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                         "--subject", "0", "--fields", "contact_name", "--reason", "r"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("state:        pending_approval\n"));
  EXPECT_THAT(r.out, HasSubstr("decide by:    2025-03-02T12:00:00Z\n"));
  EXPECT_THAT(r.err, HasSubstr(StrCat("'schakel disclosures show ", kDisclosureHex, " --wait'")));
}

TEST_F(DiscloseCommandTest, WaitAsksAgainUntilDecided) {
  AnswerAsk(Disclosure(v1::DISCLOSURE_STATE_PENDING_APPROVAL));
  std::atomic<int> shows{0};
  std::string shown_id;
  node_.disclosures.show = [&](const v1::ShowDisclosureRequest& request,
                               v1::ShowDisclosureResponse* response) {
    shown_id = request.disclosure_id();
    *response->mutable_disclosure() =
        ++shows < 3 ? Disclosure(v1::DISCLOSURE_STATE_PENDING_APPROVAL) : Delivered();
    return grpc::Status::OK;
  };
  const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                         "--subject", "0", "--fields", "contact_name", "--reason", "r", "--wait",
                         "--poll-interval", "0.01"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(Methods(),
              ElementsAre("AskDisclosure", "ShowDisclosure", "ShowDisclosure", "ShowDisclosure"));
  EXPECT_EQ(shown_id, kDisclosure);
  EXPECT_THAT(r.err, HasSubstr("waiting for politie to decide"));
  EXPECT_THAT(r.out, HasSubstr("contact_name   J. de Boer\n"));
}

TEST_F(DiscloseCommandTest, StillPendingWhenTheWaitEndsExits4AndTheRequestStands) {
  AnswerAsk(Disclosure(v1::DISCLOSURE_STATE_PENDING_APPROVAL));
  node_.disclosures.show = [](const v1::ShowDisclosureRequest&,
                              v1::ShowDisclosureResponse* response) {
    *response->mutable_disclosure() = Disclosure(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                         "--subject", "0", "--fields", "contact_name", "--reason", "r", "--wait",
                         "--wait-for", "0.05", "--poll-interval", "0.01"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUnavailable));
  EXPECT_THAT(r.err, HasSubstr("no decision from politie after 0.05 s; the request stands until "
                               "2025-03-02T12:00:00Z"));
  EXPECT_THAT(r.err, HasSubstr("do not ask again"));
}

TEST_F(DiscloseCommandTest, DeniedByThePartnerShowsItsReasonAndExits6) {
  v1::OutgoingDisclosure denied = Disclosure(v1::DISCLOSURE_STATE_DENIED);
  denied.mutable_status()->set_reason(v1::DENIAL_REASON_APPROVER_DENIED);
  denied.mutable_status()->set_detail("geen betrokkenheid bij deze casus");
  v1::DisclosureStatement& statement =
      *denied.mutable_status()->mutable_sealed()->mutable_statement();
  statement.set_decision(v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER);
  statement.set_decided_by_user_id("j.jansen");
  statement.set_reason("geen betrokkenheid bij deze casus");
  AnswerAsk(denied);
  const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                         "--subject", "0", "--fields", "contact_name", "--reason", "r"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_THAT(r.err, HasSubstr("schakel: error: politie denied the disclosure: geen betrokkenheid "
                               "bij deze casus (reason: approver_denied)\n"));
  EXPECT_THAT(r.out, HasSubstr("decision:        denied_by_approver\n"));
  EXPECT_THAT(r.out, HasSubstr("decision reason: geen betrokkenheid bij deze casus\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("signal 1")));
}

TEST_F(DiscloseCommandTest, ExitCodePerState) {
  struct Case {
    v1::DisclosureState state;
    ExitCode code;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {v1::DISCLOSURE_STATE_EXPIRED, ExitCode::kRefused, "nobody at politie decided"},
           {v1::DISCLOSURE_STATE_UNAVAILABLE, ExitCode::kUnavailable,
            "politie could not be reached"},
           {v1::DISCLOSURE_STATE_REFUSED, ExitCode::kRefused, "the gateway refused"}}) {
    AnswerAsk(Disclosure(c.state));
    const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                           "--subject", "0", "--fields", "contact_name", "--reason", "r"});
    EXPECT_EQ(r.exit_code, ToInt(c.code)) << EnumName(c.state);
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
}

TEST_F(DiscloseCommandTest, PayloadThatFailsVerificationIsNotShownAndExits5) {
  v1::OutgoingDisclosure bad = Disclosure(v1::DISCLOSURE_STATE_DELIVERED);
  bad.set_verification_problem("node signature does not verify");
  AnswerAsk(bad);
  const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                         "--subject", "0", "--fields", "contact_name", "--reason", "r"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kVerificationFailed));
  EXPECT_THAT(r.err, HasSubstr("failed verification at your node (node signature does not "
                               "verify); it is not shown"));
  EXPECT_THAT(r.out, Not(HasSubstr("signal 1")));
}

TEST_F(DiscloseCommandTest, RefusalsOfTheCallNameTheReason) {
  struct Case {
    grpc::StatusCode code;
    v1::DenialReason reason;
    std::string message;
    ExitCode exit;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {grpc::StatusCode::PERMISSION_DENIED, v1::DENIAL_REASON_FIELD_NOT_ALLOWED,
            "the purpose does not let politie disclose free_text to you", ExitCode::kRefused,
            "not allowed to ask for the disclosure: the purpose does not let politie disclose "
            "free_text to you (reason: field_not_allowed)"},
           {grpc::StatusCode::NOT_FOUND, v1::DENIAL_REASON_EXCHANGE_NOT_OPEN,
            "no such exchange run by this node", ExitCode::kConflict,
            "cannot ask for the disclosure: no such exchange run by this node (reason: "
            "exchange_not_open)"},
           {grpc::StatusCode::FAILED_PRECONDITION, v1::DENIAL_REASON_NOT_A_HIT,
            "subject 0 was not a hit at politie", ExitCode::kConflict,
            "(reason: not_a_hit)"}}) {
    node_.disclosures.ask = [&c](const v1::AskDisclosureRequest&, v1::AskDisclosureResponse*) {
      v1::ErrorDetail detail;
      detail.set_reason(c.reason);
      return WithDetail(c.code, c.message, detail);
    };
    const Outcome r = Run({"disclose", "--exchange", kExchangeHex, "--partner", "politie",
                           "--subject", "0", "--fields", "free_text", "--reason", "r"});
    EXPECT_EQ(r.exit_code, ToInt(c.exit)) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.expected));
  }
}

TEST_F(DiscloseCommandTest, BadInputSendsNothing) {
  const std::vector<std::string> ok = {"--partner", "politie", "--fields", "contact_name"};
  auto with = [&ok](std::vector<std::string> extra) {
    std::vector<std::string> args = {"disclose"};
    args.insert(args.end(), ok.begin(), ok.end());
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  struct Case {
    std::vector<std::string> args;
    ExitCode code;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {with({"--exchange", kExchangeHex, "--subject", "0"}), ExitCode::kUsageError,
            "--reason is required"},
           {with({"--exchange", kExchangeHex, "--subject", "0", "--reason", "  "}),
            ExitCode::kUsageError, "--reason is empty"},
           {with({"--exchange", "5f5f", "--subject", "0", "--reason", "r"}),
            ExitCode::kUsageError, "--exchange: not an exchange id (32 hex digits)"},
           {with({"--subject", "0", "--reason", "r"}), ExitCode::kUsageError,
            "name the exchange with --exchange ID or --match FILE"},
           {with({"--exchange", kExchangeHex, "--reason", "r"}), ExitCode::kUsageError,
            "name the subjects with --subject N"},
           {with({"--exchange", kExchangeHex, "--family", "fam-1", "--reason", "r"}),
            ExitCode::kUsageError, "--family needs --match FILE"},
           {with({"--exchange", kExchangeHex, "--subject", "0", "--reason", "r", "--fields",
                  "bsn"}),
            ExitCode::kUsageError, "--fields: not one of: category, domain"},
           {with({"--exchange", kExchangeHex, "--subject", "een", "--reason", "r"}),
            ExitCode::kUsageError, "--subject"},
           {with({"--match", (fs::path(dir_.path()) / "missing.json").string(), "--subject", "0",
                  "--reason", "r"}),
            ExitCode::kInvalidInput, "as the output of 'schakel match --json'"}}) {
    const Outcome r = Run(c.args);
    EXPECT_EQ(r.exit_code, ToInt(c.code)) << c.message << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
  }
  EXPECT_THAT(node_.calls(), IsEmpty());
}

class DiscloseFromMatchTest : public DiscloseCommandTest {
 protected:
  // A saved match: fam-1 = vader (0, hit at zorg), kind (1, no hit),
  // moeder (2, hit at zorg); los (3) without a family.
  fs::path WriteMatch() {
    v1::MatchResponse match;
    match.set_exchange_id(kExchange);
    const std::vector<std::pair<std::string, std::string>> subjects = {
        {"vader", "fam-1"}, {"kind", "fam-1"}, {"moeder", "fam-1"}, {"los", ""}};
    for (size_t i = 0; i < subjects.size(); ++i) {
      v1::LocalSubject* local = match.add_subjects();
      local->set_subject_index(static_cast<uint32_t>(i));
      local->set_label(subjects[i].first);
      local->set_family_id(subjects[i].second);
      v1::SubjectMatch* result = match.mutable_result()->add_subjects();
      result->set_subject_index(static_cast<uint32_t>(i));
      v1::PartnerMatch* zorg = result->add_partners();
      zorg->set_org_id("zorg");
      zorg->set_hit(i == 0 || i == 2);
      v1::PartnerMatch* politie = result->add_partners();
      politie->set_org_id("politie");
      politie->set_hit(i == 1);
    }
    const fs::path path = fs::path(dir_.path()) / "match.json";
    schakel::testing::WriteFile(path, ToJson(match, /*pretty=*/true));
    return path;
  }
};

TEST_F(DiscloseFromMatchTest, FamilyAsksAboutTheMembersThatHitAtThePartner) {
  AnswerAsk(Delivered());
  const fs::path match = WriteMatch();
  const Outcome r = Run({"disclose", "--match", match.string(), "--partner", "zorg", "--family",
                         "fam-1", "--fields", "category", "--reason", "gezamenlijk plan"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(asked_.exchange_id(), kExchange);
  EXPECT_THAT(asked_.subject_indices(), ElementsAre(0u, 2u));
}

TEST_F(DiscloseFromMatchTest, SubjectsThatDidNotHitAreRefusedBeforeSending) {
  const fs::path match = WriteMatch();
  const Outcome r = Run({"disclose", "--match", match.string(), "--partner", "zorg", "--subject",
                         "0,1,7", "--fields", "category", "--reason", "r"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.err, HasSubstr("--subject: subject 1 was not a hit at zorg; subject 7 is not in "
                               "that match"));
  // Labels are the caller's and may be names: never in an error.
  EXPECT_THAT(r.err, Not(HasSubstr("kind")));

  const Outcome family = Run({"disclose", "--match", match.string(), "--partner", "woco",
                              "--family", "fam-1", "--fields", "category", "--reason", "r"});
  EXPECT_EQ(family.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(family.err, HasSubstr("no member of that family was a hit at woco"));
  const Outcome unknown = Run({"disclose", "--match", match.string(), "--partner", "zorg",
                               "--family", "fam-9", "--fields", "category", "--reason", "r"});
  EXPECT_EQ(unknown.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(unknown.err, HasSubstr("has no family with that id"));
  EXPECT_THAT(node_.calls(), IsEmpty());
}

// --- disclosures list / show ---------------------------------------------

TEST_F(DiscloseCommandTest, ListFiltersPagesAndTabulates) {
  std::vector<v1::ListDisclosuresRequest> seen;
  node_.disclosures.list = [&seen](const v1::ListDisclosuresRequest& request,
                                   v1::ListDisclosuresResponse* response) {
    seen.push_back(request);
    if (request.page_token().empty()) {
      v1::OutgoingDisclosure pending = Disclosure(v1::DISCLOSURE_STATE_PENDING_APPROVAL);
      *response->add_disclosures() = pending;
      response->set_next_page_token("p2");
    } else {
      v1::OutgoingDisclosure denied = Disclosure(v1::DISCLOSURE_STATE_DENIED);
      denied.mutable_status()->set_reason(v1::DENIAL_REASON_NODE_POLICY);
      *response->add_disclosures() = denied;
    }
    return grpc::Status::OK;
  };
  const Outcome r = Run({"disclosures", "list", "--state", "pending_approval", "--state",
                         "denied", "--exchange", kExchangeHex});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_THAT(seen[0].states(),
              ElementsAre(v1::DISCLOSURE_STATE_PENDING_APPROVAL, v1::DISCLOSURE_STATE_DENIED));
  EXPECT_EQ(seen[0].exchange_id(), kExchange);
  EXPECT_EQ(seen[1].page_token(), "p2");
  EXPECT_THAT(r.out, HasSubstr("disclosure                        partner  purpose"));
  EXPECT_THAT(r.out, HasSubstr("pending_approval  2025-03-01T12:00:00Z  decide by "
                               "2025-03-02T12:00:00Z\n"));
  EXPECT_THAT(r.out, HasSubstr("denied            2025-03-01T12:00:00Z  node_policy\n"));

  const Outcome limited = Run({"disclosures", "list", "--limit", "1", "--json"});
  ASSERT_EQ(limited.exit_code, 0) << limited.err;
  EXPECT_EQ(std::count(limited.out.begin(), limited.out.end(), '\n'), 1);

  const Outcome bad = Run({"disclosures", "list", "--state", "half"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(bad.err, HasSubstr("--state: not one of: pending_approval, delivered"));
}

TEST_F(DiscloseCommandTest, ShowPrintsTheContentAndExitsByState) {
  node_.disclosures.show = [](const v1::ShowDisclosureRequest& request,
                              v1::ShowDisclosureResponse* response) {
    if (request.disclosure_id() != kDisclosure) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such disclosure");
    }
    *response->mutable_disclosure() = Delivered();
    return grpc::Status::OK;
  };
  const Outcome r = Run({"disclosures", "show", kDisclosureHex});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("contact_phone  +31 6 12345678\n"));

  const Outcome unknown = Run({"disclosures", "show", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"});
  EXPECT_EQ(unknown.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(unknown.err, HasSubstr("cannot show the disclosure: no such disclosure"));

  const Outcome bad = Run({"disclosures", "show", "xyz"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(bad.err, HasSubstr("ID: not a disclosure id (32 hex digits)"));
}

TEST(DiscloseHelpTest, EveryCommandHasAnExample) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"disclose", "--help"},
                                             {"disclosures", "list", "--help"},
                                             {"disclosures", "show", "--help"}}) {
    const Outcome r = RunCli(args);
    EXPECT_EQ(r.exit_code, 0) << args[0];
    EXPECT_THAT(r.out, HasSubstr("schakel disclos")) << args[0];
    EXPECT_THAT(r.out, HasSubstr("Exit codes:")) << args[0];
  }
}

}  // namespace
}  // namespace schakel::cli
