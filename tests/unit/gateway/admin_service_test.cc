// Policy reload without a restart (PolicyInForce) and GatewayAdmin's
// GetPolicy / ReloadPolicy rules (admin_service.h).
#include "gateway/admin_service.h"

#include <string>

#include "common/strings.h"
#include "gateway/checkpoints.h"
#include "gateway/receipts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rpc/status.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "tests/support/test_support.h"
#include "tests/unit/gateway/case_audit_test_support.h"

namespace schakel::gateway {
namespace {

using ::schakel::testing::TempDir;
using ::schakel::testing::WriteFile;
using ::testing::HasSubstr;
using namespace ::schakel::gateway::testing;  // NOLINT: test support

std::string PolicyText(std::string_view version) { return OperatorPolicyText(version); }
v1::Requester Operator() { return OperatorAdmin(); }

class PolicyReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::filesystem::path(dir_.path()) / "policy.json";
    WriteFile(file_, PolicyText("test.1"));
    auto log = ExchangeLog::Open(&faulty_);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    auto initial = LoadPolicy(file_);
    ASSERT_TRUE(initial.ok()) << initial.status();
    policy_ = std::make_unique<PolicyInForce>(*std::move(initial), now_, log_.get(),
                                              PolicyInForce::Options{.file = file_, .now = [this] { return now_; }, .log_line = {}, .on_reloaded = {}});
    auto directory = DirectoryInForce::Start(TestDirectory(), log_.get(), v1::Requester(), {});
    ASSERT_TRUE(directory.ok()) << directory.status();
    directory_ = *std::move(directory);
    admin_ = std::make_unique<AdminService>(policy_.get(), directory_.get(), log_.get(), &receipts_,
                                            absl::UTCTimeZone(), [this] { return now_; });
  }

  TempDir dir_{"admin-test"};
  std::filesystem::path file_;
  store::MemoryStore memory_;
  store::FaultyStore faulty_{&memory_};
  std::unique_ptr<ExchangeLog> log_;
  absl::Time now_ = TestStart();
  std::unique_ptr<PolicyInForce> policy_;
  std::unique_ptr<DirectoryInForce> directory_;
  ReceiptIssuer receipts_{crypto::SigningKey::Generate(), [this] { return now_; }};
  std::unique_ptr<AdminService> admin_;
};

TEST_F(PolicyReloadTest, PutsANewVersionInForceAndLogsItWhileHeldPointersKeepTheirs) {
  const std::shared_ptr<const Policy> in_flight = policy_->current();  // an exchange started
  const std::string old_version = in_flight->version();
  WriteFile(file_, PolicyText("test.2"));
  now_ += absl::Minutes(5);

  auto reloaded = policy_->Reload(Operator(), /*dry_run=*/false);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(reloaded->changed);
  ASSERT_TRUE(reloaded->entry.has_value());
  EXPECT_THAT(policy_->current()->version(), ::testing::StartsWith("test.2+"));
  EXPECT_EQ(policy_->loaded_at(), now_);
  EXPECT_EQ(in_flight->version(), old_version);  // still valid, still the old one

  const v1::LogEntry entry = LastEntry(*log_);
  EXPECT_EQ(entry.sequence(), reloaded->entry->sequence);
  EXPECT_EQ(entry.record().kind(), v1::RECORD_KIND_POLICY_LOADED);
  EXPECT_EQ(entry.record().outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(entry.record().policy_version(), policy_->current()->version());
  EXPECT_EQ(entry.record().policy().policy_version(), policy_->current()->version());
  EXPECT_EQ(entry.record().policy().previous_version(), old_version);
  EXPECT_EQ(entry.record().requester().org_id(), "schakel-beheer");
  // The version key the next start compares against went in with the entry.
  auto stored = memory_.Get(kPolicyVersionKey);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->value_or(""), policy_->current()->version());
}

TEST_F(PolicyReloadTest, AnIdenticalFileOrADryRunChangesNothingAndLogsNothing) {
  const uint64_t head = log_->head_sequence();
  auto same = policy_->Reload(Operator(), false);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(same->changed);
  WriteFile(file_, "// only a comment changed\n" + PolicyText("test.1"));
  same = policy_->Reload(Operator(), false);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(same->changed);  // same meaning, same digest

  WriteFile(file_, PolicyText("test.2"));
  auto dry = policy_->Reload(Operator(), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_FALSE(dry->changed);
  EXPECT_THAT(policy_->current()->version(), ::testing::StartsWith("test.1+"));
  EXPECT_EQ(log_->head_sequence(), head);
}

TEST_F(PolicyReloadTest, ABadFileIsRefusedAsAWholeWithEveryProblemNamedAndLogged) {
  const std::string old_version = policy_->current()->version();
  std::string bad = PolicyText("test.2");
  bad.replace(bad.find(R"("reference": "Wpg art. 20")"), 26, R"("reference": "")");
  bad.replace(bad.find("\"max_subjects_per_exchange\": 100"), 32, "\"max_subjects_per_exchange\": 0");
  WriteFile(file_, bad);

  auto refused = policy_->Reload(Operator(), false);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("the policy in force stays"));
  const auto detail = rpc::ErrorDetailOf(refused.status());
  ASSERT_TRUE(detail.has_value());
  ASSERT_EQ(detail->problems_size(), 2);
  EXPECT_EQ(detail->problems(0).field(), "purposes[0].lawful_basis.reference");
  EXPECT_EQ(detail->problems(1).field(), "purposes[0].max_subjects_per_exchange");
  EXPECT_EQ(policy_->current()->version(), old_version);

  const v1::LogRecord record = LastEntry(*log_).record();
  EXPECT_EQ(record.kind(), v1::RECORD_KIND_POLICY_LOADED);
  EXPECT_EQ(record.outcome(), v1::OUTCOME_REFUSED);
  EXPECT_EQ(record.policy_version(), old_version);
  EXPECT_EQ(record.policy().problems_size(), 2);
  EXPECT_EQ(record.policy().policy_hash().size(), 32u);
}

TEST_F(PolicyReloadTest, AnUnreadableFileIsFailedPrecondition) {
  std::filesystem::remove(file_);
  auto refused = policy_->Reload(Operator(), false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_EQ(LastEntry(*log_).record().outcome(), v1::OUTCOME_REFUSED);
}

TEST_F(PolicyReloadTest, WhenTheLogCannotBeWrittenThePreviousVersionStays) {
  const std::string old_version = policy_->current()->version();
  WriteFile(file_, PolicyText("test.2"));
  faulty_.FailNextWrites(1);
  auto refused = policy_->Reload(Operator(), false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_EQ(policy_->current()->version(), old_version);
}

TEST_F(PolicyReloadTest, OnlyAnAdminOfAnOperatorMayReloadAndRefusalsAreLogged) {
  WriteFile(file_, PolicyText("test.2"));
  v1::ReloadPolicyRequest request;
  request.mutable_actor()->set_user_id("fg");
  request.mutable_actor()->set_role(v1::ROLE_AUDITOR);
  auto refused = admin_->ReloadPolicyFor("schakel-beheer", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(LastEntry(*log_).record().denial_reasons(0), v1::DENIAL_REASON_ROLE_NOT_ALLOWED);

  request.mutable_actor()->set_role(v1::ROLE_ADMIN);
  refused = admin_->ReloadPolicyFor("riec-zwb", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(LastEntry(*log_).record().denial_reasons(0), v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);
  EXPECT_THAT(policy_->current()->version(), ::testing::StartsWith("test.1+"));

  auto done = admin_->ReloadPolicyFor("schakel-beheer", request);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->changed());
  EXPECT_THAT(done->policy().policy_version(), ::testing::StartsWith("test.2+"));
  EXPECT_EQ(done->receipts_size(), 1);
}

TEST_F(PolicyReloadTest, GetPolicyIsForOperatorAdminsAndAnyAuditor) {
  v1::GetPolicyRequest request;
  request.set_include_text(true);
  request.mutable_actor()->set_role(v1::ROLE_AUDITOR);
  auto got = admin_->GetPolicyFor("gemeente-tilburg", request);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->policy().policy_version(), policy_->current()->version());
  EXPECT_EQ(got->policy().purposes_size(), 3);
  EXPECT_EQ(got->policy_text(), PolicyText("test.1"));

  request.mutable_actor()->set_role(v1::ROLE_ADMIN);
  EXPECT_TRUE(admin_->GetPolicyFor("schakel-beheer", request).ok());
  EXPECT_EQ(admin_->GetPolicyFor("riec-zwb", request).status().code(), absl::StatusCode::kPermissionDenied);
  request.mutable_actor()->set_role(v1::ROLE_ANALYST);
  EXPECT_EQ(admin_->GetPolicyFor("schakel-beheer", request).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(PolicyReloadTest, CreateCheckpointSignsTheHeadForOperatorAdminsAndAnyAuditor) {
  v1::CreateCheckpointRequest request;
  request.mutable_actor()->set_role(v1::ROLE_AUDITOR);
  // Without a checkpoint store the rpc says so instead of pretending.
  EXPECT_EQ(admin_->CreateCheckpointFor("gemeente-tilburg", request).status().code(),
            absl::StatusCode::kFailedPrecondition);

  auto checkpoints = CheckpointStore::Open(&faulty_, log_.get(), crypto::SigningKey::Generate(),
                                           CheckpointOptions{.every_entries = 0, .every = absl::ZeroDuration()},
                                           [this] { return now_; });
  ASSERT_TRUE(checkpoints.ok()) << checkpoints.status();
  AdminService admin(policy_.get(), directory_.get(), log_.get(), &receipts_, absl::UTCTimeZone(),
                     [this] { return now_; }, checkpoints->get());
  const uint64_t entries = log_->head_sequence();
  ASSERT_GT(entries, 0u);

  auto made = admin.CreateCheckpointFor("gemeente-tilburg", request);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->checkpoint().payload().sequence(), entries);
  EXPECT_EQ(log_->head_sequence(), entries) << "asking for a checkpoint appends no entry";
  auto listed = (*checkpoints)->List(0, 0);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);

  request.mutable_actor()->set_role(v1::ROLE_ADMIN);
  auto again = admin.CreateCheckpointFor("schakel-beheer", request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->checkpoint().payload().sequence(), entries) << "the head did not move";
  EXPECT_EQ((*checkpoints)->List(0, 0)->size(), 1u);

  auto not_operator = admin.CreateCheckpointFor("riec-zwb", request);
  EXPECT_EQ(not_operator.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(not_operator.status().message()), HasSubstr("not an operator"));
  request.mutable_actor()->set_role(v1::ROLE_ANALYST);
  auto analyst = admin.CreateCheckpointFor("schakel-beheer", request);
  EXPECT_EQ(analyst.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(analyst.status().message()), HasSubstr("admin or auditor required"));
}

}  // namespace
}  // namespace schakel::gateway
