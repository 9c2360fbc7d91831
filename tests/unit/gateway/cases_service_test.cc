#include "gateway/cases_service.h"

#include <gmock/gmock.h>
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include "gateway/authoriser.h"
#include "gateway/receipts.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "tests/unit/gateway/case_audit_test_support.h"

namespace schakel::gateway {
namespace {

using testing::Actor;
using testing::AllEntries;
using ::testing::Contains;
using testing::DetailOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::LastEntry;
using testing::ProblemFields;
using testing::TestStart;

constexpr char kPurpose[] = "riec-ondermijning";

class CasesServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = ExchangeLog::Open(&faulty_).value();
    cases_ = CaseStore::Open(&faulty_).value();
    directory_ = testing::TestDirectory();
    policy_ = testing::TestPolicy();
    receipts_ = std::make_unique<ReceiptIssuer>(crypto::SigningKey::FromSeed(seed_),
                                                [this] { return now_; });
    service_ = std::make_unique<CasesService>(
        cases_.get(), log_.get(), [this] { return directory_; }, [this] { return policy_; },
        [this] { return now_; }, receipts_.get());
  }

  v1::OpenCaseRequest OpenRequest(std::string request_id = std::string(16, 'r')) {
    v1::OpenCaseRequest r;
    *r.mutable_actor() = Actor(v1::ROLE_DIRECTOR, "regisseur1");
    r.set_request_id(std::move(request_id));
    r.set_purpose_id(kPurpose);
    r.set_title("Familienetwerk wijk Noord");
    r.set_goal("Zicht krijgen op ondermijning door het netwerk en interventies afstemmen.");
    r.add_selection_grounds("Meerdere partners melden signalen over hetzelfde netwerk.");
    SetMillis(r.mutable_ends_at(), absl::ToUnixMillis(now_ + absl::Hours(24 * 90)));
    r.add_partner_org_ids("politie-zwb");
    r.set_external_reference("RIEC-2026-017");
    return r;
  }
  v1::Case OpenOne(std::string request_id = std::string(16, 'r')) {
    auto opened = service_->Open("riec-zwb", OpenRequest(std::move(request_id)));
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? opened->case_info() : v1::Case();
  }
  // The last log entry is a refusal of `kind` with `reason`, and `status`
  // carries its receipt.
  void ExpectLoggedRefusal(const absl::Status& status, v1::RecordKind kind,
                           v1::DenialReason reason) {
    const v1::LogEntry e = LastEntry(*log_);
    EXPECT_EQ(e.record().kind(), kind);
    EXPECT_EQ(e.record().outcome(), v1::OUTCOME_REFUSED);
    EXPECT_THAT(e.record().denial_reasons(), ElementsAre(reason));
    EXPECT_EQ(e.record().policy_version(), policy_->version());
    EXPECT_FALSE(e.record().detail().empty());
    EXPECT_EQ(DetailOf(status).reason(), reason);
    EXPECT_EQ(DetailOf(status).receipt().payload().sequence(), e.sequence());
    EXPECT_TRUE(VerifyReceipt(DetailOf(status).receipt(), receipts_->verify_key()).ok());
  }
  size_t StoredCases() {
    return faulty_.Scan("case/c/", store::PrefixEnd("case/c/"), 0).value().size();
  }

  std::array<uint8_t, 32> seed_{3};
  absl::Time now_ = TestStart();
  store::MemoryStore store_;
  store::FaultyStore faulty_{&store_};
  std::unique_ptr<ExchangeLog> log_;
  std::unique_ptr<CaseStore> cases_;
  std::shared_ptr<const Directory> directory_;
  std::shared_ptr<const Policy> policy_;
  std::unique_ptr<ReceiptIssuer> receipts_;
  std::unique_ptr<CasesService> service_;
};

TEST_F(CasesServiceTest, OpenCaseStoresLogsAndReceipts) {
  auto response = service_->Open("riec-zwb", OpenRequest()).value();
  const v1::Case& c = response.case_info();
  EXPECT_EQ(c.case_id(), "2026-0001");
  EXPECT_EQ(c.state(), v1::CASE_STATE_OPEN);
  EXPECT_EQ(c.director_org_id(), "riec-zwb");
  EXPECT_EQ(c.director_user_id(), "regisseur1");
  EXPECT_THAT(c.partner_org_ids(), ElementsAre("politie-zwb"));
  EXPECT_EQ(c.external_reference(), "RIEC-2026-017");

  const auto entries = AllEntries(*log_);
  ASSERT_EQ(entries.size(), 1u);
  const v1::LogRecord& r = entries[0].record();
  EXPECT_EQ(r.kind(), v1::RECORD_KIND_CASE_OPENED);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(r.policy_version(), policy_->version());
  EXPECT_EQ(r.purpose_id(), kPurpose);
  EXPECT_EQ(r.lawful_basis().reference(), "Wpg art. 20");
  EXPECT_EQ(r.lawful_basis().text(), "Verstrekking aan een samenwerkingsverband.");
  EXPECT_EQ(r.case_id(), "2026-0001");
  EXPECT_EQ(r.requester().org_id(), "riec-zwb");
  EXPECT_EQ(r.requester().user_id(), "regisseur1");
  EXPECT_EQ(r.requester().role(), v1::ROLE_DIRECTOR);
  EXPECT_EQ(r.case_info().SerializeAsString(), c.SerializeAsString());

  ASSERT_EQ(response.receipts_size(), 1);
  const v1::Receipt& receipt = response.receipts(0);
  EXPECT_EQ(receipt.payload().sequence(), 1u);
  EXPECT_EQ(receipt.payload().entry_hash(), entries[0].entry_hash());
  EXPECT_EQ(receipt.payload().recipient_org_id(), "riec-zwb");
  EXPECT_TRUE(VerifyReceipt(receipt, receipts_->verify_key()).ok());

  EXPECT_EQ(cases_->Get("2026-0001", now_)->title(), "Familienetwerk wijk Noord");
}

TEST_F(CasesServiceTest, CaseAndLogEntryAreOneWrite) {
  faulty_.FailNextWrites(1);
  auto refused = service_->Open("riec-zwb", OpenRequest());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StoredCases(), 0u);
  EXPECT_TRUE(AllEntries(*log_).empty());
  EXPECT_FALSE(log_->healthy());  // fails closed until reopened

  log_ = ExchangeLog::Open(&faulty_).value();
  service_ = std::make_unique<CasesService>(
      cases_.get(), log_.get(), [this] { return directory_; }, [this] { return policy_; },
      [this] { return now_; }, receipts_.get());
  EXPECT_EQ(OpenOne().case_id(), "2026-0001");
  EXPECT_EQ(AllEntries(*log_).size(), 1u);
}

TEST_F(CasesServiceTest, OpenCaseIsIdempotentByRequestId) {
  auto first = service_->Open("riec-zwb", OpenRequest()).value();
  auto again = service_->Open("riec-zwb", OpenRequest()).value();
  EXPECT_EQ(again.case_info().case_id(), first.case_info().case_id());
  ASSERT_EQ(again.receipts_size(), 1);
  EXPECT_EQ(again.receipts(0).payload().sequence(), first.receipts(0).payload().sequence());
  EXPECT_EQ(again.receipts(0).payload().entry_hash(), first.receipts(0).payload().entry_hash());
  EXPECT_EQ(AllEntries(*log_).size(), 1u);
  EXPECT_EQ(StoredCases(), 1u);

  v1::OpenCaseRequest changed = OpenRequest();
  changed.set_title("Iets anders");
  auto refused = service_->Open("riec-zwb", changed);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("request_id"));
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_OPENED,
                      v1::DENIAL_REASON_MALFORMED_REQUEST);
  EXPECT_EQ(StoredCases(), 1u);

  // A new request id opens a second case.
  EXPECT_EQ(OpenOne(std::string(16, 's')).case_id(), "2026-0002");
}

TEST_F(CasesServiceTest, OpenCaseRefusalsAreLoggedWithTheirReason) {
  struct Case {
    const char* name;
    std::string org;
    std::function<void(v1::OpenCaseRequest&)> change;
    absl::StatusCode code;
    v1::DenialReason reason;
  };
  const std::vector<Case> cases = {
      {"analyst", "riec-zwb", [](auto& r) { r.mutable_actor()->set_role(v1::ROLE_ANALYST); },
       absl::StatusCode::kPermissionDenied, v1::DENIAL_REASON_ROLE_NOT_ALLOWED},
      {"not a director org", "politie-zwb", [](auto&) {}, absl::StatusCode::kPermissionDenied,
       v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED},
      {"unknown purpose", "riec-zwb", [](auto& r) { r.set_purpose_id("bestaat-niet"); },
       absl::StatusCode::kNotFound, v1::DENIAL_REASON_PURPOSE_UNKNOWN},
      {"ended purpose", "riec-zwb", [](auto& r) { r.set_purpose_id("oud-doel"); },
       absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_PURPOSE_NOT_IN_FORCE},
      {"no case directors", "ggz-breburg", [](auto& r) { r.set_purpose_id("vrij-doel"); },
       absl::StatusCode::kFailedPrecondition, v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::OpenCaseRequest request = OpenRequest();
    c.change(request);
    auto refused = service_->Open(c.org, request);
    EXPECT_EQ(refused.status().code(), c.code) << refused.status();
    ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_OPENED, c.reason);
    const v1::LogRecord r = LastEntry(*log_).record();
    EXPECT_EQ(r.requester().org_id(), c.org);
    EXPECT_EQ(r.purpose_id(), request.purpose_id());
    EXPECT_EQ(r.case_info().title(), request.title());  // as fully as a grant
  }
  EXPECT_EQ(LastEntry(*log_).record().lawful_basis().reference(), "Jeugdwet art. 7.1.4.1");
  EXPECT_EQ(StoredCases(), 0u);
  EXPECT_EQ(AllEntries(*log_).size(), cases.size());
}

TEST_F(CasesServiceTest, EveryBadFieldIsNamed) {
  struct Case {
    const char* field;
    std::function<void(v1::OpenCaseRequest&)> change;
    v1::DenialReason reason = v1::DENIAL_REASON_MALFORMED_REQUEST;
  };
  const std::vector<Case> cases = {
      {"purpose_id", [](auto& r) { r.clear_purpose_id(); }},
      {"request_id", [](auto& r) { r.set_request_id("short"); }},
      {"title", [](auto& r) { r.clear_title(); }},
      {"title", [](auto& r) { r.set_title(std::string(201, 'a')); }},
      {"goal", [](auto& r) { r.clear_goal(); }},
      {"goal", [](auto& r) { r.set_goal(std::string(10'001, 'a')); }},
      {"selection_grounds", [](auto& r) { r.clear_selection_grounds(); }},
      {"selection_grounds[1]", [](auto& r) { r.add_selection_grounds(""); }},
      {"selection_grounds[0]", [](auto& r) { r.set_selection_grounds(0, std::string(2001, 'g')); }},
      {"ends_at", [](auto& r) { r.clear_ends_at(); }},
      {"ends_at",
       [](auto& r) { r.mutable_ends_at()->set_seconds(r.ends_at().seconds() - 91 * 86400); }},
      {"ends_at", [](auto& r) { r.mutable_ends_at()->set_seconds(1893452400 + 86400); }},  // 2030
      {"ends_at", [](auto& r) { r.mutable_ends_at()->set_nanos(1); }},
      {"partner_org_ids[1]", [](auto& r) { r.add_partner_org_ids("ggz-breburg"); },
       v1::DENIAL_REASON_PARTNER_NOT_PERMITTED},
      {"partner_org_ids[1]", [](auto& r) { r.add_partner_org_ids("onbekend-org"); },
       v1::DENIAL_REASON_PARTNER_NOT_PERMITTED},
      {"partner_org_ids[1]", [](auto& r) { r.add_partner_org_ids("politie-zwb"); }},
      {"external_reference", [](auto& r) { r.set_external_reference(std::string(65, 'x')); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(StrCat(c.field, " ", &c - cases.data()));
    v1::OpenCaseRequest request = OpenRequest();
    c.change(request);
    auto refused = service_->Open("riec-zwb", request);
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
    EXPECT_THAT(ProblemFields(refused.status()), ElementsAre(c.field));
    EXPECT_THAT(refused.status().message(), HasSubstr(c.field));
    ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_OPENED, c.reason);
  }
  EXPECT_EQ(StoredCases(), 0u);

  // Several problems at once: all named.
  v1::OpenCaseRequest request = OpenRequest();
  request.clear_title();
  request.clear_goal();
  request.clear_selection_grounds();
  auto refused = service_->Open("riec-zwb", request);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("title", "goal", "selection_grounds"));
  EXPECT_THAT(refused.status().message(), HasSubstr("2 more problems"));
}

TEST_F(CasesServiceTest, UpdateCaseChangesAndLogs) {
  const v1::Case c = OpenOne();
  v1::UpdateCaseRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_DIRECTOR, "regisseur2");
  request.set_case_id(c.case_id());
  request.mutable_case_info()->set_title("Netwerk wijk Noord en Oost");
  request.mutable_case_info()->add_selection_grounds("Nieuwe signalen in Oost.");
  request.mutable_update_mask()->add_paths("title");
  request.mutable_update_mask()->add_paths("selection_grounds");
  request.set_reason("Uitbreiding naar wijk Oost na casusoverleg.");
  auto response = service_->Update("riec-zwb", request).value();
  EXPECT_EQ(response.case_info().title(), "Netwerk wijk Noord en Oost");
  EXPECT_THAT(response.case_info().selection_grounds(), ElementsAre("Nieuwe signalen in Oost."));
  EXPECT_EQ(response.case_info().goal(), c.goal());
  const v1::LogEntry e = LastEntry(*log_);
  EXPECT_EQ(e.record().kind(), v1::RECORD_KIND_CASE_UPDATED);
  EXPECT_EQ(e.record().outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(e.record().detail(),
            "changed selection_grounds, title: Uitbreiding naar wijk Oost na casusoverleg.");
  EXPECT_EQ(e.record().requester().user_id(), "regisseur2");
  EXPECT_EQ(e.record().case_info().title(), "Netwerk wijk Noord en Oost");
  ASSERT_EQ(response.receipts_size(), 1);
  EXPECT_EQ(response.receipts(0).payload().sequence(), e.sequence());

  // Refusals.
  auto bad_mask = request;
  bad_mask.mutable_update_mask()->add_paths("goal");
  auto refused = service_->Update("riec-zwb", bad_mask);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("update_mask.paths[2]"));
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_UPDATED,
                      v1::DENIAL_REASON_MALFORMED_REQUEST);

  auto empty = request;
  empty.clear_update_mask();
  empty.clear_reason();
  refused = service_->Update("riec-zwb", empty);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("update_mask.paths", "reason"));

  auto late = request;
  late.mutable_update_mask()->add_paths("ends_at");
  late.mutable_case_info()->mutable_ends_at()->set_seconds(1893452400 + 86400);
  refused = service_->Update("riec-zwb", late);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("case_info.ends_at"));

  // politie-zwb may see the case (it may ask) but did not open it.
  refused = service_->Update("politie-zwb", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_UPDATED,
                      v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);
  // ggz-breburg may not even see it.
  refused = service_->Update("ggz-breburg", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_UPDATED,
                      v1::DENIAL_REASON_CASE_NOT_FOUND);
  EXPECT_FALSE(LastEntry(*log_).record().has_case_info());

  auto analyst = request;
  analyst.mutable_actor()->set_role(v1::ROLE_ANALYST);
  refused = service_->Update("riec-zwb", analyst);
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_UPDATED,
                      v1::DENIAL_REASON_ROLE_NOT_ALLOWED);

  EXPECT_EQ(cases_->Get(c.case_id(), now_)->title(), "Netwerk wijk Noord en Oost");
}

TEST_F(CasesServiceTest, CloseCaseAndItsRefusals) {
  const v1::Case c = OpenOne();
  v1::CloseCaseRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_DIRECTOR);
  request.set_case_id(c.case_id());

  auto refused = service_->Close("riec-zwb", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("reason"));
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_CLOSED,
                      v1::DENIAL_REASON_MALFORMED_REQUEST);

  request.set_reason("Doelstelling bereikt.");
  refused = service_->Close("politie-zwb", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);

  auto response = service_->Close("riec-zwb", request).value();
  EXPECT_EQ(response.case_info().state(), v1::CASE_STATE_CLOSED);
  EXPECT_EQ(response.case_info().close_reason(), "Doelstelling bereikt.");
  const v1::LogEntry e = LastEntry(*log_);
  EXPECT_EQ(e.record().kind(), v1::RECORD_KIND_CASE_CLOSED);
  EXPECT_EQ(e.record().outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(e.record().case_info().state(), v1::CASE_STATE_CLOSED);
  EXPECT_EQ(response.receipts(0).payload().sequence(), e.sequence());

  refused = service_->Close("riec-zwb", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_CLOSED,
                      v1::DENIAL_REASON_CASE_NOT_OPEN);

  request.set_case_id("2026-0999");
  refused = service_->Close("riec-zwb", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound);
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_CLOSED,
                      v1::DENIAL_REASON_CASE_NOT_FOUND);
  EXPECT_EQ(LastEntry(*log_).record().case_id(), "2026-0999");
}

TEST_F(CasesServiceTest, AnExpiredCaseCannotBeClosedOrChanged) {
  const v1::Case c = OpenOne();
  now_ += absl::Hours(24 * 91);
  v1::GetCaseRequest get;
  get.set_case_id(c.case_id());
  EXPECT_EQ(service_->Get("riec-zwb", get)->case_info().state(), v1::CASE_STATE_EXPIRED);

  v1::CloseCaseRequest close;
  *close.mutable_actor() = Actor(v1::ROLE_DIRECTOR);
  close.set_case_id(c.case_id());
  close.set_reason("Te laat.");
  auto refused = service_->Close("riec-zwb", close);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("expired"));
  ExpectLoggedRefusal(refused.status(), v1::RECORD_KIND_CASE_CLOSED,
                      v1::DENIAL_REASON_CASE_NOT_OPEN);

  v1::UpdateCaseRequest update;
  *update.mutable_actor() = Actor(v1::ROLE_DIRECTOR);
  update.set_case_id(c.case_id());
  update.mutable_update_mask()->add_paths("title");
  update.mutable_case_info()->set_title("Nieuw");
  update.set_reason("Verlengen kan niet meer.");
  // The expiry is recorded once: stored and logged, no requester.
  EXPECT_EQ(service_->RecordExpiries().value(), 1u);
  const v1::LogEntry expiry = LastEntry(*log_);
  EXPECT_EQ(expiry.record().kind(), v1::RECORD_KIND_CASE_CLOSED);
  EXPECT_EQ(expiry.record().outcome(), v1::OUTCOME_EXPIRED);
  EXPECT_EQ(expiry.record().case_info().state(), v1::CASE_STATE_EXPIRED);
  EXPECT_EQ(expiry.record().requester().org_id(), "");
  EXPECT_EQ(expiry.record().lawful_basis().reference(), "Wpg art. 20");
  EXPECT_EQ(service_->RecordExpiries().value(), 0u);
  EXPECT_EQ(cases_->Get(c.case_id(), now_)->state(), v1::CASE_STATE_EXPIRED);

  auto update_refused = service_->Update("riec-zwb", update);
  EXPECT_EQ(update_refused.status().code(), absl::StatusCode::kFailedPrecondition);
  ExpectLoggedRefusal(update_refused.status(), v1::RECORD_KIND_CASE_UPDATED,
                      v1::DENIAL_REASON_CASE_NOT_OPEN);
}

TEST_F(CasesServiceTest, GetAndListFollowTheVisibilityRules) {
  const v1::Case first = OpenOne(std::string(16, 'a'));
  now_ += absl::Minutes(1);
  const v1::Case second = OpenOne(std::string(16, 'b'));
  v1::CloseCaseRequest close;
  *close.mutable_actor() = Actor(v1::ROLE_DIRECTOR);
  close.set_case_id(first.case_id());
  close.set_reason("Klaar.");
  ASSERT_TRUE(service_->Close("riec-zwb", close).ok());
  const size_t logged = AllEntries(*log_).size();

  struct Viewer {
    std::string org;
    v1::Role role;
    bool sees;
  };
  for (const Viewer& v : std::vector<Viewer>{
           {"riec-zwb", v1::ROLE_ANALYST, true},           // director org
           {"politie-zwb", v1::ROLE_ANALYST, true},        // may ask
           {"gemeente-tilburg", v1::ROLE_ANALYST, false},  // only answers
           {"gemeente-tilburg", v1::ROLE_AUDITOR, true},   // auditor, takes part
           {"ggz-breburg", v1::ROLE_AUDITOR, false},       // auditor, no part
           {"schakel-beheer", v1::ROLE_AUDITOR, true},     // supervisor
           {"schakel-beheer", v1::ROLE_ADMIN, false},
       }) {
    SCOPED_TRACE(StrCat(v.org, " ", v.role));
    v1::GetCaseRequest get;
    *get.mutable_actor() = Actor(v.role);
    get.set_case_id(second.case_id());
    auto got = service_->Get(v.org, get);
    v1::ListCasesRequest list;
    *list.mutable_actor() = Actor(v.role);
    auto listed = service_->List(v.org, list).value();
    if (v.sees) {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->case_info().case_id(), second.case_id());
      ASSERT_EQ(listed.cases_size(), 2);
      EXPECT_EQ(listed.cases(0).case_id(), second.case_id());  // newest first
      EXPECT_EQ(listed.cases(1).state(), v1::CASE_STATE_CLOSED);
    } else {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
      EXPECT_EQ(DetailOf(got.status()).reason(), v1::DENIAL_REASON_CASE_NOT_FOUND);
      EXPECT_THAT(listed.cases(), IsEmpty());
    }
  }
  // Reads are not logged.
  EXPECT_EQ(AllEntries(*log_).size(), logged);

  v1::GetCaseRequest missing;
  missing.set_case_id("2026-0404");
  EXPECT_EQ(service_->Get("riec-zwb", missing).status().code(), absl::StatusCode::kNotFound);
  missing.set_case_id("../../etc");
  EXPECT_EQ(service_->Get("riec-zwb", missing).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CasesServiceTest, ListCasesFiltersAndPages) {
  for (char c = 'a'; c < 'f'; ++c) {
    OpenOne(std::string(16, c));
    now_ += absl::Minutes(1);
  }
  v1::ListCasesRequest request;
  request.set_page_size(2);
  auto page = service_->List("riec-zwb", request).value();
  EXPECT_EQ(page.cases_size(), 2);
  EXPECT_EQ(page.cases(0).case_id(), "2026-0005");
  request.set_page_token(page.next_page_token());
  page = service_->List("riec-zwb", request).value();
  EXPECT_EQ(page.cases(0).case_id(), "2026-0003");

  v1::ListCasesRequest filtered;
  filtered.add_states(v1::CASE_STATE_EXPIRED);
  EXPECT_EQ(service_->List("riec-zwb", filtered)->cases_size(), 0);
  now_ += absl::Hours(24 * 365);
  EXPECT_EQ(service_->List("riec-zwb", filtered)->cases_size(), 5);
  filtered.add_purpose_ids("vrij-doel");
  EXPECT_EQ(service_->List("riec-zwb", filtered)->cases_size(), 0);

  v1::ListCasesRequest bad;
  bad.set_page_size(1001);
  bad.add_states(v1::CASE_STATE_UNSPECIFIED);
  auto refused = service_->List("riec-zwb", bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("page_size", "states[0]"));
  bad = v1::ListCasesRequest();
  bad.set_page_token("not-a-token");
  EXPECT_EQ(service_->List("riec-zwb", bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CasesServiceTest, ACallWithoutCertificateIsRefusedAndLogged) {
  grpc::ServerContext context;  // no TLS peer
  v1::OpenCaseRequest request = OpenRequest();
  v1::OpenCaseResponse response;
  const grpc::Status status = service_->OpenCase(&context, &request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const v1::LogRecord r = LastEntry(*log_).record();
  EXPECT_EQ(r.kind(), v1::RECORD_KIND_CASE_OPENED);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_REFUSED);
  EXPECT_THAT(r.denial_reasons(), ElementsAre(v1::DENIAL_REASON_UNAUTHENTICATED));
  EXPECT_EQ(r.requester().org_id(), "");
  EXPECT_EQ(r.requester().user_id(), "regisseur1");
  EXPECT_EQ(r.peer_identity(), "no client certificate");
  EXPECT_EQ(StoredCases(), 0u);

  // Reads are refused without a log entry.
  const size_t logged = AllEntries(*log_).size();
  v1::GetCaseRequest get;
  v1::GetCaseResponse got;
  EXPECT_EQ(service_->GetCase(&context, &get, &got).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(AllEntries(*log_).size(), logged);
}

}  // namespace
}  // namespace schakel::gateway
