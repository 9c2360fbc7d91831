#include "gateway/case_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "gateway/authoriser.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "tests/unit/gateway/case_audit_test_support.h"

namespace schakel::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TestStart;

std::string Print(char c) { return std::string(32, c); }

class CaseStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { cases_ = CaseStore::Open(&store_).value(); }

  v1::Case Draft(std::string_view title = "Familie-aanpak wijk Noord") {
    v1::Case c;
    c.set_purpose_id("riec-ondermijning");
    c.set_title(std::string(title));
    c.set_goal("Zicht krijgen op ondermijning in de wijk.");
    c.add_selection_grounds("Signalen van meerdere partners.");
    c.set_director_org_id("riec-zwb");
    c.set_director_user_id("regisseur1");
    SetMillis(c.mutable_ends_at(), absl::ToUnixMillis(now_ + absl::Hours(24 * 30)));
    return c;
  }
  v1::Case OpenOne(std::string_view request_id, std::string_view title = "Zaak") {
    auto opened =
        cases_->OpenCase(Draft(title), request_id, Print('a'), now_, cases_->DirectCommit());
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? opened->case_info : v1::Case();
  }

  absl::Time now_ = TestStart();
  store::MemoryStore store_;
  std::unique_ptr<CaseStore> cases_;
};

TEST_F(CaseStoreTest, OpensWithIdsPerYearAndReadsBack) {
  const v1::Case first = OpenOne("r1");
  EXPECT_EQ(first.case_id(), "2026-0001");
  EXPECT_EQ(first.state(), v1::CASE_STATE_OPEN);
  EXPECT_EQ(absl::FromUnixMillis(ToMillis(first.opened_at())), now_);
  EXPECT_EQ(OpenOne("r2").case_id(), "2026-0002");
  now_ = absl::FromUnixSeconds(1798761600);  // 2027-01-01 00:00 UTC
  EXPECT_EQ(OpenOne("r3").case_id(), "2027-0001");

  auto got = cases_->Get("2026-0001", now_).value();
  EXPECT_EQ(got.title(), "Zaak");
  EXPECT_EQ(got.director_org_id(), "riec-zwb");
  EXPECT_EQ(cases_->Get("2026-0099", now_).status().code(), absl::StatusCode::kNotFound);

  // Reopened store continues the numbering.
  cases_ = CaseStore::Open(&store_).value();
  EXPECT_EQ(OpenOne("r4").case_id(), "2027-0002");
}

TEST_F(CaseStoreTest, AnOpenCaseExpiresAtItsEndDate) {
  const v1::Case c = OpenOne("r1");
  const absl::Time ends = absl::FromUnixMillis(ToMillis(c.ends_at()));
  EXPECT_EQ(cases_->Get(c.case_id(), ends - absl::Milliseconds(1))->state(), v1::CASE_STATE_OPEN);
  EXPECT_EQ(cases_->Get(c.case_id(), ends)->state(), v1::CASE_STATE_EXPIRED);
  EXPECT_EQ(EffectiveState(c, ends + absl::Hours(1)), v1::CASE_STATE_EXPIRED);

  auto update = cases_->Update(
      c.case_id(),
      [](v1::Case& x) {
        x.set_title("Nieuw");
        return absl::OkStatus();
      },
      ends, cases_->DirectCommit());
  EXPECT_EQ(update.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(update.status().message(), HasSubstr("past its end date"));
  auto close = cases_->Close(c.case_id(), "klaar", ends, cases_->DirectCommit());
  EXPECT_EQ(close.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(close.status().message(), HasSubstr("expired"));
}

TEST_F(CaseStoreTest, ARequestIdOpensOneCase) {
  const v1::Case c = OpenOne("request-1");
  auto again =
      cases_->OpenCase(Draft("Anders"), "request-1", Print('a'), now_, cases_->DirectCommit())
          .value();
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.case_info.case_id(), c.case_id());
  EXPECT_EQ(again.case_info.title(), "Zaak");
  auto other = cases_->OpenCase(Draft(), "request-1", Print('b'), now_, cases_->DirectCommit());
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(other.status().message(), HasSubstr("request_id"));
  EXPECT_EQ(cases_->FindRequest("request-1", Print('a')).value()->case_id, c.case_id());
  EXPECT_EQ(cases_->FindRequest("request-2", Print('a')).value(), std::nullopt);
  EXPECT_EQ(cases_->List([](const v1::Case&) { return true; }, 10, "", now_)->cases.size(), 1u);
}

TEST_F(CaseStoreTest, UpdateChangesOnlyWhatMayChange) {
  const v1::Case c = OpenOne("r1");
  auto updated = cases_->Update(
      c.case_id(),
      [](v1::Case& x) {
        x.set_title("Nieuwe titel");
        x.add_partner_org_ids("politie-zwb");
        return absl::OkStatus();
      },
      now_, cases_->DirectCommit());
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(cases_->Get(c.case_id(), now_)->title(), "Nieuwe titel");
  EXPECT_THAT(cases_->Get(c.case_id(), now_)->partner_org_ids(), ElementsAre("politie-zwb"));

  auto refused = cases_->Update(
      c.case_id(),
      [](v1::Case& x) {
        x.set_goal("Ander doel");
        return absl::OkStatus();
      },
      now_, cases_->DirectCommit());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  auto vetoed = cases_->Update(
      c.case_id(), [](v1::Case&) { return absl::InvalidArgumentError("no"); }, now_,
      cases_->DirectCommit());
  EXPECT_EQ(vetoed.status().message(), "no");
  EXPECT_EQ(cases_->Get(c.case_id(), now_)->goal(), c.goal());
  EXPECT_EQ(
      cases_
          ->Update(
              "2026-0404", [](v1::Case&) { return absl::OkStatus(); }, now_, cases_->DirectCommit())
          .status()
          .code(),
      absl::StatusCode::kNotFound);
}

TEST_F(CaseStoreTest, CloseOnceThenNoMoreChanges) {
  const v1::Case c = OpenOne("r1");
  auto closed = cases_->Close(c.case_id(), "Doel bereikt", now_, cases_->DirectCommit()).value();
  EXPECT_EQ(closed.state(), v1::CASE_STATE_CLOSED);
  EXPECT_EQ(closed.close_reason(), "Doel bereikt");
  EXPECT_EQ(absl::FromUnixMillis(ToMillis(closed.closed_at())), now_);
  // Closed stays closed after its end date too.
  EXPECT_EQ(cases_->Get(c.case_id(), now_ + absl::Hours(24 * 365))->state(), v1::CASE_STATE_CLOSED);
  auto again = cases_->Close(c.case_id(), "nog eens", now_, cases_->DirectCommit());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("already closed"));
  EXPECT_EQ(
      cases_
          ->Update(
              c.case_id(), [](v1::Case&) { return absl::OkStatus(); }, now_, cases_->DirectCommit())
          .status()
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST_F(CaseStoreTest, ListsNewestFirstInPages) {
  for (int i = 1; i <= 5; ++i) {
    OpenOne(StrCat("r", i), StrCat("Zaak ", i));
    now_ += absl::Minutes(1);
  }
  ASSERT_TRUE(cases_->Close("2026-0004", "klaar", now_, cases_->DirectCommit()).ok());
  auto all = [](const v1::Case&) { return true; };
  auto page1 = cases_->List(all, 2, "", now_).value();
  ASSERT_EQ(page1.cases.size(), 2u);
  EXPECT_EQ(page1.cases[0].case_id(), "2026-0005");
  EXPECT_EQ(page1.cases[1].case_id(), "2026-0004");
  EXPECT_EQ(page1.cases[1].state(), v1::CASE_STATE_CLOSED);
  auto page2 = cases_->List(all, 2, page1.next_page_token, now_).value();
  ASSERT_EQ(page2.cases.size(), 2u);
  EXPECT_EQ(page2.cases[0].case_id(), "2026-0003");
  auto page3 = cases_->List(all, 2, page2.next_page_token, now_).value();
  ASSERT_EQ(page3.cases.size(), 1u);
  EXPECT_EQ(page3.cases[0].case_id(), "2026-0001");
  EXPECT_EQ(page3.next_page_token, "");
  // A full last page has no next token either.
  EXPECT_EQ(cases_->List(all, 5, "", now_)->next_page_token, "");

  auto open_only = [](const v1::Case& c) { return c.state() == v1::CASE_STATE_OPEN; };
  auto open = cases_->List(open_only, 3, "", now_).value();
  EXPECT_EQ(open.cases.size(), 3u);
  EXPECT_EQ(open.cases[1].case_id(), "2026-0003");
  EXPECT_NE(open.next_page_token, "");

  for (std::string_view bad : {"abc", "0", "-1", "123456789012345678901"}) {
    auto refused = cases_->List(all, 2, bad, now_);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(refused.status().message(), HasSubstr("page_token"));
  }
  EXPECT_EQ(cases_->List(all, 0, "", now_).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cases_->List(all, 1001, "", now_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CaseStoreTest, AFailedCommitLeavesNothingBehind) {
  store::FaultyStore faulty(&store_);
  cases_ = CaseStore::Open(&faulty).value();
  faulty.FailNextWrites(1);
  auto refused = cases_->OpenCase(Draft(), "r1", Print('a'), now_, cases_->DirectCommit());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store_.Scan("case/", store::PrefixEnd("case/"), 0).value().empty());
  // The same request then opens the first case, numbered as if nothing
  // had happened.
  EXPECT_EQ(OpenOne("r1").case_id(), "2026-0001");

  faulty.FailNextWrites(1);
  EXPECT_FALSE(cases_->Close("2026-0001", "klaar", now_, cases_->DirectCommit()).ok());
  EXPECT_EQ(cases_->Get("2026-0001", now_)->state(), v1::CASE_STATE_OPEN);
}

TEST_F(CaseStoreTest, ADamagedCaseIsDataLoss) {
  const v1::Case c = OpenOne("r1");
  store_.Tamper("case/c/" + c.case_id(), "\xff\xff");
  EXPECT_EQ(cases_->Get(c.case_id(), now_).status().code(), absl::StatusCode::kDataLoss);
  store_.Tamper("case/s", "bad");
  EXPECT_EQ(CaseStore::Open(&store_).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace schakel::gateway
