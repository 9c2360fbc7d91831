// The commands that talk to the node, run in-process against a fake node
// over TLS: what each sends (request fields, the bearer credential, the
// role), what it prints, and its exit code for every kind of failure. The
// secret and identifiers never appear in an error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "tests/unit/cli/fake_node.h"

namespace schakel::cli {
namespace {

using ::schakel::cli::testing::FakeNode;
using ::schakel::cli::testing::kSecret;
using ::schakel::cli::testing::kUserId;
using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;
using ::schakel::cli::testing::TestEnvironment;
using ::schakel::cli::testing::WithDetail;
using ::schakel::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
namespace fs = std::filesystem;
namespace v1 = schakel::v1;

// Whatever happens, the secret is never shown (FakeNodeTest::Run).
class NodeCommandTest : public ::schakel::cli::testing::FakeNodeTest {
 protected:
  std::string Bearer() const { return StrCat("Bearer ", kUserId, ".", kSecret); }
};

v1::Signal StoredSignal() {
  v1::Signal signal;
  signal.set_signal_id("z-1");
  signal.set_category("overlast");
  signal.set_domain(v1::DOMAIN_CARE);
  signal.mutable_subject()->set_bsn("111222333");
  signal.mutable_subject()->set_surname("de Vries");
  signal.set_version(3);
  signal.set_owner_user_id(kUserId);
  signal.add_key_types(v1::MATCH_KEY_TYPE_BSN);
  signal.add_tagged_purpose_ids("riec.ondermijning");
  signal.mutable_expires_at()->set_seconds(1782777600);
  return signal;
}

// --- connection, credential, role ---------------------------------------

TEST_F(NodeCommandTest, WhoAmISendsTheBearerCredentialAndTheRole) {
  node_.users.whoami = [](const v1::WhoAmIRequest&, v1::WhoAmIResponse* response) {
    response->mutable_user()->set_user_id(kUserId);
    response->mutable_user()->set_display_name("A. Bakker");
    response->mutable_user()->add_roles(v1::ROLE_ANALYST);
    response->mutable_user()->add_roles(v1::ROLE_AUDITOR);
    response->set_acting_role(v1::ROLE_ANALYST);
    response->set_org_id("riec");
    return grpc::Status::OK;
  };
  const Outcome plain = Run({"whoami"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.out, HasSubstr("user:         a.bakker\n"));
  EXPECT_THAT(plain.out, HasSubstr("roles:        analyst, auditor\n"));
  EXPECT_THAT(plain.out, HasSubstr("acting as:    analyst\n"));
  EXPECT_THAT(plain.out, HasSubstr("organisation: riec\n"));
  const Outcome as_auditor = Run({"whoami", "--role", "Auditor"});
  ASSERT_EQ(as_auditor.exit_code, 0) << as_auditor.err;

  const auto calls = node_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].method, "WhoAmI");
  EXPECT_EQ(calls[0].authorization, Bearer());
  EXPECT_EQ(calls[0].role, "");
  EXPECT_EQ(calls[1].role, "auditor");
}

TEST_F(NodeCommandTest, RoleFromTheConfigAndTheFlagOverridesIt) {
  config_ = node_.WriteClientConfig(dir_.path(), "director");
  node_.users.whoami = [](const v1::WhoAmIRequest&, v1::WhoAmIResponse*) {
    return grpc::Status::OK;
  };
  ASSERT_EQ(Run({"whoami"}).exit_code, 0);
  ASSERT_EQ(Run({"whoami", "--role", "analyst"}).exit_code, 0);
  const auto calls = node_.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].role, "director");
  EXPECT_EQ(calls[1].role, "analyst");
}

TEST_F(NodeCommandTest, ConfigFromTheEnvironment) {
  node_.users.whoami = [](const v1::WhoAmIRequest&, v1::WhoAmIResponse*) {
    return grpc::Status::OK;
  };
  const Outcome r =
      RunCli({"whoami"}, TestEnvironment({{"SCHAKEL_CONFIG", config_.string()}}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const Outcome missing = RunCli({"whoami"}, TestEnvironment({{"HOME", dir_.path()}}));
  EXPECT_EQ(missing.exit_code, ToInt(ExitCode::kConfigError));
  EXPECT_THAT(missing.err, HasSubstr(".config/schakel/cli.json does not exist"));
  EXPECT_THAT(missing.err, HasSubstr("hint: write the client config"));
}

TEST_F(NodeCommandTest, UnauthenticatedNamesTheCredentialFileNotTheSecret) {
  node_.users.whoami = [](const v1::WhoAmIRequest&, v1::WhoAmIResponse*) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong credential");
  };
  const Outcome r = Run({"whoami"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_THAT(r.err, StartsWith(StrCat("schakel: error: the node refused the credential in ",
                                       (fs::path(dir_.path()) / "me.cred").string(),
                                       " (user a.bakker)\n")));
  EXPECT_THAT(r.err, HasSubstr("hint: "));
}

TEST_F(NodeCommandTest, PermissionDeniedNamesTheRoleNeeded) {
  node_.signals.get = [](const v1::GetSignalRequest&, v1::GetSignalResponse*) {
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_ROLE_NOT_ALLOWED);
    return WithDetail(grpc::StatusCode::PERMISSION_DENIED, "role analyst may not read signals",
                      detail);
  };
  const Outcome r = Run({"signals", "get", "z-1", "--role", "analyst"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_THAT(r.err, HasSubstr("not allowed to get the signal: role analyst may not read "
                               "signals (reason: role_not_allowed); this needs the role "
                               "professional or admin"));
  EXPECT_THAT(r.err, HasSubstr("you acted as analyst"));
}

TEST_F(NodeCommandTest, UnreachableNodeSaysWhereAndWhatToCheck) {
  const fs::path config = fs::path(dir_.path()) / "down.json";
  schakel::testing::WriteFile(
      config, StrCat("{\"endpoint\": \"127.0.0.1:1\", \"ca\": \"",
                     testing::CliPki::Get().Ca().string(), "\", \"credential_file\": \"me.cred\"}"));
  const Outcome r = RunCli({"whoami", "--config", config.string(), "--timeout", "5"},
                           TestEnvironment({}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUnavailable));
  EXPECT_THAT(r.err, StartsWith("schakel: error: cannot reach the node at 127.0.0.1:1: "));
  EXPECT_THAT(r.err, HasSubstr("is schakel-node running?"));
  EXPECT_THAT(r.err, HasSubstr(StrCat("\"endpoint\" in ", config.string())));
}

TEST_F(NodeCommandTest, WrongCaIsATlsFailureToReachTheNode) {
  node_.users.whoami = [](const v1::WhoAmIRequest&, v1::WhoAmIResponse*) {
    return grpc::Status::OK;
  };
  const Outcome r = Run({"whoami", "--ca", testing::CliPki::Get().OtherCa().string(),
                         "--timeout", "5"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUnavailable));
  EXPECT_THAT(r.err, HasSubstr("cannot reach the node at"));
  EXPECT_THAT(r.err, HasSubstr("--ca"));
  EXPECT_THAT(node_.calls(), IsEmpty());
}

TEST_F(NodeCommandTest, NodeUnavailableWhileReachable) {
  node_.signals.get = [](const v1::GetSignalRequest&, v1::GetSignalResponse*) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "store cannot be written");
  };
  const Outcome r = Run({"signals", "get", "z-1"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUnavailable));
  EXPECT_THAT(r.err, HasSubstr("the node could not get the signal now: store cannot be written"));
}

TEST_F(NodeCommandTest, CredentialFileMustBeMode0600) {
  ::chmod((fs::path(dir_.path()) / "me.cred").c_str(), 0640);
  const Outcome r = Run({"whoami"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kConfigError));
  EXPECT_THAT(r.err, HasSubstr("credential file"));
  EXPECT_THAT(r.err, HasSubstr("chmod 600"));
  EXPECT_THAT(node_.calls(), IsEmpty());
}

TEST_F(NodeCommandTest, MissingCaFileIsAConfigError) {
  const Outcome r = Run({"whoami", "--ca", (fs::path(dir_.path()) / "none.pem").string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kConfigError));
  EXPECT_THAT(r.err, HasSubstr("CA file"));
  EXPECT_THAT(r.err, HasSubstr("(or --ca) to the CA certificate"));
}

// --- signals ------------------------------------------------------------

TEST_F(NodeCommandTest, SignalsAddSendsTheFieldsAndPrintsNoIdentifiers) {
  v1::AddSignalRequest seen;
  node_.signals.add = [&seen](const v1::AddSignalRequest& request,
                              v1::AddSignalResponse* response) {
    seen = request;
    *response->mutable_signal() = StoredSignal();
    return grpc::Status::OK;
  };
  const Outcome r = Run({"signals", "add", "--category", "overlast", "--bsn", "12345672",
                         "--given-names", "Jan", "--surname", "de Vries", "--birth-date",
                         "01-02-1990", "--postcode", "1234AB", "--house-number", "12 bis",
                         "--relation", "child", "--family-id", "fam-1", "--domain", "care",
                         "--contact-name", "J. de Boer", "--expires-at", "2026-06-30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const v1::Signal& s = seen.signal();
  EXPECT_EQ(s.subject().bsn(), "12345672");  // the node pads it
  EXPECT_EQ(s.subject().birth_date(), "01-02-1990");
  EXPECT_EQ(s.subject().address().house_number(), 12u);
  EXPECT_EQ(s.subject().address().house_number_suffix(), "bis");
  EXPECT_EQ(s.subject().relation(), v1::RELATION_CHILD);
  EXPECT_EQ(s.domain(), v1::DOMAIN_CARE);
  EXPECT_EQ(s.contact().name(), "J. de Boer");
  EXPECT_EQ(s.expires_at().seconds(), 1782777600);
  EXPECT_THAT(r.out, HasSubstr("signal:     z-1 (added)\n"));
  EXPECT_THAT(r.out, HasSubstr("key types:  bsn\n"));
  EXPECT_THAT(r.out, HasSubstr("tagged for: riec.ondermijning\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("111222333")));
  EXPECT_THAT(r.out, Not(HasSubstr("Vries")));
  EXPECT_EQ(node_.calls()[0].authorization, Bearer());

  const Outcome json = Run({"signals", "add", "--category", "overlast", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out).at("signal_id"), "z-1");
}

TEST_F(NodeCommandTest, SignalsAddFromJsonFileWithFlagsOverriding) {
  v1::AddSignalRequest seen;
  node_.signals.add = [&seen](const v1::AddSignalRequest& request,
                              v1::AddSignalResponse* response) {
    seen = request;
    *response->mutable_signal() = StoredSignal();
    return grpc::Status::OK;
  };
  const fs::path file = fs::path(dir_.path()) / "signal.json";
  schakel::testing::WriteFile(file, R"({"bsn": "111222333", "category": "a", "free_text": "x"})");
  const Outcome r = Run({"signals", "add", "--json-file", file.string(), "--category", "b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.signal().subject().bsn(), "111222333");
  EXPECT_EQ(seen.signal().category(), "b");
  EXPECT_EQ(seen.signal().free_text(), "x");
}

TEST_F(NodeCommandTest, SignalsAddProblemsLocalAndFromTheNode) {
  const Outcome none = Run({"signals", "add"});
  EXPECT_EQ(none.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(none.err, HasSubstr("no signal fields given"));

  const Outcome bad = Run({"signals", "add", "--relation", "neef", "--expires-at", "morgen"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(bad.err, HasSubstr("--relation: not a relation"));
  EXPECT_THAT(bad.err, HasSubstr("--expires-at: not a date"));
  EXPECT_THAT(bad.err, Not(HasSubstr("neef")));
  EXPECT_THAT(node_.calls(), IsEmpty());

  node_.signals.add = [](const v1::AddSignalRequest&, v1::AddSignalResponse*) {
    v1::ErrorDetail detail;
    auto* p = detail.add_problems();
    p->set_field("signal.subject.bsn");
    p->set_problem("fails the elfproef");
    p->set_allowed("9 digits passing the 11-check");
    auto* q = detail.add_problems();
    q->set_field("signal.category");
    q->set_problem("unknown category");
    return WithDetail(grpc::StatusCode::INVALID_ARGUMENT, "2 problems", detail);
  };
  const Outcome refused = Run({"signals", "add", "--bsn", "123456789", "--category", "x"});
  EXPECT_EQ(refused.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(refused.err,
              HasSubstr("the node refused to add the signal: 2 problems\n"
                        "  signal.subject.bsn: fails the elfproef (allowed: 9 digits passing the "
                        "11-check)\n"
                        "  signal.category: unknown category\n"));
  EXPECT_THAT(refused.err, Not(HasSubstr("123456789")));
}

TEST_F(NodeCommandTest, SignalsGetPrintsEveryFieldOrNotFound) {
  node_.signals.get = [](const v1::GetSignalRequest& request, v1::GetSignalResponse* response) {
    if (request.signal_id() != "z-1") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no signal with this id");
    }
    *response->mutable_signal() = StoredSignal();
    return grpc::Status::OK;
  };
  const Outcome r = Run({"signals", "get", "z-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("signal_id:     z-1\n"));
  EXPECT_THAT(r.out, HasSubstr("bsn:           111222333\n"));
  EXPECT_THAT(r.out, HasSubstr("expires_at:    2026-06-30T00:00:00Z\n"));
  EXPECT_THAT(r.out, HasSubstr("version:       3\n"));

  const Outcome missing = Run({"signals", "get", "z-2"});
  EXPECT_EQ(missing.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(missing.err, HasSubstr("cannot get the signal: no signal with this id"));
}

TEST_F(NodeCommandTest, SignalsListStreamsFiltersAndPrintsNoIdentifiers) {
  v1::ListSignalsRequest seen;
  node_.signals.list = [&seen](const v1::ListSignalsRequest& request,
                               grpc::ServerWriter<v1::ListSignalsResponse>* writer) {
    seen = request;
    for (int batch = 0; batch < 2; ++batch) {
      v1::ListSignalsResponse response;
      for (int i = 0; i < 3; ++i) {
        v1::Signal signal = StoredSignal();
        signal.set_signal_id(StrCat("z-", batch, i));
        *response.add_signals() = signal;
      }
      writer->Write(response);
    }
    return grpc::Status::OK;
  };
  const Outcome r = Run({"signals", "list", "--category", "overlast", "--category", "x",
                         "--domain", "care", "--registered-from", "2025-01-01",
                         "--expires-before", "2027-01-01", "--bsn", "111222333", "--limit", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.categories_size(), 2);
  EXPECT_EQ(seen.domains(0), v1::DOMAIN_CARE);
  EXPECT_EQ(seen.registered().from().seconds(), 1735689600);
  EXPECT_FALSE(seen.registered().has_to());
  EXPECT_EQ(seen.subject().bsn(), "111222333");
  EXPECT_EQ(seen.limit(), 10u);
  EXPECT_THAT(r.out, StartsWith("signal_id  category  domain  registered  expires     owner"));
  EXPECT_THAT(r.out, HasSubstr("z-12       overlast  care    -           2026-06-30  a.bakker"));
  EXPECT_THAT(r.out, HasSubstr("\n6 signals\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("111222333")));

  const Outcome json = Run({"signals", "list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  std::istringstream lines(json.out);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    EXPECT_EQ(nlohmann::json::parse(line).at("category"), "overlast");
    ++count;
  }
  EXPECT_EQ(count, 6);

  node_.signals.list = [](const v1::ListSignalsRequest&,
                          grpc::ServerWriter<v1::ListSignalsResponse>*) {
    return grpc::Status::OK;
  };
  EXPECT_EQ(Run({"signals", "list"}).out, "no signals match\n");
}

TEST_F(NodeCommandTest, SignalsUpdateChangesOnlyTheGivenFieldsAtTheVersionRead) {
  node_.signals.get = [](const v1::GetSignalRequest&, v1::GetSignalResponse* response) {
    v1::Signal signal = StoredSignal();
    signal.mutable_contact()->set_name("J. de Boer");
    signal.mutable_contact()->set_phone("+31 6 1");
    signal.mutable_subject()->set_family_id("fam-1");
    *response->mutable_signal() = signal;
    return grpc::Status::OK;
  };
  v1::UpdateSignalRequest seen;
  node_.signals.update = [&seen](const v1::UpdateSignalRequest& request,
                                 v1::UpdateSignalResponse* response) {
    seen = request;
    *response->mutable_signal() = request.signal();
    response->mutable_signal()->set_version(4);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"signals", "update", "z-1", "--contact-email", "j@example.nl",
                         "--family-id", "", "--expires-at", "2027-01-01", "--reason",
                         "verlenging"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(seen.update_mask().paths(),
              ::testing::ElementsAre("subject.family_id", "expires_at", "contact"));
  EXPECT_EQ(seen.expected_version(), 3u);
  EXPECT_EQ(seen.reason(), "verlenging");
  EXPECT_EQ(seen.signal().signal_id(), "z-1");
  // The contact is replaced as a whole: the fields not given are kept.
  EXPECT_EQ(seen.signal().contact().name(), "J. de Boer");
  EXPECT_EQ(seen.signal().contact().email(), "j@example.nl");
  EXPECT_TRUE(seen.signal().subject().family_id().empty());
  EXPECT_THAT(r.out, HasSubstr("(changed: subject.family_id, expires_at, contact)"));
  EXPECT_THAT(r.out, HasSubstr("version:    4\n"));

  const Outcome pinned =
      Run({"signals", "update", "z-1", "--category", "x", "--expected-version", "2"});
  ASSERT_EQ(pinned.exit_code, 0) << pinned.err;
  EXPECT_EQ(seen.expected_version(), 2u);

  node_.signals.update = [](const v1::UpdateSignalRequest&, v1::UpdateSignalResponse*) {
    return grpc::Status(grpc::StatusCode::ABORTED, "version is 5, not 3");
  };
  const Outcome raced = Run({"signals", "update", "z-1", "--category", "x"});
  EXPECT_EQ(raced.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(raced.err, HasSubstr("changed by someone else meanwhile"));

  const Outcome nothing = Run({"signals", "update", "z-1"});
  EXPECT_EQ(nothing.exit_code, ToInt(ExitCode::kUsageError));
}

TEST_F(NodeCommandTest, SignalsDelete) {
  v1::DeleteSignalRequest seen;
  node_.signals.del = [&seen](const v1::DeleteSignalRequest& request,
                              v1::DeleteSignalResponse* response) {
    seen = request;
    response->mutable_deleted_at()->set_seconds(1740000000);
    response->set_tags_withdrawn(4);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"signals", "delete", "z-1", "--reason", "erasure request"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.signal_id(), "z-1");
  EXPECT_EQ(seen.reason(), "erasure request");
  EXPECT_THAT(r.out, HasSubstr("tags withdrawn: 4\n"));

  const Outcome no_reason = Run({"signals", "delete", "z-1"});
  EXPECT_EQ(no_reason.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(no_reason.err, HasSubstr("--reason"));
  const Outcome blank = Run({"signals", "delete", "z-1", "--reason", " "});
  EXPECT_EQ(blank.exit_code, ToInt(ExitCode::kUsageError));
}

// --- cases --------------------------------------------------------------

v1::Case OpenCase() {
  v1::Case c;
  c.set_case_id("2025-0042");
  c.set_purpose_id("zvh.casusoverleg");
  c.set_title("Wijk Noord");
  c.set_goal("Samenhangende aanpak");
  c.add_selection_grounds("signalen bij twee partners");
  c.set_state(v1::CASE_STATE_OPEN);
  c.set_director_org_id("gemeente");
  c.set_director_user_id("r.jansen");
  c.mutable_ends_at()->set_seconds(1767225600);
  return c;
}

TEST_F(NodeCommandTest, CasesOpenSendsEverythingWithARequestId) {
  v1::OpenCaseRequest seen;
  node_.cases.open = [&seen](const v1::OpenCaseRequest& request, v1::OpenCaseResponse* response) {
    seen = request;
    *response->mutable_case_info() = OpenCase();
    return grpc::Status::OK;
  };
  const Outcome r = Run({"cases", "open", "--purpose", "zvh.casusoverleg", "--title",
                         "Wijk Noord", "--goal", "Samenhangende aanpak", "--ground", "g1",
                         "--ground", "g2", "--ends", "2025-12-31", "--partner", "politie,zorg",
                         "--partner", "woco", "--reference", "ZVH-2025-117", "--role",
                         "director"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.request_id().size(), 16u);
  EXPECT_EQ(seen.purpose_id(), "zvh.casusoverleg");
  EXPECT_THAT(seen.selection_grounds(), ::testing::ElementsAre("g1", "g2"));
  EXPECT_THAT(seen.partner_org_ids(), ::testing::ElementsAre("politie", "zorg", "woco"));
  EXPECT_EQ(seen.ends_at().seconds(), 1767225600);  // 2026-01-01T00:00:00Z
  EXPECT_EQ(seen.external_reference(), "ZVH-2025-117");
  EXPECT_FALSE(seen.has_actor());  // the node sets it
  EXPECT_THAT(r.out, StartsWith("case opened: 2025-0042\n"));
  EXPECT_THAT(r.out, HasSubstr("ground 1: signalen bij twee partners\n"));
  EXPECT_EQ(node_.calls()[0].role, "director");

  const Outcome bad_date = Run({"cases", "open", "--purpose", "p", "--title", "t", "--goal",
                                "g", "--ground", "x", "--ends", "31-12-2025"});
  EXPECT_EQ(bad_date.exit_code, ToInt(ExitCode::kInvalidInput));
  const Outcome missing = Run({"cases", "open", "--purpose", "p", "--title", "t"});
  EXPECT_EQ(missing.exit_code, ToInt(ExitCode::kUsageError));
}

TEST_F(NodeCommandTest, CasesListFollowsPagesAndShowsAndCloses) {
  std::vector<v1::ListCasesRequest> seen;
  node_.cases.list = [&seen](const v1::ListCasesRequest& request,
                             v1::ListCasesResponse* response) {
    seen.push_back(request);
    v1::Case c = OpenCase();
    if (request.page_token().empty()) {
      *response->add_cases() = c;
      response->set_next_page_token("p2");
    } else {
      c.set_case_id("2025-0041");
      c.set_state(v1::CASE_STATE_CLOSED);
      *response->add_cases() = c;
    }
    return grpc::Status::OK;
  };
  const Outcome r = Run({"cases", "list", "--purpose", "zvh.casusoverleg", "--state", "open",
                         "--state", "closed"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].states_size(), 2);
  EXPECT_EQ(seen[1].page_token(), "p2");
  EXPECT_THAT(r.out, HasSubstr("2025-0042  zvh.casusoverleg  open"));
  EXPECT_THAT(r.out, HasSubstr("2025-0041  zvh.casusoverleg  closed"));
  EXPECT_EQ(Run({"cases", "list", "--state", "half-open"}).exit_code,
            ToInt(ExitCode::kUsageError));

  node_.cases.get = [](const v1::GetCaseRequest&, v1::GetCaseResponse* response) {
    *response->mutable_case_info() = OpenCase();
    return grpc::Status::OK;
  };
  const Outcome show = Run({"cases", "show", "2025-0042"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("director: gemeente/r.jansen\n"));

  node_.cases.close = [](const v1::CloseCaseRequest& request, v1::CloseCaseResponse*) {
    return request.reason() == "doel bereikt"
               ? grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "the case is closed")
               : grpc::Status::OK;
  };
  const Outcome closed = Run({"cases", "close", "2025-0041", "--reason", "doel bereikt"});
  EXPECT_EQ(closed.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(closed.err, HasSubstr("cannot close the case: the case is closed"));
}

// --- log and audit ------------------------------------------------------

TEST_F(NodeCommandTest, LogFiltersAndTable) {
  v1::ListLocalLogRequest seen;
  node_.log.list = [&seen](const v1::ListLocalLogRequest& request,
                           grpc::ServerWriter<v1::ListLocalLogResponse>* writer) {
    seen = request;
    v1::ListLocalLogResponse response;
    v1::LocalLogEntry* entry = response.add_entries();
    entry->set_sequence(17);
    v1::LocalLogRecord& record = *entry->mutable_record();
    record.set_kind(v1::LOCAL_EVENT_KIND_MATCH_RUN);
    record.mutable_recorded_at()->set_seconds(1740000000);
    record.set_user_id(kUserId);
    record.set_role(v1::ROLE_ANALYST);
    record.set_purpose_id("riec.ondermijning");
    record.set_outcome(v1::OUTCOME_PARTIAL);
    record.set_subject_count(3);
    record.set_hit_count(2);
    record.add_denial_reasons(v1::DENIAL_REASON_QUOTA_EXCEEDED);
    writer->Write(response);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"log", "--since", "2025-02-01", "--until", "2025-03-01T00:00:00Z",
                         "--kind", "match_run", "--kind", "login-failed", "--limit", "5",
                         "--role", "auditor"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.time().from().seconds(), 1738368000);
  EXPECT_EQ(seen.time().to().seconds(), 1740787200);
  ASSERT_EQ(seen.kinds_size(), 2);
  EXPECT_EQ(seen.kinds(1), v1::LOCAL_EVENT_KIND_LOGIN_FAILED);
  EXPECT_EQ(seen.limit(), 5u);
  EXPECT_THAT(r.out, HasSubstr("17   2025-02-19T21:20:00Z  match_run  a.bakker  analyst  partial"
                               "  riec.ondermijning  -     3 subjects, 2 hits  quota_exceeded"));

  const Outcome bad = Run({"log", "--kind", "coffee_break"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(bad.err, HasSubstr("--kind: not one of: signal_added"));
}

void WriteVerify(grpc::ServerWriter<v1::VerifyChainResponse>* writer, bool intact) {
  v1::VerifyChainResponse progress;
  progress.mutable_progress()->set_entries_checked(600);
  progress.mutable_progress()->set_entries_total(1204);
  writer->Write(progress);
  v1::VerifyChainResponse done;
  v1::VerifyResult& result = *done.mutable_result();
  result.set_intact(intact);
  result.set_entries_checked(intact ? 1204 : 41);
  result.set_checkpoints_checked(intact ? 12 : 0);
  if (!intact) {
    result.set_first_bad_sequence(42);
    result.set_problem(v1::CHAIN_PROBLEM_RECORD_HASH_MISMATCH);
    result.set_detail("record_hash of entry 42 does not match its record");
  }
  writer->Write(done);
}

TEST_F(NodeCommandTest, AuditVerifyIntact) {
  v1::VerifyChainRequest seen;
  node_.audit.verify = [&seen](const v1::VerifyChainRequest& request,
                               grpc::ServerWriter<v1::VerifyChainResponse>* writer) {
    seen = request;
    WriteVerify(writer, true);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"audit", "verify", "--from", "1", "--progress"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "chain intact: 1,204 entries, 12 checkpoints\n");
  EXPECT_THAT(r.err, HasSubstr("progress: 49% 600 of 1,204 entries verified\n"));
  EXPECT_EQ(seen.from_sequence(), 1u);
}

TEST_F(NodeCommandTest, AuditVerifyNamesTheFirstBadEntry) {
  node_.audit.verify = [](const v1::VerifyChainRequest&,
                          grpc::ServerWriter<v1::VerifyChainResponse>* writer) {
    WriteVerify(writer, false);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"audit", "verify"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kVerificationFailed));
  EXPECT_THAT(r.out, StartsWith("entry 42: record hash does not match its record (record_hash "
                                "of entry 42 does not match its record)\n"));
  EXPECT_THAT(r.err, HasSubstr("schakel: error: the exchange log's chain is broken at entry 42"));
  // Without --progress and without a terminal: no progress output.
  EXPECT_THAT(r.err, Not(HasSubstr("progress")));

  const Outcome json = Run({"audit", "verify", "--json"});
  EXPECT_EQ(json.exit_code, ToInt(ExitCode::kVerificationFailed));
  EXPECT_EQ(nlohmann::json::parse(json.out).at("first_bad_sequence"), "42");

  node_.audit.verify = [](const v1::VerifyChainRequest&,
                          grpc::ServerWriter<v1::VerifyChainResponse>*) {
    return grpc::Status::OK;
  };
  EXPECT_EQ(Run({"audit", "verify"}).exit_code, ToInt(ExitCode::kInternalError));
}

TEST_F(NodeCommandTest, AuditVerifyProgressBarOnATerminal) {
  node_.audit.verify = [](const v1::VerifyChainRequest&,
                          grpc::ServerWriter<v1::VerifyChainResponse>* writer) {
    WriteVerify(writer, true);
    return grpc::Status::OK;
  };
  const Outcome r = RunCli({"audit", "verify", "--config", config_.string()},
                           TestEnvironment({}, /*err_is_terminal=*/true));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("\r[##############................]  49%  600 of 1,204"));
  EXPECT_EQ(r.out, "chain intact: 1,204 entries, 12 checkpoints\n");
}

// --- users --------------------------------------------------------------

TEST_F(NodeCommandTest, UsersCreateWritesTheCredentialOnlyToANewFile) {
  constexpr char kNewSecret[] = "TmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ";
  v1::CreateUserRequest seen;
  node_.users.create = [&seen, kNewSecret](const v1::CreateUserRequest& request,
                                           v1::CreateUserResponse* response) {
    seen = request;
    response->mutable_user()->set_user_id(request.user_id());
    for (int role : request.roles()) response->mutable_user()->add_roles(static_cast<v1::Role>(role));
    response->set_credential(StrCat(request.user_id(), ".", kNewSecret));
    return grpc::Status::OK;
  };
  const fs::path out = fs::path(dir_.path()) / "b.cred";
  const Outcome r = Run({"users", "create", "b.smit", "--role", "analyst", "--role", "auditor",
                         "--name", "B. Smit", "--credential-out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(seen.user_id(), "b.smit");
  EXPECT_EQ(seen.display_name(), "B. Smit");
  ASSERT_EQ(seen.roles_size(), 2);
  EXPECT_EQ(seen.roles(1), v1::ROLE_AUDITOR);
  EXPECT_EQ(testing::ReadText(out), StrCat("b.smit.", kNewSecret, "\n"));
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(r.out, HasSubstr("roles:      analyst, auditor\n"));
  EXPECT_THAT(r.out, HasSubstr(StrCat("written to ", out.string(), " (mode 0600)")));
  EXPECT_THAT(r.out, Not(HasSubstr(kNewSecret)));

  // An existing file is never overwritten, and the node is not asked.
  const size_t calls = node_.calls().size();
  const Outcome again = Run({"users", "create", "c.de.wit", "--role", "analyst",
                             "--credential-out", out.string()});
  EXPECT_EQ(again.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  EXPECT_EQ(node_.calls().size(), calls);

  // Refused by the node: no file is left behind.
  node_.users.create = [](const v1::CreateUserRequest&, v1::CreateUserResponse*) {
    return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "user id taken");
  };
  const fs::path other = fs::path(dir_.path()) / "c.cred";
  const Outcome taken = Run({"users", "create", "b.smit", "--role", "analyst",
                             "--credential-out", other.string()});
  EXPECT_EQ(taken.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_FALSE(fs::exists(other));

  EXPECT_EQ(Run({"users", "create", "x", "--role", "boss", "--credential-out", "f"}).exit_code,
            ToInt(ExitCode::kUsageError));
  EXPECT_EQ(Run({"users", "create", "x", "--role", "analyst"}).exit_code,
            ToInt(ExitCode::kUsageError));
}

TEST_F(NodeCommandTest, UsersListAndRotate) {
  node_.users.list = [](const v1::ListUsersRequest& request, v1::ListUsersResponse* response) {
    v1::User* user = response->add_users();
    user->set_user_id(request.include_disabled() ? "old" : kUserId);
    user->add_roles(v1::ROLE_ADMIN);
    user->set_disabled(request.include_disabled());
    return grpc::Status::OK;
  };
  const Outcome list = Run({"users", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("a.bakker  -     admin  active"));
  const Outcome all = Run({"users", "list", "--include-disabled"});
  EXPECT_THAT(all.out, HasSubstr("old   -     admin  disabled"));

  node_.users.rotate = [](const v1::RotateCredentialRequest& request,
                          v1::RotateCredentialResponse* response) {
    response->set_credential(StrCat(request.user_id().empty() ? kUserId : request.user_id(),
                                    ".bmV3LW5ldy1uZXc"));
    return grpc::Status::OK;
  };
  const fs::path out = fs::path(dir_.path()) / "rotated.cred";
  const Outcome rotate = Run({"users", "rotate-credential", "--credential-out", out.string()});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.err;
  EXPECT_EQ(testing::ReadText(out), "a.bakker.bmV3LW5ldy1uZXc\n");
  EXPECT_THAT(rotate.out, Not(HasSubstr("bmV3LW5ldy1uZXc")));
}

// --- help ---------------------------------------------------------------

TEST(CommandHelpTest, EveryCommandHasAnExampleAndTheExitCodes) {
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"signals", "add"},
           {"signals", "get"},
           {"signals", "list"},
           {"signals", "update"},
           {"signals", "delete"},
           {"signals", "import"},
           {"cases", "open"},
           {"cases", "close"},
           {"cases", "list"},
           {"cases", "show"},
           {"match"},
           {"log"},
           {"audit", "verify"},
           {"users", "create"},
           {"users", "list"},
           {"users", "rotate-credential"},
           {"whoami"},
           {"keys", "derive"},
           {"keys", "generate"}}) {
    std::vector<std::string> args = command;
    args.push_back("--help");
    const Outcome r = RunCli(args);
    const std::string name = StrCat(command[0], command.size() > 1 ? " " + command[1] : "");
    EXPECT_EQ(r.exit_code, 0) << name;
    EXPECT_THAT(r.out, HasSubstr("Example")) << name;
    EXPECT_THAT(r.out, HasSubstr(StrCat("schakel ", name))) << name;
    EXPECT_THAT(r.out, HasSubstr("8 client configuration problem")) << name;
    if (command[0] != "keys") {
      EXPECT_THAT(r.out, HasSubstr("--config")) << name;
    }
  }
  const Outcome top = RunCli({"--help"});
  for (const char* text : {"signals", "cases", "match", "log", "audit", "users", "whoami",
                           "cli.json", "--json", "5 verification failed"}) {
    EXPECT_THAT(top.out, HasSubstr(text));
  }
}

}  // namespace
}  // namespace schakel::cli
